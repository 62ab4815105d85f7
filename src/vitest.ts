/**
 * @module forkstack/vitest
 * One forkstack env per vitest worker. The least to write, in `vitest.config.mjs`:
 *
 * ```js
 * export default defineConfig({
 *   test: {
 *     globalSetup: ["forkstack/vitest/global-setup"],
 *     setupFiles: ["forkstack/vitest/setup"],
 *     provide: { forkstack: { from: "test-template" } },
 *   },
 * });
 * ```
 *
 * The global setup checks the template env once and deletes the worker envs earlier runs left behind
 * (Ctrl-C, a crash); the setup file forks the template into `test-<pool id>` before each test file's
 * code is imported, points `FORKSTACK_ENV` and the env's variables at it, and deletes it after the
 * file's tests. For your own setup file, call `forkstackWorker()` at its top level instead.
 */
import { afterAll, inject } from "vitest";
import {
  checkTemplateEnv,
  removeLeftoverWorkerEnvs,
  useWorkerEnv,
  type LeftoverResult,
  type WorkerEnv,
  type WorkerEnvOptions,
} from "./testing/workers.js";

export {
  useWorkerEnv,
  workerEnvName,
  workerId,
  removeLeftoverWorkerEnvs,
  checkTemplateEnv,
} from "./testing/workers.js";
export type { LeftoverPolicy, LeftoverResult, WorkerEnv, WorkerEnvOptions } from "./testing/workers.js";

/** What `test.provide.forkstack` may hold: the serializable part of `WorkerEnvOptions`. */
export type ForkstackVitestOptions = Omit<WorkerEnvOptions, "name">;

declare module "vitest" {
  interface ProvidedContext {
    forkstack?: ForkstackVitestOptions;
  }
}

/** The part of vitest's `TestProject` a global setup uses (so this file needs no `vitest/node` types). */
export interface GlobalSetupProject {
  getProvidedContext(): { forkstack?: ForkstackVitestOptions };
}

function provided(): ForkstackVitestOptions {
  try {
    return inject("forkstack") ?? {};
  } catch {
    return {}; // outside a vitest worker (or an old vitest): options come from the call only
  }
}

/**
 * Stop a worker on Ctrl-C (SIGINT) or SIGTERM only after deleting its env. Vitest's main process exits
 * at once on Ctrl-C without running `afterAll` hooks or the global teardown; the workers get the same
 * SIGINT from the terminal and would die with their envs in place. Best effort: a worker stuck in
 * synchronous code, or killed with SIGKILL, leaves its env to the next run's global setup (or to the
 * worker that takes the same slot, which replaces it), and to `forkstack gc` through the ttl.
 */
function cleanupOnSignal(env: WorkerEnv): () => void {
  const handlers = (["SIGINT", "SIGTERM"] as const).map((signal) => {
    const handler = () => {
      const exit = () => process.exit(128 + (signal === "SIGINT" ? 2 : 15));
      setTimeout(exit, 5_000).unref();
      env.cleanup().then(exit, exit);
    };
    process.once(signal, handler);
    return () => process.off(signal, handler);
  });
  return () => handlers.forEach((off) => off());
}

/**
 * Fork this worker's env now, and delete it after the current test file (`afterAll`). Call it at the
 * top level of a setup file, so the env is ready before the test file's own imports run: a module
 * that reads `databaseUrl()` at import time must already see the worker's env.
 *
 * Options given here win over `test.provide.forkstack`.
 */
export async function forkstackWorker(options: WorkerEnvOptions = {}): Promise<WorkerEnv> {
  const env = await useWorkerEnv({ ...provided(), ...options });
  const offSignals = cleanupOnSignal(env);
  afterAll(async () => {
    offSignals();
    await env.cleanup();
  });
  return env;
}

/**
 * A vitest `globalSetup` function: before the run, check the template env and delete the worker envs
 * earlier runs left; after it, delete any this run's workers could not (a crashed worker). Options
 * come from the argument, then `test.provide.forkstack`.
 *
 * @example
 * // vitest.global-setup.mjs
 * import { forkstackGlobalSetup } from "forkstack/vitest";
 * export default forkstackGlobalSetup({ from: "test-template" });
 */
export function forkstackGlobalSetup(
  options: ForkstackVitestOptions = {},
): (project?: GlobalSetupProject) => Promise<() => Promise<void>> {
  return async (project) => {
    // vitest ≥ 3 passes its TestProject; anything older passes no getProvidedContext.
    const fromConfig =
      typeof project?.getProvidedContext === "function" ? project.getProvidedContext().forkstack : undefined;
    const merged = { ...fromConfig, ...options };
    const scope = { from: merged.from, prefix: merged.prefix, cwd: merged.cwd };
    await checkTemplateEnv(scope);
    report("worker envs an interrupted run left", await removeLeftoverWorkerEnvs(scope));
    const started = new Date();
    return async () => {
      // Only envs this run's workers made and could not delete (a worker that crashed).
      report(
        "worker envs their worker could not delete",
        await removeLeftoverWorkerEnvs({ ...scope, after: started }),
      );
    };
  };
}

function report(what: string, result: LeftoverResult): void {
  if (result.deleted.length) console.warn(`[forkstack] deleted ${what}: ${result.deleted.join(", ")}`);
  for (const { env, reason } of result.skipped) console.warn(`[forkstack] kept ${env}: ${reason}`);
}
