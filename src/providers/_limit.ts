/**
 * @module providers/_limit
 * A tiny concurrency limiter. Cloud APIs rate-limit per token (Neon 40 req/s burst, PlanetScale 600/min,
 * Doppler 240/min), so `list` of 50 envs must not fire 50 `describe` calls at once; the API client runs
 * every request through one of these, and a provider can wrap whole operations in another.
 *
 * Why not p-limit: it is a dependency for thirty lines, and we want a queued task to leave the queue as
 * soon as its operation is aborted (Ctrl-C with 45 calls still waiting must not start them one by one).
 */
import { InterruptedError } from "../errors.js";

export interface Limiter {
  /** Run `fn` when fewer than `n` tasks are running. A task still queued when `signal` aborts never runs. */
  <T>(fn: () => Promise<T>, signal?: AbortSignal): Promise<T>;
  /** Tasks running now. */
  readonly active: number;
  /** Tasks waiting for a slot. */
  readonly pending: number;
}

/** At most `n` (≥ 1; `Infinity` for no limit) tasks in flight; the others start in call order. */
export function limit(n: number): Limiter {
  if (!(n >= 1)) throw new RangeError(`limit(n) needs n >= 1, got ${n}`);
  let active = 0;
  const queue: Array<() => void> = [];

  const next = () => {
    if (active >= n) return;
    const start = queue.shift();
    if (start) start();
  };

  const run = <T>(fn: () => Promise<T>, signal?: AbortSignal): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      if (signal?.aborted) return reject(new InterruptedError());
      const start = () => {
        signal?.removeEventListener("abort", onAbort);
        active++;
        // `fn` may throw synchronously; `then` on a resolved promise turns that into a rejection too.
        Promise.resolve()
          .then(fn)
          .then(resolve, reject)
          .finally(() => {
            active--;
            next();
          });
      };
      const onAbort = () => {
        const at = queue.indexOf(start);
        if (at >= 0) queue.splice(at, 1);
        reject(new InterruptedError());
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      queue.push(start);
      next();
    });

  return Object.defineProperties(run, {
    active: { get: () => active },
    pending: { get: () => queue.length },
  }) as Limiter;
}

/**
 * `items.map(fn)` with at most `n` calls in flight; results in input order. On the first failure the
 * calls not yet started are dropped (there is no point describing env 30 when env 3 proved the token bad).
 */
export async function mapLimit<I, O>(
  items: readonly I[],
  n: number,
  fn: (item: I, index: number) => Promise<O>,
  signal?: AbortSignal,
): Promise<O[]> {
  const run = limit(n);
  const stop = new AbortController();
  const onAbort = () => stop.abort();
  if (signal?.aborted) stop.abort();
  signal?.addEventListener("abort", onAbort, { once: true });
  try {
    return await Promise.all(
      items.map((item, index) =>
        run(() => fn(item, index), stop.signal).catch((error: unknown) => {
          stop.abort();
          throw error;
        }),
      ),
    );
  } finally {
    signal?.removeEventListener("abort", onAbort);
  }
}
