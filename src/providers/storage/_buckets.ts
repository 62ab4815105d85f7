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
import { ENV_NAME_PATTERN, recordedString, recordedStrings } from "../../layout.js";
import { bucketNameProblem } from "../../storage-server/names.js";
import type { EnvRef, OpContext, ResourceInfo } from "../types.js";
import { ProviderError, madeElsewhereError, noRecordError } from "../../errors.js";
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

/**
 * The buckets a record names, each with its variable, the default first: from the record's vars
 * (`BUCKET_NAME`, `BUCKET_NAME_<KEY>`), which every record a provider returned holds. Undefined for a
 * record without them (a step's target, which holds `data.buckets` alone).
 */
export function recordedBuckets(recorded: ResourceInfo | undefined): BucketSpec[] | undefined {
  const vars = { ...recorded?.vars };
  const main = vars.BUCKET_NAME;
  if (!main) return undefined;
  const named = Object.entries(vars)
    .filter(([variable, name]) => variable.startsWith("BUCKET_NAME_") && name)
    .map(([variable, name]) => ({ name, variable }));
  return [{ name: main, variable: "BUCKET_NAME" }, ...named];
}

/**
 * The bucket names `remove` may delete for a record: `data.buckets`, else (a record of an older
 * version) the buckets its vars name; never today's config. Throws E_NO_RECORD when it names none.
 */
export function bucketsToRemove(provider: string, env: EnvRef, recorded: ResourceInfo | undefined): string[] {
  const names = recordedStrings(recorded, "buckets") ?? recordedBuckets(recorded)?.map((b) => b.name);
  if (!names?.length) throw noRecordError(provider, env.name, "buckets");
  return names;
}

/**
 * A record made on another endpoint than the one the config names now is refused: the same bucket name
 * there may be someone else's. `key` is the config key to point back.
 */
export function checkRecordedEndpoint(
  provider: string,
  env: EnvRef,
  recorded: ResourceInfo | undefined,
  now: string,
  key: string,
): void {
  const made = recordedString(recorded, "endpoint") ?? recorded?.vars.AWS_ENDPOINT_URL_S3;
  if (made === undefined) throw noRecordError(provider, env.name, "buckets' endpoint");
  if (made.replace(/\/+$/, "") !== now.replace(/\/+$/, "")) {
    throw madeElsewhereError(provider, env.name, "buckets", { recorded: made, now, key });
  }
}

/**
 * Where each of a fork's buckets comes from: the parent's bucket recorded under the same variable, or
 * none (a named bucket added to the config since the parent was made: the child gets it empty). Without
 * a parent record (a caller outside the core), the parent's buckets as today's config names them.
 */
export function forkSources(
  child: readonly BucketSpec[],
  parentByConfig: readonly BucketSpec[],
  parentRecord: ResourceInfo | undefined,
): (string | undefined)[] {
  const recorded = recordedBuckets(parentRecord) ?? parentByConfig;
  return child.map((b) => recorded.find((p) => p.variable === b.variable)?.name);
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
  /**
   * A backend whose endpoint the config chooses (Tigris): `remove` refuses a record made at another one,
   * and `key` is the config key named in that error. Absent for the project's own embedded store.
   */
  readonly endpoint?: { readonly now: () => string; readonly key: string };
}

/**
 * The env's buckets as found: the names to report and, when found without a record, the ones that
 * exist (what the core names when it refuses to make the env's storage over them).
 */
export interface FoundBuckets {
  readonly buckets: BucketSpec[];
  readonly existing?: string[];
}

/**
 * The lifecycle of an env's buckets over the Tigris fork API: roots are made snapshot-enabled, a fork is
 * one CreateBucket with `X-Tigris-Fork-Source-Bucket` per bucket (O(1) whatever the parent holds).
 * `remove` deletes the buckets the record names, never the ones today's config names.
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

  const heads = async (client: TigrisClient, names: readonly string[]) =>
    Promise.all(names.map((name) => call(`read bucket ${name}`, client.headBucket(name))));

  return {
    bucketsOf: of,

    checkName: (env: EnvRef) => bucketNameProblems(of(env)),

    /** What `create`/`fork` will make: the bucket names (and where, for a chosen endpoint). */
    target: (env: EnvRef): Record<string, unknown> => ({
      ...(options.endpoint ? { endpoint: options.endpoint.now() } : {}),
      buckets: of(env).map((b) => b.name),
    }),

    async create(env: EnvRef, op: OpContext): Promise<void> {
      op.signal?.throwIfAborted();
      const client = await api(op);
      await makeAll(client, env, `create the buckets of "${env.name}"`, (b) =>
        client.createBucket(b.name, { enableSnapshot: true }),
      );
    },

    /**
     * Fork the parent's recorded buckets (`parent`: its record) into the child's, each into the bucket of
     * the same variable; `snapshot`: as of this Tigris snapshot version (Unix ns) instead of now.
     */
    async fork(
      parent: EnvRef,
      child: EnvRef,
      op: OpContext,
      from: { parent?: ResourceInfo | undefined; snapshot?: string | undefined } = {},
    ): Promise<void> {
      op.signal?.throwIfAborted();
      const client = await api(op);
      const sources = forkSources(of(child), of(parent), from.parent);
      const action = `fork the buckets of "${parent.name}" into "${child.name}"`;
      const at = from.snapshot ? { forkSnapshot: from.snapshot } : {};
      const noParentBucket = () =>
        new ProviderError(
          provider,
          `Env "${parent.name}" has no bucket ${sources[0] ?? of(parent)[0]!.name}.`,
          "E_ENV_NOT_FOUND",
          {
            hint: `Check the parent's name, or recreate "${parent.name}".`,
          },
        );
      if (sources.length === 1 && sources[0]) {
        // One bucket per env: no HEAD first. CreateBucket with the fork source is refused with
        // NoSuchBucket if the parent's bucket is missing, and then nothing was made.
        await client.createBucket(of(child)[0]!.name, { forkSource: sources[0], ...at }).catch((error) => {
          if (error instanceof TigrisApiError && error.code === "NoSuchBucket") throw noParentBucket();
          throw apiError(action, error);
        });
        return;
      }
      const found = await heads(
        client,
        sources.filter((s): s is string => s !== undefined),
      );
      const present = new Set(found.flatMap((h) => (h ? [h.name] : [])));
      if (!sources[0] || !present.has(sources[0])) throw noParentBucket();
      await makeAll(client, child, action, (b, i) => {
        const source = sources[i];
        // A named bucket the parent has no record of (added to the config since): the child gets it empty.
        return source && present.has(source)
          ? client.createBucket(b.name, { forkSource: source, ...at })
          : client.createBucket(b.name, { enableSnapshot: true });
      });
    },

    /**
     * Force-deletes the buckets the record names (no need to empty them first); missing ones are fine.
     * Never the ones today's config names: a bucket the config gained since may be the user's own.
     */
    async remove(env: EnvRef, op: OpContext, recorded: ResourceInfo | undefined): Promise<void> {
      const names = bucketsToRemove(provider, env, recorded);
      if (options.endpoint) {
        checkRecordedEndpoint(provider, env, recorded, options.endpoint.now(), options.endpoint.key);
      }
      const client = await api(op);
      // Force: no need to empty them, and (on the embedded store) a bucket with forks is detached.
      await Promise.all(
        names.map((name) => call(`delete bucket ${name}`, client.deleteBucket(name, { force: true }))),
      );
      op.log.debug(`[${provider}] removed ${names.join(", ")} of ${env.name}`);
    },

    /**
     * The env's buckets if they exist. With a record, its buckets, by the default one. Without (the core
     * asking before it makes the env's buckets), every bucket the config names now: any that exists
     * means the env's storage is not this operation's to make.
     */
    async find(env: EnvRef, op: OpContext, recorded?: ResourceInfo): Promise<FoundBuckets | null> {
      const client = await api(op);
      const own = recordedBuckets(recorded);
      if (own) {
        const [main] = await heads(client, [own[0]!.name]);
        return main ? { buckets: own } : null;
      }
      const buckets = of(env);
      const found = await heads(
        client,
        buckets.map((b) => b.name),
      );
      const existing = found.flatMap((h) => (h ? [h.name] : []));
      return existing.length ? { buckets, existing } : null;
    },

    /** Whether each env's default bucket exists, with one ListBuckets instead of a HEAD each. */
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

/**
 * The shape `info` helpers of these providers share: vars and the bucket list. `shown`: the buckets the
 * location names, when not all of them (the ones found existing, for a refusal).
 */
export function bucketInfo(
  buckets: readonly BucketSpec[],
  endpoint: string,
  extra: Partial<ResourceInfo> & Pick<ResourceInfo, "vars">,
  shown: readonly string[] = buckets.map((b) => b.name),
): ResourceInfo {
  return {
    location: `${shown.join(", ")} at ${endpoint}`,
    data: { endpoint, buckets: buckets.map((b) => b.name) },
    ...extra,
    vars: { ...extra.vars, ...bucketVars(buckets) },
  };
}
