/**
 * @module providers/registry
 * Built-in providers by kind and name, each behind a lazy import so that a command only loads the
 * backends the project's config names (`forkstack list` on a SQLite project never loads an S3 SDK).
 */
import type { z } from "zod";
import type { Provider, ProviderFactory, ResourceKind } from "./types.js";

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
    sqlite: () => import("./database/sqlite.js") as Promise<ProviderModule>,
    postgres: () => import("./database/postgres.js") as Promise<ProviderModule>,
  },
  storage: {
    local: () => import("./storage/local.js") as Promise<ProviderModule>,
  },
  secrets: {
    dotenv: () => import("./secrets/dotenv.js") as Promise<ProviderModule>,
  },
  local: {
    directory: () => import("./local/directory.js") as Promise<ProviderModule>,
  },
};

type SchemaLoader = () => Promise<{ optionsSchema: z.ZodType }>;

/**
 * The option schemas of the built-in providers, each in its own module apart from the provider: a
 * command whose config was validated before (and is unchanged) creates providers without loading zod.
 */
export const builtinOptionSchemas: Partial<Record<ResourceKind, Record<string, SchemaLoader>>> = {
  database: { sqlite: () => import("./database/sqlite.options.js") },
  storage: { local: () => import("./storage/local.options.js") },
  secrets: { dotenv: () => import("./secrets/dotenv.options.js") },
  local: { directory: () => import("./local/directory.options.js") },
};

export function providerNames(kind: ResourceKind): string[] {
  return Object.keys(builtinProviders[kind]);
}
