/**
 * `forkstack storage serve`: run the project's storage server in the foreground, logging to stderr,
 * until Ctrl-C or SIGTERM. For debugging and for process managers that want to own the process.
 */
import { UsageError, UserError } from "../../errors.js";
import { requireLocalServer } from "../../providers/storage/local.js";
import type { CommandDef } from "../command.js";

interface ServeResult {
  readonly url: string;
  readonly stopped: true;
}

const command: CommandDef<ServeResult> = {
  name: "storage",
  summary: "Run the storage server in the foreground",
  usage: "forkstack storage serve",
  description: "Stops cleanly on Ctrl-C or SIGTERM. `forkstack up` runs it in the background instead.",
  options: {},
  positionals: ["subcommand"],
  readOnly: true,
  examples: ["forkstack storage serve"],
  async run(ctx, args) {
    if (args.positionals[0] !== "serve") {
      throw new UsageError(`Unknown subcommand ${JSON.stringify(args.positionals[0])}.`, {
        hint: "Usage: forkstack storage serve",
      });
    }
    const project = await ctx.project();
    const server = requireLocalServer(project.config, project.layout);
    const status = await server.status();
    if (status.running) {
      throw new UserError(
        `The storage server is already running at ${status.url}${status.pid ? ` (pid ${status.pid})` : ""}.`,
        "E_SERVER",
        { hint: "Stop it with `forkstack down` first." },
      );
    }
    const { host, port, url } = await server.resolve();
    if (status.blocked) throw server.portInUse(port, status.blocked);
    const { runServer } = await import("../../providers/storage/_local-server.js");
    // Ctrl-C aborts ctx.signal (the CLI's SIGINT handler); SIGTERM would otherwise kill us mid-write.
    const stop = new AbortController();
    const onStop = () => stop.abort();
    ctx.signal.addEventListener("abort", onStop, { once: true });
    process.once("SIGTERM", onStop);
    try {
      await runServer(
        {
          root: server.paths.data,
          port,
          host,
          credentialsFile: server.paths.credentials,
          pidFile: server.paths.pid,
        },
        {
          signal: stop.signal,
          log: (line) => ctx.io.err(line),
          onReady: (r) => {
            ctx.io.err(`Storage server (pid ${r.pid}) listening at ${r.url}. Press Ctrl-C to stop.`);
            if (!ctx.json) ctx.io.out(r.url);
          },
        },
      );
    } finally {
      process.removeListener("SIGTERM", onStop);
      ctx.signal.removeEventListener("abort", onStop);
    }
    ctx.io.err("Storage server stopped.");
    return { url, stopped: true };
  },
};

export default command;
