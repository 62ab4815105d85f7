/**
 * @module providers/local/directory.options
 * The `directory` provider's `options` schema, kept apart from the provider itself so that creating the
 * provider loads no zod: the CLI validates a config once and reuses the result while it is unchanged
 * (`config/load.ts`), and zod is ~40 ms of every command's start otherwise.
 */
import { isAbsolute } from "node:path";
import { z } from "zod";

export const optionsSchema = z.strictObject({
  path: z
    .string()
    .min(1)
    .refine(
      (t) => t.split("{env}").length === 2,
      "must contain {env} exactly once, so each env gets its own directory",
    )
    .refine(
      (t) => !/\{(?!project\}|env\})[^}]*\}/.test(t),
      "may only use the placeholders {project} and {env}",
    )
    .refine((t) => !isAbsolute(t), "must be relative to the project root")
    .optional(),
});
