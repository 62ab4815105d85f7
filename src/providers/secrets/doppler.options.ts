/**
 * @module providers/secrets/doppler.options
 * The `doppler` provider's `options` schema, apart from the provider so that creating it loads no zod
 * (see dotenv.options.ts). The token is never a value in the config (which is committed): `token`
 * names the environment variable that holds it, `env("DOPPLER_TOKEN")`.
 */
import { z } from "zod";
import { fromEnv } from "../_options.js";

const variableName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "must be an environment variable's name");

/** A Doppler slug as forkstack uses it in config names: lowercase letters, digits and hyphens. */
const slug = z
  .string()
  .regex(/^[a-z0-9][a-z0-9-]*$/, "must be lowercase letters, digits and hyphens (a Doppler slug)");

export const optionsSchema = z.strictObject({
  /** The Doppler project's slug. @default the forkstack project name */
  project: z.string().min(1).optional(),
  /** Where a Doppler token that may create and delete configs is read. @default env("DOPPLER_TOKEN") */
  token: fromEnv("DOPPLER_TOKEN"),
  /** The API's root URL (a mock in tests); else FORKSTACK_DOPPLER_API_URL, else https://api.doppler.com. */
  baseUrl: z.string().min(1).optional(),
  /**
   * The Doppler environment in which a root env that adopts nothing (no `roots.<env>.secrets` and no
   * root config of the same name) gets a branch config of its own. Without it such a root is refused.
   */
  environment: slug.optional(),
  /**
   * Give each env forkstack makes a service token of its own config (revoked when the env is deleted),
   * handed to the app as a secret variable.
   */
  serviceTokens: z
    .union([
      z.boolean(),
      z.strictObject({
        /** @default "read" */
        access: z.enum(["read", "read/write"]).default("read"),
        /** The variable the app gets the token in. @default "DOPPLER_TOKEN" */
        variable: variableName.default("DOPPLER_TOKEN"),
      }),
    ])
    .default(false),
});

export type DopplerOptions = z.output<typeof optionsSchema>;
