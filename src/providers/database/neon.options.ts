/**
 * @module providers/database/neon.options
 * The `neon` provider's `options` schema, apart from the provider so that creating it loads no zod
 * (see sqlite.options.ts). The API key is never a value in the config: `apiKey` names the environment
 * variable that holds it (`env("NEON_API_KEY")`, which a JSON config writes `{ "env": "NEON_API_KEY" }`).
 */
import { z } from "zod";
import { fromEnv } from "../_options.js";

export const optionsSchema = z.strictObject({
  /** The Neon project's id (`shiny-wind-028834`); else the variable NEON_PROJECT_ID. */
  projectId: z
    .string()
    .regex(/^[a-z0-9-]{1,60}$/, "must be a Neon project id: 1-60 of a-z, 0-9 and -")
    .optional(),
  /** Where the API key is read. @default env("NEON_API_KEY") */
  apiKey: fromEnv("NEON_API_KEY"),
  /** The API root; else FORKSTACK_NEON_API_URL, else https://console.neon.tech/api/v2. */
  baseUrl: z.url({ protocol: /^https?$/ }).optional(),
  /** The database the app's DATABASE_URL names. @default the branch's first database (`neondb`) */
  databaseName: z.string().min(1).max(63).optional(),
  /** The role DATABASE_URL connects as. @default the owner of that database */
  roleName: z.string().min(1).max(63).optional(),
  /**
   * Put before `<project>/<env>` in branch names (`preview/` matches Neon's Vercel integration).
   * Neon allows 256 characters in all; a longer result is refused before anything is made.
   */
  branchPrefix: z
    .string()
    .max(256)
    .regex(/^[^\s/][^\s]*$|^$/, "must not start with / nor hold spaces")
    .default(""),
});

export type NeonOptions = z.output<typeof optionsSchema>;
