/**
 * `forkstack up`: start the project's storage server in the background and wait until it answers.
 * Already running is not an error: scripts can call `up` unconditionally.
 */
import { upgradeRecords } from "../../core/upgrade.js";
import { requireLocalServer } from "../../providers/storage/local.js";
import type { CommandDef } from "../command.js";

interface UpResult {
  readonly url: string;
  readonly pid: number | null;
  readonly alreadyRunning: boolean;
  readonly log: string;
}

const command: CommandDef<UpResult> = {
  name: "up",
  summary: "Start the storage server in the background",
  usage: "forkstack up [--json]",
  description:
    "Prints the S3 endpoint on stdout. Commands that need the server (new, reset, run, …) also start it on demand; `forkstack down` stops it.",
  options: {},
  positionals: [],
  readOnly: true,
  async run(ctx) {
    const project = await ctx.project();
    const server = requireLocalServer(project.config, project.layout);
    const result = await server.ensureRunning();
    // Opening the project did not start the server for this; now that it runs, envs an older forkstack
    // made get their own keys (core/upgrade.ts).
    await upgradeRecords(project);
    return {
      url: result.url,
      pid: result.pid ?? null,
      alreadyRunning: !result.started,
      log: server.paths.log,
    };
  },
  render(result, io) {
    const pid = result.pid ? ` (pid ${result.pid})` : "";
    io.err(
      result.alreadyRunning
        ? `${io.paint("green", "✓")} The storage server is already running at ${result.url}${pid}.`
        : `${io.paint("green", "✓")} Storage server running at ${result.url}${pid}. Stop it with \`forkstack down\`.`,
    );
    io.out(result.url);
  },
};

export default command;
