/**
 * @module providers/storage/local.options
 * The `local` storage provider's `options` schema, kept apart from the provider itself so that creating the
 * provider loads no zod: the CLI validates a config once and reuses the result while it is unchanged
 * (`config/load.ts`), and zod is ~40 ms of every command's start otherwise.
 */
import { z } from "zod";
import { ENV_NAME_PATTERN } from "../../layout.js";

/** Keys must stay distinguishable inside bucket names, so `list` can read env names back out of them. */
export const bucketKeys = z
  .array(z.string().regex(ENV_NAME_PATTERN, "must be lowercase letters, digits and single hyphens"))
  .superRefine((keys, ctx) => {
    for (const [i, key] of keys.entries()) {
      const clash = ["bucket", ...keys.filter((_, j) => j !== i)].find(
        (other) => key === other || key.startsWith(`${other}-`),
      );
      if (clash) {
        ctx.addIssue({
          code: "custom",
          path: [i],
          message:
            clash === key
              ? `"${key}" is listed twice, or is the default bucket's name`
              : `"${key}" would make bucket names that "${clash}" also makes; pick keys that do not start with another key (or "bucket") and a hyphen`,
        });
      }
    }
  });

export const optionsSchema = z.strictObject({
  buckets: bucketKeys.optional(),
  port: z.number().int().min(1).max(65_535).optional(),
  host: z.string().min(1).optional(),
});
