/**
 * Durability: the server runs in a child process (bundled from the sources with esbuild, so no build
 * of the whole package is needed), takes concurrent single-PUT and multipart uploads, and is killed
 * with SIGKILL mid-way. After a restart on the same root every acknowledged object is there byte for
 * byte, nothing partial is visible, and no temp file is left. Two kill/restart rounds.
 */
import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { createCipheriv, createHash } from "node:crypto";
import { mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { createInterface } from "node:readline";
import {
  CompleteMultipartUploadCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
} from "@aws-sdk/client-s3";
import { build } from "esbuild";
import { afterAll, beforeAll, expect, test } from "vitest";
import { CREDS } from "./helpers.js";
import { waitFor } from "../helpers/wait.js";

const REPO = resolve(import.meta.dirname, "../..");
const BUCKET = "crash-test";
const MiB = 1024 * 1024;
let work: string;
let bundle: string;
let script: string;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), "fs-crash-"));
  bundle = join(work, "server.mjs");
  // libsql has a native addon: keep it external, imported by absolute path so the bundle runs from /tmp.
  const libsql = createRequire(join(REPO, "package.json")).resolve("libsql");
  await build({
    absWorkingDir: REPO,
    entryPoints: ["src/storage-server/index.ts"],
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20.19",
    outfile: bundle,
    logLevel: "silent",
    banner: {
      js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);",
    },
    plugins: [
      {
        name: "absolute-libsql",
        setup(b) {
          b.onResolve({ filter: /^libsql$/ }, () => ({ path: libsql, external: true }));
        },
      },
    ],
  });
  script = join(work, "child.mjs");
  await writeFile(
    script,
    `const { startStorageServer } = await import(process.argv[2]);
const server = await startStorageServer({ root: process.argv[3], credentials: [JSON.parse(process.argv[4])] });
process.stdout.write(JSON.stringify({ url: server.url }) + "\\n");
`,
  );
});

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

async function startChild(root: string): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, [script, bundle, root, JSON.stringify(CREDS)], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
  const line = await new Promise<string>((res, rej) => {
    const rl = createInterface({ input: child.stdout! });
    rl.once("line", res);
    child.once("exit", (code) => rej(new Error(`server exited (${code}): ${stderr}`)));
  });
  return { child, url: (JSON.parse(line) as { url: string }).url };
}

/** Deterministic bytes for a key (AES-CTR keystream), so any object can be re-derived for checking. */
function contentFor(key: string): Buffer {
  const seed = createHash("sha256").update(key).digest();
  const size = key.startsWith("mp/")
    ? 10 * MiB + (seed.readUInt16BE(0) % 1000)
    : seed.readUInt32BE(0) % (768 * 1024);
  const c = createCipheriv("aes-128-ctr", seed.subarray(0, 16), seed.subarray(16, 32));
  return Buffer.concat([c.update(Buffer.alloc(size)), c.final()]);
}

const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");

interface Load {
  acked: Set<string>;
  attempted: Set<string>;
  stop(): Promise<void>;
}

function startLoad(s3: S3Client, round: number): Load {
  const acked = new Set<string>();
  const attempted = new Set<string>();
  let running = true;
  const putWorker = async (w: number) => {
    for (let i = 0; running; i++) {
      const key = `r${round}/w${w}/${i}`;
      attempted.add(key);
      try {
        await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: contentFor(key) }));
        acked.add(key);
      } catch {
        return; // the server is gone
      }
    }
  };
  const mpuWorker = async () => {
    for (let i = 0; running; i++) {
      const key = `mp/r${round}/${i}`;
      attempted.add(key);
      const body = contentFor(key);
      try {
        const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: BUCKET, Key: key }));
        const p1 = await s3.send(
          new UploadPartCommand({
            Bucket: BUCKET,
            Key: key,
            UploadId,
            PartNumber: 1,
            Body: body.subarray(0, 5 * MiB),
          }),
        );
        const p2 = await s3.send(
          new UploadPartCommand({
            Bucket: BUCKET,
            Key: key,
            UploadId,
            PartNumber: 2,
            Body: body.subarray(5 * MiB),
          }),
        );
        await s3.send(
          new CompleteMultipartUploadCommand({
            Bucket: BUCKET,
            Key: key,
            UploadId,
            MultipartUpload: {
              Parts: [
                { PartNumber: 1, ETag: p1.ETag },
                { PartNumber: 2, ETag: p2.ETag },
              ],
            },
          }),
        );
        acked.add(key);
      } catch {
        return;
      }
    }
  };
  const workers = [...[0, 1, 2, 3].map(putWorker), mpuWorker()];
  return {
    acked,
    attempted,
    async stop() {
      running = false;
      await Promise.allSettled(workers);
    },
  };
}

async function listAll(s3: S3Client): Promise<string[]> {
  const keys: string[] = [];
  let token: string | undefined;
  do {
    const r = await s3.send(new ListObjectsV2Command({ Bucket: BUCKET, ContinuationToken: token }));
    keys.push(...(r.Contents ?? []).map((c) => c.Key!));
    token = r.NextContinuationToken;
  } while (token);
  return keys;
}

function client(url: string): S3Client {
  return new S3Client({ endpoint: url, region: "auto", credentials: CREDS, maxAttempts: 1 });
}

test(
  "kill -9 during concurrent uploads loses no acknowledged write and exposes no partial object",
  { timeout: 90_000 },
  async () => {
    const root = join(work, "root");
    let { child, url } = await startChild(root);
    let s3 = client(url);
    await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
    const acked = new Set<string>();
    const attempted = new Set<string>();

    for (let round = 0; round < 2; round++) {
      const load = startLoad(s3, round);
      // Let the load run until some multipart uploads and many PUTs are acknowledged, then SIGKILL.
      await waitFor(() => [...load.acked].some((k) => k.startsWith("mp/")) && load.acked.size >= 20, 50);
      child.kill("SIGKILL");
      await load.stop();
      s3.destroy();
      for (const k of load.acked) acked.add(k);
      for (const k of load.attempted) attempted.add(k);
      expect(load.acked.size).toBeGreaterThan(0);

      ({ child, url } = await startChild(root));
      s3 = client(url);
      // Temp files of interrupted uploads are gone after the restart.
      expect(await readdir(join(root, "tmp"))).toEqual([]);
      const listed = await listAll(s3);
      const listedSet = new Set(listed);
      const unacked = listed.filter((k) => !acked.has(k)).length;
      console.log(
        `round ${round}: ${load.acked.size} acknowledged, ${load.attempted.size - load.acked.size} in flight at the kill, ${unacked} committed-but-unacknowledged visible (complete)`,
      );
      for (const k of acked) expect(listedSet.has(k), `acknowledged ${k} survived`).toBe(true);
      for (const k of listed) {
        expect(attempted.has(k), `${k} was written by the test`).toBe(true);
        const r = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: k }));
        const got = Buffer.from(await r.Body!.transformToByteArray());
        expect(sha(got), `${k} is complete and intact`).toBe(sha(contentFor(k)));
      }
    }
    s3.destroy();
    child.kill("SIGTERM");
    await new Promise((r) => child.once("exit", r));
  },
);
