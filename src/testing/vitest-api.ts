/**
 * @module testing/vitest-api
 * The parts of vitest the suites use, loaded without a static import: `forkstack/testing` also serves
 * test runners other than vitest (its per-worker helper), so importing it must work where vitest, an
 * optional peer dependency, is not installed. The suites need it, and say so when it is missing.
 */
import type * as Vitest from "vitest";

let loaded: typeof Vitest | undefined;
let failure: unknown;
try {
  loaded = await import("vitest");
} catch (error) {
  failure = error;
}

function api(): typeof Vitest {
  if (!loaded) {
    throw new Error("The conformance suites of forkstack/testing run under vitest: npm install -D vitest", {
      cause: failure,
    });
  }
  return loaded;
}

/** A stand-in for one of vitest's exports that forwards calls and properties (`it.skip`, `expect.any`). */
function lazy<T extends object>(pick: (vitest: typeof Vitest) => T): T {
  return new Proxy(function () {} as unknown as T, {
    apply: (_target, thisArg, args: unknown[]) =>
      Reflect.apply(pick(api()) as (...a: unknown[]) => unknown, thisArg, args),
    get: (_target, key) => Reflect.get(pick(api()), key),
  });
}

export const it = lazy((v) => v.it);
export const expect = lazy((v) => v.expect);
export const beforeEach = lazy((v) => v.beforeEach);
export const afterEach = lazy((v) => v.afterEach);
