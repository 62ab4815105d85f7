/**
 * @module providers/storage/_copy-options
 * The option schema `s3` and `r2` share (zod: only their `.options.ts` modules import it).
 */
import { z } from "zod";
import { bucketKeys, bucketSuffix, endpointUrl, keyOptions } from "./_options.js";

const GiB = 1024 ** 3;
const MiB = 1024 ** 2;

export function copyOptionsShape(defaults: { accessKeyId: string; secretAccessKey: string }) {
  return {
    buckets: bucketKeys.optional(),
    bucketSuffix: bucketSuffix.optional(),
    endpoint: endpointUrl.optional(),
    forcePathStyle: z.boolean().optional(),
    ...keyOptions(defaults.accessKeyId, defaults.secretAccessKey),
    concurrency: z.number().int().min(1).max(1024).default(128),
    // CopyObject copies at most 5 GB in one request; parts are 5 MiB to 5 GiB.
    multipartThresholdBytes: z
      .number()
      .int()
      .min(5 * MiB)
      .max(5 * GiB)
      .default(5 * GiB),
    partSizeBytes: z
      .number()
      .int()
      .min(5 * MiB)
      .max(5 * GiB)
      .default(512 * MiB),
  };
}
