/**
 * @module providers/storage/s3
 * AWS S3 buckets per env. S3 has no bucket forks, so a fork copies every object server-side
 * (`_copy-provider.ts`, `_copy-fork.ts`): method `copy`, O(objects) in time and O(bytes) in storage.
 * Requests go to `https://s3.<region>.amazonaws.com` (virtual-hosted) unless `endpoint` (or
 * `FORKSTACK_S3_ENDPOINT`) names another S3-compatible server, which then gets path-style requests.
 * Buckets outside us-east-1 are created with their region as `LocationConstraint`. S3 bucket names are
 * global: `bucketSuffix` keeps this project's apart from another account's `myapp-bucket-dev`.
 * Remove deletes every object version and delete marker, so versioned buckets go too.
 */
import type { ProviderFactory, StorageProvider } from "../types.js";
import { copyStorageProvider, type CopyStorageOptions } from "./_copy-provider.js";

export interface S3StorageOptions extends CopyStorageOptions {
  /** @default `AWS_REGION`, else `AWS_DEFAULT_REGION`, else "us-east-1" */
  region?: string;
  /** @default "AWS_SESSION_TOKEN" (read when set, for temporary credentials) */
  sessionTokenEnv: string;
}

const PROVIDER_NAME = "s3";

const provider: ProviderFactory<S3StorageOptions, StorageProvider> = (options, context) =>
  copyStorageProvider(options, context, {
    name: PROVIDER_NAME,
    resolve() {
      const region =
        options.region ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? "us-east-1";
      const endpoint =
        options.endpoint ?? process.env.FORKSTACK_S3_ENDPOINT ?? `https://s3.${region}.amazonaws.com`;
      return {
        endpoint: endpoint.replace(/\/+$/, ""),
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
