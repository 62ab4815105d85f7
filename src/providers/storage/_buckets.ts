/**
 * @module providers/storage/_buckets
 * What every bucket-per-env storage provider shares: the names of an env's buckets (docs/architecture.md: a
 * default bucket `{project}-bucket-{env}` exposed as `BUCKET_NAME`, and `{project}-{key}-{env}` as
 * `BUCKET_NAME_<KEY>` for each named key), the S3 rules those names must pass before anything is made,
 * and reading env names back out of a bucket listing. `forkableBuckets` adds the lifecycle over the
 * Tigris fork API (`_tigris-client.ts`), shared by `local` (the embedded server) and `tigris`: they
 * differ only in endpoint, keys and what a fork costs.
 *
 * On a global namespace (Tigris, S3) two projects named `myapp` would want the same bucket names: an
 * optional suffix from the config goes right after the project name (`myapp-k3x9-bucket-alice`), so a
 * listing by prefix still finds one project's buckets and nothing else.
 */
import { ENV_NAME_PATTERN } from "../../layout.js";
import { bucketNameProblem } from "../../storage-server/names.js";
import type { EnvRef, OpContext, ResourceInfo } from "../types.js";
import { ProviderError } from "../../errors.js";
import { TigrisApiError } from "./_tigris-client.js";
import type { TigrisClient } from "./_tigris-client.js";

export interface BucketSpec {
  readonly name: string;
  readonly variable: string;
}

/** The part every bucket of the project starts with: `myapp`, or `myapp-<suffix>`. */
export function bucketBase(project: string, suffix?: string): string {
  return suffix ? `${project}-${suffix}` : project;
}

export function bucketVariable(key: string): string {
  return `BUCKET_NAME_${key.toUpperCase().replace(/-/g, "_")}`;
}

/** The env's buckets, the default one first. */
export function bucketsOf(env: EnvRef, keys: readonly string[], suffix?: string): BucketSpec[] {
  const base = bucketBase(env.project, suffix);
  return [
    { name: `${base}-bucket-${env.name}`, variable: "BUCKET_NAME" },
    ...keys.map((key) => ({ name: `${base}-${key}-${env.name}`, variable: bucketVariable(key) })),
  ];
}

export function bucketVars(buckets: readonly BucketSpec[]): Record<string, string> {
  return Object.fromEntries(buckets.map((b) => [b.variable, b.name]));
}

/**
 * One problem per bucket name the backend would refuse: over 63 characters, or against the S3 rules
 * (`extra` adds a backend's own, e.g. R2's no-dots rule).
 */
export function bucketNameProblems(
  buckets: readonly BucketSpec[],
  limitName = "S3/Tigris",
  extra?: (name: string) => string | undefined,
): string[] {
  return buckets.flatMap(({ name }) => {
    if (name.length > 63) {
      return [`bucket name "${name}" would be ${name.length} characters, over the ${limitName} limit of 63`];
    }
    const problem = bucketNameProblem(name) ?? extra?.(name);
    return problem ? [`bucket name "${name}" is not valid (${problem})`] : [];
  });
}

/** Env names read back from bucket names starting with `${base}-`; other names are ignored. */
export function envsFromBucketNames(
  names: Iterable<string>,
  base: string,
  keys: readonly string[],
): string[] {
  const prefix = `${base}-`;
  const envs = new Set<string>();
  for (const name of names) {
    if (!name.startsWith(prefix)) continue;
    const rest = name.slice(prefix.length);
    const key = ["bucket", ...keys].find((k) => rest.startsWith(`${k}-`));
    const env = key && rest.slice(key.length + 1);
    if (env && ENV_NAME_PATTERN.test(env)) envs.add(env);
  }
  return [...envs].sort();
}

export interface ForkableBucketsOptions {
  /** Registry name, for errors. */
  readonly provider: string;
  readonly keys: readonly string[];
  readonly suffix?: string | undefined;
  /** The API for this operation (read-only operations may refuse to start a server). */
  readonly api: (op: OpContext) => Promise<TigrisClient>;
  /** A failed call as the provider's error (with its hints). */
  readonly apiError: (action: string, error: unknown) => Error;
}

/**
 * The lifecycle of an env's buckets over the Tigris fork API: roots are made snapshot-enabled, a fork is
 * one CreateBucket with `X-Tigris-Fork-Source-Bucket` per bucket (O(1) whatever the parent holds).
 */
export function forkableBuckets(options: ForkableBucketsOptions) {
  const { provider, keys, suffix, api, apiError } = options;
  const of = (env: EnvRef) => bucketsOf(env, keys, suffix);

  /** An API call whose failure becomes a ProviderError. */
  const call = <T>(action: string, promise: Promise<T>): Promise<T> =>
    promise.catch((error: unknown) => {
      throw apiError(action, error);
    });

  /**
   * Make every bucket of `env` with `make`, all at once; if one fails, delete those this call made (never
   * one that existed before) and throw the first failure.
   */
  const makeAll = async (
    client: TigrisClient,
    env: EnvRef,
    action: string,
    make: (bucket: BucketSpec, i: number) => Promise<unknown>,
  ) => {
    const buckets = of(env);
    const results = await Promise.allSettled(buckets.map(make));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
    if (!failed) return;
    await Promise.all(
      buckets
        .filter((_, i) => results[i]!.status === "fulfilled")
        .map((b) => client.deleteBucket(b.name, { force: true }).catch(() => false)),
    );
    throw apiError(action, failed.reason);
  };

  return {
    bucketsOf: of,

    checkName: (env: EnvRef) => bucketNameProblems(of(env)),

    async create(env: EnvRef, op: OpContext): Promise<void> {
      op.signal?.throwIfAborted();
      const client = await api(op);
      await makeAll(client, env, `create the buckets of "${env.name}"`, (b) =>
        client.createBucket(b.name, { enableSnapshot: true }),
      );
    },

    /** `snapshot`: fork the parent as of this Tigris snapshot version (Unix ns) instead of now. */
    async fork(parent: EnvRef, child: EnvRef, op: OpContext, snapshot?: string): Promise<void> {
      op.signal?.throwIfAborted();
      const client = await api(op);
      const sources = of(parent);
      const action = `fork the buckets of "${parent.name}" into "${child.name}"`;
      const at = snapshot ? { forkSnapshot: snapshot } : {};
      const noParentBucket = () =>
        new ProviderError(
          provider,
          `Env "${parent.name}" has no bucket ${sources[0]!.name}.`,
          "E_ENV_NOT_FOUND",
          {
            hint: `Check the parent's name, or recreate "${parent.name}".`,
          },
        );
      if (keys.length === 0) {
        // One bucket per env: no HEAD first. CreateBucket with the fork source is refused with
        // NoSuchBucket if the parent's bucket is missing, and then nothing was made.
        await client
          .createBucket(of(child)[0]!.name, { forkSource: sources[0]!.name, ...at })
          .catch((error) => {
            if (error instanceof TigrisApiError && error.code === "NoSuchBucket") throw noParentBucket();
            throw apiError(action, error);
          });
        return;
      }
      const heads = await Promise.all(
        sources.map((s) => call(`read bucket ${s.name}`, client.headBucket(s.name))),
      );
      if (!heads[0]) throw noParentBucket();
      await makeAll(client, child, action, (b, i) =>
        // A named bucket added to the config after the parent was made: the child gets it empty.
        heads[i]
          ? client.createBucket(b.name, { forkSource: sources[i]!.name, ...at })
          : client.createBucket(b.name, { enableSnapshot: true }),
      );
    },

    /** Force-deletes every bucket of `env` (no need to empty them first); missing ones are fine. */
    async remove(env: EnvRef, op: OpContext): Promise<void> {
      const client = await api(op);
      await Promise.all(
        of(env).map((b) => call(`delete bucket ${b.name}`, client.deleteBucket(b.name, { force: true }))),
      );
    },

    /** Whether the env's default bucket exists. */
    async exists(env: EnvRef, op: OpContext): Promise<boolean> {
      const client = await api(op);
      const name = of(env)[0]!.name;
      return (await call(`read bucket ${name}`, client.headBucket(name))) !== null;
    },

    /** `exists` of many envs with one ListBuckets instead of a HEAD each. */
    async existMany(envs: readonly EnvRef[], op: OpContext): Promise<boolean[]> {
      if (envs.length === 0) return [];
      const client = await api(op);
      const base = bucketBase(envs[0]!.project, suffix);
      const names = new Set(await call("list buckets", client.listBuckets(`${base}-bucket-`)));
      return envs.map((env) => names.has(of(env)[0]!.name));
    },

    async list(project: string, op: OpContext): Promise<string[]> {
      const client = await api(op);
      const base = bucketBase(project, suffix);
      return envsFromBucketNames(await call("list buckets", client.listBuckets(`${base}-`)), base, keys);
    },
  };
}

/** The shape `info` helpers of these providers share: vars and the bucket list. */
export function bucketInfo(
  buckets: readonly BucketSpec[],
  endpoint: string,
  extra: Partial<ResourceInfo> & Pick<ResourceInfo, "vars">,
): ResourceInfo {
  return {
    location: `${buckets.map((b) => b.name).join(", ")} at ${endpoint}`,
    data: { endpoint, buckets: buckets.map((b) => b.name) },
    ...extra,
    vars: { ...extra.vars, ...bucketVars(buckets) },
  };
}
