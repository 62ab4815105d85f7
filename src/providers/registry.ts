/**
 * @module providers/registry
 * Built-in providers by kind and name, each behind a lazy import so that a command only loads the
 * backends the project's config names (`forkstack list` on a SQLite project never loads an S3 SDK).
 */
import type { z } from "zod";
import type { Provider, ProviderFactory, ResourceKind } from "./types.js";

export interface ProviderModule {
  default: ProviderFactory<never, Provider>;
  /** Validates the provider's `options` block of the config; its errors name the offending key. */
  optionsSchema: z.ZodType;
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

export function providerNames(kind: ResourceKind): string[] {
  return Object.keys(builtinProviders[kind]);
}
