#!/usr/bin/env node
// The main job, shown on the embedded default: a throwaway project whose `dev` env holds a sizeable
// SQLite database and local files, forked into `alice` with the real CLI; then a write to the fork and
// proof that the parent is unchanged, with how long the fork took and how many bytes it added.
//
//   npm run demo                 # 200 MB database
//   npm run demo -- --mb 1000    # bigger
//   npm run demo -- --keep       # keep the project directory to poke at
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import Database from "libsql";
import {
  DeleteObjectCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from "@aws-sdk/client-s3";
import { mountReflinkFs } from "./reflink-fs.mjs";

// The demo plays the app (which talks S3 through the AWS SDK); the SDK's notice about its 2027
// releases needing Node 22 is not forkstack's and would bury the demo's output on Node 20.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";

const { values } = parseArgs({
  options: {
    mb: { type: "string", default: "200" },
    keep: { type: "boolean" },
    dir: { type: "string" },
    "no-reflink": { type: "boolean" },
  },
});
const BIN = resolve(import.meta.dirname, "../bin/forkstack.mjs");
// The demo's S3 client (the AWS SDK) warns that its 2027 releases need Node 22; not news for a demo.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = "true";
// Show the real thing where we can: a copy-on-write filesystem (as on a Mac's APFS or Linux's XFS/btrfs).
const reflink =
  values.dir || values["no-reflink"] || values.keep
    ? { dir: null, reason: "not asked for" }
    : mountReflinkFs({ sizeGb: 4 });
if (reflink.dir) console.log(`Running on a loop-mounted XFS filesystem with reflinks (${reflink.dir}).`);
else console.log(`Running on the working filesystem (no reflink filesystem: ${reflink.reason}).`);
const project = mkdtempSync(join(values.dir ?? reflink.dir ?? tmpdir(), "forkstack-demo-"));
const say = (text) => process.stdout.write(`\n\x1b[1m${text}\x1b[0m\n`);

function forkstack(args, { quiet = false } = {}) {
  if (!quiet) process.stdout.write(`$ forkstack ${args.join(" ")}\n`);
  const result = spawnSync(process.execPath, [BIN, ...args], {
    cwd: project,
    encoding: "utf8",
    stdio: ["ignore", "pipe", quiet ? "pipe" : "inherit"],
  });
  if (result.status !== 0) {
    process.stderr.write(result.stderr ?? "");
    throw new Error(`forkstack ${args.join(" ")} exited ${result.status}`);
  }
  return result.stdout;
}

const vars = (env) => JSON.parse(forkstack(["env", env, "--format", "json", "--reveal"], { quiet: true }));
/** An S3 client for an env's bucket, configured from its variables as an app would be. */
function bucketOf(v) {
  const s3 = new S3Client({
    endpoint: v.AWS_ENDPOINT_URL_S3,
    region: v.AWS_REGION,
    credentials: { accessKeyId: v.AWS_ACCESS_KEY_ID, secretAccessKey: v.AWS_SECRET_ACCESS_KEY },
    forcePathStyle: true,
  });
  const Bucket = v.BUCKET_NAME;
  return {
    name: Bucket,
    put: (Key, Body) => s3.send(new PutObjectCommand({ Bucket, Key, Body })),
    del: (Key) => s3.send(new DeleteObjectCommand({ Bucket, Key })),
    get: async (Key) => (await s3.send(new GetObjectCommand({ Bucket, Key }))).Body.transformToString(),
    async keys() {
      const keys = [];
      let ContinuationToken;
      do {
        const page = await s3.send(new ListObjectsV2Command({ Bucket, ContinuationToken }));
        keys.push(...(page.Contents ?? []).map((o) => o.Key));
        ContinuationToken = page.NextContinuationToken;
      } while (ContinuationToken);
      return keys;
    },
  };
}
const OBJECTS = 500;
const openDb = (url) => new Database(new URL(url).pathname);
const mb = (bytes) => `${(bytes / 1024 / 1024).toFixed(1)} MB`;

try {
  say(`1. A new project in ${project}`);
  writeFileSync(join(project, "package.json"), JSON.stringify({ name: "demo", private: true }));
  forkstack(["init", "--yes"]);

  const dev = vars("dev");
  const targetMb = Number(values.mb);
  say(`2. Seed dev: a ${targetMb} MB SQLite database, ${OBJECTS} objects in its bucket, local state files`);
  const db = openDb(dev.DATABASE_URL);
  db.exec("CREATE TABLE events (id INTEGER PRIMARY KEY, kind TEXT, payload BLOB)");
  const rows = Math.round((targetMb * 1024 * 1024) / 4200);
  db.exec(`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ${rows})
           INSERT INTO events (kind, payload) SELECT 'seed', randomblob(4096) FROM n`);
  db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
  const { size } = db
    .prepare("SELECT page_count * page_size AS size FROM pragma_page_count, pragma_page_size")
    .get();
  db.close();
  for (let i = 0; i < 10; i++)
    writeFileSync(join(dev.FORKSTACK_LOCAL_PATH, `chunk-${i}.bin`), Buffer.alloc(1024 * 1024, i));
  const devBucket = bucketOf(dev);
  for (let i = 0; i < OBJECTS; i += 50) {
    await Promise.all(
      Array.from({ length: 50 }, (_, j) =>
        devBucket.put(`photos/${String(i + j).padStart(4, "0")}.jpg`, `photo ${i + j} from dev`),
      ),
    );
  }
  console.log(
    `dev: ${rows.toLocaleString()} rows, database ${mb(size)}, ${OBJECTS} objects in ${devBucket.name}, ${readdirSync(dev.FORKSTACK_LOCAL_PATH).length} local files`,
  );

  say("3. Fork dev into alice");
  const started = performance.now();
  const summary = JSON.parse(forkstack(["new", "alice", "--json"]));
  const wall = performance.now() - started;
  const added = Object.values(summary.resources).reduce((sum, r) => sum + (r.bytesAdded ?? 0), 0);

  say("4. Write to the fork");
  const alice = vars("alice");
  const adb = openDb(alice.DATABASE_URL);
  adb.exec(
    "DELETE FROM events WHERE id % 2 = 0; INSERT INTO events (kind, payload) VALUES ('only-in-alice', x'00')",
  );
  const aliceCount = adb.prepare("SELECT count(*) AS n FROM events").get().n;
  adb.close();
  writeFileSync(join(alice.FORKSTACK_LOCAL_PATH, "chunk-0.bin"), "rewritten in alice");
  const aliceBucket = bucketOf(alice);
  await aliceBucket.put("photos/0001.jpg", "overwritten in alice");
  await aliceBucket.del("photos/0002.jpg");
  await aliceBucket.put("only-in-alice.txt", "hello");
  console.log(`alice: deleted every other row and added one: ${aliceCount.toLocaleString()} rows`);
  console.log(
    `alice: ${aliceBucket.name} overwrote one object, deleted one, added one: ${(await aliceBucket.keys()).length} objects`,
  );

  say("5. The parent is unchanged");
  const ddb = openDb(dev.DATABASE_URL);
  const devCount = ddb.prepare("SELECT count(*) AS n FROM events").get().n;
  const leaked = ddb.prepare("SELECT count(*) AS n FROM events WHERE kind = 'only-in-alice'").get().n;
  ddb.close();
  console.log(
    `dev: ${devCount.toLocaleString()} rows (was ${rows.toLocaleString()}), rows from alice: ${leaked}`,
  );
  const devKeys = await devBucket.keys();
  const photo1 = await devBucket.get("photos/0001.jpg");
  console.log(
    `dev: ${devBucket.name} has ${devKeys.length} objects, photos/0001.jpg is still "${photo1}", photos/0002.jpg ${devKeys.includes("photos/0002.jpg") ? "still there" : "GONE"}`,
  );
  if (
    devCount !== rows ||
    leaked !== 0 ||
    devKeys.length !== OBJECTS ||
    photo1 !== "photo 1 from dev" ||
    devKeys.includes("only-in-alice.txt")
  ) {
    throw new Error("the parent changed: isolation is broken");
  }
  process.stdout.write(forkstack(["list"]));

  say("Result");
  const methods = Object.entries(summary.resources)
    .map(([kind, r]) => `${kind}: ${r.method}`)
    .join(", ");
  // Three numbers, each named for what it timed: the forks themselves (they run side by side, so the
  // slowest is what waits), \`new\`'s own work around them (journal, locks, manifests), and the process.
  const [slowKind, slow] = Object.entries(summary.resources).reduce((a, b) =>
    (b[1].ms ?? 0) > (a[1].ms ?? 0) ? b : a,
  );
  console.log(
    `Forked a ${mb(size)} database, a ${OBJECTS}-object bucket and local state: \`forkstack new\` was ready in ${summary.ms.toFixed(0)} ms ` +
      `(the forks ran side by side, the slowest, ${slowKind}, in ${(slow.ms ?? 0).toFixed(0)} ms); ` +
      `the whole process, Node's start included, took ${wall.toFixed(0)} ms.`,
  );
  console.log(`Bytes added on disk by the fork: ${added.toLocaleString()} (${methods}).`);
  if (summary.resources.database?.method === "copy") {
    console.log(
      "This filesystem has no reflinks, so files were copied; on XFS, btrfs, APFS or ZFS ≥ 2.2 the fork is copy-on-write (see `npm run bench`).",
    );
  }
} finally {
  // init started the project's storage server in the background; a kept project keeps it running.
  if (!values.keep) spawnSync(process.execPath, [BIN, "down"], { cwd: project, stdio: "ignore" });
  if (values.keep) console.log(`\nKept ${project}  (its storage server runs; \`forkstack down\` stops it)`);
  else rmSync(project, { recursive: true, force: true });
  reflink.cleanup?.();
}
