/**
 * @module providers/storage/tigris.options
 * The `tigris` storage provider's `options` schema (apart from the provider: see local.options.ts).
 */
import { z } from "zod";
import { bucketKeys, bucketSuffix, endpointUrl, keyOptions, withKeyVariables } from "./_options.js";

export const optionsSchema = z
  .strictObject({
    buckets: bucketKeys.optional(),
    bucketSuffix: bucketSuffix.optional(),
    endpoint: endpointUrl.optional(),
    ...keyOptions("TIGRIS_STORAGE_ACCESS_KEY_ID", "TIGRIS_STORAGE_SECRET_ACCESS_KEY"),
  })
  .transform(withKeyVariables);
