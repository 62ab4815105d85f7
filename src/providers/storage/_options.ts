/**
 * @module providers/storage/_options
 * Option schemas the cloud storage providers (`tigris`, `s3`, `r2`) share. Zod, so only the option
 * modules import this, never a provider.
 */
import { z } from "zod";
import { fromEnv } from "../_options.js";

export { bucketKeys } from "./local.options.js";

/** Goes after the project name in every bucket name: `myapp-k3x9-bucket-alice`. */
export const bucketSuffix = z
  .string()
  .regex(/^[a-z0-9]{1,12}$/, "must be 1 to 12 lowercase letters or digits");

export const variableName = z
  .string()
  .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "must be an environment variable's name");

export const endpointUrl = z
  .string()
  .regex(
    /^https?:\/\/[^/?#\s]+\/?$/,
    "must be an http:// or https:// URL with no path, e.g. https://t3.storage.dev",
  );

/**
 * The key pair, as the config names it: `accessKeyId: env("AWS_ACCESS_KEY_ID")`, never a value (the
 * config is committed). `withKeyVariables` turns the parsed pair into the variable names the providers
 * read the key from.
 */
export const keyOptions = (accessKeyId: string, secretAccessKey: string) => ({
  accessKeyId: fromEnv(accessKeyId),
  secretAccessKey: fromEnv(secretAccessKey),
});

export function withKeyVariables<
  T extends { accessKeyId: { env: string }; secretAccessKey: { env: string } },
>(
  options: T,
): Omit<T, "accessKeyId" | "secretAccessKey"> & { accessKeyIdEnv: string; secretAccessKeyEnv: string } {
  const { accessKeyId, secretAccessKey, ...rest } = options;
  return { ...rest, accessKeyIdEnv: accessKeyId.env, secretAccessKeyEnv: secretAccessKey.env };
}
