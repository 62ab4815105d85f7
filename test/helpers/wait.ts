/** Small process-level test utilities: a free loopback port, and polling for a condition. */
import { createServer } from "node:net";

/** A TCP port on 127.0.0.1 that was free a moment ago. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/**
 * Poll `check` until it holds. No deadline of its own: the test's timeout is the only limit, because a
 * bound shorter than it is a speed assertion in disguise, and fails on a busy machine (vitest's
 * `expect.poll` and `vi.waitFor` give up after one second unless told otherwise).
 */
export async function waitFor(check: () => boolean | Promise<boolean>, intervalMs = 20): Promise<void> {
  while (!(await check())) await new Promise((r) => setTimeout(r, intervalMs));
}

/** Poll `read` until `until(value)` holds, and return that value (as `waitFor`, no deadline). */
export async function waitForValue<T>(
  read: () => T | Promise<T>,
  until: (value: T) => boolean,
  intervalMs = 20,
): Promise<T> {
  for (;;) {
    const value = await read();
    if (until(value)) return value;
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
