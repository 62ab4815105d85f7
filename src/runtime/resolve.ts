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
  projectLayout,
  type EnvManifest,
  type ProjectCache,
  type ProjectLayout,
} from "../layout.js";

const ENV_NAME = /^[a-z0-9]+(?:-[a-z0-9]+)*$/;

interface Cache {
  layout?: ProjectLayout | null;
  fileEnv?: string;
  manifests: Map<string, EnvManifest>;
  vars: Map<string, Record<string, string>>;
}

let cache: Cache = { manifests: new Map(), vars: new Map() };

/** Forget everything read from files (after a `switch` in a long-running process, or in tests). */
export function refresh(): void {
  cache = { manifests: new Map(), vars: new Map() };
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
  if (!ENV_NAME.test(name)) {
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

function fileEnv(): string {
  if (cache.fileEnv === undefined) {
    const l = layout();
    cache.fileEnv = readCurrentEnvFile(l.currentEnvFile) ?? defaultEnv(l);
  }
  return cache.fileEnv;
}

/** Resolve the current env: FORKSTACK_ENV → ENV (production→prod, development→dev) → .current-env → default. */
export function currentEnv(): string {
  const explicit = process.env.FORKSTACK_ENV;
  if (explicit) return explicit;
  const seed = process.env.ENV;
  if (seed) return ENV_ALIASES[seed] ?? seed;
  return fileEnv();
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
    } catch {
      throw new UserError(`The manifest of "${env}" (${path}) is not valid JSON.`, "E_STATE_CORRUPT", {
        hint: "Run `forkstack doctor` to repair it.",
      });
    }
    cache.manifests.set(env, manifest);
  }
  return manifest;
}

/**
 * Every variable the env's resources expose, secrets of the secrets provider included. Cached and
 * frozen: callers that want to change it copy it.
 */
export function manifestVars(env: string): Readonly<Record<string, string>> {
  let vars = cache.vars.get(env);
  if (!vars) {
    const manifest = readManifest(env);
    vars = { FORKSTACK_ENV: env };
    for (const resource of Object.values(manifest.resources)) {
      Object.assign(vars, resource.vars, resource.secretVars);
    }
    // Secrets kept in a file by the embedded provider; cloud secrets reach the app through `forkstack run`.
    const file = manifest.resources.secrets?.data?.file;
    const text = typeof file === "string" ? readTextIfExists(file) : undefined;
    if (text !== undefined) Object.assign(vars, parseEnv(text));
    cache.vars.set(env, Object.freeze(vars));
  }
  return vars;
}

/** A variable of the current env: `process.env` wins, then the env's manifest and secrets. */
export function lookup(name: string): string | undefined {
  const fromProcess = process.env[name];
  if (fromProcess !== undefined) return fromProcess;
  return manifestVars(currentEnv())[name];
}
