/**
 * @module providers/storage/r2
 * Cloudflare R2 buckets per env. R2 has no bucket forks, so a fork copies every object server-side
 * (`_copy-provider.ts`, `_copy-fork.ts`): method `copy`. Requests go to
 * `https://<account id>.r2.cloudflarestorage.com` with region `auto` (R2's only region), unless
 * `endpoint` (or `FORKSTACK_R2_ENDPOINT`) names another server. R2 differs from S3 where it matters here
 * (docs/storage.md, "Where R2 differs from S3"): bucket names are per account (no global collisions) and may not hold
 * dots, multipart parts must be equal in size (`_copy-fork.ts` cuts them so), and there is no
 * versioning API, so remove lists current objects only.
 */
import { ProviderError } from "../../errors.js";
import type { ProviderFactory, StorageProvider } from "../types.js";
import { copyStorageProvider, type CopyStorageOptions } from "./_copy-provider.js";

export interface R2StorageOptions extends CopyStorageOptions {
  /** The Cloudflare account id. @default the variable `accountIdEnv` names */
  accountId?: string;
  /** @default "CLOUDFLARE_ACCOUNT_ID" */
  accountIdEnv: string;
}

const PROVIDER_NAME = "r2";

const provider: ProviderFactory<R2StorageOptions, StorageProvider> = (options, context) =>
  copyStorageProvider(options, context, {
    name: PROVIDER_NAME,
    resolve() {
      const endpoint = options.endpoint ?? (process.env.FORKSTACK_R2_ENDPOINT?.trim() || undefined);
      const accountId = options.accountId ?? process.env[options.accountIdEnv]?.trim();
      if (!endpoint && !accountId) {
        throw new ProviderError(PROVIDER_NAME, `${options.accountIdEnv} is not set.`, "E_PROVIDER_AUTH", {
          hint: `Set ${options.accountIdEnv} to your Cloudflare account id, or \`accountId\` in the storage config.`,
        });
      }
      const url = endpoint ?? `https://${accountId}.r2.cloudflarestorage.com`;
      return { endpoint: url.replace(/\/+$/, ""), region: "auto", custom: endpoint !== undefined };
    },
    versions: false,
    limitName: "R2",
    nameRule: (name) => (name.includes(".") ? "R2 bucket names may not contain dots" : undefined),
  });

export default provider;
