/**
 * @module providers/storage/s3.options
 * The `s3` storage provider's `options` schema (apart from the provider: see local.options.ts).
 */
import { z } from "zod";
import { copyOptionsShape } from "./_copy-options.js";
import { fromEnv } from "../_options.js";
import { withKeyVariables } from "./_options.js";

export const optionsSchema = z
  .strictObject({
    ...copyOptionsShape({ accessKeyId: "AWS_ACCESS_KEY_ID", secretAccessKey: "AWS_SECRET_ACCESS_KEY" }),
    region: z
      .string()
      .regex(/^[a-z0-9-]+$/, 'must be an AWS region such as "eu-west-1"')
      .optional(),
    sessionToken: fromEnv("AWS_SESSION_TOKEN"),
  })
  .transform(({ sessionToken, ...rest }) => ({
    ...withKeyVariables(rest),
    sessionTokenEnv: sessionToken.env,
  }));
