/**
 * @module forkstack
 * The runtime library: what app code calls to find its env's database, buckets, local state and
 * secrets. It never prints, imports no provider or SDK, and after the first call each function costs a
 * couple of environment lookups, so it is fine to call on every request.
 *
 * A variable already in `process.env` wins (that is how a deployed app is configured); otherwise the
 * value comes from the current env's manifest in `.forkstack/`.
 */
import { join } from "node:path";
import { UserError } from "./errors.js";
import {
  allVars,
  currentEnv,
  lookup,
  lookupOptional,
  refresh,
  storageKeyPending,
} from "./runtime/resolve.js";

export { currentEnv, refresh };
export { defineConfig, env } from "./config/define.js";
export type { EnvValue, ForkstackConfig, ForkstackConfigInput } from "./config/define.js";
export { ForkstackError, UserError, UsageError, ProviderError, ServiceStoppedError } from "./errors.js";
// The provider contract, for custom providers (docs/providers.md): types only, nothing loads.
export type {
  Clock,
  CopyProgress,
  DatabaseProvider,
  DoctorFinding,
  EnvRef,
  ForkMethod,
  ForkOptions,
  Holder,
  LocalStateProvider,
  Logger,
  OpContext,
  Provider,
  ProviderContext,
  ProviderFactory,
  ProviderFlags,
  ResourceInfo,
  ResourceKind,
  RootRef,
  SecretsProvider,
  StorageProvider,
} from "./providers/types.js";

function required(name: string, what: string): string {
  const value = lookup(name);
  if (value === undefined || value === "") {
    throw new UserError(
      `The env "${currentEnv()}" has no ${what} (${name} is not set).`,
      "E_CONFIG_INVALID",
      {
        hint: `Configure a ${what} provider in forkstack.config.ts, or set ${name}.`,
      },
    );
  }
  return value;
}

/** `DATABASE_URL` of the current env: a `file:` URL for the embedded SQLite provider. */
export function databaseUrl(): string {
  return required("DATABASE_URL", "database");
}

/** `DATABASE_AUTH_TOKEN` where the backend needs one (Turso), else undefined. */
export function databaseAuthToken(): string | undefined {
  return lookupOptional("DATABASE_AUTH_TOKEN") || undefined;
}

/** Bucket name of the current env: the default bucket, or the named one (`bucketName("uploads")`). */
export function bucketName(key?: string): string {
  if (key === undefined) return required("BUCKET_NAME", "storage");
  return required(`BUCKET_NAME_${key.toUpperCase().replace(/-/g, "_")}`, `bucket "${key}"`);
}

export interface StorageConfig {
  endpoint: string;
  region: string;
  credentials: { accessKeyId: string; secretAccessKey: string };
  forcePathStyle: boolean;
}

function hostOf(url: string): string {
  try {
    return new URL(url).hostname;
  } catch {
    return "";
  }
}

/** Options ready for `new S3Client(storageConfig())`. */
export function storageConfig(): StorageConfig {
  const endpoint = required("AWS_ENDPOINT_URL_S3", "storage");
  if (!lookup("AWS_ACCESS_KEY_ID") && storageKeyPending(currentEnv())) {
    throw new UserError(
      `The env "${currentEnv()}" has no storage key of its own yet: an older forkstack made it, when every env shared the project's key.`,
      "E_ENV_BROKEN",
      {
        hint: "Run any forkstack command in the project once (e.g. `forkstack env`): it gives the env its own key.",
      },
    );
  }
  return {
    endpoint,
    region: lookup("AWS_REGION") || "auto",
    credentials: {
      accessKeyId: required("AWS_ACCESS_KEY_ID", "storage"),
      secretAccessKey: required("AWS_SECRET_ACCESS_KEY", "storage"),
    },
    // Path-style everywhere but AWS itself: local endpoints are IP addresses (virtual-hosted style would
    // need DNS for `bucket.127.0.0.1`), and Tigris and R2 take both; AWS wants virtual-hosted requests
    // (path-style is deprecated there, and refused in its newer regions).
    forcePathStyle: !/(^|\.)amazonaws\.com(\.cn)?$/.test(hostOf(endpoint)),
  };
}

/** Absolute path inside the current env's local state directory. */
export function localPath(...parts: string[]): string {
  return join(required("FORKSTACK_LOCAL_PATH", "local state directory"), ...parts);
}

/** A secret of the current env, or undefined when it has none by that name. */
export function secret(name: string): string | undefined {
  return lookupOptional(name);
}

/** Every variable of the current env (docs/architecture.md, "Variables an env exposes"), `process.env` winning for names it already has. */
export function envVars(): Record<string, string> {
  return allVars();
}
