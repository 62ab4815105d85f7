/** `forkstack switch <env>`: make an env current (.current-env, and .env.local unless opted out). */
import { switchEnv, type SwitchResult } from "../../core/switch.js";
import { checkEnvName } from "../../core/names.js";
import type { CommandDef } from "../command.js";

const command: CommandDef<SwitchResult> = {
  name: "switch",
  summary: "Make an env current",
  usage: "forkstack switch <env> [--json]",
  description: "Writes .current-env and, unless `envLocal: false` in the config, .env.local (mode 0600).",
  options: {},
  positionals: ["env"],
  async run(ctx, args) {
    const project = await ctx.project();
    checkEnvName(args.positionals[0]!, project.config.project);
    return switchEnv(project, args.positionals[0]!);
  },
  render(result, io) {
    io.err(
      `${io.paint("green", "✓")} Switched from ${result.previous} to ${io.paint("bold", result.current)}.`,
    );
    if (result.overriddenBy) {
      io.err(
        `${io.paint("yellow", "!")} ${result.overriddenBy} is set in this shell and still wins over .current-env; unset it to use ${result.current}.`,
      );
    }
    if (result.envLocal) io.err(`  Updated ${result.envLocal}; restart running dev servers to pick it up.`);
  },
};

export default command;
