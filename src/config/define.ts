/**
 * @module config/define
 * `defineConfig` for `forkstack.config.ts`: it only gives the user's editor the types. Kept apart from
 * the schema so the runtime library exports it without loading zod.
 */
import type { ForkstackConfig, ForkstackConfigInput } from "./schema.js";

export type { ForkstackConfig, ForkstackConfigInput };

export function defineConfig(config: ForkstackConfigInput): ForkstackConfigInput {
  return config;
}

/**
 * A provider option read from an environment variable when it is used, so the config never holds a
 * credential: `apiKey: env("NEON_API_KEY")`. Plain data (`{ env: "NEON_API_KEY" }`), which is also
 * how a JSON config writes it.
 */
export interface EnvValue {
  readonly env: string;
}

export function env(name: string): EnvValue {
  return { env: name };
}
