/**
 * s3cmd 2.x against the embedded server with a generated config file (SigV4, path-style, plain
 * HTTP). s3cmd signs payloads, uses List v1, PUTs buckets as `/b/`, sends Content-MD5 on
 * DeleteObjects and attaches `x-amz-meta-s3cmd-attrs` (storage.md §5.2).
 */
import { randomBytes } from "node:crypto";
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { HeadObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  findOnPath,
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

const s3cmd = findOnPath("s3cmd")[0];

function config(host: string, accessKey: string, secretKey: string): string {
  return [
    "[default]",
    `access_key = ${accessKey}`,
    `secret_key = ${secretKey}`,
    `host_base = ${host}`,
    // No %(bucket)s in host_bucket: path-style requests.
    `host_bucket = ${host}`,
    "use_https = False",
    "signature_v2 = False",
    "bucket_location = us-east-1",
    "check_ssl_certificate = False",
    "",
  ].join("\n");
}

describe.skipIf(s3cmd === undefined)("s3cmd", { timeout: CLIENT_TEST_TIMEOUT_MS }, () => {
  const bin = s3cmd ?? "s3cmd";
  let env: ClientEnv;
  let work: string;
  let bucket: string;
  let cfg: string;
  let baseEnv: Record<string, string>;

  const cmd = (args: readonly string[]): Promise<string> => ok(bin, ["-c", cfg, ...args], baseEnv);

  beforeAll(async () => {
    env = await startClientEnv();
    work = join(env.dir, "s3cmd");
    await mkdir(work, { recursive: true });
    bucket = uniqueBucket("s3cmd");
    cfg = join(env.dir, "s3cfg");
    const host = new URL(env.server.url).host;
    await writeFile(cfg, config(host, env.creds.accessKeyId, env.creds.secretAccessKey), { mode: 0o600 });
    baseEnv = { HOME: join(env.dir, "home") };
    await cmd(["mb", `s3://${bucket}`]);
  });

  afterAll(async () => {
    await env?.close();
  });

  it("ls shows the bucket created by mb", async () => {
    expect(await cmd(["ls"])).toContain(`s3://${bucket}`);
  });

  it("put and get round-trip a file with an awkward key byte for byte", async () => {
    const data = randomBytes(70_000);
    const file = join(work, "in.bin");
    await writeFile(file, data);
    const key = "put/ä b+c~(1).bin";
    await cmd(["put", file, `s3://${bucket}/${key}`]);
    const info = await cmd(["info", `s3://${bucket}/${key}`]);
    expect(info).toMatch(new RegExp(`MD5 sum:\\s+${md5(data)}`));
    await cmd(["get", "--force", `s3://${bucket}/${key}`, join(work, "out.bin")]);
    expect((await readFile(join(work, "out.bin"))).equals(data)).toBe(true);
  });

  it("sync up (with --delete-removed) and back down reproduces the tree", async () => {
    const src = join(work, "sync-src");
    await writeTree(src);
    await cmd(["sync", `${src}/`, `s3://${bucket}/sync/`]);
    await rm(join(src, "one.txt"));
    await writeFile(join(src, "plain.bin"), randomBytes(31_337));
    await writeFile(join(src, "new.txt"), randomBytes(500));
    await cmd(["sync", "--delete-removed", `${src}/`, `s3://${bucket}/sync/`]);

    const dst = join(work, "sync-dst");
    await mkdir(dst, { recursive: true });
    await cmd(["sync", `s3://${bucket}/sync/`, `${dst}/`]);
    expect(sortedEntries(await hashTree(dst))).toEqual(sortedEntries(await hashTree(src)));
  });

  it("multipart put (12 MiB with 5 MiB parts) and get", async () => {
    const data = randomBytes(12 * 1024 * 1024 + 3);
    const file = join(work, "big.bin");
    await writeFile(file, data);
    await cmd(["put", "--multipart-chunk-size-mb=5", file, `s3://${bucket}/big/big.bin`]);
    const listing = await cmd(["ls", `s3://${bucket}/big/`]);
    expect(listing).toContain(String(data.length));
    // Independent look at what the server stored: three parts, S3's multipart ETag shape.
    const s3 = new S3Client({ endpoint: env.server.url, region: "auto", credentials: env.creds });
    const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: "big/big.bin" }));
    s3.destroy();
    expect(head.ETag).toMatch(/^"[0-9a-f]{32}-3"$/);
    await cmd(["get", "--force", `s3://${bucket}/big/big.bin`, join(work, "big.out")]);
    expect(sha256(await readFile(join(work, "big.out")))).toBe(sha256(data));
  });

  it("del --recursive removes a prefix (DeleteObjects with Content-MD5)", async () => {
    await cmd(["del", "--recursive", "--force", `s3://${bucket}/sync/`]);
    expect(await cmd(["ls", "--recursive", `s3://${bucket}/`])).not.toContain("/sync/");
    expect(await cmd(["ls", "--recursive", `s3://${bucket}/`])).toContain("/big/big.bin");
  });

  it("a wrong secret fails with SignatureDoesNotMatch", async () => {
    const badCfg = join(env.dir, "s3cfg-bad");
    const host = new URL(env.server.url).host;
    await writeFile(badCfg, config(host, env.creds.accessKeyId, wrongSecret(env.creds.secretAccessKey)), {
      mode: 0o600,
    });
    const r = await run(bin, ["-c", badCfg, "ls", `s3://${bucket}`], baseEnv);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("SignatureDoesNotMatch");
  });

  it("rb --recursive removes the bucket", async () => {
    await cmd(["del", "--recursive", "--force", `s3://${bucket}/`]);
    await cmd(["rb", `s3://${bucket}`]);
    expect(await cmd(["ls"])).not.toContain(bucket);
  });
});
