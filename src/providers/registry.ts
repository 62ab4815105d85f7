/**
 * @module providers/registry
 * Built-in providers by kind and name. The embedded ones (SQLite, the local object store, dotenv, a
 * directory) are imported here directly: they load no SDK and no native code until used, and being in
 * the same chunk as the core saves a CLI start several module loads. Providers that need an SDK stay
 * behind a lazy import, so a command only loads the backends the project's config names
 * (`forkstack list` on a SQLite project never loads an S3 SDK). Option schemas (zod) are always lazy.
 */
import type { z } from "zod";
import type { Provider, ProviderFactory, ResourceKind } from "./types.js";
import * as sqlite from "./database/sqlite.js";
import * as directory from "./local/directory.js";
import * as dotenv from "./secrets/dotenv.js";
import * as local from "./storage/local.js";

export interface ProviderModule {
  default: ProviderFactory<never, Provider>;
  /**
   * Validates the provider's `options` block of the config; its errors name the offending key.
   * Built-in providers keep theirs in `builtinOptionSchemas` instead, so that creating one loads no zod.
   */
  optionsSchema?: z.ZodType;
}

type Loader = () => Promise<ProviderModule>;

export const builtinProviders: Record<ResourceKind, Record<string, Loader>> = {
  database: {
    sqlite: () => Promise.resolve(sqlite as ProviderModule),
    // Lazy: it loads the postgres client, which only a project using this provider needs.
    postgres: () => import("./database/postgres.js") as Promise<ProviderModule>,
    // Lazy: API providers, loaded only by projects that name them.
    turso: () => import("./database/turso.js") as Promise<ProviderModule>,
    neon: () => import("./database/neon.js") as Promise<ProviderModule>,
    planetscale: () => import("./database/planetscale.js") as Promise<ProviderModule>,
  },
  storage: {
    local: () => Promise.resolve(local as ProviderModule),
    // Tigris shares the embedded provider's client (no SDK) but is its own chunk: only its users load it.
    tigris: () => import("./storage/tigris.js") as Promise<ProviderModule>,
    // These load @aws-sdk/client-s3 on first use, inside their functions, never on import.
    s3: () => import("./storage/s3.js") as Promise<ProviderModule>,
    r2: () => import("./storage/r2.js") as Promise<ProviderModule>,
  },
  secrets: {
    dotenv: () => Promise.resolve(dotenv as ProviderModule),
    // Lazy: an API client only a project using Doppler needs.
    doppler: () => import("./secrets/doppler.js") as Promise<ProviderModule>,
  },
  local: {
    directory: () => Promise.resolve(directory as ProviderModule),
  },
};

type SchemaLoader = () => Promise<{ optionsSchema: z.ZodType }>;

/**
 * The option schemas of the built-in providers, each in its own module apart from the provider: a
 * command whose config was validated before (and is unchanged) creates providers without loading zod.
 */
export const builtinOptionSchemas: Partial<Record<ResourceKind, Record<string, SchemaLoader>>> = {
  database: {
    sqlite: () => import("./database/sqlite.options.js"),
    turso: () => import("./database/turso.options.js"),
    neon: () => import("./database/neon.options.js"),
    planetscale: () => import("./database/planetscale.options.js"),
  },
  storage: {
    local: () => import("./storage/local.options.js"),
    tigris: () => import("./storage/tigris.options.js"),
    s3: () => import("./storage/s3.options.js"),
    r2: () => import("./storage/r2.options.js"),
  },
  secrets: {
    dotenv: () => import("./secrets/dotenv.options.js"),
    doppler: () => import("./secrets/doppler.options.js"),
  },
  local: { directory: () => import("./local/directory.options.js") },
};

export function providerNames(kind: ResourceKind): string[] {
  return Object.keys(builtinProviders[kind]);
}
