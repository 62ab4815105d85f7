/**
 * @module testing/suites/storage
 * Conformance suite for storage providers: the shared lifecycle with data as objects in the env's default
 * bucket, plus named buckets, the variables' shape, bucket-name rules and, where the provider claims
 * copy-on-write forks, the cost of a fork. Buckets are named `<project>-<key>-<env>` (docs/architecture.md).
 */
import { expect } from "../vitest-api.js";
import type { StorageProvider } from "../../providers/types.js";
import { appVars } from "../project.js";
import { createBucket, deleteBucket, putObject, readBucket } from "../s3.js";
import { setupSuite, type DataAccess, type Occupy, type SuiteContext, type SuiteOptions } from "./harness.js";
import { lifecycleTests } from "./lifecycle.js";

export type StorageSuiteContext = SuiteContext<StorageProvider>;

export interface StorageSuiteOptions extends SuiteOptions<StorageProvider> {
  /** Named bucket keys the provider was configured with (none skips the named-bucket test). */
  readonly bucketKeys: readonly string[];
  /**
   * The keys a user makes their own buckets with, on a backend where an env's key cannot make one (the
   * embedded store gives each env a key that reaches only its buckets: the project's key there).
   * @default the env's own keys
   */
  readonly userCredentials?: (
    ctx: StorageSuiteContext,
  ) => Promise<{ readonly accessKeyId: string; readonly secretAccessKey: string }>;
}

const variableOf = (key: string) => `BUCKET_NAME_${key.toUpperCase().replace(/-/g, "_")}`;

export function storageSuite(options: StorageSuiteOptions): void {
  const { ctx, test } = setupSuite(options);
  const describeOrFail = async (env: string) => {
    const info = await ctx.core.describe(env);
    if (!info) throw new Error(`env ${env} has no buckets`);
    return info;
  };
  const data: DataAccess = {
    async put(env, key, value) {
      const info = await describeOrFail(env);
      await putObject(info, appVars(info).BUCKET_NAME!, key, value);
    },
    async read(env) {
      const info = await describeOrFail(env);
      return (await readBucket(info, appVars(info).BUCKET_NAME!)) ?? {};
    },
  };
  const project = () => ctx.project.context.project;
  // The user's own buckets under the names a changed bucket list gives the env and its record does not.
  const occupy: Occupy<StorageProvider> = async (changed, env, record) => {
    const named = changed.target?.(ctx.core.env(env)).buckets;
    const own = new Set(Object.values(appVars(record)));
    const theirs = (Array.isArray(named) ? (named as string[]) : []).filter((b) => !own.has(b));
    if (theirs.length === 0) return undefined;
    // The endpoint of the env's record, with the keys a user makes buckets with.
    const user = options.userCredentials ? await options.userCredentials(ctx) : undefined;
    const recorded: typeof record = user
      ? {
          ...record,
          vars: { ...record.vars, AWS_ACCESS_KEY_ID: user.accessKeyId },
          secretVars: { ...record.secretVars, AWS_SECRET_ACCESS_KEY: user.secretAccessKey },
        }
      : record;
    for (const bucket of theirs) {
      await createBucket(recorded, bucket);
      await putObject(recorded, bucket, "mine.txt", "the user's own");
    }
    return {
      async check() {
        for (const bucket of theirs) {
          expect(await readBucket(recorded, bucket), bucket).toEqual({ "mine.txt": "the user's own" });
        }
      },
      async remove() {
        for (const bucket of theirs) await deleteBucket(recorded, bucket);
      },
    };
  };

  lifecycleTests(ctx, test, data, occupy);

  test("vars give the app an S3 endpoint, region, key id and bucket names; the secret key is secret", async () => {
    const info = await ctx.core.create("dev");
    const vars = appVars(info);
    expect(vars.AWS_ENDPOINT_URL_S3).toMatch(/^https?:\/\/[^/]+$/);
    expect(vars.AWS_REGION).toMatch(/^[a-z0-9-]+$/);
    expect(vars.AWS_ACCESS_KEY_ID).toMatch(/^[A-Za-z0-9]{16,128}$/);
    expect(vars.BUCKET_NAME).toBe(`${project()}-bucket-dev`);
    for (const key of options.bucketKeys) expect(vars[variableOf(key)]).toBe(`${project()}-${key}-dev`);
    expect(info.secretVars?.AWS_SECRET_ACCESS_KEY).toEqual(expect.any(String));
    for (const key of Object.keys(info.vars)) expect(key).not.toMatch(/SECRET|TOKEN|PASSWORD/);
    const child = appVars(await ctx.core.fork("dev", "alice"));
    expect(child.BUCKET_NAME).toBe(`${project()}-bucket-alice`);
    expect(child.AWS_ENDPOINT_URL_S3).toBe(vars.AWS_ENDPOINT_URL_S3);
  });

  test(
    "named buckets are made, forked and isolated like the default one",
    async () => {
      const key = options.bucketKeys[0]!;
      const dev = await ctx.core.create("dev");
      const devBucket = appVars(dev)[variableOf(key)]!;
      await putObject(dev, devBucket, "logo.png", "dev's logo");
      const alice = await ctx.core.fork("dev", "alice");
      const aliceBucket = appVars(alice)[variableOf(key)]!;
      expect(aliceBucket).toBe(`${project()}-${key}-alice`);
      await putObject(alice, aliceBucket, "avatar.png", "alice's avatar");
      expect(await readBucket(alice, aliceBucket)).toEqual({
        "logo.png": "dev's logo",
        "avatar.png": "alice's avatar",
      });
      expect(await readBucket(dev, devBucket)).toEqual({ "logo.png": "dev's logo" });
      await ctx.core.remove("alice");
      // Gone for the backend (`list` reads env names back from named buckets too) …
      expect(await ctx.core.list()).toEqual(["dev"]);
      // … and for dev's app: no such bucket, or, where each env has its own key, not dev's to read.
      const fromDev = await readBucket(dev, aliceBucket).catch((error: Error) => error.name);
      expect([undefined, "AccessDenied"]).toContain(fromDev);
    },
    () => (options.bucketKeys.length > 0 ? undefined : "no named buckets (bucketKeys is empty)"),
  );

  test(
    "a fork costs the same whatever the parent holds",
    async () => {
      const dev = await ctx.core.create("dev");
      await putObject(dev, appVars(dev).BUCKET_NAME!, "big.bin", new Uint8Array(4 * 1024 * 1024).fill(7));
      const alice = await ctx.core.fork("dev", "alice");
      expect(["metadata", "native"]).toContain(alice.method);
      expect(alice.bytesAdded).toBeLessThan(256 * 1024);
      expect(Object.keys(await data.read("alice"))).toEqual(["big.bin"]);
    },
    (p) => (p.flags.copyOnWrite ? undefined : "forks copy the data (no flags.copyOnWrite)"),
  );

  test("checkName names every bucket that would break the S3 rules, with the 63 limit", () => {
    // The longest project name (40) with a 16-character env makes a 64-character default bucket name.
    const env = { project: "p".repeat(40), name: "e".repeat(16) };
    const names = [
      `${env.project}-bucket-${env.name}`,
      ...options.bucketKeys.map((k) => `${env.project}-${k}-${env.name}`),
    ];
    const problems = ctx.provider.checkName?.(env) ?? [];
    expect(problems).toHaveLength(names.length);
    names.forEach((name, i) => {
      expect(problems[i]).toContain(`"${name}"`);
      expect(problems[i]).toContain(`${name.length} characters`);
      expect(problems[i]).toContain("63");
    });
    expect(ctx.provider.checkName?.({ project: "p".repeat(40), name: "e".repeat(8) })).toEqual([]);
    expect(ctx.provider.checkName?.(ctx.core.env("alice"))).toEqual([]);
  });

  options.additionalTests?.(ctx);
}
