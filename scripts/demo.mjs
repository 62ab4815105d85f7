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
import { mountReflinkFs } from "./reflink-fs.mjs";

const { values } = parseArgs({
  options: {
    mb: { type: "string", default: "200" },
    keep: { type: "boolean" },
    dir: { type: "string" },
    "no-reflink": { type: "boolean" },
  },
});
const BIN = resolve(import.meta.dirname, "../bin/forkstack.mjs");
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

const vars = (env) => JSON.parse(forkstack(["env", env, "--format", "json"], { quiet: true }));
const openDb = (url) => new Database(new URL(url).pathname);
const mb = (bytes) => `${(bytes / 1024 / 1024).toFixed(1)} MB`;

try {
  say(`1. A new project in ${project}`);
  writeFileSync(join(project, "package.json"), JSON.stringify({ name: "demo", private: true }));
  forkstack(["init", "--yes"]);

  const dev = vars("dev");
  const targetMb = Number(values.mb);
  say(`2. Seed dev: a ${targetMb} MB SQLite database and local state files`);
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
  console.log(
    `dev: ${rows.toLocaleString()} rows, database ${mb(size)}, ${readdirSync(dev.FORKSTACK_LOCAL_PATH).length} local files`,
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
  console.log(`alice: deleted every other row and added one: ${aliceCount.toLocaleString()} rows`);

  say("5. The parent is unchanged");
  const ddb = openDb(dev.DATABASE_URL);
  const devCount = ddb.prepare("SELECT count(*) AS n FROM events").get().n;
  const leaked = ddb.prepare("SELECT count(*) AS n FROM events WHERE kind = 'only-in-alice'").get().n;
  ddb.close();
  console.log(
    `dev: ${devCount.toLocaleString()} rows (was ${rows.toLocaleString()}), rows from alice: ${leaked}`,
  );
  if (devCount !== rows || leaked !== 0) throw new Error("the parent changed: isolation is broken");
  process.stdout.write(forkstack(["list"]));

  say("Result");
  const methods = Object.entries(summary.resources)
    .map(([kind, r]) => `${kind}: ${r.method}`)
    .join(", ");
  console.log(
    `Forked a ${mb(size)} database + local state in ${summary.ms.toFixed(0)} ms (${wall.toFixed(0)} ms for the whole \`forkstack new\` process).`,
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
