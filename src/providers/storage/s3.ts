/**
 * @module providers/storage/s3
 * AWS S3 buckets per env. S3 has no bucket forks, so a fork copies every object server-side
 * (`_copy-provider.ts`, `_copy-fork.ts`): method `copy`, O(objects) in time and O(bytes) in storage.
 * Requests go to `https://s3.<region>.amazonaws.com` (virtual-hosted) unless `endpoint`, else
 * `FORKSTACK_S3_ENDPOINT`, else `AWS_ENDPOINT_URL_S3` / `AWS_ENDPOINT_URL` (the variables AWS's own SDKs
 * and CLI read, so a shell already pointed at MinIO or LocalStack points forkstack there too) names
 * another S3-compatible server, which then gets path-style requests.
 * Buckets outside us-east-1 are created with their region as `LocationConstraint`. S3 bucket names are
 * global: `bucketSuffix` keeps this project's apart from another account's `myapp-bucket-dev`.
 * Remove deletes every object version and delete marker, so versioned buckets go too.
 */
import { ProviderError } from "../../errors.js";
import type { ProviderFactory, StorageProvider } from "../types.js";
import { copyStorageProvider, type CopyStorageOptions } from "./_copy-provider.js";
import { RUN_ENV_VAR, RUN_VARS_VAR } from "../../runtime/resolve.js";

export interface S3StorageOptions extends CopyStorageOptions {
  /** @default `AWS_REGION`, else `AWS_DEFAULT_REGION`, else "us-east-1" */
  region?: string;
  /** @default "AWS_SESSION_TOKEN" (read when set, for temporary credentials) */
  sessionTokenEnv: string;
}

const PROVIDER_NAME = "s3";
/** The `endpoint` option's rule (`_options.ts`), for the same value given in a variable. */
const ENDPOINT = /^https?:\/\/[^/?#\s]+\/?$/;

/**
 * The endpoint the environment names, with the variable it came from: `FORKSTACK_S3_ENDPOINT`, else the
 * variables AWS's SDKs read (the S3-specific one, then the one for every service;
 * `AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true` turns those two off). Not one `forkstack run` put there:
 * that is an env's endpoint handed to the app, not the user's choice.
 */
export function endpointFromEnv(
  env: NodeJS.ProcessEnv = process.env,
): { variable: string; url: string } | undefined {
  const ignoreAws = env.AWS_IGNORE_CONFIGURED_ENDPOINT_URLS?.trim().toLowerCase() === "true";
  const injected = env[RUN_ENV_VAR] ? (env[RUN_VARS_VAR] ?? "").split(",") : [];
  const names = ["FORKSTACK_S3_ENDPOINT", ...(ignoreAws ? [] : ["AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"])];
  for (const variable of names) {
    const url = env[variable]?.trim();
    if (url && !injected.includes(variable)) return { variable, url };
  }
  return undefined;
}

/** AWS's own S3 hosts serve buckets as subdomains; any other server gets path-style requests. */
const isAws = (endpoint: string) => /(^|\.)amazonaws\.com(\.cn)?$/.test(new URL(endpoint).hostname);

const provider: ProviderFactory<S3StorageOptions, StorageProvider> = (options, context) =>
  copyStorageProvider(options, context, {
    name: PROVIDER_NAME,
    resolve() {
      const region =
        options.region ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? "us-east-1";
      const fromEnv = options.endpoint === undefined ? endpointFromEnv() : undefined;
      if (fromEnv && !ENDPOINT.test(fromEnv.url)) {
        throw new ProviderError(
          PROVIDER_NAME,
          `${fromEnv.variable} is not an http:// or https:// URL without a path.`,
          "E_CONFIG_INVALID",
          {
            hint: `Set ${fromEnv.variable} to the S3 server's root, e.g. http://127.0.0.1:9000, or unset it.`,
          },
        );
      }
      const set = options.endpoint ?? fromEnv?.url;
      const endpoint = (set ?? `https://s3.${region}.amazonaws.com`).replace(/\/+$/, "");
      return {
        endpoint,
        custom: set !== undefined && !isAws(endpoint),
        region,
        // us-east-1 is S3's default location and must not be named (InvalidLocationConstraint).
        locationConstraint: region === "us-east-1" ? undefined : region,
      };
    },
    versions: true,
    limitName: "S3",
    takenHint:
      "S3 bucket names are global and another account owns this one: set `bucketSuffix` in the storage config (e.g. a few random letters) so this project's names are its own.",
  });

export default provider;
