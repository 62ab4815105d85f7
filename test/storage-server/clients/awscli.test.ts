/**
 * The aws CLI against the embedded server at its default settings. Every distinct CLI on the machine
 * runs the suite: Debian's awscli 2.9 (Content-MD5 era) and a pip awscli 1.x whose botocore sends
 * CRC32 checksums by default (storage.md §4) — they exercise different integrity paths.
 */
import { randomBytes } from "node:crypto";
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  findAwsClis,
  hashTree,
  md5,
  ok,
  run,
  sha256,
  sortedEntries,
  startClientEnv,
  uniqueBucket,
  writeTree,
  type ClientEnv,
  wrongSecret,
  CLIENT_TEST_TIMEOUT_MS,
} from "./harness.js";

const clis = findAwsClis();

describe.skipIf(clis.length === 0).each(clis)(
  "$label",
  { timeout: CLIENT_TEST_TIMEOUT_MS },
  ({ label, path }) => {
    let env: ClientEnv;
    let bucket: string;
    let work: string;
    let baseEnv: Record<string, string>;

    const aws = (args: readonly string[], overrides: Record<string, string> = {}): Promise<string> =>
      ok(path, ["--endpoint-url", env.server.url, ...args], { ...baseEnv, ...overrides });
    const awsJson = async <T>(args: readonly string[]): Promise<T> =>
      JSON.parse((await aws([...args, "--output", "json"])) || "{}") as T;

    beforeAll(async () => {
      env = await startClientEnv();
      work = join(env.dir, label.replace(/\W/g, "_"));
      await mkdir(work, { recursive: true });
      bucket = uniqueBucket("awscli");
      baseEnv = {
        HOME: join(env.dir, "home"),
        AWS_ACCESS_KEY_ID: env.creds.accessKeyId,
        AWS_SECRET_ACCESS_KEY: env.creds.secretAccessKey,
        AWS_DEFAULT_REGION: "us-east-1",
        // Keep the CLI from looking for other credentials, config or instance metadata.
        AWS_CONFIG_FILE: join(env.dir, "no-aws-config"),
        AWS_SHARED_CREDENTIALS_FILE: join(env.dir, "no-aws-credentials"),
        AWS_EC2_METADATA_DISABLED: "true",
        AWS_PAGER: "",
      };
      await aws(["s3", "mb", `s3://${bucket}`]);
    });

    afterAll(async () => {
      await env?.close();
    });

    it("s3 ls lists the bucket made by s3 mb", async () => {
      expect(await aws(["s3", "ls"])).toMatch(new RegExp(`\\s${bucket}\\n`));
    });

    it("s3 cp --recursive up and down round-trips awkward keys byte for byte", async () => {
      const src = join(work, "cp-src");
      const expected = await writeTree(src);
      await aws(["s3", "cp", "--recursive", src, `s3://${bucket}/cp/`]);
      const listing = await aws(["s3", "ls", "--recursive", `s3://${bucket}/cp/`]);
      for (const rel of expected.keys()) expect(listing).toContain(`cp/${rel}`);

      const dst = join(work, "cp-dst");
      await aws(["s3", "cp", "--recursive", `s3://${bucket}/cp/`, dst]);
      expect(sortedEntries(await hashTree(dst))).toEqual(sortedEntries(expected));
    });

    it("s3 cp of a single file keeps the exact key (space, +, unicode)", async () => {
      const data = randomBytes(10_000);
      const file = join(work, "single.bin");
      await writeFile(file, data);
      const key = "single/ä b+c~(d).bin";
      await aws(["s3", "cp", file, `s3://${bucket}/${key}`]);
      const head = await awsJson<{ ContentLength: number; ETag: string }>([
        "s3api",
        "head-object",
        "--bucket",
        bucket,
        "--key",
        key,
      ]);
      expect(head.ContentLength).toBe(data.length);
      expect(head.ETag).toBe(`"${md5(data)}"`);
      await aws(["s3", "cp", `s3://${bucket}/${key}`, join(work, "single.out")]);
      expect((await readFile(join(work, "single.out"))).equals(data)).toBe(true);
    });

    it("s3 sync uploads, mirrors changes with --delete, and syncs back down", async () => {
      const src = join(work, "sync-src");
      await writeTree(src);
      await aws(["s3", "sync", src, `s3://${bucket}/sync/`]);
      // Change the local tree: remove one file, rewrite one (different size), add one.
      await rm(join(src, "one.txt"));
      await writeFile(join(src, "plain.bin"), randomBytes(123_457));
      await writeFile(join(src, "new file.txt"), randomBytes(777));
      await aws(["s3", "sync", "--delete", src, `s3://${bucket}/sync/`]);

      const dst = join(work, "sync-dst");
      await aws(["s3", "sync", `s3://${bucket}/sync/`, dst]);
      expect(sortedEntries(await hashTree(dst))).toEqual(sortedEntries(await hashTree(src)));
      // A second sync finds nothing to do (sizes and mtimes agree with the listing).
      expect((await aws(["s3", "sync", src, `s3://${bucket}/sync/`])).trim()).toBe("");
    });

    it("s3api put-object / head-object / get-object / list-objects-v2 / delete-objects", async () => {
      const data = randomBytes(50_000);
      const file = join(work, "api.bin");
      await writeFile(file, data);
      const keys = ["api/x y.bin", "api/p+q.bin", "api/é.bin"];
      for (const key of keys) {
        const put = await awsJson<{ ETag: string }>([
          "s3api",
          "put-object",
          "--bucket",
          bucket,
          "--key",
          key,
          "--body",
          file,
          "--metadata",
          "origin=forkstack",
          "--content-type",
          "application/x-test",
        ]);
        expect(put.ETag).toBe(`"${md5(data)}"`);
      }
      const head = await awsJson<{
        ContentLength: number;
        ContentType: string;
        Metadata: Record<string, string>;
      }>(["s3api", "head-object", "--bucket", bucket, "--key", keys[0] ?? ""]);
      expect(head).toMatchObject({
        ContentLength: data.length,
        ContentType: "application/x-test",
        Metadata: { origin: "forkstack" },
      });

      const out = join(work, "api.out");
      await aws(["s3api", "get-object", "--bucket", bucket, "--key", keys[2] ?? "", out]);
      expect(sha256(await readFile(out))).toBe(sha256(data));

      const listed = await awsJson<{ Contents?: Array<{ Key: string; Size: number }>; KeyCount: number }>([
        "s3api",
        "list-objects-v2",
        "--bucket",
        bucket,
        "--prefix",
        "api/",
      ]);
      expect(listed.Contents?.map((c) => c.Key).sort()).toEqual([...keys].sort());
      expect(listed.Contents?.every((c) => c.Size === data.length)).toBe(true);

      const deleted = await awsJson<{ Deleted?: Array<{ Key: string }>; Errors?: unknown[] }>([
        "s3api",
        "delete-objects",
        "--bucket",
        bucket,
        "--delete",
        JSON.stringify({ Objects: keys.map((Key) => ({ Key })) }),
      ]);
      expect(deleted.Errors ?? []).toEqual([]);
      expect(deleted.Deleted?.map((d) => d.Key).sort()).toEqual([...keys].sort());
      const after = await awsJson<{ Contents?: unknown[] }>([
        "s3api",
        "list-objects-v2",
        "--bucket",
        bucket,
        "--prefix",
        "api/",
      ]);
      expect(after.Contents ?? []).toEqual([]);
    });

    it("multipart upload (s3 cp of a 20 MiB file), ranged parallel download, and s3→s3 copy", async () => {
      const data = randomBytes(20 * 1024 * 1024 + 12_345);
      const file = join(work, "big.bin");
      await writeFile(file, data);
      await aws(["s3", "cp", file, `s3://${bucket}/big/file.bin`]);
      const head = await awsJson<{ ContentLength: number; ETag: string }>([
        "s3api",
        "head-object",
        "--bucket",
        bucket,
        "--key",
        "big/file.bin",
      ]);
      expect(head.ContentLength).toBe(data.length);
      // 8 MiB parts: three of them, and S3's multipart ETag shape.
      expect(head.ETag).toMatch(/^"[0-9a-f]{32}-3"$/);

      await aws(["s3", "cp", `s3://${bucket}/big/file.bin`, join(work, "big.out")]);
      expect(sha256(await readFile(join(work, "big.out")))).toBe(sha256(data));

      // Server-side copy above the multipart threshold: CreateMultipartUpload + UploadPartCopy.
      await aws(["s3", "cp", `s3://${bucket}/big/file.bin`, `s3://${bucket}/big/copy.bin`]);
      await aws(["s3", "cp", `s3://${bucket}/big/copy.bin`, join(work, "copy.out")]);
      expect(sha256(await readFile(join(work, "copy.out")))).toBe(sha256(data));
    });

    it("s3 rm --recursive empties a prefix", async () => {
      await aws(["s3", "rm", "--recursive", `s3://${bucket}/cp/`]);
      // `s3 ls` exits 1 when nothing matches; what matters is that nothing is listed.
      const empty = await run(
        path,
        ["--endpoint-url", env.server.url, "s3", "ls", "--recursive", `s3://${bucket}/cp/`],
        baseEnv,
      );
      expect(empty.stdout.trim()).toBe("");
      expect(empty.stderr.trim()).toBe("");
      expect(await aws(["s3", "ls", "--recursive", `s3://${bucket}/`])).toContain("sync/");
    });

    it("a wrong secret fails with SignatureDoesNotMatch; an unknown key with InvalidAccessKeyId", async () => {
      const badSecret = await run(path, ["--endpoint-url", env.server.url, "s3", "ls", `s3://${bucket}`], {
        ...baseEnv,
        AWS_SECRET_ACCESS_KEY: wrongSecret(env.creds.secretAccessKey),
        AWS_MAX_ATTEMPTS: "1",
      });
      expect(badSecret.code).not.toBe(0);
      expect(badSecret.stderr).toContain("SignatureDoesNotMatch");

      const unknown = await run(path, ["--endpoint-url", env.server.url, "s3", "ls", `s3://${bucket}`], {
        ...baseEnv,
        AWS_ACCESS_KEY_ID: "AKIDUNKNOWNUNKNOWN00",
        AWS_MAX_ATTEMPTS: "1",
      });
      expect(unknown.code).not.toBe(0);
      expect(unknown.stderr).toContain("InvalidAccessKeyId");
    });

    it("s3 rb --force removes the bucket and what is left in it", async () => {
      await aws(["s3", "rb", "--force", `s3://${bucket}`]);
      expect(await aws(["s3", "ls"])).not.toContain(bucket);
    });
  },
);
