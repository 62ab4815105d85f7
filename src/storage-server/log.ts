/**
 * @module storage-server/log
 * The daemon's log: one line per call, written with a plain `writeSync` that can fail without
 * consequence. `process.stderr` on a file is a synchronous stream that *emits* write errors; with no
 * listener, one ENOSPC on a full disk became an uncaught exception and took the server down. Here a
 * line that cannot be written is dropped and counted, and the count is reported once writing works
 * again. Logging never throws and never ends the process.
 */
import { writeSync } from "node:fs";

export type LogFn = (line: string) => void;

/** A logger on `fd` (stderr by default) that stamps each line with the time and never throws. */
export function safeLog(fd = 2, now: () => Date = () => new Date()): LogFn {
  let dropped = 0;
  return (line) => {
    try {
      if (dropped > 0) {
        writeSync(fd, `${now().toISOString()} (${dropped} log line(s) dropped: could not write the log)\n`);
        dropped = 0;
      }
      writeSync(fd, `${now().toISOString()} ${line}\n`);
    } catch {
      dropped++;
    }
  };
}

/**
 * Keeps stray writes to stdout/stderr (a library's console.error) from crashing the process when the
 * disk under the log is full: their errors get a listener that ignores them.
 */
export function ignoreStdioErrors(): void {
  for (const stream of [process.stdout, process.stderr]) stream.on("error", () => undefined);
}
