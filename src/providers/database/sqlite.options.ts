/**
 * @module providers/database/sqlite.options
 * The `sqlite` provider's `options` schema, kept apart from the provider itself so that creating the
 * provider loads no zod: the CLI validates a config once and reuses the result while it is unchanged
 * (`config/load.ts`), and zod is ~40 ms of every command's start otherwise.
 */
import { z } from "zod";

export const optionsSchema = z.strictObject({
  busyTimeoutMs: z.number().int().min(0).max(600_000).optional(),
});
