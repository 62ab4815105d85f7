// Benchmark of copy forks (the `s3` and `r2` providers, docs/storage.md): a fork of a bucket of 1,000 and
// 10,000 objects against the embedded storage server, side by side with what a user would do by hand,
// `aws s3 sync s3://a s3://b`, on the same data and the same server.
//
// The server runs in its own process (the built `dist/storage-server/index.js`), and so does `aws`; the
// fork runs in this process through the `s3` provider (bundled from src/ by esbuild), timed from the
// call to `fork` to its return: HEAD of the parent, CreateBucket, listing, every copy. `aws s3 sync` is
// timed as a process, its start-up included, as a user sees it. Each size is measured `runs` times,
// the two alternating, and the medians reported. Objects are 4 KiB of random bytes each.
//
//   node bench/storage-copy.mjs [--quick]      # standalone: prints the markdown
//   npm run bench -- storage-copy              # through bench/run.mjs (README updated in place)
import { spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { pathToFileURL } from "node:url";
import { CreateBucketCommand, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { build } from "esbuild";

const ROOT = resolve(import.meta.dirname, "..");
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
const KEY = {
  accessKeyId: "FSBENCHCOPYKEY000001",
  secretAccessKey: "bench-copy-secret-0123456789abcdefghij",
};
const OBJECT_BYTES = 4096;
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const fmt = (n, digits = 0) => (Number.isFinite(n) ? n.toFixed(digits) : "–");

async function startServer(root) {
  const code = `import { startStorageServer } from ${JSON.stringify(pathToFileURL(join(ROOT, "dist/storage-server/index.js")).href)};
const server = await startStorageServer({ root: process.argv[1], port: 0, credentials: [${JSON.stringify(KEY)}] });
console.log(server.url);
process.stdin.resume();
process.stdin.on("end", () => server.close().then(() => process.exit(0)));`;
  const child = spawn(process.execPath, ["--input-type=module", "-e", code, root], {
    stdio: ["pipe", "pipe", "inherit"],
  });
  const url = await new Promise((done, fail) => {
    createInterface({ input: child.stdout }).once("line", done);
    child.once("exit", (c) => fail(new Error(`storage server exited (${c})`)));
  });
  return { url, stop: () => new Promise((done) => (child.once("exit", done), child.stdin.end())) };
}

/** The `s3` provider from src/, bundled for this process. */
async function loadS3Provider() {
  const outfile = join(ROOT, "node_modules/.cache/forkstack-bench/s3-provider.mjs");
  mkdirSync(resolve(outfile, ".."), { recursive: true });
  await build({
    entryPoints: [join(ROOT, "src/providers/storage/s3.ts")],
    outfile,
    bundle: true,
    platform: "node",
    format: "esm",
    packages: "external",
    logLevel: "silent",
  });
  return (await import(pathToFileURL(outfile).href)).default;
}

async function fill(s3, bucket, count, log) {
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  const keys = Array.from({ length: count }, (_, i) => `data/${String(i).padStart(6, "0")}.bin`);
  for (let i = 0; i < keys.length; i += 64) {
    await Promise.all(
      keys
        .slice(i, i + 64)
        .map((Key) =>
          s3.send(new PutObjectCommand({ Bucket: bucket, Key, Body: randomBytes(OBJECT_BYTES) })),
        ),
    );
  }
  log(`storage-copy: ${count} objects in ${bucket}`);
}

function awsSync(url, from, to) {
  const env = {
    ...process.env,
    AWS_ACCESS_KEY_ID: KEY.accessKeyId,
    AWS_SECRET_ACCESS_KEY: KEY.secretAccessKey,
    AWS_DEFAULT_REGION: "us-east-1",
  };
  delete env.AWS_CA_BUNDLE;
  const aws = (...args) => {
    const r = spawnSync("aws", ["--endpoint-url", url, ...args], { env, encoding: "utf8" });
    if (r.status !== 0) throw new Error(`aws ${args.join(" ")}: ${r.stderr}`);
  };
  aws("s3", "mb", `s3://${to}`);
  const started = performance.now();
  aws("s3", "sync", `s3://${from}`, `s3://${to}`, "--only-show-errors");
  return performance.now() - started;
}

export async function run({ quick = false, log = () => undefined } = {}) {
  const sizes = quick ? [1000] : [1000, 10_000];
  const runs = quick ? 1 : 3;
  const version = spawnSync("aws", ["--version"], { encoding: "utf8" });
  if (version.status !== 0) throw new Error("storage-copy needs the aws CLI on PATH");
  const awsVersion = (version.stdout || version.stderr).trim().split(" ")[0];
  const root = mkdtempSync(join(tmpdir(), "fs-bench-copy-"));
  const server = await startServer(join(root, "data"));
  const s3 = new S3Client({
    endpoint: server.url,
    region: "us-east-1",
    credentials: KEY,
    forcePathStyle: true,
    requestHandler: { httpAgent: { keepAlive: true, maxSockets: 64 } },
  });
  process.env.FSBENCH_KEY_ID = KEY.accessKeyId;
  process.env.FSBENCH_SECRET = KEY.secretAccessKey;
  const s3Provider = await loadS3Provider();
  const provider = s3Provider(
    {
      endpoint: server.url,
      region: "us-east-1",
      accessKeyIdEnv: "FSBENCH_KEY_ID",
      secretAccessKeyEnv: "FSBENCH_SECRET",
      sessionTokenEnv: "FSBENCH_NO_TOKEN",
      concurrency: 128,
      multipartThresholdBytes: 5 * 1024 ** 3,
      partSizeBytes: 512 * 1024 ** 2,
    },
    {
      project: "bench",
      projectRoot: root,
      dataDir: root,
      envDir: () => root,
      log: { debug() {}, info() {}, warn() {} },
    },
  );
  const op = { log: { debug() {}, info() {}, warn() {} } };
  const rows = [];
  try {
    for (const count of sizes) {
      const parent = `n${count}`;
      await fill(s3, `bench-bucket-${parent}`, count, log);
      const ours = [];
      const theirs = [];
      for (let i = 0; i < runs; i++) {
        const started = performance.now();
        const info = await provider.fork(
          { project: "bench", name: parent },
          { project: "bench", name: `${parent}-f${i}` },
          op,
        );
        ours.push(performance.now() - started);
        if (info.bytesAdded !== count * OBJECT_BYTES) throw new Error(`fork copied ${info.bytesAdded} bytes`);
        theirs.push(awsSync(server.url, `bench-bucket-${parent}`, `bench-aws-${parent}-${i}`));
        log(
          `storage-copy: ${count} objects, run ${i + 1}: forkstack ${fmt(ours.at(-1))} ms, aws s3 sync ${fmt(theirs.at(-1))} ms`,
        );
      }
      rows.push({ count, ours: median(ours), theirs: median(theirs) });
    }
  } finally {
    await provider.dispose?.();
    s3.destroy();
    await server.stop();
    rmSync(root, { recursive: true, force: true });
  }
  const line = (label, count, ms) => {
    const seconds = ms / 1000;
    return `| ${label} | ${count.toLocaleString("en-US")} | ${fmt(seconds, 2)} s | ${fmt(count / seconds)} | ${fmt((count * OBJECT_BYTES) / 1024 ** 2 / seconds, 1)} |`;
  };
  const table = [
    "| copy of a bucket | objects | time (median) | objects/s | MB/s |",
    "| --- | ---: | ---: | ---: | ---: |",
    ...rows.flatMap((r) => [
      line("forkstack `s3` provider fork", r.count, r.ours),
      line(`\`aws s3 sync\` (${awsVersion})`, r.count, r.theirs),
    ]),
  ];
  const targets = rows.map((r) => {
    const ratio = r.theirs / r.ours;
    return `- ${r.count.toLocaleString("en-US")} objects: ${fmt(ratio, 1)}× faster than \`aws s3 sync\` (target ≥ 2×): ${ratio >= 2 ? "**met**" : "**not met**"}`;
  });
  const markdown = [
    `_Objects of ${OBJECT_BYTES / 1024} KiB in one bucket of the embedded server (its own process); each fork and each sync copies the bucket into a new one, server-side. Medians of ${runs} alternating runs; \`aws\` timed as a process (start-up included), the fork from the call to its return._`,
    "",
    ...table,
    "",
    "**Targets**",
    "",
    ...targets,
  ].join("\n");
  return { markdown, rows };
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { markdown } = await run({
    quick: process.argv.includes("--quick"),
    log: (l) => process.stderr.write(`${l}\n`),
  });
  process.stdout.write(`${markdown}\n`);
}
