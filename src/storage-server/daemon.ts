/**
 * @module storage-server/daemon
 * Entry of the background storage server that `forkstack up` (and the `local` provider, on demand)
 * starts as a detached process: `node daemon.js '<DaemonArgs as JSON>'`. Its output goes to
 * `.forkstack/storage/server.log`. It stops cleanly on SIGTERM/SIGINT/SIGHUP, and on its own when its
 * pid file disappears. Exit code 3 means the port was taken, so the starter can say so precisely.
 */
import { isForkstackError } from "../errors.js";
import { EXIT_PORT_IN_USE, runServer } from "../providers/storage/_local-server.js";
import type { DaemonArgs } from "../providers/storage/_local-server.js";
import { ignoreStdioErrors, safeLog } from "./log.js";

// The log file may sit on a full disk: logging must never be what takes the server down (log.ts).
ignoreStdioErrors();
const log = safeLog(2);
const controller = new AbortController();
for (const signal of ["SIGTERM", "SIGINT", "SIGHUP"] as const) process.once(signal, () => controller.abort());

try {
  const args = JSON.parse(process.argv[2] ?? "") as DaemonArgs;
  await runServer(args, {
    signal: controller.signal,
    log,
    onReady: (r) => log(`storage server (pid ${r.pid}) listening at ${r.url}, data in ${args.root}`),
  });
  log("storage server stopped");
} catch (error) {
  log(`storage server failed: ${(error as Error)?.message ?? String(error)}`);
  process.exitCode = isForkstackError(error) && error.code === "E_PORT_IN_USE" ? EXIT_PORT_IN_USE : 1;
}
// Exit now rather than when the event loop runs dry: the store is closed and durable by here, and a
// helper thread (the hashing workers of large uploads) kept the process alive after a clean stop, so
// `forkstack down` waited 15 s and then had to SIGKILL it.
process.exit();
