/**
 * Conformance suite for storage providers: the shared lifecycle with data as objects in the env's default
 * bucket, read and written the way an app does (@aws-sdk/client-s3 configured from the env's variables
 * only), plus named buckets, the variables' shape, bucket-name rules and the cost of a fork.
 */
import {
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
} from "@aws-sdk/client-s3";
import { expect } from "vitest";
import type { ResourceInfo, StorageProvider } from "../../../src/providers/types.js";
import { lifecycleTests, setupSuite } from "./_lifecycle.js";
import type { DataAccess, SuiteContext, SuiteOptions } from "./_lifecycle.js";

export type StorageSuiteContext = SuiteContext<StorageProvider>;

export interface StorageSuiteOptions extends SuiteOptions<StorageProvider> {
  /** Named bucket keys the provider was configured with (at least one, to test named buckets). */
  readonly bucketKeys: readonly string[];
}

/** An S3 client built from an env's variables alone, as `new S3Client(storageConfig())` would be. */
export function clientFor(info: ResourceInfo): S3Client {
  return new S3Client({
    endpoint: info.vars.AWS_ENDPOINT_URL_S3!,
    region: info.vars.AWS_REGION!,
    credentials: {
      accessKeyId: info.vars.AWS_ACCESS_KEY_ID!,
      secretAccessKey: info.secretVars!.AWS_SECRET_ACCESS_KEY!,
    },
    forcePathStyle: true,
  });
}

export async function putObject(info: ResourceInfo, bucket: string, key: string, body: string | Buffer) {
  const s3 = clientFor(info);
  try {
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
  } finally {
    s3.destroy();
  }
}

/** Every object of `bucket` as key → text; `undefined` for a bucket that does not exist. */
export async function readBucket(
  info: ResourceInfo,
  bucket: string,
): Promise<Record<string, string> | undefined> {
  const s3 = clientFor(info);
  try {
    const out: Record<string, string> = {};
    let token: string | undefined;
    do {
      const page = await s3.send(new ListObjectsV2Command({ Bucket: bucket, ContinuationToken: token }));
      for (const { Key } of page.Contents ?? []) {
        const object = await s3.send(new GetObjectCommand({ Bucket: bucket, Key }));
        out[Key!] = await object.Body!.transformToString();
      }
      token = page.NextContinuationToken;
    } while (token);
    return out;
  } catch (error) {
    if (error instanceof S3ServiceException && error.name === "NoSuchBucket") return undefined;
    throw error;
  } finally {
    s3.destroy();
  }
}

const variableOf = (key: string) => `BUCKET_NAME_${key.toUpperCase().replace(/-/g, "_")}`;

export function testStorageProvider(options: StorageSuiteOptions): void {
  const { ctx, test } = setupSuite(options);
  const describeOrFail = async (env: string) => {
    const info = await ctx.core.describe(env);
    if (!info) throw new Error(`env ${env} has no buckets`);
    return info;
  };
  const data: DataAccess<StorageProvider> = {
    async put(_ctx, env, key, value) {
      const info = await describeOrFail(env);
      await putObject(info, info.vars.BUCKET_NAME!, key, value);
    },
    async read(_ctx, env) {
      const info = await describeOrFail(env);
      return (await readBucket(info, info.vars.BUCKET_NAME!)) ?? {};
    },
  };

  lifecycleTests(ctx, test, data);

  test("vars give the app an S3 endpoint, region, key id and bucket names; the secret key is secret", async () => {
    const info = await ctx.core.create("dev");
    expect(info.vars.AWS_ENDPOINT_URL_S3).toMatch(/^https?:\/\/[^/]+$/);
    expect(info.vars.AWS_REGION).toBe("auto");
    expect(info.vars.AWS_ACCESS_KEY_ID).toMatch(/^[A-Z0-9]{16,128}$/);
    expect(info.vars.BUCKET_NAME).toBe(`myapp-bucket-dev`);
    for (const key of options.bucketKeys) expect(info.vars[variableOf(key)]).toBe(`myapp-${key}-dev`);
    expect(Object.keys(info.secretVars ?? {})).toEqual(["AWS_SECRET_ACCESS_KEY"]);
    for (const key of Object.keys(info.vars)) expect(key).not.toMatch(/SECRET|TOKEN|PASSWORD/);
    const child = await ctx.core.fork("dev", "alice");
    expect(child.vars.BUCKET_NAME).toBe("myapp-bucket-alice");
    expect(child.vars.AWS_ENDPOINT_URL_S3).toBe(info.vars.AWS_ENDPOINT_URL_S3);
  });

  test("named buckets are made, forked and isolated like the default one", async () => {
    const key = options.bucketKeys[0]!;
    const dev = await ctx.core.create("dev");
    const devBucket = dev.vars[variableOf(key)]!;
    await putObject(dev, devBucket, "logo.png", "dev's logo");
    const alice = await ctx.core.fork("dev", "alice");
    const aliceBucket = alice.vars[variableOf(key)]!;
    expect(aliceBucket).toBe(`myapp-${key}-alice`);
    await putObject(alice, aliceBucket, "avatar.png", "alice's avatar");
    expect(await readBucket(alice, aliceBucket)).toEqual({
      "logo.png": "dev's logo",
      "avatar.png": "alice's avatar",
    });
    expect(await readBucket(dev, devBucket)).toEqual({ "logo.png": "dev's logo" });
    await ctx.core.remove("alice");
    expect(await readBucket(dev, aliceBucket)).toBeUndefined();
  });

  test("a fork costs the same whatever the parent holds", async () => {
    const dev = await ctx.core.create("dev");
    await putObject(dev, dev.vars.BUCKET_NAME!, "big.bin", Buffer.alloc(4 * 1024 * 1024, 7));
    const alice = await ctx.core.fork("dev", "alice");
    expect(["metadata", "native"]).toContain(alice.method);
    expect(alice.bytesAdded).toBeLessThan(256 * 1024);
    expect(Object.keys((await data.read(ctx, "alice")) ?? {})).toEqual(["big.bin"]);
  });

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
