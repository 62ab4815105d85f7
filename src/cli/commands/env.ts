/** `forkstack env [<env>]`: an env's variables, secrets masked unless --reveal. */
import { UsageError } from "../../errors.js";
import { checkEnvName } from "../../core/names.js";
import { currentEnvOf } from "../../core/switch.js";
import { envVariables, formatDotenv, formatShell } from "../../core/variables.js";
import { quoteValue } from "../../providers/secrets/dotenv.js";
import { flag, stringValue, type CommandDef } from "../command.js";
import type { Io } from "../output.js";

const FORMATS = ["dotenv", "json", "shell"] as const;
type Format = (typeof FORMATS)[number];
const MASK = "********";

interface EnvResult {
  readonly env: string;
  readonly format: Format;
  readonly revealed: boolean;
  /** Plain variables, and secrets as `********` unless revealed. */
  readonly variables: Record<string, string>;
  /** Names of the secrets that were masked. */
  readonly masked: string[];
}

/**
 * Dotenv output; a value no dotenv quoting can carry (a carriage return from a cloud provider) is left
 * out with a comment naming it, as `.env.local` does, rather than printed so it reads as something else.
 */
function writeDotenv(values: Record<string, string>, io: Io): void {
  const unwritable = Object.keys(values).filter((k) => typeof quoteValue(values[k]!) !== "string");
  const writable = Object.fromEntries(Object.entries(values).filter(([k]) => !unwritable.includes(k)));
  io.stdout.write(formatDotenv(writable));
  if (unwritable.length) {
    io.stdout.write(
      `# left out, no dotenv file can hold their values (${unwritable.join(", ")}): --format json or shell prints them\n`,
    );
  }
}

const command: CommandDef<EnvResult> = {
  name: "env",
  summary: "Print an env's variables (dotenv, json or shell)",
  usage: "forkstack env [<env>] [--format dotenv|json|shell] [--reveal]",
  description:
    "Secret values (the secrets provider's, storage keys, tokens) are left out of dotenv and shell output " +
    "(a comment names them) and masked in JSON, unless --reveal.",
  options: {
    format: { type: "string", value: "<format>", description: "dotenv (default), json or shell" },
    reveal: { type: "boolean", description: "Print secret values instead of masking them" },
    env: { type: "string", value: "<env>", description: "Env to print (same as the positional)" },
  },
  positionals: ["env?"],
  examples: ["forkstack env alice --format json", 'eval "$(forkstack env --format shell --reveal)"'],
  async run(ctx, args) {
    const format = (stringValue(args, "format") ?? (ctx.json ? "json" : "dotenv")) as Format;
    if (!FORMATS.includes(format)) {
      throw new UsageError(`Unknown format ${JSON.stringify(format)}.`, {
        hint: `Use one of: ${FORMATS.join(", ")}.`,
      });
    }
    const project = await ctx.project();
    const positional = args.positionals[0];
    const option = stringValue(args, "env");
    if (positional !== undefined && option !== undefined && positional !== option) {
      throw new UsageError(
        `Two envs given: ${JSON.stringify(positional)} and --env ${JSON.stringify(option)}.`,
        {
          hint: "Name the env once, as `forkstack env <env>` or `--env <env>`.",
        },
      );
    }
    const env = currentEnvOf(project, positional ?? option);
    checkEnvName(env, project.config.project);
    const reveal = flag(args, "reveal");
    const { vars, secrets } = await envVariables(project, env, { requireReady: true });
    const masked = Object.fromEntries(Object.entries(secrets).map(([k, v]) => [k, reveal ? v : MASK]));
    return {
      env,
      format,
      revealed: reveal,
      variables: { ...vars, ...masked },
      masked: reveal ? [] : Object.keys(secrets),
    };
  },
  render(result, io) {
    if (result.format === "json") {
      io.out(JSON.stringify(result.variables, null, 2));
      return;
    }
    // A masked value in a file or an `eval` would silently be used as the real one (wrong
    // credentials): leave secrets out, and say so in a comment both formats ignore.
    const plain = Object.fromEntries(
      Object.entries(result.variables).filter(([k]) => !result.masked.includes(k)),
    );
    if (result.format === "shell") io.stdout.write(formatShell(plain));
    else writeDotenv(plain, io);
    if (result.masked.length) {
      io.stdout.write(
        `# ${result.masked.length} secret ${result.masked.length > 1 ? "values" : "value"} left out (${result.masked.join(", ")}): pass --reveal to print ${result.masked.length > 1 ? "them" : "it"}\n`,
      );
    }
  },
};

export default command;
