/**
 * @module layout
 * Where forkstack keeps things inside a project. Shared by the runtime library and the CLI, so it
 * imports nothing but `node:path`: the runtime must stay tiny.
 */
import { join } from "node:path";

export const CONFIG_FILE_NAMES = [
  "forkstack.config.ts",
  "forkstack.config.mts",
  "forkstack.config.mjs",
  "forkstack.config.js",
  "forkstack.config.json",
] as const;

export const DATA_DIR_NAME = ".forkstack";
export const CURRENT_ENV_FILE = ".current-env";
export const ENV_LOCAL_FILE = ".env.local";
export const MANIFEST_VERSION = 1;
export const SECRETS_CACHE_FILE = "secrets.cache.env";
/** The secrets provider whose own file the runtime library reads (its `data.file`); any other's values come from the cache. */
export const FILE_SECRETS_PROVIDER = "dotenv";
/** The embedded storage provider: each env has its own key on its server, recorded as `data.accessKeyId`. */
export const EMBEDDED_STORAGE_PROVIDER = "local";
/** The variables that carry a storage key. */
export const STORAGE_KEY_VARS: readonly string[] = ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"];

/**
 * An embedded storage record an older forkstack wrote, when every env carried the project's own key
 * (which may do anything on the server): no `data.accessKeyId`. The next command that loads the project
 * gives the env a key of its own (core/upgrade.ts); until then the runtime library and `forkstack env`
 * leave the key out rather than hand an app the project's.
 */
export function holdsProjectStorageKey(resource: {
  readonly provider?: string;
  readonly data?: Readonly<Record<string, unknown>>;
}): boolean {
  return resource.provider === EMBEDDED_STORAGE_PROVIDER && typeof resource.data?.accessKeyId !== "string";
}

export interface ProjectLayout {
  /** Directory holding the config file. */
  readonly root: string;
  /** `.forkstack/` */
  readonly dataDir: string;
  /** `.forkstack/envs/` */
  readonly envsDir: string;
  /** `.forkstack/state.db`: journal and locks. */
  readonly stateDb: string;
  /** `.forkstack/project.json`: the resolved config the runtime reads instead of loading TypeScript. */
  readonly projectCache: string;
  readonly currentEnvFile: string;
  readonly envLocalFile: string;
  envDir(env: string): string;
  manifest(env: string): string;
  /**
   * `.forkstack/envs/<env>/secrets.cache.env` (0600): the env's secrets as the CLI last resolved them
   * from a secrets provider that is not a local file (Doppler), for the runtime library, which never
   * loads a provider. See docs/secrets.md.
   */
  secretsCache(env: string): string;
}

export function projectLayout(root: string): ProjectLayout {
  const dataDir = join(root, DATA_DIR_NAME);
  const envsDir = join(dataDir, "envs");
  return {
    root,
    dataDir,
    envsDir,
    stateDb: join(dataDir, "state.db"),
    projectCache: join(dataDir, "project.json"),
    currentEnvFile: join(root, CURRENT_ENV_FILE),
    envLocalFile: join(root, ENV_LOCAL_FILE),
    envDir: (env) => join(envsDir, env),
    manifest: (env) => join(envsDir, env, "manifest.json"),
    secretsCache: (env) => join(envsDir, env, SECRETS_CACHE_FILE),
  };
}

/** What `.forkstack/project.json` holds: enough for `currentEnv()` and `forkstack current`. */
export interface ProjectCache {
  readonly project: string;
  readonly defaultEnv: string;
  /** mtime (ms) of the config file this was resolved from; a newer config invalidates it. */
  readonly configMtimeMs: number;
  readonly configFile: string;
}

/** Status of an env as its manifest records it. */
export type EnvStatus = "creating" | "ready" | "resetting" | "deleting" | "broken";

/** One resource of an env as stored in its manifest (a 0600 file: it may hold secret vars). */
export interface ManifestResource {
  readonly provider: string;
  readonly location: string;
  readonly method?: string;
  readonly bytesAdded?: number;
  readonly bytes?: number;
  readonly vars: Readonly<Record<string, string>>;
  readonly secretVars?: Readonly<Record<string, string>>;
  readonly data?: Readonly<Record<string, unknown>>;
  /** An existing backend resource this root adopted: forkstack never removes it. */
  readonly adopted?: boolean;
}

/** A record of a resource (its manifest's copy, or a step's target): only its `data` is read here. */
type Recorded = { readonly data?: Readonly<Record<string, unknown>> } | undefined;

/**
 * A non-empty string the record's `data` holds under `key`, if it does: what providers read back to
 * remove exactly what they recorded (docs/providers.md, "Removing by the record").
 */
export function recordedString(recorded: Recorded, key: string): string | undefined {
  const value = recorded?.data?.[key];
  return typeof value === "string" && value !== "" ? value : undefined;
}

/** A list of non-empty strings the record's `data` holds under `key`, if it does. */
export function recordedStrings(recorded: Recorded, key: string): string[] | undefined {
  const value = recorded?.data?.[key];
  return Array.isArray(value) && value.every((v) => typeof v === "string" && v !== "")
    ? (value as string[])
    : undefined;
}

export interface EnvManifest {
  readonly version: number;
  readonly name: string;
  readonly parent: string | null;
  readonly createdAt: string;
  readonly expiresAt: string | null;
  readonly status: EnvStatus;
  readonly resources: Readonly<Record<string, ManifestResource>>;
}

/** Env names: what works as part of every derived resource name (buckets, branches, directories). */
export const ENV_NAME_PATTERN = /^[a-z0-9]+(?:-[a-z0-9]+)*$/;
export const ENV_NAME_RULE =
  "lowercase letters a-z, digits 0-9 and single hyphens inside (e.g. alice, pr-42)";
/** Longest env name accepted whatever the providers say: keeps derived names readable and portable. */
export const MAX_ENV_NAME = 48;

/** `ENV` values from the seed's convention that map onto forkstack's root names. */
export const ENV_ALIASES: Readonly<Record<string, string>> = { production: "prod", development: "dev" };
