/**
 * @module runtime/resolve
 * How a running app finds its env without loading the config, a provider or an SDK: environment
 * variables first (how a deployed app or `forkstack run` configures it), then the files the CLI keeps
 * in the project (`.current-env`, `.forkstack/project.json`, the env's manifest).
 *
 * Files are read once per process and cached, so each call after the first costs a couple of
 * `process.env` lookups. A process that must see a `forkstack switch` made after it started calls
 * `refresh()` (dev servers restart on switch anyway, as the seed's `make down && make up` does).
 */
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { parseEnv } from "node:util";
import { UserError } from "../errors.js";
import {
  CONFIG_FILE_NAMES,
  ENV_ALIASES,
  ENV_NAME_PATTERN,
  ENV_NAME_RULE,
  FILE_SECRETS_PROVIDER,
  MAX_ENV_NAME,
  STORAGE_KEY_VARS,
  holdsProjectStorageKey,
  projectLayout,
  type EnvManifest,
  type ProjectCache,
  type ProjectLayout,
} from "../layout.js";

interface Cache {
  layout?: ProjectLayout | null;
  manifests: Map<string, EnvManifest>;
  vars: Map<string, Record<string, string>>;
}

let cache: Cache = { manifests: new Map(), vars: new Map() };
let resolved: ResolvedEnv | undefined;

/** Forget everything read from files (after a `switch` in a long-running process, or in tests). */
export function refresh(): void {
  cache = { manifests: new Map(), vars: new Map() };
  resolved = undefined;
}

/** Walk up from `cwd` to the directory holding a forkstack config, or null. */
export function findProjectRoot(cwd: string = process.cwd()): string | null {
  for (let dir = cwd; ; dir = dirname(dir)) {
    if (CONFIG_FILE_NAMES.some((name) => existsSync(join(dir, name)))) return dir;
    if (dirname(dir) === dir) return null;
  }
}

function layout(): ProjectLayout {
  if (cache.layout === undefined) {
    const root = process.env.FORKSTACK_ROOT || findProjectRoot();
    cache.layout = root ? projectLayout(root) : null;
  }
  if (!cache.layout) {
    throw new UserError(
      `No forkstack project found from ${process.cwd()}: no forkstack.config.* here or above.`,
      "E_CONFIG_NOT_FOUND",
      {
        hint: "Run `npx forkstack init` at your project root, or set FORKSTACK_ENV and the env's variables.",
      },
    );
  }
  return cache.layout;
}

function readTextIfExists(path: string): string | undefined {
  try {
    return readFileSync(path, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
}

/** The config's default env, from the cache the CLI writes; `dev` when the CLI has never run here. */
function defaultEnv(l: ProjectLayout): string {
  const text = readTextIfExists(l.projectCache);
  if (text === undefined) return "dev";
  try {
    return (JSON.parse(text) as ProjectCache).defaultEnv || "dev";
  } catch {
    return "dev";
  }
}

/** The env named by `.current-env`, checked so that garbage in the file is reported, not used. */
export function readCurrentEnvFile(path: string): string | undefined {
  const text = readTextIfExists(path);
  if (text === undefined) return undefined;
  const name = text.trim();
  if (!isEnvName(name)) {
    throw new UserError(
      `${path} holds ${JSON.stringify(text.slice(0, 40))}, not an env name.`,
      "E_STATE_CORRUPT",
      {
        hint: "Run `forkstack switch <env>` to rewrite it, or delete the file to use the default env.",
      },
    );
  }
  return name;
}

/** Where the current env's name came from; the first of these that is set wins. */
export type EnvSource = "--env" | "FORKSTACK_ENV" | "ENV" | ".current-env" | "default";

export interface ResolvedEnv {
  readonly name: string;
  readonly source: EnvSource;
}

export function isEnvName(name: string): boolean {
  return name.length <= MAX_ENV_NAME && ENV_NAME_PATTERN.test(name);
}

function checked(name: string, source: EnvSource, raw: string): ResolvedEnv {
  if (!isEnvName(name)) {
    const from = source === "--env" ? "--env" : `${source}=${JSON.stringify(raw.slice(0, 60))}`;
    throw new UserError(`${from} is not a valid env name.`, "E_INVALID_ENV_NAME", {
      hint: `Env names are ${ENV_NAME_RULE}, at most ${MAX_ENV_NAME} characters.`,
    });
  }
  return { name, source };
}

export interface ResolveOptions {
  /** An explicit `--env` (or positional env) given to a command. */
  readonly flag?: string;
  /** `.current-env` of the project, if there is a project. */
  readonly currentEnvFile?: string;
  /** The config's default env, asked only when nothing else names one. */
  readonly defaultEnv: () => string;
}

/**
 * The one resolver of the current env, used by every command and by the runtime library (docs/architecture.md,
 * "The resolver"): `--env` → `FORKSTACK_ENV` → `ENV` (production→prod, development→dev) → `.current-env` → the
 * config's default. Whatever the source, the name is validated: `FORKSTACK_ENV=../../x` is refused,
 * never used as a path.
 */
export function resolveEnv(options: ResolveOptions): ResolvedEnv {
  const vars = process.env;
  if (options.flag !== undefined) return checked(options.flag, "--env", options.flag);
  const explicit = vars.FORKSTACK_ENV;
  if (explicit) return checked(explicit, "FORKSTACK_ENV", explicit);
  const seed = vars.ENV;
  // Own keys only: `ENV=constructor` is an env name, not Object.prototype's constructor.
  if (seed) return checked(Object.hasOwn(ENV_ALIASES, seed) ? ENV_ALIASES[seed]! : seed, "ENV", seed);
  const fromFile = options.currentEnvFile ? readCurrentEnvFile(options.currentEnvFile) : undefined;
  if (fromFile) return { name: fromFile, source: ".current-env" };
  const fallback = options.defaultEnv();
  return checked(fallback, "default", fallback);
}

/** The current env and where its name came from (cached per process; see `refresh()`). */
export function resolveCurrentEnv(): ResolvedEnv {
  const { FORKSTACK_ENV, ENV } = process.env;
  // Environment variables are read on every call (a test worker may set FORKSTACK_ENV after import);
  // only the file lookups are cached.
  if (FORKSTACK_ENV || ENV) return resolveEnv({ defaultEnv: () => "dev" });
  if (!resolved) {
    const l = layout();
    resolved = resolveEnv({ currentEnvFile: l.currentEnvFile, defaultEnv: () => defaultEnv(l) });
  }
  return resolved;
}

/** Resolve the current env: FORKSTACK_ENV → ENV (production→prod, development→dev) → .current-env → default. */
export function currentEnv(): string {
  return resolveCurrentEnv().name;
}

export function readManifest(env: string): EnvManifest {
  let manifest = cache.manifests.get(env);
  if (!manifest) {
    const path = layout().manifest(env);
    const text = readTextIfExists(path);
    if (text === undefined) {
      throw new UserError(`Environment "${env}" does not exist in this project.`, "E_ENV_NOT_FOUND", {
        hint: `Create it with \`forkstack new ${env}\`, or list envs with \`forkstack list\`.`,
      });
    }
    try {
      manifest = JSON.parse(text) as EnvManifest;
      // `null`, an array or a number parse too; reading `.status` of them must not crash the app.
      if (typeof manifest !== "object" || manifest === null || Array.isArray(manifest)) throw new Error();
    } catch {
      throw new UserError(`The manifest of "${env}" (${path}) is not a JSON object.`, "E_STATE_CORRUPT", {
        hint: `Run \`forkstack delete ${env} --force\` to remove what is left of it, then \`forkstack new ${env}\` to make it again.`,
      });
    }
    // A half-made env (a `new` still running, or killed) has no usable variables: never hand out its
    // partial set (an app would start with DATABASE_URL undefined, or worse, the inherited one).
    if (manifest.status !== "ready") {
      throw new UserError(`Environment "${env}" is ${manifest.status}, not ready.`, "E_ENV_BROKEN", {
        hint: notReadyHint(env, manifest),
      });
    }
    cache.manifests.set(env, manifest);
  }
  return manifest;
}

/**
 * What to do about an env that is not ready, as commands that work for it (the library and the CLI
 * say the same): one being made may still be on its way; a broken fork is forked again from its
 * parent; a broken root has no parent, so it is removed and made again.
 */
export function notReadyHint(name: string, manifest: Pick<EnvManifest, "status" | "parent">): string {
  if (manifest.status === "creating") {
    return "Run `forkstack list` to see its state; a `new` may still be running.";
  }
  return manifest.parent
    ? `\`forkstack reset ${name}\` forks it again from ${manifest.parent}; \`forkstack list\` shows its state.`
    : `\`forkstack delete ${name} --force\`, then \`forkstack new ${name}\` makes it again; \`forkstack list\` shows its state.`;
}

/**
 * Every variable the env's resources expose, secrets of the secrets provider included. Cached and
 * frozen: callers that want to change it copy it.
 */
export function manifestVars(env: string): Readonly<Record<string, string>> {
  let vars = cache.vars.get(env);
  if (!vars) {
    const manifest = readManifest(env);
    // No prototype: `secret("toString")` is a missing secret, not Object.prototype's function.
    vars = Object.assign(Object.create(null) as Record<string, string>, { FORKSTACK_ENV: env });
    for (const resource of Object.values(manifest.resources ?? {})) {
      // A record an older forkstack wrote holds the project's storage key, which may do anything on the
      // storage server: never an app's. The CLI's next command gives the env its own (layout.ts).
      const withheld = holdsProjectStorageKey(resource) ? STORAGE_KEY_VARS : [];
      for (const [key, value] of Object.entries({ ...resource.vars, ...resource.secretVars })) {
        if (!withheld.includes(key)) vars[key] = value;
      }
    }
    // The embedded provider's own file; for any other (Doppler) the values the CLI last resolved,
    // which it caches for us: this library never loads a provider or an HTTP client. Under
    // `forkstack run` the same values are in process.env already, fresh, and win in `lookup`.
    const secrets = manifest.resources?.secrets;
    const file =
      secrets?.provider === FILE_SECRETS_PROVIDER
        ? secrets.data?.file
        : secrets
          ? layout().secretsCache(env)
          : undefined;
    const text = typeof file === "string" ? readTextIfExists(file) : undefined;
    if (text !== undefined) Object.assign(vars, parseEnv(text));
    cache.vars.set(env, Object.freeze(vars));
  }
  return vars;
}

/**
 * The env's storage record still holds the project's key, left out of its variables until the CLI
 * gives the env its own (layout.ts). False where that cannot be known (no project files).
 */
export function storageKeyPending(env: string): boolean {
  try {
    const storage = readManifest(env).resources?.storage;
    return storage !== undefined && holdsProjectStorageKey(storage);
  } catch {
    return false;
  }
}

/**
 * `forkstack run` marks the variables it injected: `FORKSTACK_RUN_ENV` names the env they belong to,
 * `FORKSTACK_RUN_VARS` lists their names. That is how the library tells a test worker from a deployed
 * app: a worker started under `forkstack run` (dev's DATABASE_URL inherited) that sets
 * `FORKSTACK_ENV=test-3` must get test-3's values, while a platform's own `DATABASE_URL` (no marker)
 * always wins.
 */
export const RUN_ENV_VAR = "FORKSTACK_RUN_ENV";
export const RUN_VARS_VAR = "FORKSTACK_RUN_VARS";

function injectedForAnotherEnv(name: string, env: () => string): boolean {
  const runEnv = process.env[RUN_ENV_VAR];
  if (!runEnv) return false; // the common case, a deployed app: one lookup
  return (process.env[RUN_VARS_VAR] ?? "").split(",").includes(name) && runEnv !== env();
}

/** `process.env[name]`, own keys only: `process.env.toString` is a function, not a variable. */
function processEnv(name: string): string | undefined {
  return Object.hasOwn(process.env, name) ? process.env[name] : undefined;
}

/** A variable of the current env: `process.env` wins (unless `run` put it there for another env), then the env's manifest and secrets. */
export function lookup(name: string): string | undefined {
  const fromProcess = processEnv(name);
  if (fromProcess !== undefined && !injectedForAnotherEnv(name, currentEnv)) return fromProcess;
  return manifestVars(currentEnv())[name];
}

/**
 * Like `lookup`, for values an app may legitimately not have (`DATABASE_AUTH_TOKEN`, a secret): a
 * deployed app with no project files gets what `process.env` has, or undefined, instead of an error.
 */
export function lookupOptional(name: string): string | undefined {
  try {
    return lookup(name);
  } catch (error) {
    if ((error as UserError).code === "E_CONFIG_NOT_FOUND") return undefined;
    throw error;
  }
}

/** Every variable of the current env, `process.env` winning as in `lookup`. */
export function allVars(): Record<string, string> {
  const env = currentEnv();
  const vars = { ...manifestVars(env) };
  for (const name of Object.keys(vars)) {
    const fromProcess = processEnv(name);
    if (fromProcess !== undefined && !injectedForAnotherEnv(name, () => env)) {
      vars[name] = fromProcess;
    }
  }
  return vars;
}
