/**
 * `forkstack down`: stop the project's background storage server (SIGTERM, then wait for it to finish
 * in-flight requests and exit). Not running is not an error.
 */
import { LocalServer } from "../../providers/storage/_local-server.js";
import type { CommandDef } from "../command.js";

interface DownResult {
  readonly stopped: boolean;
  readonly pid: number | null;
  /** A pid file was left by a server that is gone (crash, reboot); it was removed. */
  readonly stale: boolean;
  /** It did not exit after SIGTERM in time and was killed. */
  readonly killed: boolean;
}

const command: CommandDef<DownResult> = {
  name: "down",
  summary: "Stop the background storage server",
  usage: "forkstack down [--json]",
  options: {},
  positionals: [],
  readOnly: true,
  async run(ctx) {
    const project = await ctx.project();
    // The pid file says what runs, whatever the config says now (it may have changed since `up`).
    const server = new LocalServer({ dataDir: project.layout.dataDir, projectRoot: project.layout.root });
    const result = await server.stop();
    return {
      stopped: result.stopped,
      pid: result.pid ?? null,
      stale: result.stale ?? false,
      killed: result.killed ?? false,
    };
  },
  render(result, io) {
    if (result.stopped) {
      const how = result.killed ? " (it did not stop in time and was killed)" : "";
      io.err(`${io.paint("green", "✓")} Stopped the storage server (pid ${result.pid})${how}.`);
    } else {
      const stale = result.stale ? " (removed a stale pid file)" : "";
      io.err(`The storage server is not running${stale}.`);
    }
  },
};

export default command;
