/**
 * `forkstack run [--env <env>] -- <cmd> [args…]`: run a command with the env's variables (secrets
 * included) on top of the current environment. The command's exit code passes through; a command
 * killed by a signal exits 128+signal, as a shell would report it.
 */
import { spawn } from "node:child_process";
import { constants } from "node:os";
import { CommandStartError, UsageError } from "../../errors.js";
import { ensureDefaultEnv } from "../../core/lifecycle.js";
import { checkEnvName } from "../../core/names.js";
import { currentEnvOf } from "../../core/switch.js";
import { envVariables } from "../../core/variables.js";
import { RUN_ENV_VAR, RUN_VARS_VAR } from "../../runtime/resolve.js";
import { stringValue, type CommandDef } from "../command.js";

function startError(file: string, error: NodeJS.ErrnoException): unknown {
  if (error.code === "ENOENT") {
    return new CommandStartError(`Command not found: ${file}.`, true, {
      hint: file.includes("/")
        ? "Check the path after `--`."
        : "Check the command after `--` and that it is on your PATH (npm scripts: `npm run <script>`).",
    });
  }
  if (error.code === "EACCES" || error.code === "EISDIR" || error.code === "ENOEXEC") {
    return new CommandStartError(`Cannot execute ${file}: ${error.code}.`, false, {
      hint: `Make it executable (\`chmod +x ${file}\`) or run it through its interpreter.`,
    });
  }
  return error;
}

interface RunResult {
  readonly env: string;
  readonly command: string[];
  readonly exitCode: number;
}

const command: CommandDef<RunResult> = {
  name: "run",
  summary: "Run a command with an env's variables",
  usage: "forkstack run [--env <env>] -- <command> [args…]",
  description:
    "Embedded services the env uses (the storage server) are started first if they are not running.",
  options: { env: { type: "string", value: "<env>", description: "Env to use (default: the current env)" } },
  positionals: [],
  passthrough: true,
  examples: ["forkstack run -- npm run dev", "forkstack run --env pr-42 -- node app.js"],
  async run(ctx, args) {
    if (!args.rest.length || args.rest[0] === "") {
      throw new UsageError("No command to run.", {
        hint: "Usage: forkstack run [--env <env>] -- <command> [args…]",
      });
    }
    const project = await ctx.project();
    const env = currentEnvOf(project, stringValue(args, "env"));
    checkEnvName(env, project.config.project);
    await ensureDefaultEnv(project, env);
    const { vars, secrets } = await envVariables(project, env, { requireReady: true });
    await Promise.all(project.providers.map((p) => p.prepare?.(project.op())));
    const [file, ...argv] = args.rest as [string, ...string[]];
    const injected = { ...vars, ...secrets };
    // Mark what we injected, so the runtime library in a child that picks another env (a test worker
    // setting FORKSTACK_ENV=test-3) reads that env's values instead of these (runtime/resolve.ts).
    const marker = { [RUN_ENV_VAR]: env, [RUN_VARS_VAR]: Object.keys(injected).join(",") };
    const child = spawn(file, argv, { stdio: "inherit", env: { ...process.env, ...injected, ...marker } });
    // The child gets Ctrl-C from the terminal itself (main's SIGINT handler keeps us alive until it
    // exits); forward what is sent to us alone.
    const forward = (signal: NodeJS.Signals) => () => child.kill(signal);
    const onTerm = forward("SIGTERM");
    const onHup = forward("SIGHUP");
    process.on("SIGTERM", onTerm);
    process.on("SIGHUP", onHup);
    // `npx` does not forward signals: a `kill -TERM` of `npx forkstack run …` ends npx alone and
    // leaves us and the app behind. When our parent goes away (we are re-parented), end the child
    // with SIGTERM, as if it had been sent to us.
    const parent = process.ppid;
    const orphanWatch = setInterval(() => {
      if (process.ppid !== parent) {
        clearInterval(orphanWatch);
        child.kill("SIGTERM");
      }
    }, 500);
    orphanWatch.unref();
    try {
      const exitCode = await new Promise<number>((resolve, reject) => {
        child.once("error", (error: NodeJS.ErrnoException) => reject(startError(file, error)));
        child.once("exit", (code, signal) => {
          resolve(code ?? 128 + (signal ? (constants.signals[signal] ?? 0) : 0));
        });
      });
      return { env, command: args.rest, exitCode };
    } finally {
      clearInterval(orphanWatch);
      process.removeListener("SIGTERM", onTerm);
      process.removeListener("SIGHUP", onHup);
    }
  },
  exitCode: (result) => result.exitCode,
};

export default command;
