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
