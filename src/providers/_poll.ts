/**
 * @module providers/_poll
 * Waiting for a vendor's asynchronous work (Neon operations, PlanetScale's `ready`) with `poll`, and
 * the abortable `sleep` and `anySignal` the HTTP client shares. Part of `_http.ts`, which re-exports it.
 */
import { setTimeout as delay } from "node:timers/promises";
import { InterruptedError, ProviderError } from "../errors.js";

/** `1500` → `1.5 s`, for messages. */
export const seconds = (ms: number) => {
  const s = ms / 1000;
  return `${Number.isInteger(s) ? s : s.toFixed(1)} s`;
};

export interface PollProgress<T> {
  /** 1 for the first call of `fn`. */
  readonly attempt: number;
  readonly elapsedMs: number;
  readonly value: T;
  /** `until(value)` held: this is the last report. */
  readonly done: boolean;
}

export interface PollOptions<T> {
  /** Ready yet? Throw from here (or from `fn`) for a failure state such as Neon's `failed`. */
  readonly until: (value: T) => boolean;
  /** Wait between calls; a function of the attempt just made for a schedule (5 s, then 10 s). @default 1000 */
  readonly intervalMs?: number | ((attempt: number) => number);
  /** Give up after this long. @default 300000 (Neon's SDK default) */
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal | undefined;
  readonly onProgress?: (progress: PollProgress<T>) => void;
  /** For the timeout message: `branch alice to be ready`. */
  readonly what?: string;
  /** The last value, for the timeout message: `state init`. */
  readonly describe?: (value: T) => string;
  /** Prefixes the timeout error. The client's `poll` fills it in. */
  readonly provider?: string;
  readonly sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  readonly now?: () => number;
}

/**
 * A signal that aborts when any of `signals` does. `AbortSignal.any` where Node has it (≥ 20.3);
 * otherwise listeners, which `dispose` removes so a long operation's signal does not collect one
 * listener per request.
 */
export function anySignal(
  signals: readonly (AbortSignal | undefined)[],
  native = typeof AbortSignal.any === "function",
): { signal: AbortSignal; dispose: () => void } {
  const list = signals.filter((s): s is AbortSignal => s !== undefined);
  if (native) return { signal: AbortSignal.any(list), dispose: () => {} };
  const controller = new AbortController();
  const listeners: Array<[AbortSignal, () => void]> = [];
  const dispose = () => {
    for (const [s, l] of listeners) s.removeEventListener("abort", l);
    listeners.length = 0;
  };
  for (const s of list) {
    if (s.aborted) {
      controller.abort(s.reason);
      dispose();
      break;
    }
    const onAbort = () => {
      controller.abort(s.reason);
      dispose();
    };
    listeners.push([s, onAbort]);
    s.addEventListener("abort", onAbort, { once: true });
  }
  return { signal: controller.signal, dispose };
}

/** Abortable sleep; an abort surfaces as forkstack's `InterruptedError`. */
export async function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  try {
    await delay(ms, undefined, signal ? { signal } : {});
  } catch (error) {
    if (signal?.aborted) throw new InterruptedError();
    throw error;
  }
}

/**
 * Call `fn` until `until(value)` holds; report each value to `onProgress`. The last call happens at
 * the deadline at the latest, then a timeout is a provider error saying what it waited for and the
 * last state seen. An abort is `InterruptedError`, also mid-wait.
 */
export async function poll<T>(fn: (attempt: number) => Promise<T>, options: PollOptions<T>): Promise<T> {
  const now = options.now ?? Date.now;
  const wait = options.sleep ?? sleep;
  const timeoutMs = options.timeoutMs ?? 300_000;
  const interval = options.intervalMs ?? 1000;
  const started = now();
  for (let attempt = 1; ; attempt++) {
    if (options.signal?.aborted) throw new InterruptedError();
    const value = await fn(attempt);
    const done = options.until(value);
    const elapsedMs = now() - started;
    options.onProgress?.({ attempt, elapsedMs, value, done });
    if (done) return value;
    const remaining = timeoutMs - elapsedMs;
    if (remaining <= 0) {
      const last = options.describe ? ` (last: ${options.describe(value)})` : "";
      throw new ProviderError(
        options.provider ?? "forkstack",
        `Timed out after ${seconds(timeoutMs)} waiting for ${options.what ?? "the operation to finish"}${last}.`,
        "E_PROVIDER_API",
        { hint: "It may still finish on its own: check again in a minute (`forkstack list`)." },
      );
    }
    const step = typeof interval === "function" ? interval(attempt) : interval;
    await wait(Math.max(0, Math.min(step, remaining)), options.signal);
  }
}
