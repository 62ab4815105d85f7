/**
 * @module providers/storage/s3.options
 * The `s3` storage provider's `options` schema (apart from the provider: see local.options.ts).
 */
import { z } from "zod";
import { copyOptionsShape } from "./_copy-options.js";
import { variableName } from "./_options.js";

export const optionsSchema = z.strictObject({
  ...copyOptionsShape({ accessKeyIdEnv: "AWS_ACCESS_KEY_ID", secretAccessKeyEnv: "AWS_SECRET_ACCESS_KEY" }),
  region: z
    .string()
    .regex(/^[a-z0-9-]+$/, 'must be an AWS region such as "eu-west-1"')
    .optional(),
  sessionTokenEnv: variableName.default("AWS_SESSION_TOKEN"),
});
