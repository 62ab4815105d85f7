/**
 * @module providers/database/turso.options
 * The `turso` provider's `options` schema, apart from the provider so that creating one loads no zod
 * (see sqlite.options.ts). Credentials are never values in the config: `apiToken` names the
 * variable the token is read from (`env("TURSO_API_TOKEN")`), so a config file can be committed as it is.
 */
import { z } from "zod";
import { fromEnv } from "../_options.js";

/** Turso's duration syntax for token expiry (`2w1d30m`), or `never`. */
export const EXPIRATION_PATTERN = /^(never|(\d+[wdhms])+)$/;

export const optionsSchema = z.strictObject({
  /** The organization's slug. @default the variable TURSO_ORG */
  organization: z
    .string()
    .regex(/^[a-z0-9-]+$/, "must be a Turso organization slug (lowercase letters, digits, dashes)")
    .optional(),
  /** The group root envs' databases are made in; a fork always goes to its parent's group. */
  group: z.string().min(1).default("default"),
  /** Where the platform API token is read. @default env("TURSO_API_TOKEN") */
  apiToken: fromEnv("TURSO_API_TOKEN"),
  /** The Platform API's root. @default FORKSTACK_TURSO_API_URL, else https://api.turso.tech */
  baseUrl: z.url({ protocol: /^https?$/ }).optional(),
  /**
   * How long each env's database token lives, in Turso's syntax (`30d`, `2w1d`, `never`). Unset: an
   * env made with `--ttl` gets a token that expires an hour after the env does, others `never`
   * (the token dies with the database when the env is deleted either way).
   */
  tokenExpiration: z
    .string()
    .regex(EXPIRATION_PATTERN, 'must be like "30d", "2w1d12h" or "never"')
    .optional(),
});

export type TursoOptions = z.output<typeof optionsSchema>;
