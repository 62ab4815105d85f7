/**
 * @module core/failpoints
 * Named points in the lifecycle where tests make a real process die (kill -9) or a step fail, to prove
 * the journal repairs crashes and rollback leaves nothing behind. Set `FORKSTACK_FAILPOINT` to
 * `<point>` (SIGKILL there), `<point>=throw` (an error there), `<point>=sigint` (as if the user
 * pressed Ctrl-C there) or `<point>=stop` (SIGSTOP: the test changes the world, e.g. stops a backend,
 * then sends SIGCONT). Inert unless that variable is set.
 */

export function failpoint(point: string): void {
  const spec = process.env.FORKSTACK_FAILPOINT;
  if (!spec) return;
  for (const item of spec.split(",")) {
    const [name, action] = item.split("=");
    if (name !== point) continue;
    if (action === "throw") throw new Error(`failpoint ${point}`);
    if (action === "stop") {
      process.kill(process.pid, "SIGSTOP");
      continue;
    }
    if (action === "sigint") {
      process.kill(process.pid, "SIGINT");
      continue;
    }
    process.kill(process.pid, "SIGKILL");
  }
}
