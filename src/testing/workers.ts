/**
 * @module testing/workers
 * One env per test worker, for any test runner (the vitest glue is `forkstack/vitest`): fork a template
 * env into `test-<worker id>`, point this process at it, delete it afterwards.
 *
 * Why it is shaped this way:
 * - Names come from the runner's worker slot (`VITEST_POOL_ID` is 1…maxWorkers), so a run never has
 *   more envs than workers, and a run killed with Ctrl-C or SIGKILL leaves envs under names the next
 *   run uses again: the leftover is replaced (or reused, when asked), never an "already exists" error.
 *   A leftover is recognised as what this helper makes (a ttl, forked from the template): a user's own
 *   env that happens to be called `test-3` is never deleted.
 *   Each env also gets a ttl, so `forkstack gc` collects what a killed run left if no run follows.
 * - The worker's variables go into `process.env` the way `forkstack run --env test-3` would put them
 *   there, marker included: code that reads `process.env.DATABASE_URL` directly (an ORM config, a child
 *   process a test spawns) gets the worker's env, and a worker started under `forkstack run` (dev's
 *   values inherited) does not keep dev's values by mistake.
 * - Everything is restored on cleanup, so a runner that reuses the process for another file starts
 *   from what it had.
 */
import { createEnv, deleteEnv, envVars, listEnvs, UserError } from "../api.js";
import { isForkstackError } from "../errors.js";
import { isEnvName, refresh, RUN_ENV_VAR, RUN_VARS_VAR } from "../runtime/resolve.js";
import { ENV_NAME_RULE, MAX_ENV_NAME } from "../layout.js";

/** What to do with an env of the worker's name that a killed run left behind. */
export type LeftoverPolicy = "replace" | "reuse";

export interface WorkerEnvOptions {
  /** The template env every worker env is forked from. @default the config's defaultEnv */
  from?: string;
  /** Env names are `<prefix>-<worker id>`. @default "test" */
  prefix?: string;
  /** Name the env yourself (must be a valid env name); overrides `prefix`. */
  name?: (workerId: string) => string;
  /** Directory inside the project. @default process.cwd() */
  cwd?: string;
  /**
   * A leftover env of the same name (a run killed before its cleanup): `replace` deletes it and forks
   * afresh; `reuse` keeps it if it is ready (faster, but it holds what the killed run wrote).
   * @default "replace"
   */
  leftover?: LeftoverPolicy;
  /** After this long `forkstack gc --yes` deletes the env, should nothing else. @default 1 hour */
  ttlMs?: number;
  /** Put the env's variables into `process.env` (as `forkstack run` does). @default true */
  setProcessEnv?: boolean;
}

export interface WorkerEnv {
  /** The env's name, e.g. `test-3`. */
  readonly name: string;
  /** The worker id it was named after (`3`). */
  readonly workerId: string;
  /** The env's variables, secrets included (`FORKSTACK_ENV`, `DATABASE_URL`, …). */
  readonly vars: Record<string, string>;
  /** True when an existing env was reused (`leftover: "reuse"`), false when it was forked now. */
  readonly reused: boolean;
  /** Restore `process.env` and delete the env. Safe to call twice. */
  cleanup(): Promise<void>;
}

export const DEFAULT_PREFIX = "test";
export const DEFAULT_TTL_MS = 60 * 60 * 1000;

/**
 * This process's worker id: vitest's pool slot (`VITEST_POOL_ID`, 1…maxWorkers, reused by the files
 * that run one after another in that slot), `VITEST_WORKER_ID`, jest's `JEST_WORKER_ID`, Playwright's
 * `TEST_PARALLEL_INDEX`, else the pid.
 */
export function workerId(vars: NodeJS.ProcessEnv = process.env): string {
  return (
    vars.VITEST_POOL_ID ||
    vars.VITEST_WORKER_ID ||
    vars.JEST_WORKER_ID ||
    vars.TEST_PARALLEL_INDEX ||
    String(process.pid)
  );
}

/** The env name of a worker: `<prefix>-<id>`, the id lowercased and reduced to a-z0-9 and hyphens. */
export function workerEnvName(
  options: Pick<WorkerEnvOptions, "prefix" | "name"> = {},
  id = workerId(),
): string {
  const name = options.name
    ? options.name(id)
    : `${options.prefix ?? DEFAULT_PREFIX}-${
        id
          .toLowerCase()
          .replace(/[^a-z0-9]+/g, "-")
          .replace(/^-|-$/g, "") || "0"
      }`;
  if (!isEnvName(name)) {
    throw new UserError(
      `The test worker env name ${JSON.stringify(name)} is not a valid env name.`,
      "E_INVALID_ENV_NAME",
      {
        hint: `Env names are ${ENV_NAME_RULE}, at most ${MAX_ENV_NAME} characters: check \`prefix\` or \`name\`.`,
      },
    );
  }
  return name;
}

function hasCode(error: unknown, code: string): boolean {
  return isForkstackError(error) && error.code === code;
}

/** Fork `from` into `name`; a leftover of that name is replaced or reused. */
async function forkWorkerEnv(
  name: string,
  options: WorkerEnvOptions,
): Promise<{ vars: Record<string, string>; reused: boolean }> {
  const api = { cwd: options.cwd };
  const create = () =>
    createEnv(name, { ...api, from: options.from, ttlMs: options.ttlMs ?? DEFAULT_TTL_MS });
  const read = async () => {
    const { vars, secrets } = await envVars(name, api);
    return { ...vars, ...secrets };
  };
  try {
    await create();
    return { vars: await read(), reused: false };
  } catch (error) {
    if (!hasCode(error, "E_ENV_EXISTS")) throw error;
  }
  // A leftover of a run that never got to its cleanup (Ctrl-C, a crash, SIGKILL) — if it is one: an env
  // of that name without a ttl, or forked from another env, was made by someone else, and stays.
  const listing = (await listEnvs(api)).find((e) => e.name === name);
  if (
    listing &&
    (listing.expiresAt === null || (options.from !== undefined && listing.parent !== options.from))
  ) {
    throw new UserError(
      `The test worker env "${name}" already exists and is not a worker env (${listing.expiresAt === null ? "it has no ttl" : `it was forked from "${listing.parent}"`}), so it is left alone.`,
      "E_ENV_EXISTS",
      {
        hint: `Delete it (\`forkstack delete ${name}\`) if it is not needed, or give the workers another \`prefix\`.`,
      },
    );
  }
  if (options.leftover === "reuse" && listing?.status === "ready")
    return { vars: await read(), reused: true };
  try {
    await deleteEnv(name, api);
  } catch (error) {
    if (hasCode(error, "E_ENV_BUSY")) {
      // Not a leftover: a live process (another test run in this project?) has it open.
      throw new UserError(
        `The test worker env "${name}" is in use by another process, so it is not a leftover to replace.\n${(error as Error).message}`,
        "E_ENV_BUSY",
        {
          hint: "Two test runs in one project at once need different env names: set `prefix` for one of them.",
        },
      );
    }
    if (!hasCode(error, "E_ENV_NOT_FOUND")) throw error;
  }
  await create();
  return { vars: await read(), reused: false };
}

/**
 * Put `vars` into `process.env` as `forkstack run --env <name>` would: the variables a parent
 * `forkstack run` injected for another env are removed, the marker names this env. Returns the undo.
 */
function applyToProcessEnv(name: string, vars: Record<string, string>): () => void {
  const saved = new Map<string, string | undefined>();
  const set = (key: string, value: string | undefined) => {
    if (!saved.has(key)) saved.set(key, process.env[key]);
    if (value === undefined) delete process.env[key];
    else process.env[key] = value;
  };
  const inherited = process.env[RUN_ENV_VAR] ? (process.env[RUN_VARS_VAR] ?? "").split(",") : [];
  for (const key of inherited) if (key && !(key in vars)) set(key, undefined);
  for (const [key, value] of Object.entries(vars)) set(key, value);
  set("FORKSTACK_ENV", name);
  set(RUN_ENV_VAR, name);
  set(RUN_VARS_VAR, Object.keys(vars).join(","));
  return () => {
    for (const [key, value] of saved) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
  };
}

/**
 * Fork the template into this worker's env and point the process at it: `FORKSTACK_ENV` (and, by
 * default, the env's variables) in `process.env`, the runtime library's caches dropped, so
 * `databaseUrl()` and friends answer for the worker's env. Call `cleanup()` when the worker is done.
 *
 * @example
 * const env = await useWorkerEnv({ from: "test-template" });
 * try { await runTests(); } finally { await env.cleanup(); }
 */
export async function useWorkerEnv(options: WorkerEnvOptions = {}): Promise<WorkerEnv> {
  const id = workerId();
  const name = workerEnvName(options, id);
  const { vars, reused } = await forkWorkerEnv(name, options);
  const restore =
    options.setProcessEnv === false
      ? (() => {
          const before = process.env.FORKSTACK_ENV;
          process.env.FORKSTACK_ENV = name;
          return () => {
            if (before === undefined) delete process.env.FORKSTACK_ENV;
            else process.env.FORKSTACK_ENV = before;
          };
        })()
      : applyToProcessEnv(name, vars);
  refresh();
  let done: Promise<void> | undefined;
  return {
    name,
    workerId: id,
    vars,
    reused,
    cleanup() {
      done ??= (async () => {
        // Nothing may point at the env once it is gone.
        restore();
        refresh();
        try {
          // No `force`: the in-use check skips this process's own pid, so an env only this worker
          // holds open is deleted; one that another process (a server the test left running) holds
          // is refused, with that process named, instead of pulling its files from under it.
          await deleteEnv(name, { cwd: options.cwd });
        } catch (error) {
          if (!hasCode(error, "E_ENV_NOT_FOUND")) throw error;
        }
      })();
      return done;
    },
  };
}

export interface LeftoverOptions {
  from?: string;
  prefix?: string;
  cwd?: string;
  /** Only envs created before this moment. @default now */
  before?: Date;
  /** Only envs created at or after this moment (a global teardown: this run's own). */
  after?: Date;
}

export interface LeftoverResult {
  /** Envs deleted. */
  readonly deleted: string[];
  /** Envs left alone, and why (a process holds them open: another run's). */
  readonly skipped: { env: string; reason: string }[];
}

/**
 * Delete the worker envs that earlier runs left behind (Ctrl-C, a crash): envs named `<prefix>-<digits>`
 * (the names `useWorkerEnv` makes from worker ids), forked from the template, with a ttl, created before
 * `before` (and at or after `after`). The match is that narrow on purpose: a user's own `test-login` env is never touched. An env
 * a process holds open (a concurrent run in the same project) is skipped, not deleted.
 */
export async function removeLeftoverWorkerEnvs(options: LeftoverOptions = {}): Promise<LeftoverResult> {
  const pattern = new RegExp(`^${(options.prefix ?? DEFAULT_PREFIX).replace(/-/g, "\\-")}-\\d+$`);
  const before = (options.before ?? new Date()).getTime();
  const after = options.after?.getTime() ?? -Infinity;
  const envs = await listEnvs({ cwd: options.cwd });
  const leftovers = envs.filter(
    (e) =>
      pattern.test(e.name) &&
      e.expiresAt !== null &&
      (options.from === undefined || e.parent === options.from) &&
      e.createdAt !== null &&
      Date.parse(e.createdAt) < before &&
      Date.parse(e.createdAt) >= after,
  );
  const deleted: string[] = [];
  const skipped: LeftoverResult["skipped"] = [];
  for (const env of leftovers) {
    try {
      await deleteEnv(env.name, { cwd: options.cwd });
      deleted.push(env.name);
    } catch (error) {
      if (hasCode(error, "E_ENV_NOT_FOUND")) continue;
      skipped.push({ env: env.name, reason: (error as Error).message });
    }
  }
  return { deleted, skipped };
}

/**
 * Fail once, clearly, before any worker starts, when the template env is missing or not ready (every
 * worker would otherwise fail with the same error). Without `from`, the config's default env is the
 * template, which forkstack makes on demand, so there is nothing to check.
 */
export async function checkTemplateEnv(options: Pick<WorkerEnvOptions, "from" | "cwd"> = {}): Promise<void> {
  const from = options.from;
  if (from === undefined) return;
  const template = (await listEnvs({ cwd: options.cwd })).find((e) => e.name === from);
  if (!template) {
    throw new UserError(`The template env "${from}" for test workers does not exist.`, "E_ENV_NOT_FOUND", {
      hint: `Create it once (e.g. \`forkstack new ${from} --from dev --no-switch\`, then migrate and seed it), or change \`from\`.`,
    });
  }
  if (template.status !== "ready") {
    throw new UserError(
      `The template env "${from}" for test workers is ${template.status}, not ready.`,
      "E_ENV_BROKEN",
      { hint: `Run \`forkstack list\` to see why; \`forkstack reset ${from}\` or re-create it.` },
    );
  }
}
