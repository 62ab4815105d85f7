/** `forkstack delete <env>`: remove an env and every resource it has. */
import { UserError } from "../../errors.js";
import { deleteEnv } from "../../core/lifecycle.js";
import { flag, type CommandDef } from "../command.js";
import { createProgress } from "../progress.js";

const command: CommandDef<{ name: string }> = {
  name: "delete",
  summary: "Delete an env and all its resources",
  usage: "forkstack delete <env> [--yes] [--force] [--json]",
  description:
    "Protected envs (dev and prod by default) need --force. Envs that were forked from need their forks deleted first.",
  options: {
    yes: {
      type: "boolean",
      short: "y",
      description: "Do not ask for confirmation (required outside a terminal)",
    },
    force: { type: "boolean", description: "Allow deleting a protected env" },
  },
  positionals: ["env"],
  async run(ctx, args) {
    const name = args.positionals[0]!;
    const project = await ctx.project();
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
  },
};

export default command;
