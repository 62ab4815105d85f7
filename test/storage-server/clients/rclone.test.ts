/**
 * rclone (provider "Other") against the embedded server, configured only through RCLONE_CONFIG_*
 * environment variables. rclone sends UNSIGNED-PAYLOAD with Content-MD5, lists with List v1, HEADs
 * after every upload and compares ETags with local MD5s (storage.md §5.2).
 */
import { randomBytes } from "node:crypto";
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { HeadObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  findOnPath,
  hashTree,
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

const rclone = findOnPath("rclone")[0];

describe.skipIf(rclone === undefined)("rclone", { timeout: CLIENT_TEST_TIMEOUT_MS }, () => {
  const bin = rclone ?? "rclone";
  let env: ClientEnv;
  let work: string;
  let bucket: string;
  let baseEnv: Record<string, string>;

  const rc = (args: readonly string[], overrides: Record<string, string> = {}): Promise<string> =>
    ok(bin, args, { ...baseEnv, ...overrides });

  beforeAll(async () => {
    env = await startClientEnv();
    work = join(env.dir, "rclone");
    await mkdir(work, { recursive: true });
    bucket = uniqueBucket("rclone");
    baseEnv = {
      HOME: join(env.dir, "home"),
      // An empty config file: the remote comes entirely from the environment.
      RCLONE_CONFIG: join(env.dir, "rclone.conf"),
      RCLONE_CONFIG_FS_TYPE: "s3",
      RCLONE_CONFIG_FS_PROVIDER: "Other",
      RCLONE_CONFIG_FS_ACCESS_KEY_ID: env.creds.accessKeyId,
      RCLONE_CONFIG_FS_SECRET_ACCESS_KEY: env.creds.secretAccessKey,
      RCLONE_CONFIG_FS_ENDPOINT: env.server.url,
      RCLONE_CONFIG_FS_REGION: "us-east-1",
      RCLONE_CONFIG_FS_FORCE_PATH_STYLE: "true",
      // Fail fast instead of rclone's default 3 × 10 low-level retries.
      RCLONE_RETRIES: "1",
      RCLONE_LOW_LEVEL_RETRIES: "1",
    };
    await writeFile(baseEnv.RCLONE_CONFIG ?? "", "");
    await rc(["mkdir", `fs:${bucket}`]);
  });

  afterAll(async () => {
    await env?.close();
  });

  it("lsd shows the bucket created by mkdir", async () => {
    expect(await rc(["lsd", "fs:"])).toMatch(new RegExp(`\\s${bucket}\\n`));
  });

  it("copy up and down round-trips awkward keys byte for byte; check agrees on MD5s", async () => {
    const src = join(work, "copy-src");
    const expected = await writeTree(src);
    await rc(["copy", src, `fs:${bucket}/copy`]);
    // `check` compares sizes and MD5 hashes (our ETags) of every file on both sides.
    await rc(["check", src, `fs:${bucket}/copy`]);
    const dst = join(work, "copy-dst");
    await rc(["copy", `fs:${bucket}/copy`, dst]);
    expect(sortedEntries(await hashTree(dst))).toEqual(sortedEntries(expected));
  });

  it("sync mirrors additions, changes and deletions", async () => {
    const src = join(work, "sync-src");
    await writeTree(src);
    await rc(["sync", src, `fs:${bucket}/sync`]);
    await rm(join(src, "a b+c.txt"));
    await writeFile(join(src, "plain.bin"), randomBytes(54_321));
    await writeFile(join(src, "dir", "added (2).txt"), randomBytes(99));
    await rc(["sync", src, `fs:${bucket}/sync`]);
    await rc(["check", src, `fs:${bucket}/sync`]);

    const listed = (await rc(["lsf", "-R", "--files-only", `fs:${bucket}/sync`])).trim().split("\n").sort();
    expect(listed).toEqual([...(await hashTree(src)).keys()].sort());

    const dst = join(work, "sync-dst");
    await rc(["sync", `fs:${bucket}/sync`, dst]);
    expect(sortedEntries(await hashTree(dst))).toEqual(sortedEntries(await hashTree(src)));
  });

  it("multipart upload (12 MiB with 5 MiB chunks) and cat of the result", async () => {
    const data = randomBytes(12 * 1024 * 1024 + 7);
    const src = join(work, "big");
    await mkdir(src, { recursive: true });
    await writeFile(join(src, "big.bin"), data);
    await rc(["copy", "--s3-upload-cutoff", "5M", "--s3-chunk-size", "5M", src, `fs:${bucket}/big`]);
    // Independent look at what the server stored: three parts, S3's multipart ETag shape.
    const s3 = new S3Client({ endpoint: env.server.url, region: "auto", credentials: env.creds });
    const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: "big/big.bin" }));
    s3.destroy();
    expect(head.ETag).toMatch(/^"[0-9a-f]{32}-3"$/);
    expect(head.ContentLength).toBe(data.length);
    const out = join(work, "big.out");
    await rc(["copyto", `fs:${bucket}/big/big.bin`, out]);
    expect(sha256(await readFile(out))).toBe(sha256(data));
    expect((await rc(["size", "--json", `fs:${bucket}/big`])).replace(/\s/g, "")).toContain(
      `"bytes":${data.length}`,
    );
  });

  it("a wrong secret fails with SignatureDoesNotMatch", async () => {
    const r = await run(bin, ["lsd", `fs:${bucket}`], {
      ...baseEnv,
      RCLONE_CONFIG_FS_SECRET_ACCESS_KEY: wrongSecret(env.creds.secretAccessKey),
    });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("SignatureDoesNotMatch");
  });

  it("purge removes the bucket and everything in it", async () => {
    await rc(["purge", `fs:${bucket}`]);
    expect(await rc(["lsd", "fs:"])).not.toContain(bucket);
  });
});
