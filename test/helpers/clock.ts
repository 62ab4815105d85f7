/**
 * A clock for a provider (`ProviderContext.clock`) and an emulator to share. It reads the wall clock
 * plus every wait it skipped: `sleep(ms)` returns on the next turn of the event loop and moves the
 * clock on by `ms`. A poll or a backoff then costs no real time, and what an emulator does "after
 * 5 s" happens after the provider has waited 5 s of this clock — the same number of polls however
 * slow the machine is. Never behind the wall clock, so a timestamp a test takes with `new Date()` is
 * never in the emulator's future.
 */
import { InterruptedError } from "../../src/errors.js";
import type { Clock } from "../../src/providers/types.js";

export interface TestClock extends Clock {
  /** Moves the clock on without anyone sleeping (an operation that "took" `ms`). */
  advance(ms: number): void;
  /** Every `sleep` made so far, in order (what a test asserts instead of durations). */
  readonly sleeps: readonly number[];
}

/** `onSleep` sees each wait as it starts: a test acts "while the provider waits" on it (an abort). */
export function testClock(options: { onSleep?: (ms: number) => void } = {}): TestClock {
  let skipped = 0;
  const sleeps: number[] = [];
  return {
    now: () => Date.now() + skipped,
    async sleep(ms, signal) {
      if (signal?.aborted) throw new InterruptedError();
      sleeps.push(ms);
      options.onSleep?.(ms);
      skipped += ms;
      await new Promise((resolve) => setImmediate(resolve));
      if (signal?.aborted) throw new InterruptedError();
    },
    advance: (ms) => void (skipped += ms),
    sleeps,
  };
}
