/**
 * @module cli/main
 * Entry of the `forkstack` binary: picks the command, parses its argv, runs it, prints its result and
 * maps every error to one message and an exit code (0 ok, 1 failure, 2 usage, 130 interrupted) — the
 * only place that happens. Commands are imported lazily so `--help` and `current` stay fast.
 */
import {
  InternalError,
  InterruptedError,
  UsageError,
  friendlySystemError,
  isForkstackError,
  type ForkstackError,
} from "../errors.js";
import type { Project } from "../core/project.js";
import { commandHelp, flag, parseCommandArgs, type CommandContext, type CommandDef } from "./command.js";
export { GLOBAL_OPTIONS } from "./command.js";
import { createIo, createLogger, type Io } from "./output.js";

type Loader = () => Promise<{ default: CommandDef }>;

/** Every command but `current` is in one module (one chunk of the build): see `commands/all.ts`. */
const all = () => import("./commands/all.js");
const command = (name: string): Promise<{ default: CommandDef }> =>
  all().then((m) => ({ default: m.commands[name]! }));

/** Summaries live here, not in the command modules, so top-level help loads none of them. */
const COMMANDS: Record<string, { summary: string; load: Loader }> = {
  init: { summary: "Create forkstack.config.ts and the dev env", load: () => command("init") },
  new: {
    summary: "Fork an env (database, buckets, secrets, local state)",
    load: () => command("new"),
  },
  switch: { summary: "Make an env current", load: () => command("switch") },
  current: { summary: "Print the current env", load: () => import("./commands/current.js") },
  list: {
    summary: "List envs with parent, age and resource status",
    load: () => command("list"),
  },
  delete: { summary: "Delete an env and all its resources", load: () => command("delete") },
  reset: {
    summary: "Re-fork an env from its parent, keeping its name",
    load: () => command("reset"),
  },
  env: {
    summary: "Print an env's variables (dotenv, json or shell)",
    load: () => command("env"),
  },
  run: { summary: "Run a command with an env's variables", load: () => command("run") },
  secrets: { summary: "Set or unset an env's secrets", load: () => command("secrets") },
  gc: { summary: "Delete expired envs and orphaned resources", load: () => command("gc") },
  doctor: { summary: "Check config, state, services and drift", load: () => command("doctor") },
  up: { summary: "Start the storage server in the background", load: () => command("up") },
  down: { summary: "Stop the background storage server", load: () => command("down") },
  storage: {
    summary: "Run the storage server in the foreground (storage serve)",
    load: () => command("storage"),
  },
};

/** Every command's definition by name, loaded: what the CLI parses argv against (its tests walk it). */
export async function commandDefinitions(): Promise<Record<string, CommandDef>> {
  const entries = await Promise.all(
    Object.entries(COMMANDS).map(async ([name, c]) => [name, (await c.load()).default] as const),
  );
  return Object.fromEntries(entries);
}

export function registerCommand(name: string, summary: string, load: Loader): void {
  COMMANDS[name] = { summary, load };
}

function topHelp(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((n) => n.length));
  return [
    "forkstack — an isolated copy of your whole stack, forked in well under a second",
    "",
    "Usage: forkstack <command> [options]",
    "",
    "Commands:",
    ...Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`),
    "",
    "Global options: --json, --verbose, --help, --version",
    "Exit codes: 0 ok, 1 failure, 2 usage error, 130 interrupted; `run` passes its command's code through.",
    "Run `forkstack <command> --help` for a command's options.",
  ].join("\n");
}

async function version(): Promise<string> {
  const { readFile } = await import("node:fs/promises");
  const pkg = JSON.parse(await readFile(new URL("../../package.json", import.meta.url), "utf8")) as {
    version: string;
  };
  return pkg.version;
}

/**
 * An error is one line and its hint another: a control character that came in with the user's input
 * (a newline in an argument) is shown escaped, as JSON would, so it cannot break or forge a line.
 */
function oneLine(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u0008\u000a-\u001f\u007f]/g, (c) => JSON.stringify(c).slice(1, -1));
}

function reportError(io: Io, raw: unknown, json: boolean, verbose: boolean): number {
  const error = friendlySystemError(raw);
  const known: ForkstackError = isForkstackError(error)
    ? error
    : new InternalError(`Unexpected error: ${(error as Error)?.message ?? String(error)}`, { cause: error });
  if (json) {
    io.out(JSON.stringify({ error: { code: known.code, message: known.message, hint: known.hint ?? null } }));
  }
  io.err(`${io.paint("red", "✗")} ${oneLine(known.message)}`);
  if (known.hint) io.err(`  ${io.paint("dim", oneLine(known.hint))}`);
  if (known.code === "E_INTERNAL") {
    io.err("  This is a bug in forkstack; please report it with the output of `--verbose`.");
  }
  if (verbose) {
    const detail = known.code === "E_INTERNAL" ? known.cause : (known.cause ?? known);
    if (detail instanceof Error && detail.stack) io.err(io.paint("dim", detail.stack));
  }
  return known.exitCode;
}

export interface MainOptions {
  cwd?: string;
  io?: Io;
  /** @default process.stdin */
  stdin?: NodeJS.ReadableStream;
}

export async function main(argv: string[], options: MainOptions = {}): Promise<number> {
  const io = options.io ?? createIo();
  const [name, ...rest] = argv;
  // Everything after `--` belongs to the command `run` starts, never to forkstack.
  const dash = rest.indexOf("--");
  const own = dash >= 0 ? rest.slice(0, dash) : rest;
  const json = own.includes("--json");
  const verbose = own.includes("--verbose") || own.includes("-v") || !!process.env.FORKSTACK_DEBUG;
  // `forkstack help <command>` is `forkstack <command> --help`.
  if (name === "help" && rest[0] && COMMANDS[rest[0]]) return main([rest[0], "--help"], options);
  if (name === undefined || name === "--help" || name === "-h" || name === "help") {
    io.out(topHelp());
    return name === undefined ? 2 : 0;
  }
  if (name === "--version" || name === "-V") {
    io.out(await version());
    return 0;
  }
  const entry = COMMANDS[name];
  if (!entry) {
    const { closest } = await import("./suggest.js");
    const guess = closest(name, Object.keys(COMMANDS));
    return reportError(
      io,
      new UsageError(`Unknown command ${JSON.stringify(name)}.`, {
        hint: guess
          ? `Did you mean \`forkstack ${guess}\`? (\`forkstack --help\` lists the commands.)`
          : "Run `forkstack --help` for the commands.",
      }),
      json,
      verbose,
    );
  }

  const controller = new AbortController();
  const onSigint = () => controller.abort();
  process.once("SIGINT", onSigint);
  let project: Project | undefined;
  try {
    const def = (await entry.load()).default;
    const args = parseCommandArgs(def, rest);
    if (flag(args, "help")) {
      io.out(commandHelp(def));
      return 0;
    }
    const log = createLogger(io, verbose);
    const interactive = !!process.stdin.isTTY && !!io.stderr.isTTY && !process.env.CI;
    const ctx: CommandContext = {
      cwd: options.cwd ?? process.cwd(),
      io,
      log,
      json,
      interactive,
      signal: controller.signal,
      stdin: options.stdin ?? process.stdin,
      async confirm(question) {
        if (!interactive) return false;
        const prompts = await import("@clack/prompts");
        const answer = await prompts.confirm({ message: question, initialValue: false });
        return answer === true;
      },
      async project() {
        if (!project) {
          const { openProject, upgradeRecords } = await all();
          project = await openProject({ cwd: ctx.cwd, log });
          // Records an older forkstack wrote are brought up to date first (core/upgrade.ts).
          await upgradeRecords(project, { readOnly: def.readOnly === true });
        }
        return project;
      },
    };
    const result = await def.run(ctx, args);
    if (json) io.out(JSON.stringify(result, null, 2));
    else def.render?.(result, io);
    return def.exitCode?.(result) ?? 0;
  } catch (error) {
    if (controller.signal.aborted && !(isForkstackError(error) && error.code === "E_USAGE")) {
      return reportError(io, isForkstackError(error) ? error : new InterruptedError(), json, verbose) && 130;
    }
    return reportError(io, error, json, verbose);
  } finally {
    process.removeListener("SIGINT", onSigint);
    await project?.close();
  }
}
