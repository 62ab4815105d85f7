/**
 * @module providers/storage/_copy-provider
 * The bucket-per-env provider for backends without forks (`s3`, `r2`): bucket names and variables as for
 * every storage provider (`_buckets.ts`), a fork that makes the child's buckets and copies the parent's
 * objects into them server-side (`_copy-fork.ts`, method `copy`, with the bytes it added), and a remove
 * that empties each bucket before deleting it. The two providers differ only in endpoint, region and
 * whether buckets keep versions; each passes a `CopyBackend` saying so.
 *
 * A fork that fails or is interrupted removes the buckets it made before it throws; one killed outright
 * (kill -9) is rolled back by the next command from the journal, which calls `remove`. Either way the
 * next `new` copies again from the start: a partial copy is never left as an env.
 */
import type * as S3Sdk from "@aws-sdk/client-s3";
import { InterruptedError, ProviderError, isForkstackError } from "../../errors.js";
import type { EnvRef, OpContext, ProviderContext, ResourceInfo, StorageProvider } from "../types.js";
import {
  bucketBase,
  bucketInfo,
  bucketNameProblems,
  bucketsOf,
  bucketsToRemove,
  checkRecordedEndpoint,
  envsFromBucketNames,
  forkSources,
  recordedBuckets,
  type BucketSpec,
} from "./_buckets.js";
import { copyBuckets, emptyAndDelete } from "./_copy-fork.js";
import { copyObject, type CopyObjectTarget } from "./_copy-object.js";
import { readKeys, type StorageKeys } from "./_keys.js";
import { createS3Client, s3Code, s3Status, type S3Module } from "./_s3-sdk.js";

/** Options `s3` and `r2` share (their schemas: s3.options.ts, r2.options.ts). */
export interface CopyStorageOptions {
  /** Named buckets besides the default one. @default [] */
  buckets?: string[];
  /** After the project name in every bucket name, for global namespaces (S3). @default none */
  bucketSuffix?: string;
  /** Send requests here instead of the provider's own endpoint (MinIO, a test server). */
  endpoint?: string;
  /** Path-style requests (`host/bucket/key`). @default true where the endpoint is overridden, else false */
  forcePathStyle?: boolean;
  accessKeyIdEnv: string;
  secretAccessKeyEnv: string;
  sessionTokenEnv?: string;
  /** Objects copied at once. @default 128 */
  concurrency: number;
  /** Objects above this size are copied in parts. @default 5 GiB (S3's CopyObject limit) */
  multipartThresholdBytes: number;
  /** Part size of those copies. @default 512 MiB */
  partSizeBytes: number;
}

export interface CopyBackend {
  readonly name: string;
  /**
   * Where requests go (also the app's `AWS_ENDPOINT_URL_S3`), the region, and CreateBucket's
   * LocationConstraint (S3 outside us-east-1). `custom`: the endpoint is another server's (the
   * `endpoint` option or a variable), which gets path-style requests unless `forcePathStyle` says
   * otherwise: MinIO and most stand-ins serve no bucket subdomains. Resolved on first use: it may need
   * a variable.
   */
  resolve(): { endpoint: string; region: string; locationConstraint?: string | undefined; custom: boolean };
  /** Remove lists object versions and delete markers (S3); R2 keeps no versions. */
  readonly versions: boolean;
  /** Where the 63-character limit comes from, for messages. */
  readonly limitName: string;
  readonly nameRule?: (name: string) => string | undefined;
  /** A hint for a bucket name another account owns (global namespaces). */
  readonly takenHint?: string;
}

interface Api {
  readonly sdk: S3Module;
  readonly s3: S3Sdk.S3Client;
  readonly keys: StorageKeys;
  /** CopyObject without the SDK (the per-object call of a copy fork). */
  readonly copyObject: (bucket: string, key: string, source: string, signal: AbortSignal) => Promise<void>;
  readonly agent: { destroy(): void };
}

export function copyStorageProvider(
  options: CopyStorageOptions,
  context: ProviderContext,
  spec: CopyBackend,
): StorageProvider {
  const providerName = spec.name;
  const keysInConfig = options.buckets ?? [];
  const of = (env: EnvRef) => bucketsOf(env, keysInConfig, options.bucketSuffix);
  let resolved: ReturnType<CopyBackend["resolve"]> | undefined;
  const backend = () => (resolved ??= spec.resolve());

  let api: Promise<Api> | undefined;
  const connect = (): Promise<Api> =>
    (api ??= (async (): Promise<Api> => {
      const keys = readKeys(providerName, options);
      const { endpoint, region, custom } = backend();
      const forcePathStyle = options.forcePathStyle ?? custom;
      const { sdk, s3 } = await createS3Client(providerName, {
        endpoint,
        region,
        forcePathStyle,
        keys,
        maxSockets: options.concurrency + 8,
      });
      const url = new URL(endpoint);
      const https = url.protocol === "https:";
      const transport = https ? await import("node:https") : await import("node:http");
      const agent = new transport.Agent({ keepAlive: true, maxSockets: options.concurrency });
      const target: CopyObjectTarget = {
        endpoint: url,
        region,
        forcePathStyle,
        keys,
        agent,
        transport: transport as CopyObjectTarget["transport"],
      };
      return {
        sdk,
        s3,
        keys,
        agent,
        copyObject: (bucket: string, key: string, source: string, signal: AbortSignal) =>
          copyObject(target, bucket, key, source, signal),
      };
    })().catch((error: unknown) => {
      api = undefined;
      throw error;
    }));

  /** A failed SDK call as a ProviderError with a stable code and a hint naming what to check. */
  const failure = (action: string, error: unknown): Error => {
    if (isForkstackError(error)) return error;
    if ((error as Error)?.name === "AbortError") return new InterruptedError();
    const code = s3Code(error);
    const status = s3Status(error);
    const detail = (error as Error)?.message ?? String(error);
    const vars = `${options.accessKeyIdEnv} / ${options.secretAccessKeyEnv}`;
    if (code === undefined) {
      const reason = (error as NodeJS.ErrnoException)?.code ?? detail;
      return new ProviderError(
        providerName,
        `Could not ${action}: no answer from ${backend().endpoint} (${reason}).`,
        "E_SERVER",
        { cause: error, hint: "Check the endpoint and your network." },
      );
    }
    const message = `Could not ${action}: ${code}${status ? ` (${status})` : ""} ${detail}`.trim();
    if (code === "BucketAlreadyOwnedByYou" || code === "BucketAlreadyExists") {
      const hint = code === "BucketAlreadyExists" ? spec.takenHint : undefined;
      return new ProviderError(providerName, `${message}.`, "E_ENV_EXISTS", {
        cause: error,
        ...(hint ? { hint } : {}),
      });
    }
    if (code === "NoSuchBucket")
      return new ProviderError(providerName, `${message}.`, "E_ENV_NOT_FOUND", { cause: error });
    if (
      ["InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "Forbidden"].includes(code) ||
      status === 403
    ) {
      return new ProviderError(providerName, `${message}.`, "E_PROVIDER_AUTH", {
        cause: error,
        hint: `Check the key in ${vars} (it must be allowed to create, list and delete buckets and objects)${spec.takenHint ? `, or whether another account owns the bucket name: ${spec.takenHint}` : ""}.`,
      });
    }
    return new ProviderError(providerName, `${message}.`, "E_PROVIDER_API", { cause: error });
  };
  const call = async <T>(action: string, fn: (api: Api) => Promise<T>): Promise<T> => {
    try {
      return await fn(await connect());
    } catch (error) {
      throw failure(action, error);
    }
  };

  const exists = (bucket: string) =>
    call(`read bucket ${bucket}`, async ({ sdk, s3 }) => {
      try {
        await s3.send(new sdk.HeadBucketCommand({ Bucket: bucket }));
        return true;
      } catch (error) {
        const code = s3Code(error);
        if (code === "NotFound" || code === "NoSuchBucket" || s3Status(error) === 404) return false;
        throw error;
      }
    });

  const deleteAll = (names: readonly string[]) =>
    call(`delete the buckets ${names.join(", ")}`, ({ sdk, s3 }) =>
      Promise.all(
        names.map((name) =>
          emptyAndDelete(sdk, s3, name, { versions: spec.versions, concurrency: options.concurrency }),
        ),
      ),
    );

  /**
   * Make the env's buckets (all or none). Refuses with E_ENV_EXISTS if one exists, asked first because
   * S3 answers 200 to re-creating your own us-east-1 bucket.
   */
  const makeBuckets = async (env: EnvRef, op: OpContext) => {
    op.signal?.throwIfAborted();
    const buckets = of(env);
    const found = await Promise.all(buckets.map((b) => exists(b.name)));
    const taken = buckets.find((_, i) => found[i]);
    if (taken) {
      throw new ProviderError(providerName, `Bucket ${taken.name} already exists.`, "E_ENV_EXISTS", {
        hint: `Env "${env.name}" exists in ${providerName} already; pick another name.`,
      });
    }
    const { locationConstraint } = backend();
    const results = await Promise.allSettled(
      buckets.map((b) =>
        call(`create bucket ${b.name}`, ({ sdk, s3 }) =>
          s3.send(
            new sdk.CreateBucketCommand({
              Bucket: b.name,
              ...(locationConstraint
                ? {
                    CreateBucketConfiguration: {
                      LocationConstraint: locationConstraint as S3Sdk.BucketLocationConstraint,
                    },
                  }
                : {}),
            }),
          ),
        ),
      ),
    );
    const failed = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
    if (failed) {
      await deleteAll(buckets.filter((_, i) => results[i]!.status === "fulfilled").map((b) => b.name)).catch(
        () => undefined,
      );
      throw failed.reason;
    }
    return buckets;
  };

  const info = (
    buckets: readonly BucketSpec[],
    keys: StorageKeys,
    extra: Partial<ResourceInfo> = {},
    shown?: readonly string[],
  ): ResourceInfo => {
    const { endpoint, region } = backend();
    return bucketInfo(
      buckets,
      endpoint,
      {
        vars: { AWS_ENDPOINT_URL_S3: endpoint, AWS_REGION: region, AWS_ACCESS_KEY_ID: keys.accessKeyId },
        secretVars: {
          AWS_SECRET_ACCESS_KEY: keys.secretAccessKey,
          ...(keys.sessionToken ? { AWS_SESSION_TOKEN: keys.sessionToken } : {}),
        },
        ...extra,
      },
      shown,
    );
  };

  const listNames = (prefix: string) =>
    call("list buckets", async ({ sdk, s3 }) => {
      const names: string[] = [];
      let token: string | undefined;
      do {
        const page = await s3.send(new sdk.ListBucketsCommand({ Prefix: prefix, ContinuationToken: token }));
        for (const b of page.Buckets ?? []) if (b.Name?.startsWith(prefix)) names.push(b.Name);
        token = page.ContinuationToken;
      } while (token);
      return names;
    });

  return {
    kind: "storage",
    name: providerName,
    flags: { copyOnWrite: false, forksPinParent: false, private: false },

    checkName: (env) => bucketNameProblems(of(env), spec.limitName, spec.nameRule),

    // Where, and which buckets: a record made at another endpoint is never removed here.
    target: (env) => ({ endpoint: backend().endpoint, buckets: of(env).map((b) => b.name) }),

    async create(env, op) {
      await makeBuckets(env, op);
      op.log.debug(`[${providerName}] created the buckets of ${env.name}`);
      return info(of(env), (await connect()).keys, { method: "empty", bytesAdded: 0 });
    },

    async fork(parent, child, op, forkOptions) {
      // The parent's recorded buckets, each copied into the child's bucket of the same variable.
      const sources = forkSources(of(child), of(parent), forkOptions?.parent);
      const present = await Promise.all(sources.map((name) => (name ? exists(name) : false)));
      if (!present[0]) {
        throw new ProviderError(
          providerName,
          `Env "${parent.name}" has no bucket ${sources[0] ?? of(parent)[0]!.name}.`,
          "E_ENV_NOT_FOUND",
          {
            hint: `Check the parent's name, or recreate "${parent.name}".`,
          },
        );
      }
      const targets = await makeBuckets(child, op);
      const { sdk, s3, keys, copyObject } = await connect();
      try {
        // A named bucket the parent has no record of (added to the config since): the child gets it empty.
        const pairs = sources.flatMap((from, i) =>
          from && present[i] ? [{ from, to: targets[i]!.name }] : [],
        );
        const copied = await copyBuckets(sdk, s3, pairs, {
          concurrency: options.concurrency,
          multipartThreshold: options.multipartThresholdBytes,
          partSize: options.partSizeBytes,
          signal: op.signal,
          onProgress: op.progress,
          copyObject,
        });
        op.log.debug(
          `[${providerName}] copied ${copied.objects} objects (${copied.bytes} bytes) into ${child.name}`,
        );
        return info(targets, keys, { method: "copy", bytesAdded: copied.bytes, bytes: copied.bytes });
      } catch (error) {
        // Nothing half-made stays: the buckets this fork made go, with whatever was copied into them.
        await deleteAll(targets.map((b) => b.name)).catch((cleanup: unknown) =>
          op.log.warn(
            `[${providerName}] could not remove the partial copy yet: ${(cleanup as Error).message}`,
          ),
        );
        throw failure(`copy the objects of "${parent.name}" into "${child.name}"`, error);
      }
    },

    // The record's buckets, emptied first: never the ones today's config names (one it gained since
    // may be the user's own), and never at another endpoint than the one they were made at.
    async remove(env, op, recorded) {
      const names = bucketsToRemove(providerName, env, recorded);
      checkRecordedEndpoint(providerName, env, recorded, backend().endpoint, "storage.endpoint");
      await deleteAll(names);
      op.log.debug(`[${providerName}] emptied and removed ${names.join(", ")} of ${env.name}`);
    },

    // With a record, its buckets by the default one; without (the core asking before it makes the
    // env's buckets), any bucket today's config names for it means they are not this operation's.
    async describe(env, _op, recorded) {
      const own = recordedBuckets(recorded);
      if (own) return (await exists(own[0]!.name)) ? info(own, (await connect()).keys) : null;
      const buckets = of(env);
      const found = await Promise.all(buckets.map((b) => exists(b.name)));
      const existing = buckets.filter((_, i) => found[i]).map((b) => b.name);
      return existing.length ? info(buckets, (await connect()).keys, {}, existing) : null;
    },

    async describeMany(envs) {
      const names = new Set(await listNames(`${bucketBase(context.project, options.bucketSuffix)}-bucket-`));
      const { keys } = await connect();
      return envs.map((env) => (names.has(of(env)[0]!.name) ? info(of(env), keys) : null));
    },

    async list() {
      const base = bucketBase(context.project, options.bucketSuffix);
      return envsFromBucketNames(await listNames(`${base}-`), base, keysInConfig);
    },

    async doctor() {
      try {
        await call("list buckets", ({ sdk, s3 }) => s3.send(new sdk.ListBucketsCommand({ MaxBuckets: 1 })));
        return [
          {
            level: "ok",
            message: `${providerName} at ${backend().endpoint} accepts the key in ${options.accessKeyIdEnv}`,
          },
        ];
      } catch (error) {
        return [{ level: "error", message: (error as Error).message }];
      }
    },

    async dispose() {
      const made = api;
      api = undefined;
      const done = made && (await made.catch(() => undefined));
      done?.s3.destroy();
      done?.agent.destroy();
    },
  };
}
