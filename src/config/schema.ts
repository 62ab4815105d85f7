/**
 * @module config/schema
 * The shape of `forkstack.config.*`. Provider blocks are validated in two steps: here only `provider`
 * (a built-in name or a module path, see `provider-module.ts`), then the rest by the provider module's own `optionsSchema`, so each provider owns its
 * options and errors still name the full key (`database.org`).
 */
import { z } from "zod";

import { ENV_NAME_PATTERN, ENV_NAME_RULE } from "../layout.js";

export { ENV_NAME_PATTERN, ENV_NAME_RULE };

const envName = z.string().regex(ENV_NAME_PATTERN, `must be ${ENV_NAME_RULE}`);

/** `provider` plus that provider's options, checked later by the provider's own schema. */
const providerBlock = z.looseObject({ provider: z.string({ error: "must name a provider" }) });

export const configSchema = z.strictObject({
  /** Used in every resource name (`myapp-bucket-alice`, `myapp.alice.db/`). */
  project: z
    .string({ error: 'is required: the project name used in resource names, e.g. "myapp"' })
    .regex(ENV_NAME_PATTERN, `must be ${ENV_NAME_RULE}`)
    .max(40, "must be at most 40 characters (it is part of bucket names, which are limited to 63)"),
  /** The env used when nothing else names one. @default "dev" */
  defaultEnv: envName.default("dev"),
  /** Envs that refuse `delete` and `reset` without `--force`. @default ["dev", "prod"] */
  protected: z.array(envName).default(["dev", "prod"]),
  /**
   * Envs holding production data, which are roots (`new prod` makes one empty): forking from one, or
   * into one with `--from`, asks for confirmation (or `--yes`). @default ["prod"]
   */
  production: z.array(envName).default(["prod"]),
  database: z.union([providerBlock, z.literal(false)], {
    error: 'is required: e.g. { provider: "sqlite" }, or false for none',
  }),
  storage: z.union([providerBlock, z.literal(false)]).default(false),
  secrets: z.union([providerBlock, z.literal(false)]).default({ provider: "dotenv" }),
  /** Per-env local state directory. @default { provider: "directory", path: "{project}.{env}.db" } */
  local: z.union([providerBlock, z.literal(false)]).default({ provider: "directory" }),
  /** Write the current env's variables to `.env.local` (0600) on `switch`. @default true */
  envLocal: z.boolean().default(true),
  /**
   * Existing backend resources that root envs adopt instead of creating, per env and kind, e.g.
   * `{ dev: { database: { branch: "main" } } }` for a Neon project whose dev is its `main` branch.
   * Adopted resources are never created, reset or deleted by forkstack. @default {}
   */
  roots: z
    .record(
      envName,
      z.partialRecord(z.enum(["database", "storage", "secrets", "local"]), z.record(z.string(), z.unknown())),
    )
    .default({}),
});

/** What a user writes (defaults optional). */
export type ForkstackConfigInput = z.input<typeof configSchema>;
/** The config after validation and defaults. */
export type ForkstackConfig = z.output<typeof configSchema>;

export interface ProviderBlock {
  provider: string;
  [option: string]: unknown;
}
