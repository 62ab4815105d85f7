/** `forkstack delete <env>`: remove an env and every resource it has. */
import { UserError } from "../../errors.js";
import { checkDeletable, deleteEnv, type DeleteResult } from "../../core/delete-env.js";
import { flag, type CommandDef } from "../command.js";
import { createProgress } from "../progress.js";

const command: CommandDef<DeleteResult> = {
  name: "delete",
  summary: "Delete an env and all its resources",
  usage: "forkstack delete <env> [--yes] [--force] [--json]",
  description:
    "Protected envs (dev and prod by default) need --force. Forks of the deleted env become forks of its parent " +
    "(they are independent copies; `reset` then forks from the grandparent) — except on backends whose forks read " +
    "through their parent (Tigris), where an env with forks cannot be deleted before them. Resources a root adopted (an existing backend branch or bucket) are " +
    "never deleted: the env is forgotten here and they stay on the backend. Deleting the current env makes the default env " +
    "current (it says which).",
  options: {
    yes: {
      type: "boolean",
      short: "y",
      description: "Do not ask for confirmation (required outside a terminal)",
    },
    force: {
      type: "boolean",
      description: "Delete a protected env, or one that running processes hold open",
    },
  },
  positionals: ["env"],
  async run(ctx, args) {
    const name = args.positionals[0]!;
    const project = await ctx.project();
    await checkDeletable(project, name, flag(args, "force"));
    if (!flag(args, "yes")) {
      const ok = await ctx.confirm(`Delete "${name}" and all of its data?`);
      if (!ok) {
        throw new UserError(`Not deleting "${name}" without confirmation.`, "E_CONFIRMATION_REQUIRED", {
          hint: "Pass --yes to confirm (required when not running in a terminal).",
        });
      }
    }
    const progress = createProgress(ctx.io, "removing");
    try {
      return await deleteEnv(project, name, { force: flag(args, "force") });
    } finally {
      progress.stop();
    }
  },
  render(result, io) {
    io.err(`${io.paint("green", "✓")} Deleted ${result.name}.`);
    for (const { env, parent } of result.reparented) {
      io.err(
        parent
          ? `  ${env} was forked from it: its parent is now ${parent} (\`reset ${env}\` forks from ${parent}).`
          : `  ${env} was forked from it: it has no parent now and cannot be reset.`,
      );
    }
    if (result.current) {
      const { env, exists } = result.current;
      io.err(
        exists
          ? `  It was the current env: ${env} is current now.`
          : `  It was the current env: ${env} is current now, but it does not exist here (\`forkstack switch <env>\` picks another).`,
      );
    }
    if (result.kept.length) {
      io.err(
        `  Kept its adopted ${result.kept.join(", ")} on the backend (forkstack never deletes what it did not make).`,
      );
    }
  },
};

export default command;
