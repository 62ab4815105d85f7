/**
 * @module providers/storage/r2.options
 * The `r2` storage provider's `options` schema (apart from the provider: see local.options.ts).
 */
import { z } from "zod";
import { copyOptionsShape } from "./_copy-options.js";
import { variableName, withKeyVariables } from "./_options.js";

export const optionsSchema = z
  .strictObject({
    ...copyOptionsShape({ accessKeyId: "R2_ACCESS_KEY_ID", secretAccessKey: "R2_SECRET_ACCESS_KEY" }),
    /** The Cloudflare account id (not secret); else the variable `accountIdEnv` names. */
    accountId: z
      .string()
      .regex(/^[0-9a-f]{32}$/, "must be a Cloudflare account id (32 hex digits)")
      .optional(),
    accountIdEnv: variableName.default("CLOUDFLARE_ACCOUNT_ID"),
  })
  .transform(withKeyVariables);
