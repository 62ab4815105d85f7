/** `forkstack reset <env>`: throw away an env's changes by forking it again from its parent. */
import { resetEnv, type EnvSummary } from "../../core/lifecycle.js";
import { flag, type CommandDef } from "../command.js";
import { formatMs } from "../output.js";
import { createProgress } from "../progress.js";

const command: CommandDef<EnvSummary> = {
  name: "reset",
  summary: "Re-fork an env from its parent, keeping its name",
  usage: "forkstack reset <env> [--force] [--json]",
  description:
    "The env's data is replaced by a fresh fork of its parent; names, URLs and bucket names stay the same.",
  options: {
    force: { type: "boolean", description: "Reset a protected env, or one that running processes hold open" },
  },
  positionals: ["env"],
  async run(ctx, args) {
    const project = await ctx.project();
    const progress = createProgress(ctx.io, "re-forking");
    try {
      return await resetEnv(project, args.positionals[0]!, {
        force: flag(args, "force"),
        signal: ctx.signal,
        onStep: (e) => progress.onStep(e),
      });
    } finally {
      progress.stop();
    }
  },
  render(result, io) {
    io.err(`${io.paint("green", "✓")} Reset ${result.name} from ${result.parent} in ${formatMs(result.ms)}.`);
  },
};

export default command;
