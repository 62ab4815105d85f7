/**
 * @module providers/secrets/dotenv.options
 * The `dotenv` provider's `options` schema, kept apart from the provider itself so that creating the
 * provider loads no zod: the CLI validates a config once and reuses the result while it is unchanged
 * (`config/load.ts`), and zod is ~40 ms of every command's start otherwise.
 */
import { z } from "zod";

export const optionsSchema = z.strictObject({
  strictPermissions: z.boolean().optional(),
});
