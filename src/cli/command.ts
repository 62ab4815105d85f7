/**
 * @module cli/command
 * What a command is: its help, its flags, and a plain async function that returns data. The CLI layer
 * (`main.ts`) parses argv against the definition and prints the result; commands never parse argv.
 */
import { parseArgs } from "node:util";
import { UsageError } from "../errors.js";
import type { Project } from "../core/project.js";
import type { Logger } from "../providers/types.js";
import type { Io } from "./output.js";
import { closest } from "./suggest.js";

export interface OptionDef {
  readonly type: "boolean" | "string";
  readonly short?: string;
  readonly description: string;
  /** Placeholder in help, e.g. `<env>`. */
  readonly value?: string;
}

export interface CommandContext {
  readonly cwd: string;
  readonly io: Io;
  readonly log: Logger;
  readonly json: boolean;
  /** A person can answer prompts: stdin and stderr are TTYs and not CI. */
  readonly interactive: boolean;
  readonly signal: AbortSignal;
  /** What the command may read (`secrets set KEY` takes the value from it): process.stdin. */
  readonly stdin: NodeJS.ReadableStream;
  confirm(question: string): Promise<boolean>;
  /** Open the project (config, providers, state); closed by the CLI after the command. */
  project(): Promise<Project>;
}

export interface ParsedArgs {
  readonly positionals: string[];
  readonly values: Record<string, string | boolean | undefined>;
  /** Everything after `--` (for `run`). */
  readonly rest: string[];
}

export interface CommandDef<R = unknown> {
  readonly name: string;
  readonly summary: string;
  readonly usage: string;
  readonly description?: string;
  readonly options: Record<string, OptionDef>;
  /** Positional argument names; `?` suffix = optional, `...` suffix on the last = one or more. */
  readonly positionals: readonly string[];
  readonly passthrough?: boolean;
  /**
   * The command only reads or manages services (`list`, `doctor`, `up`, `down`): opening the project
   * must not start the storage server for it, so records of an older forkstack are brought up to date
   * only if it already runs (core/upgrade.ts).
   */
  readonly readOnly?: boolean;
  readonly examples?: readonly string[];
  run(ctx: CommandContext, args: ParsedArgs): Promise<R>;
  /** Human output on stdout (default: nothing; `--json` prints the result instead). */
  render?(result: R, io: Io): void;
  /** Exit code derived from the result (e.g. `run` passes the child's through, `doctor` fails on errors). */
  exitCode?(result: R): number;
}

export const GLOBAL_OPTIONS: Record<string, OptionDef> = {
  json: { type: "boolean", description: "Print the result as JSON on stdout" },
  verbose: { type: "boolean", short: "v", description: "Show debug output and stack traces" },
  help: { type: "boolean", short: "h", description: "Show help for the command" },
};

export function parseCommandArgs(def: CommandDef, argv: string[]): ParsedArgs {
  const dash = argv.indexOf("--");
  const own = def.passthrough && dash >= 0 ? argv.slice(0, dash) : argv;
  const rest = def.passthrough && dash >= 0 ? argv.slice(dash + 1) : [];
  const options = { ...GLOBAL_OPTIONS, ...def.options };
  let parsed;
  try {
    parsed = parseArgs({
      args: own,
      options: Object.fromEntries(
        Object.entries(options).map(([name, o]) => [
          name,
          o.short ? { type: o.type, short: o.short } : { type: o.type },
        ]),
      ),
      allowPositionals: true,
      strict: true,
    });
  } catch (error) {
    // One line of error and one of hint: parseArgs's further lines (an ambiguous value: "Did you
    // forget…? To specify an option argument starting with a dash use '--from=-XYZ'.") become the hint.
    const message = (error as Error).message.replace(/\. To specify a positional.*$/s, ".");
    const [first, ...more] = message.split("\n");
    throw new UsageError(first!, {
      hint: more.length ? more.join(" ") : optionHint(def, options, message, dash >= 0),
    });
  }
  const required = def.positionals.filter((p) => !p.endsWith("?")).length;
  const variadic = def.positionals.at(-1)?.endsWith("...") ?? false;
  if (!parsed.values.help) {
    if (parsed.positionals.length < required) {
      throw new UsageError(
        `Missing argument <${def.positionals[parsed.positionals.length]?.replace("...", "")}>.`,
        {
          hint: `Usage: ${def.usage}`,
        },
      );
    }
    if (!variadic && parsed.positionals.length > def.positionals.length) {
      throw new UsageError(
        `Unexpected argument ${JSON.stringify(parsed.positionals[def.positionals.length])}.`,
        {
          hint:
            def.passthrough && dash < 0
              ? `Put \`--\` before the command to run: ${def.usage}`
              : `Usage: ${def.usage}`,
        },
      );
    }
  }
  return { positionals: parsed.positionals, values: parsed.values as ParsedArgs["values"], rest };
}

/** For an unknown option: the command's option it is a typo of, or where `run`'s command goes. */
function optionHint(
  def: CommandDef,
  options: Record<string, OptionDef>,
  message: string,
  hasDash: boolean,
): string {
  const unknown = /Unknown option '(-{1,2})([^']+)'/.exec(message);
  if (unknown && def.passthrough && !hasDash) {
    return `Put \`--\` before the command to run, so its options are its own: ${def.usage}`;
  }
  const guess = unknown?.[1] === "--" ? closest(unknown[2]!, Object.keys(options)) : undefined;
  if (guess) return `Did you mean --${guess}? (\`forkstack ${def.name} --help\` lists its options.)`;
  return `Run \`forkstack ${def.name} --help\` for its options.`;
}

export function commandHelp(def: CommandDef): string {
  const options = { ...def.options, ...GLOBAL_OPTIONS };
  const flag = (name: string, o: OptionDef) =>
    `${o.short ? `-${o.short}, ` : "    "}--${name}${o.value ? ` ${o.value}` : ""}`;
  const width = Math.max(...Object.entries(options).map(([n, o]) => flag(n, o).length));
  const lines = [`Usage: ${def.usage}`, "", def.summary];
  if (def.description) lines.push("", def.description);
  lines.push("", "Options:");
  for (const [name, o] of Object.entries(options))
    lines.push(`  ${flag(name, o).padEnd(width)}  ${o.description}`);
  if (def.examples?.length) lines.push("", "Examples:", ...def.examples.map((e) => `  ${e}`));
  return lines.join("\n");
}

export function stringValue(args: ParsedArgs, name: string): string | undefined {
  const value = args.values[name];
  return typeof value === "string" ? value : undefined;
}

export function flag(args: ParsedArgs, name: string): boolean {
  return args.values[name] === true;
}
