/**
 * @module testing/s3
 * Objects in an env's buckets, read and written as an app does: `@aws-sdk/client-s3` configured from
 * the env's variables alone (`vars` and `secretVars` together). The SDK is an optional peer dependency,
 * imported on first use, so database, secrets and local-state suites never need it installed.
 */
import type * as S3Sdk from "@aws-sdk/client-s3";
import type { ResourceInfo } from "../providers/types.js";
import { appVars } from "./project.js";

type S3Module = typeof S3Sdk;

let sdk: Promise<S3Module> | undefined;

function loadSdk(): Promise<S3Module> {
  // The SDK warns on Node 20 about its releases after January 2027; that notice is the SDK's, not
  // something a provider author's test run should carry (a user who set the variable keeps theirs).
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
  return (sdk ??= import("@aws-sdk/client-s3").catch((error: unknown) => {
    sdk = undefined;
    throw new Error(
      "storageSuite reads buckets with @aws-sdk/client-s3, which is not installed: npm install -D @aws-sdk/client-s3",
      { cause: error },
    );
  }));
}

/** An S3 client built from an env's variables, as `new S3Client(storageConfig())` would be. */
async function clientFor(info: ResourceInfo): Promise<{ s3: S3Sdk.S3Client; sdk: S3Module }> {
  const { S3Client } = await loadSdk();
  const vars = appVars(info);
  const s3 = new S3Client({
    endpoint: vars.AWS_ENDPOINT_URL_S3!,
    region: vars.AWS_REGION || "auto",
    credentials: { accessKeyId: vars.AWS_ACCESS_KEY_ID!, secretAccessKey: vars.AWS_SECRET_ACCESS_KEY! },
    forcePathStyle: true,
  });
  return { s3, sdk: await loadSdk() };
}

export async function putObject(
  info: ResourceInfo,
  bucket: string,
  key: string,
  body: string | Uint8Array,
): Promise<void> {
  const { s3, sdk } = await clientFor(info);
  try {
    await s3.send(new sdk.PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
  } finally {
    s3.destroy();
  }
}

/** Make a bucket with the env's credentials, as a user (not forkstack) would. */
export async function createBucket(info: ResourceInfo, bucket: string): Promise<void> {
  const { s3, sdk } = await clientFor(info);
  try {
    await s3.send(new sdk.CreateBucketCommand({ Bucket: bucket }));
  } finally {
    s3.destroy();
  }
}

/** Empty a bucket made by `createBucket` (its current objects) and delete it. */
export async function deleteBucket(info: ResourceInfo, bucket: string): Promise<void> {
  const { s3, sdk } = await clientFor(info);
  try {
    const page = await s3.send(new sdk.ListObjectsV2Command({ Bucket: bucket }));
    for (const { Key } of page.Contents ?? []) {
      await s3.send(new sdk.DeleteObjectCommand({ Bucket: bucket, Key }));
    }
    await s3.send(new sdk.DeleteBucketCommand({ Bucket: bucket }));
  } finally {
    s3.destroy();
  }
}

/** Every object of `bucket` as key → text; `undefined` for a bucket that does not exist. */
export async function readBucket(
  info: ResourceInfo,
  bucket: string,
): Promise<Record<string, string> | undefined> {
  const { s3, sdk } = await clientFor(info);
  try {
    const out: Record<string, string> = {};
    let token: string | undefined;
    do {
      const page = await s3.send(new sdk.ListObjectsV2Command({ Bucket: bucket, ContinuationToken: token }));
      for (const { Key } of page.Contents ?? []) {
        const object = await s3.send(new sdk.GetObjectCommand({ Bucket: bucket, Key }));
        out[Key!] = await object.Body!.transformToString();
      }
      token = page.NextContinuationToken;
    } while (token);
    return out;
  } catch (error) {
    if (error instanceof sdk.S3ServiceException && error.name === "NoSuchBucket") return undefined;
    throw error;
  } finally {
    s3.destroy();
  }
}
