/**
 * Issue 8's S3 behaviours through the aws CLI's s3api commands (every distinct CLI on the machine, as
 * in awscli.test.ts): GetObjectAttributes, bucket tagging, public access block, re-creating a bucket,
 * DeleteObjects with a VersionId, RFC 2047 metadata and control-character keys in listings
 * (botocore asks for encoding-type=url and decodes).
 */
import { createHash, randomBytes } from "node:crypto";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  findAwsClis,
  ok,
  run,
  startClientEnv,
  uniqueBucket,
  type ClientEnv,
  CLIENT_TEST_TIMEOUT_MS,
} from "./harness.js";

const clis = findAwsClis();

describe.skipIf(clis.length === 0).each(clis)(
  "$label s3api",
  { timeout: CLIENT_TEST_TIMEOUT_MS },
  ({ label, path }) => {
    let env: ClientEnv;
    let bucket: string;
    let baseEnv: Record<string, string>;
    let sdk: S3Client;

    const aws = (args: readonly string[]): Promise<string> =>
      ok(path, ["--endpoint-url", env.server.url, ...args], baseEnv);
    const awsJson = async <T>(args: readonly string[]): Promise<T> =>
      JSON.parse((await aws([...args, "--output", "json"])) || "{}") as T;
    /** A command expected to fail: its stderr, which names the S3 error code. */
    const awsFails = async (args: readonly string[]): Promise<string> => {
      const r = await run(path, ["--endpoint-url", env.server.url, ...args], baseEnv);
      expect(r.code, r.stdout).not.toBe(0);
      return r.stderr;
    };

    beforeAll(async () => {
      env = await startClientEnv();
      bucket = uniqueBucket(`s3api-${label.includes("/2.") ? "v2" : "v1"}`);
      baseEnv = {
        HOME: join(env.dir, "home"),
        AWS_ACCESS_KEY_ID: env.creds.accessKeyId,
        AWS_SECRET_ACCESS_KEY: env.creds.secretAccessKey,
        AWS_DEFAULT_REGION: "eu-west-1",
        AWS_CONFIG_FILE: join(env.dir, "no-aws-config"),
        AWS_SHARED_CREDENTIALS_FILE: join(env.dir, "no-aws-credentials"),
        AWS_EC2_METADATA_DISABLED: "true",
        AWS_PAGER: "",
      };
      sdk = new S3Client({ endpoint: env.server.url, region: "eu-west-1", credentials: env.creds });
      await aws([
        "s3api",
        "create-bucket",
        "--bucket",
        bucket,
        "--create-bucket-configuration",
        "LocationConstraint=eu-west-1",
      ]);
    });

    afterAll(async () => {
      sdk?.destroy();
      await env?.close();
    });

    it("create-bucket again → BucketAlreadyOwnedByYou (outside us-east-1)", async () => {
      const stderr = await awsFails([
        "s3api",
        "create-bucket",
        "--bucket",
        bucket,
        "--create-bucket-configuration",
        "LocationConstraint=eu-west-1",
      ]);
      expect(stderr).toContain("BucketAlreadyOwnedByYou");
    });

    it("get-object-attributes of a single-part and a multipart object", async () => {
      const body = randomBytes(2048);
      const file = join(env.dir, "attr.bin");
      await writeFile(file, body);
      await aws(["s3api", "put-object", "--bucket", bucket, "--key", "attr.bin", "--body", file]);
      const a = await awsJson<{
        ETag?: string;
        ObjectSize?: number;
        StorageClass?: string;
        ObjectParts?: unknown;
      }>([
        "s3api",
        "get-object-attributes",
        "--bucket",
        bucket,
        "--key",
        "attr.bin",
        "--object-attributes",
        "ETag",
        "ObjectSize",
        "StorageClass",
        "ObjectParts",
      ]);
      expect(a.ETag).toBe(createHash("md5").update(body).digest("hex"));
      expect(a.ObjectSize).toBe(2048);
      expect(a.StorageClass).toBe("STANDARD");
      expect(a.ObjectParts).toBeUndefined();

      // s3 cp goes multipart above 8 MiB.
      const big = join(env.dir, "big.bin");
      await writeFile(big, randomBytes(9 * 1024 * 1024));
      await aws(["s3", "cp", big, `s3://${bucket}/big.bin`]);
      const m = await awsJson<{ ObjectParts?: { TotalPartsCount?: number }; ObjectSize?: number }>([
        "s3api",
        "get-object-attributes",
        "--bucket",
        bucket,
        "--key",
        "big.bin",
        "--object-attributes",
        "ObjectParts",
        "ObjectSize",
      ]);
      expect(m.ObjectSize).toBe(9 * 1024 * 1024);
      expect(m.ObjectParts?.TotalPartsCount).toBe(2);
    });

    it("bucket tagging and public access block: put, get, delete", async () => {
      expect(await awsFails(["s3api", "get-bucket-tagging", "--bucket", bucket])).toContain("NoSuchTagSet");
      await aws([
        "s3api",
        "put-bucket-tagging",
        "--bucket",
        bucket,
        "--tagging",
        "TagSet=[{Key=env,Value=dev}]",
      ]);
      const tags = await awsJson<{ TagSet: unknown[] }>(["s3api", "get-bucket-tagging", "--bucket", bucket]);
      expect(tags.TagSet).toEqual([{ Key: "env", Value: "dev" }]);
      await aws(["s3api", "delete-bucket-tagging", "--bucket", bucket]);
      expect(await awsFails(["s3api", "get-bucket-tagging", "--bucket", bucket])).toContain("NoSuchTagSet");

      expect(await awsFails(["s3api", "get-public-access-block", "--bucket", bucket])).toContain(
        "NoSuchPublicAccessBlockConfiguration",
      );
      await aws([
        "s3api",
        "put-public-access-block",
        "--bucket",
        bucket,
        "--public-access-block-configuration",
        "BlockPublicAcls=true,IgnorePublicAcls=true,BlockPublicPolicy=false,RestrictPublicBuckets=true",
      ]);
      const pab = await awsJson<{ PublicAccessBlockConfiguration: unknown }>([
        "s3api",
        "get-public-access-block",
        "--bucket",
        bucket,
      ]);
      expect(pab.PublicAccessBlockConfiguration).toEqual({
        BlockPublicAcls: true,
        IgnorePublicAcls: true,
        BlockPublicPolicy: false,
        RestrictPublicBuckets: true,
      });
      await aws(["s3api", "delete-public-access-block", "--bucket", bucket]);
    });

    it("delete-objects with a VersionId other than null keeps the object", async () => {
      await sdk.send(new PutObjectCommand({ Bucket: bucket, Key: "versioned", Body: "keep me" }));
      await aws([
        "s3api",
        "delete-objects",
        "--bucket",
        bucket,
        "--delete",
        "Objects=[{Key=versioned,VersionId=3HL4kqtJlcpXroDTDmJ-rmSpXd3dIbrHY}]",
      ]);
      const head = await awsJson<{ ContentLength?: number }>([
        "s3api",
        "head-object",
        "--bucket",
        bucket,
        "--key",
        "versioned",
      ]);
      expect(head.ContentLength).toBe(7);
    });

    it("head-object shows non-ASCII metadata RFC 2047-encoded; keys with control characters list exactly", async () => {
      await sdk.send(
        new PutObjectCommand({ Bucket: bucket, Key: "meta", Body: "x", Metadata: { who: "Zoë" } }),
      );
      const head = await awsJson<{ Metadata?: Record<string, string> }>([
        "s3api",
        "head-object",
        "--bucket",
        bucket,
        "--key",
        "meta",
      ]);
      expect(head.Metadata?.who).toBe(`=?UTF-8?B?${Buffer.from("Zoë").toString("base64")}?=`);

      const keys = ["ctl/a\rb", "ctl/tab\there", "ctl/\u0001start", "ctl/plus+and space", "ctl/del\u007f"];
      for (const key of keys) await sdk.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: key }));
      const listed = await awsJson<{ Contents?: { Key: string }[] }>([
        "s3api",
        "list-objects-v2",
        "--bucket",
        bucket,
        "--prefix",
        "ctl/",
      ]);
      expect((listed.Contents ?? []).map((c) => c.Key)).toEqual([...keys].sort());
    });
  },
);
