/**
 * DESIGN.md §5.3 for every operation: a kill -9 at any failpoint, then the next command (`list`),
 * ends exactly where the uninterrupted operation ends — or, for a create killed before its commit
 * point and for a change killed before its first write, exactly where it started. One case per
 * (operation, failpoint), each compared on everything a user or their app can see: manifests (and so
 * the parent of each env), `.current-env`, `.env.local`, every file the project holds, the rows of
 * each SQLite database, every bucket and object in the store, the secrets files, the local-state
 * directories, and the journal. A registered failpoint without a case here fails the table.
 *
 * Speed on two loaded cores: the starting project is built once; each case runs on a fresh copy of it
 * (store included) at the same path, with one in-process storage server on one port, reopened on the
 * copy, instead of a daemon per case.
 */
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import {
  GetObjectCommand,
  ListBucketsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LIFECYCLE_FAILPOINTS, PROVIDER_FAILPOINTS, type CrashOperation } from "../../src/core/failpoints.js";
import { loadOrCreateCredentials } from "../../src/storage-server/auth/credentials.js";
import { startStorageServer, type StorageServer } from "../../src/storage-server/index.js";
import { REPO, cli, runCli, runProcess, tempProject } from "../helpers/project.js";

/** What each operation is, from the start below: alice current, bob forked from alice, tmp expired, ghost's manifest gone. */
const COMMANDS: Record<CrashOperation, string[]> = {
  new: ["new", "carol", "--from", "alice"],
  delete: ["delete", "alice", "--yes"],
  reset: ["reset", "alice"],
  switch: ["switch", "bob"],
  gc: ["gc", "--yes"],
  "secrets set": ["secrets", "set", "NEW_KEY=new-value"],
};

/**
 * Where a kill must end, after the next command: `done` = as the uninterrupted operation, `start` = as
 * before it (a create not past its `ready` manifest is rolled back; a secrets change not yet written
 * never happened). A spec `a=throw,b` fails a step at `a`, then dies at `b`.
 */
const TABLE: [CrashOperation, string, "done" | "start"][] = [
  ["new", "create:after-journal", "start"],
  ["new", "create:after-record", "start"],
  ["new", "step:database", "start"],
  ["new", "step:storage", "start"],
  ["new", "step:secrets", "start"],
  ["new", "step:local", "start"],
  ["new", "fork:after-steps", "start"],
  ["new", "step:local=throw,rollback:before", "start"],
  ["new", "create:before-ready", "start"],
  ["new", "create:after-ready", "done"],
  ["new", "switch:after-current-env", "done"],
  ["new", "create:after-switch", "done"],
  ["delete", "delete:after-journal", "done"],
  ["delete", "delete:after-reparent", "done"],
  ["delete", "delete:after-remove", "done"],
  ["delete", "delete:after-forget", "done"],
  ["delete", "delete:after-env-local", "done"],
  ["delete", "delete:after-current-env", "done"],
  ["reset", "reset:after-journal", "done"],
  ["reset", "reset:after-mark", "done"],
  ["reset", "reset:after-remove", "done"],
  ["reset", "step:database", "done"],
  ["reset", "step:storage", "done"],
  ["reset", "step:secrets", "done"],
  ["reset", "step:local", "done"],
  ["reset", "fork:after-steps", "done"],
  // The failed step is a backend's passing trouble: repair forks again, as the user asked.
  ["reset", "step:local=throw,rollback:before", "done"],
  ["reset", "reset:before-ready", "done"],
  ["reset", "reset:after-ready", "done"],
  ["switch", "switch:after-current-env", "done"],
  ["gc", "gc:after-journal", "done"],
  ["gc", "delete:after-journal", "done"],
  ["gc", "delete:after-reparent", "done"],
  ["gc", "delete:after-remove", "done"],
  ["gc", "delete:after-forget", "done"],
  ["gc", "gc:after-expired", "done"],
  ["gc", "gc:after-orphans", "done"],
  ["secrets set", "secrets:before-write", "start"],
  ["secrets set", "secrets:after-write", "done"],
];

/** The point a spec dies at: its one item without an action. */
function killPoint(spec: string): string {
  return spec.split(",").find((item) => !item.includes("="))!;
}

const CONFIG = (port: number) => ({
  project: "myapp",
  database: { provider: "sqlite" },
  storage: { provider: "local", port },
  secrets: { provider: "dotenv" },
  local: { provider: "directory" },
});

let work: string; // holds the two below
let app: string; // where every case runs
let start: string; // the prepared starting project, copied to `app` before each case
let port: number;
let server: StorageServer | undefined;
let s3: S3Client;

/** A port in 20000–29999 (forkstack's stable range: no outgoing connection takes it) that is free now. */
async function stablePort(): Promise<number> {
  for (;;) {
    const candidate = 20_000 + Math.floor(Math.random() * 10_000);
    const free = await new Promise<boolean>((resolve) => {
      const probe = createServer();
      probe.once("error", () => resolve(false));
      probe.listen(candidate, "127.0.0.1", () => probe.close(() => resolve(true)));
    });
    if (free) return candidate;
  }
}

async function openStore(): Promise<void> {
  const credentials = await loadOrCreateCredentials(join(app, ".forkstack/storage/credentials.json"));
  server = await startStorageServer({
    root: join(app, ".forkstack/storage/data"),
    port,
    credentials: [credentials],
  });
  s3?.destroy();
  s3 = new S3Client({ endpoint: server.url, region: "auto", credentials, forcePathStyle: true });
}

async function closeStore(): Promise<void> {
  await server?.close();
  server = undefined;
}

/** A fresh copy of the starting project at `app`, its store served on `port`. */
async function restore(): Promise<void> {
  await closeStore();
  await rm(app, { recursive: true, force: true });
  const copied = spawnSync("cp", ["-a", start, app]);
  expect(copied.status, copied.stderr.toString()).toBe(0);
  await openStore();
}

const SQLITE_DUMP = `
import Database from "libsql";
const out = {};
for (const [path, queries] of JSON.parse(process.argv[1])) {
  const db = new Database(path, { readonly: true });
  // No queries: every table, each in rowid order.
  const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").all();
  const asked = queries ?? Object.fromEntries(tables.map(({ name }) => [name, \`SELECT * FROM "\${name}" ORDER BY rowid\`]));
  out[path] = Object.fromEntries(Object.entries(asked).map(([name, sql]) => [name, db.prepare(sql).all()]));
  db.close();
}
console.log(JSON.stringify(out));
`;

/** Rows of SQLite files, read by a short-lived process: forkstack refuses to change a database a process holds open. */
async function dumpSqlite(
  files: [string, Record<string, string> | null][],
): Promise<Record<string, Record<string, unknown[]>>> {
  const result = await runProcess(
    process.execPath,
    ["--input-type=module", "-e", SQLITE_DUMP, JSON.stringify(files)],
    { cwd: REPO },
  );
  expect(result.code, result.stderr).toBe(0);
  return JSON.parse(result.stdout) as Record<string, Record<string, unknown[]>>;
}

/** Every path under `dir` (relative), but the store's, the config cache's and the state database's own files. */
function filesUnder(dir: string): string[] {
  const skip = new Set([".forkstack/storage", ".forkstack/cache", ".forkstack/project.json"]);
  const out: string[] = [];
  const walk = (at: string) => {
    for (const name of readdirSync(at).sort()) {
      const path = join(at, name);
      const rel = relative(dir, path);
      if (skip.has(rel) || rel.startsWith(".forkstack/state.db")) continue;
      out.push(statSync(path).isDirectory() ? `${rel}/` : rel);
      if (statSync(path).isDirectory()) walk(path);
    }
  };
  walk(dir);
  return out;
}

const read = (path: string) => (existsSync(path) ? readFileSync(path, "utf8") : null);

/** A manifest without what legitimately differs between two runs: when it was made, bytes a fork added. */
function normalised(text: string): unknown {
  const manifest = JSON.parse(text) as {
    createdAt?: string;
    resources: Record<string, Record<string, unknown>>;
  };
  delete manifest.createdAt;
  for (const resource of Object.values(manifest.resources)) delete resource.bytesAdded;
  return manifest;
}

async function bucketsNow(): Promise<Record<string, Record<string, string>>> {
  const out: Record<string, Record<string, string>> = {};
  const { Buckets = [] } = await s3.send(new ListBucketsCommand({}));
  for (const { Name } of Buckets) {
    const objects: Record<string, string> = {};
    const { Contents = [] } = await s3.send(new ListObjectsV2Command({ Bucket: Name! }));
    for (const { Key } of Contents) {
      const got = await s3.send(new GetObjectCommand({ Bucket: Name!, Key: Key! }));
      objects[Key!] = await got.Body!.transformToString();
    }
    out[Name!] = objects;
  }
  return out;
}

async function snapshot() {
  const files = filesUnder(app);
  const envs = files.filter((f) => /^\.forkstack\/envs\/[^/]+\/$/.test(f)).map((f) => f.split("/")[2]!);
  const manifests: Record<string, unknown> = {};
  const parents: Record<string, string | null> = {};
  const secrets: Record<string, string | null> = {};
  for (const env of envs) {
    const text = read(join(app, ".forkstack/envs", env, "manifest.json"));
    if (text !== null) {
      manifests[env] = normalised(text);
      parents[env] = (JSON.parse(text) as { parent: string | null }).parent;
    }
    secrets[env] = read(join(app, ".forkstack/envs", env, "secrets.env"));
  }
  const databases = files.filter((f) => f.endsWith("/db.sqlite"));
  const dumped = await dumpSqlite([
    ...databases.map((f): [string, null] => [join(app, f), null]),
    [
      join(app, ".forkstack/state.db"),
      {
        journal: "SELECT env, op, parent, last_error FROM journal ORDER BY env",
        steps: "SELECT env, kind, state FROM steps ORDER BY env, kind",
      },
    ],
  ]);
  const local: Record<string, Record<string, string | null>> = {};
  for (const dir of files.filter((f) => /^myapp\.[^/]+\.db\/$/.test(f))) {
    local[dir] = Object.fromEntries(
      readdirSync(join(app, dir))
        .sort()
        .map((name) => [name, read(join(app, dir, name))]),
    );
  }
  return {
    files,
    manifests,
    parents,
    currentEnv: read(join(app, ".current-env")),
    envLocal: read(join(app, ".env.local")),
    databases: Object.fromEntries(databases.map((f) => [f, dumped[join(app, f)]])),
    state: dumped[join(app, ".forkstack/state.db")],
    secrets,
    local,
    buckets: await bucketsNow(),
  };
}

type Snapshot = Awaited<ReturnType<typeof snapshot>>;

/** The storage keys the start's envs hold: a reset keeps its env's key, so these must stay as they are. */
const startKeys = new Set<string>();

function storageKeysOf(manifest: unknown): { id?: string; secret?: string } {
  const storage = (
    manifest as {
      resources?: Record<string, { vars?: Record<string, string>; secretVars?: Record<string, string> }>;
    }
  ).resources?.storage;
  return { id: storage?.vars?.AWS_ACCESS_KEY_ID, secret: storage?.secretVars?.AWS_SECRET_ACCESS_KEY };
}

/**
 * A key minted during the run is random, so two runs that end alike still differ in it: each minted
 * key (one the start did not hold) is named by its env instead. A start key stays as it is, so a run
 * that replaced a key it should have kept does not compare equal.
 */
function mintedKeysNamed(snap: Snapshot): Snapshot {
  let text = JSON.stringify(snap);
  for (const [env, manifest] of Object.entries(snap.manifests)) {
    const { id, secret } = storageKeysOf(manifest);
    if (id === undefined || startKeys.has(id)) continue;
    text = text.replaceAll(id, `<key minted for ${env}>`);
    if (secret !== undefined) text = text.replaceAll(secret, `<secret minted for ${env}>`);
  }
  return JSON.parse(text) as Snapshot;
}

/** Restore the start, run `args` (dying at `spec` if given), then the next command, and snapshot. */
async function endState(args: string[], spec?: string): Promise<Snapshot> {
  await restore();
  const run = await runCli(args, { cwd: app, env: spec ? { FORKSTACK_FAILPOINT: spec } : {} });
  if (spec) expect(run.signal, `${args.join(" ")} did not reach ${spec}:\n${run.stderr}`).toBe("SIGKILL");
  else expect(run.code, run.stderr).toBe(0);
  const next = await runCli(["list"], { cwd: app });
  expect(next.code, next.stderr).toBe(0);
  expect(next.stderr).not.toMatch(/Could not finish/);
  return mintedKeysNamed(await snapshot());
}

const expected = new Map<string, Promise<Snapshot>>();
function expectedEnd(op: CrashOperation | "start"): Promise<Snapshot> {
  let found = expected.get(op);
  if (!found) {
    // `start`: the next command alone, on the untouched start.
    found = op === "start" ? endState(["list"]) : endState(COMMANDS[op]);
    expected.set(op, found);
  }
  return found;
}

/** SQL against a file, from a short-lived process (as `forkstack run` would give an app). */
async function execSql(file: string, statements: string[]): Promise<void> {
  const script = `import Database from "libsql"; const db = new Database(process.argv[1]); for (const s of JSON.parse(process.argv[2])) db.exec(s); db.close();`;
  const result = await runProcess(
    process.execPath,
    ["--input-type=module", "-e", script, file, JSON.stringify(statements)],
    { cwd: REPO },
  );
  expect(result.code, result.stderr).toBe(0);
}

async function putFile(env: string, data: { row: string; object: string; file: string }): Promise<void> {
  await execSql(join(app, ".forkstack/envs", env, "db.sqlite"), [
    "CREATE TABLE IF NOT EXISTS items (name TEXT NOT NULL)",
    `INSERT INTO items (name) VALUES ('${data.row}')`,
  ]);
  await s3.send(
    new PutObjectCommand({
      Bucket: `myapp-bucket-${env}`,
      Key: data.object,
      Body: `${env}'s ${data.object}`,
    }),
  );
  await writeFile(join(app, `myapp.${env}.db`, data.file), `${env}'s ${data.file}\n`);
}

describe("crash table: a kill -9 anywhere, then the next command, ends where the operation ends", () => {
  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), "fs-crash-"));
    app = join(work, "app");
    start = join(work, "start");
    port = await stablePort();
    await mkdir(join(app, ".forkstack/storage"), { recursive: true });
    await writeFile(join(app, "forkstack.config.json"), JSON.stringify(CONFIG(port), null, 2));
    await openStore();
    const run = (args: string[]) => cli(args, { cwd: app });
    // dev, with data in every resource and a secret; the user's own line in .env.local.
    await run(["secrets", "set", "SHARED=from-dev", "--env", "dev"]);
    await putFile("dev", { row: "dev-row", object: "hello.txt", file: "note.txt" });
    await writeFile(join(app, ".env.local"), "MY_OWN='kept'\n");
    // alice forked from dev and current, with data of her own; bob forked from alice.
    await run(["new", "alice"]);
    await putFile("alice", { row: "alice-row", object: "alice.txt", file: "alice.txt" });
    await run(["secrets", "set", "ALICE_ONLY=yes"]);
    await run(["new", "bob", "--from", "alice", "--no-switch"]);
    // For gc: tmp's ttl has passed, ghost's manifest is gone (its resources are orphans).
    await run(["new", "tmp", "--no-switch", "--ttl", "1h"]);
    const tmpManifest = join(app, ".forkstack/envs/tmp/manifest.json");
    const tmp = JSON.parse(readFileSync(tmpManifest, "utf8")) as Record<string, unknown>;
    await writeFile(tmpManifest, JSON.stringify({ ...tmp, expiresAt: "2000-01-01T00:00:00.000Z" }, null, 2));
    await run(["new", "ghost", "--no-switch"]);
    await rm(join(app, ".forkstack/envs/ghost/manifest.json"));
    for (const env of readdirSync(join(app, ".forkstack/envs"))) {
      const text = read(join(app, ".forkstack/envs", env, "manifest.json"));
      const { id } = text === null ? {} : storageKeysOf(JSON.parse(text));
      if (id !== undefined) startKeys.add(id);
    }
    await closeStore();
    const copied = spawnSync("cp", ["-a", app, start]);
    expect(copied.status, copied.stderr.toString()).toBe(0);
  }, 300_000);

  afterAll(async () => {
    s3?.destroy();
    await closeStore();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it("has a case for every failpoint of every operation", () => {
    const registered = Object.entries(LIFECYCLE_FAILPOINTS).flatMap(([point, info]) =>
      info.ops.map((op) => `${op} × ${point}`),
    );
    const covered = TABLE.map(([op, spec]) => `${op} × ${killPoint(spec)}`);
    expect(new Set(covered).size, "a case is listed twice").toBe(covered.length);
    expect(covered.sort()).toEqual(registered.sort());
    // Each point is called in the source as registered (a point nobody calls would pass the check above).
    const calls = spawnSync("grep", ["-rhoE", 'failpoint\\(["`][^"`]+["`]\\)', join(REPO, "src")])
      .stdout.toString()
      .match(/failpoint\(.[^"`]+/g)!
      .map((call) => call.slice("failpoint(".length + 1));
    const kinds = ["database", "storage", "secrets", "local"];
    const called = new Set(
      calls.flatMap((name) => (name === "step:${provider.kind}" ? kinds.map((k) => `step:${k}`) : [name])),
    );
    for (const point of Object.keys(LIFECYCLE_FAILPOINTS)) expect(called, point).toContain(point);
    // The points inside one provider's step are proved by that provider's own crash test.
    for (const [point, { test }] of Object.entries(PROVIDER_FAILPOINTS)) {
      expect(readFileSync(join(REPO, test), "utf8"), `${test} uses ${point}`).toContain(
        point.replace(/<n>$/, ""),
      );
    }
  });

  it.each(Object.keys(COMMANDS) as CrashOperation[])(
    "`%s` uninterrupted changes the start (so each comparison below means something)",
    async (op) => {
      expect(await expectedEnd(op)).not.toEqual(await expectedEnd("start"));
    },
  );

  it.each(TABLE)("%s killed at %s ends as %s", async (op, spec, outcome) => {
    const after = await endState(COMMANDS[op], spec);
    expect(after).toEqual(await expectedEnd(outcome === "done" ? op : "start"));
  });
});

describe("crash repair of an entry an older version journaled", () => {
  it("a delete journaled without its parent or a plan (older state.db) still re-parents and moves the current env", async () => {
    const cwd = await tempProject();
    await cli(["new", "alice"], { cwd });
    await cli(["new", "bob", "--from", "alice", "--no-switch"], { cwd });
    // The journal as the previous release left it: no `plan` column, and a delete's parent not recorded,
    // from a process that died (a pid that exited).
    const dead = await runProcess(process.execPath, ["-e", "console.log(process.pid)"], { cwd });
    const stateDb = join(cwd, ".forkstack/state.db");
    await execSql(stateDb, [
      "ALTER TABLE journal DROP COLUMN plan",
      `INSERT INTO journal (env, op, parent, pid, started_at) VALUES ('alice', 'delete', NULL, ${dead.stdout.trim()}, '${new Date().toISOString()}')`,
    ]);

    const next = await runCli(["list", "--json"], { cwd });
    expect(next.code, next.stderr).toBe(0);
    expect(next.stderr).toMatch(
      /Repaired an interrupted `delete` of "alice": finished; dev is the current env now\./,
    );
    const envs = JSON.parse(next.stdout) as { name: string; parent: string | null; current: boolean }[];
    expect(envs.map((e) => [e.name, e.parent, e.current])).toEqual([
      ["bob", "dev", false],
      ["dev", null, true],
    ]);
    expect(existsSync(join(cwd, ".current-env"))).toBe(false);
    // The journal has its plan column again, and nothing pending.
    const columns = await dumpSqlite([
      [stateDb, { columns: "SELECT name FROM pragma_table_info('journal')", rows: "SELECT * FROM journal" }],
    ]);
    expect(columns[stateDb]!.columns).toContainEqual({ name: "plan" });
    expect(columns[stateDb]!.rows).toEqual([]);
  });
});

describe("crash repair of a switch with no .env.local yet", () => {
  it("a first switch killed after .current-env gets its .env.local from the next command", async () => {
    const cwd = await tempProject();
    await cli(["new", "alice", "--no-switch"], { cwd });
    expect(existsSync(join(cwd, ".env.local"))).toBe(false);
    const killed = await runCli(["switch", "alice"], {
      cwd,
      env: { FORKSTACK_FAILPOINT: "switch:after-current-env" },
    });
    expect(killed.signal).toBe("SIGKILL");
    expect(existsSync(join(cwd, ".env.local"))).toBe(false);

    const next = await runCli(["list"], { cwd });
    expect(next.code, next.stderr).toBe(0);
    expect(next.stderr).toMatch(/The current env is "alice" but \.env\.local had no forkstack block/);
    const envLocal = readFileSync(join(cwd, ".env.local"), "utf8");
    expect(envLocal).toMatch(/^FORKSTACK_ENV='alice'$/m);
    expect(envLocal).toContain(`DATABASE_URL='file:${join(cwd, ".forkstack/envs/alice/db.sqlite")}'`);
    // Once aligned, nothing more to say.
    expect((await runCli(["list"], { cwd })).stderr).not.toMatch(/\.env\.local/);
  });
});
