/**
 * @module providers/storage/tigris
 * Tigris buckets per env, forked natively: roots are created snapshot-enabled, and a fork is one
 * CreateBucket with `X-Tigris-Fork-Source-Bucket` per bucket (plus `…-Snapshot` for `new --at`), which
 * Tigris answers with metadata only, whatever the parent holds (docs/storage.md, "The Tigris fork API"). Same calls as
 * the `local` provider (`_buckets.ts`), against Tigris's endpoint with the project's key.
 *
 * Tigris's rules shape the flags: a fork reads through its parent, and Tigris refuses to delete a bucket
 * that has forks, so `forksPinParent` makes the core refuse `delete`/`reset` of such an env first.
 * Bucket names are global across all Tigris accounts: `bucketSuffix` (in the committed config, so every
 * machine of the team names the same buckets) keeps two projects named `myapp` apart, and a name another
 * account owns is refused with a hint to set it.
 */
import { ProviderError } from "../../errors.js";
import type { DoctorFinding, EnvRef, ProviderFactory, ResourceInfo, StorageProvider } from "../types.js";
import { bucketInfo, forkableBuckets, type FoundBuckets } from "./_buckets.js";
import { readKeys } from "./_keys.js";
import { createTigrisClient, providerApiError } from "./_tigris-client.js";
import type { TigrisClient } from "./_tigris-client.js";

export interface TigrisStorageOptions {
  /** Named buckets besides the default one (as for `local`). @default [] */
  buckets?: string[];
  /**
   * Goes after the project name in every bucket name (`myapp-k3x9-bucket-alice`): Tigris bucket names
   * are global, so set one if another account has the plain names. Changing it later orphans the
   * buckets of existing envs. @default none
   */
  bucketSuffix?: string;
  /** @default `TIGRIS_STORAGE_ENDPOINT`, else https://t3.storage.dev */
  endpoint?: string;
  /** Variable holding the access key id. @default "TIGRIS_STORAGE_ACCESS_KEY_ID" */
  accessKeyIdEnv: string;
  /** Variable holding the secret key. @default "TIGRIS_STORAGE_SECRET_ACCESS_KEY" */
  secretAccessKeyEnv: string;
}

const PROVIDER_NAME = "tigris";
export const TIGRIS_ENDPOINT = "https://t3.storage.dev";

/** Tigris snapshot versions are Unix nanoseconds, and any timestamp names the state at that moment. */
export const snapshotVersionOf = (at: Date) => `${BigInt(at.getTime()) * 1_000_000n}`;

const provider: ProviderFactory<TigrisStorageOptions, StorageProvider> = (options, context) => {
  const endpoint = () =>
    (options.endpoint ?? process.env.TIGRIS_STORAGE_ENDPOINT ?? TIGRIS_ENDPOINT).replace(/\/+$/, "");
  const keys = () => readKeys(PROVIDER_NAME, options);

  let client: TigrisClient | undefined;
  const api = () => {
    client ??= createTigrisClient({ endpoint: endpoint(), ...keys(), region: "auto" });
    return Promise.resolve(client);
  };

  const apiError = (action: string, error: unknown) =>
    providerApiError(PROVIDER_NAME, action, error, {
      unreachable: `Check the endpoint (${endpoint()}) and your network.`,
      auth: `Tigris refused the key in ${options.accessKeyIdEnv} / ${options.secretAccessKeyEnv}; check both (and that the key may create buckets).`,
      taken:
        "Tigris bucket names are global and another account owns this one: set `bucketSuffix` in the storage config (e.g. a few random letters) so this project's names are its own.",
    });

  const buckets = forkableBuckets({
    provider: PROVIDER_NAME,
    keys: options.buckets ?? [],
    suffix: options.bucketSuffix,
    api,
    apiError,
    // The same bucket name at another endpoint is not this project's to delete.
    endpoint: { now: endpoint, key: "storage.endpoint" },
  });

  const info = (
    env: EnvRef,
    extra: Partial<ResourceInfo> = {},
    found: FoundBuckets = { buckets: buckets.bucketsOf(env) },
  ): ResourceInfo => {
    const url = endpoint();
    const { accessKeyId, secretAccessKey } = keys();
    return bucketInfo(
      found.buckets,
      url,
      {
        vars: { AWS_ENDPOINT_URL_S3: url, AWS_REGION: "auto", AWS_ACCESS_KEY_ID: accessKeyId },
        secretVars: { AWS_SECRET_ACCESS_KEY: secretAccessKey },
        ...extra,
      },
      found.existing,
    );
  };

  return {
    kind: "storage",
    name: PROVIDER_NAME,
    flags: { copyOnWrite: true, forksPinParent: true, pointInTime: true, private: false },

    checkName: buckets.checkName,

    async create(env, op) {
      await buckets.create(env, op);
      op.log.debug(`[${PROVIDER_NAME}] created the snapshot-enabled buckets of ${env.name}`);
      return info(env, { method: "empty", bytesAdded: 0 });
    },

    target: buckets.target,

    async fork(parent, child, op, forkOptions) {
      const snapshot = forkOptions?.at ? snapshotVersionOf(forkOptions.at) : undefined;
      await buckets.fork(parent, child, op, { parent: forkOptions?.parent, snapshot });
      op.log.debug(
        `[${PROVIDER_NAME}] forked ${parent.name} -> ${child.name}${snapshot ? ` at ${snapshot}` : ""}`,
      );
      // Tigris bills only what the fork writes later: the fork itself adds no object bytes.
      return info(child, { method: "native", bytesAdded: 0 });
    },

    // The recorded buckets, and only at the endpoint they were made at.
    remove: buckets.remove,

    async describe(env, op, recorded) {
      const found = await buckets.find(env, op, recorded);
      return found ? info(env, {}, found) : null;
    },

    async describeMany(envs, op) {
      const found = await buckets.existMany(envs, op);
      return envs.map((env, i) => (found[i] ? info(env) : null));
    },

    list: (op) => buckets.list(context.project, op),

    async doctor() {
      const findings: DoctorFinding[] = [];
      try {
        const res = await (await api()).ping(AbortSignal.timeout(10_000));
        findings.push(
          res.ok
            ? { level: "ok", message: `Tigris at ${endpoint()} accepts the key in ${options.accessKeyIdEnv}` }
            : {
                level: "error",
                message: `Tigris at ${endpoint()} answered ${res.status} to a signed ListBuckets`,
              },
        );
      } catch (error) {
        const message =
          error instanceof ProviderError ? error.message : apiError("reach Tigris", error).message;
        findings.push({ level: "error", message });
      }
      return findings;
    },
  };
};

export default provider;
