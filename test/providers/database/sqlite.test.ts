import { createClient } from "@libsql/client";
import type { InValue } from "@libsql/client";
import { execFileSync, spawn } from "node:child_process";
import type { ChildProcessWithoutNullStreams } from "node:child_process";
import { once } from "node:events";
import { copyFile, mkdir, readdir, rm, stat, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { flushNotice } from "../../../src/providers/_internal/clone.js";
import sqlite from "../../../src/providers/database/sqlite.js";
import { optionsSchema } from "../../../src/providers/database/sqlite.options.js";
import type { ResourceInfo } from "../../../src/providers/types.js";
import { bundleForChild, coreDriver, makeReadOnly, mountReflinkFs, tempProject } from "../_helpers.js";
import type { ReflinkFs } from "../_helpers.js";
import { databaseSuite, expectProviderError } from "../../../src/testing/index.js";
import type { DatabaseSuiteContext, Row } from "../../../src/testing/index.js";
import { testClock } from "../../helpers/clock.js";
import { waitFor } from "../../helpers/wait.js";

const fixtures = join(dirname(fileURLToPath(import.meta.url)), "_fixtures");

/** Run SQL the way an app would: @libsql/client on the env's DATABASE_URL. */
async function exec(info: ResourceInfo, sql: string, args: unknown[] = []): Promise<Row[]> {
  const client = createClient({ url: info.vars.DATABASE_URL! });
  try {
    const result = await client.execute({ sql, args: args as InValue[] });
    return result.rows.map((row) => Object.fromEntries(result.columns.map((c, i) => [c, row[i]])));
  } finally {
    client.close();
  }
}

/** The suite's hook: the same client, given only the URL the app would get (a local file has no token). */
const query = (url: string, _authToken: string | undefined, sql: string): Promise<Row[]> =>
  exec({ location: url, vars: { DATABASE_URL: url } }, sql);

async function scalar(info: ResourceInfo, sql: string): Promise<unknown> {
  const [row] = await exec(info, sql);
  return row ? Object.values(row)[0] : undefined;
}

/** Fill an env's database with `mb` megabytes of random rows, fast (one transaction, 1 MB blobs). */
async function fill(info: ResourceInfo, mb: number): Promise<void> {
  await exec(info, "CREATE TABLE big (id INTEGER PRIMARY KEY, data BLOB)");
  await exec(
    info,
    `WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < ${mb})
     INSERT INTO big (data) SELECT randomblob(1048576) FROM c`,
  );
}

function spawnFixture(script: string, args: string[]): ChildProcessWithoutNullStreams {
  return spawn(process.execPath, [join(fixtures, script), ...args], { stdio: "pipe" });
}

/** Resolve when the child prints `line`; reject if it exits first. */
function waitForLine(child: ChildProcessWithoutNullStreams, line: string): Promise<void> {
  return new Promise((resolve, reject) => {
    let buffer = "";
    let stderr = "";
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    child.stdout.on("data", (chunk: Buffer) => {
      buffer += chunk.toString();
      if (buffer.split("\n").includes(line)) resolve();
    });
    child.on("exit", (code) => reject(new Error(`${child.spawnargs[1]} exited (${code}) early: ${stderr}`)));
  });
}

/** Files in an env's directory, to check that a failed call left nothing behind. */
const filesIn = (ctx: DatabaseSuiteContext, env: string) =>
  readdir(ctx.project.context.envDir(env)).catch(() => [] as string[]);

describe("providers: database/sqlite", () => {
  databaseSuite({
    provider: (project) => sqlite({}, project.context),
    dialect: "sqlite",
    query,
    additionalTests(ctx) {
      it("creates WAL databases that @libsql/client opens at DATABASE_URL, and forks keep the journal mode", async () => {
        const dev = await ctx.core.create("dev");
        expect(dev.vars.DATABASE_URL).toMatch(/^file:\//);
        expect(dev.vars.DATABASE_URL).toContain("%20"); // the project path has a space
        expect(await scalar(dev, "PRAGMA journal_mode")).toBe("wal");
        expect(dev.location).toBe(join(ctx.project.context.envDir("dev"), "db.sqlite"));
        // A database switched to rollback-journal mode (as the first connection: @libsql/client keeps
        // connections open until they are garbage-collected, and the switch needs the file to itself).
        const old = await ctx.core.create("old");
        expect(await scalar(old, "PRAGMA journal_mode=DELETE")).toBe("delete");
        const child = await ctx.core.fork("old", "alice");
        expect(await scalar(child, "PRAGMA journal_mode")).toBe("delete");
        expect(child.method).toBe(ctx.provider.flags.copyOnWrite ? "reflink" : "copy");
      });

      it("reports bytes and bytesAdded", async () => {
        const dev = await ctx.core.create("dev");
        await fill(dev, 4);
        const child = await ctx.core.fork("dev", "alice");
        expect(child.bytes).toBeGreaterThan(4 * 1024 * 1024);
        // On a filesystem without reflinks a fork writes a full copy and says so.
        if (child.method === "copy") expect(child.bytesAdded).toBeGreaterThanOrEqual(child.bytes!);
      });

      it("a fork of a parent in the middle of a crashed transaction gets the last committed state", async () => {
        const dev = await ctx.core.create("dev");
        await exec(dev, "PRAGMA journal_mode=DELETE");
        await exec(dev, "CREATE TABLE t (n INTEGER PRIMARY KEY, pad BLOB)");
        await exec(
          dev,
          "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 500) INSERT INTO t SELECT x, randomblob(3000) FROM c",
        );
        const crasher = spawnFixture("crash-mid-transaction.mjs", [dev.location]);
        await waitForLine(crasher, "spilled");
        crasher.kill("SIGKILL");
        await once(crasher, "exit");
        expect(await filesIn(ctx, "dev")).toContain("db.sqlite-journal"); // a hot journal

        const child = await ctx.core.fork("dev", "alice");
        expect(await scalar(child, "PRAGMA integrity_check")).toBe("ok");
        expect(await exec(child, "SELECT count(*) AS c, min(n) AS lo, max(n) AS hi FROM t")).toEqual([
          { c: 500, lo: 1, hi: 500 },
        ]);
        expect(await filesIn(ctx, "alice")).toEqual(["db.sqlite"]);
      });

      it("a fork includes commits that only the parent's WAL holds", async () => {
        const dev = await ctx.core.create("dev");
        await exec(dev, "CREATE TABLE t (x)");
        // A reader on an old snapshot stops any checkpoint from moving later commits into the db file.
        const reader = createClient({ url: dev.vars.DATABASE_URL! });
        const snapshot = await reader.transaction("read");
        expect(await snapshot.execute("SELECT count(*) AS c FROM t")).toMatchObject({ rows: [{ c: 0 }] });
        await exec(dev, "INSERT INTO t VALUES ('only in the WAL')");
        const child = await ctx.core.fork("dev", "alice");
        snapshot.close();
        reader.close();
        expect(await exec(child, "SELECT x FROM t")).toEqual([{ x: "only in the WAL" }]);
        expect(await scalar(child, "PRAGMA integrity_check")).toBe("ok");
      });

      it("a parent locked for longer than busyTimeoutMs is refused, leaving nothing behind", async () => {
        // The provider waits on a test clock: its pauses are counted, the timeout is on that clock.
        const clock = testClock();
        const provider = sqlite({ busyTimeoutMs: 300 }, { ...ctx.project.context, clock });
        const core = coreDriver(provider, ctx.project);
        const dev = await core.create("dev");
        await exec(dev, "CREATE TABLE t (x)");
        const holder = createClient({ url: dev.vars.DATABASE_URL! });
        const tx = await holder.transaction("write");
        await tx.execute("INSERT INTO t VALUES (1)");
        const started = clock.now();
        const error = await expectProviderError(core.fork("dev", "alice"), provider, "E_ENV_BUSY");
        // It tried again and again until busyTimeoutMs had passed on its clock, then gave up.
        expect(clock.sleeps.length).toBeGreaterThan(1);
        expect(clock.now() - started).toBeGreaterThanOrEqual(300);
        expect(error.message).toContain('"dev"');
        expect(error.hint).toContain("busyTimeoutMs");
        await tx.commit();
        holder.close();
        expect(await filesIn(ctx, "alice")).toEqual([]);
        expect(await core.describe("alice")).toBeNull();
        await core.fork("dev", "alice");
      });

      it("a fork aborted while it waits for the parent's lock stops and leaves nothing", async () => {
        const dev = await ctx.core.create("dev");
        await exec(dev, "CREATE TABLE t (x)");
        const holder = createClient({ url: dev.vars.DATABASE_URL! });
        const tx = await holder.transaction("write");
        await tx.execute("INSERT INTO t VALUES (1)");
        await mkdir(ctx.project.context.envDir("alice"), { recursive: true });
        const controller = new AbortController();
        // Aborted while it waits: on its first pause between attempts at the lock, not after a delay.
        const clock = testClock({ onSleep: () => controller.abort() });
        const provider = sqlite({ busyTimeoutMs: 600_000 }, { ...ctx.project.context, clock });
        const forking = provider.fork(ctx.core.env("dev"), ctx.core.env("alice"), {
          ...ctx.project.op,
          signal: controller.signal,
        });
        await expect(forking).rejects.toMatchObject({ name: "AbortError" });
        expect(clock.sleeps).toHaveLength(1);
        await tx.commit();
        holder.close();
        expect(await filesIn(ctx, "alice")).toEqual([]);
        expect(await scalar(dev, "SELECT count(*) FROM t")).toBe(1);
      });

      it("an unwritable child directory gives a clear error, leaves nothing and releases the parent", async (test) => {
        const dev = await ctx.core.create("dev");
        await exec(dev, "CREATE TABLE t (x)");
        const dir = ctx.project.context.envDir("alice");
        await mkdir(dir, { recursive: true });
        const restore = await makeReadOnly(dir);
        if (!restore) return test.skip("cannot make a directory read-only here");
        try {
          const error = await expectProviderError(
            ctx.provider.fork(ctx.core.env("dev"), ctx.core.env("alice"), ctx.project.op),
            ctx.provider,
            "E_PROVIDER",
          );
          expect(error.message).toMatch(
            /Could not fork the database of "dev" into "alice": .*(permission|read-only)/,
          );
          expect(error.hint).toContain(dir);
        } finally {
          await restore();
        }
        expect(await readdir(dir)).toEqual([]);
        expect(await ctx.core.describe("alice")).toBeNull();
        // The parent's write lock was released: a writer gets in at once.
        const client = createClient({ url: `${dev.vars.DATABASE_URL}` });
        await client.execute("PRAGMA busy_timeout = 0");
        await client.execute("INSERT INTO t VALUES (1)");
        client.close();
      });

      it("a parent that is not a database is refused with SQLite's reason, leaving nothing", async () => {
        await mkdir(ctx.project.context.envDir("dev"), { recursive: true });
        await writeFile(
          join(ctx.project.context.envDir("dev"), "db.sqlite"),
          "not a database at all, just text\n".repeat(200),
        );
        const error = await expectProviderError(ctx.core.fork("dev", "alice"), ctx.provider, "E_PROVIDER");
        expect(error.message).toContain("SQLITE_NOTADB");
        expect(await filesIn(ctx, "alice")).toEqual([]);
      });

      it("a stale -wal left by a crash is not replayed into a new database", async () => {
        const other = await ctx.core.create("other");
        await fill(other, 1);
        const holder = createClient({ url: other.vars.DATABASE_URL! });
        await holder.execute("INSERT INTO big (data) VALUES (zeroblob(100000))");
        const dir = ctx.project.context.envDir("dev");
        await mkdir(dir, { recursive: true });
        await copyFile(`${other.location}-wal`, join(dir, "db.sqlite-wal"));
        holder.close();
        const dev = await ctx.core.create("dev");
        expect(await scalar(dev, "PRAGMA integrity_check")).toBe("ok");
        expect(await exec(dev, "SELECT name FROM sqlite_schema")).toEqual([]);
      });

      it("remove deletes every file SQLite keeps, and temp files of an interrupted fork", async () => {
        const dev = await ctx.core.create("dev");
        const holder = createClient({ url: dev.vars.DATABASE_URL! });
        await holder.execute("CREATE TABLE t (x)"); // keeps -wal and -shm alive
        const dir = ctx.project.context.envDir("dev");
        await writeFile(join(dir, ".db.sqlite.abc123.tmp"), "x");
        await writeFile(join(dir, "manifest.json"), "{}"); // the core's: not ours to delete
        expect((await readdir(dir)).sort()).toEqual([
          ".db.sqlite.abc123.tmp",
          "db.sqlite",
          "db.sqlite-shm",
          "db.sqlite-wal",
          "manifest.json",
        ]);
        // Without a record, or with one naming another file, nothing is removed.
        const env = ctx.core.env("dev");
        const recorded = ctx.core.recorded("dev")!;
        await expectProviderError(ctx.provider.remove(env, ctx.project.op), ctx.provider, "E_NO_RECORD");
        const elsewhere = { ...recorded, data: { file: join(ctx.project.root, "other.sqlite") } };
        await expectProviderError(
          ctx.provider.remove(env, ctx.project.op, elsewhere),
          ctx.provider,
          "E_NO_RECORD",
        );
        expect(await readdir(dir)).toHaveLength(5);
        await ctx.provider.remove(env, ctx.project.op, recorded);
        holder.close();
        expect(await readdir(dir)).toEqual(["manifest.json"]);
      });

      it("doctor reports whether forks are copy-on-write", async () => {
        const findings = await ctx.provider.doctor!(ctx.project.op);
        expect(findings).toContainEqual({ level: "ok", message: "the libsql native module loads" });
        const reflink = ctx.provider.flags.copyOnWrite;
        expect(
          findings.some((f) => f.level === (reflink ? "ok" : "warn") && /reflinks/.test(f.message)),
        ).toBe(true);
      });

      it("optionsSchema rejects unknown keys and bad values", () => {
        expect(optionsSchema.safeParse({}).success).toBe(true);
        expect(optionsSchema.safeParse({ busyTimeoutMs: 500 }).success).toBe(true);
        expect(optionsSchema.safeParse({ busyTimeout: 500 }).success).toBe(false);
        expect(optionsSchema.safeParse({ busyTimeoutMs: -1 }).success).toBe(false);
      });
    },
  });

  describe.each(["wal", "delete"])("forks while another process writes (journal_mode=%s)", (mode) => {
    it("each fork passes integrity_check and holds exactly a prefix of the committed transactions", async () => {
      const project = await tempProject();
      const provider = sqlite({}, project.context);
      const core = coreDriver(provider, project);
      const writer = spawnFixture("writer.mjs", [(await core.create("dev")).location, mode]);
      let committed = 0;
      writer.stdout.on("data", (chunk: Buffer) => {
        const numbers = chunk.toString().split("\n").map(Number).filter(Number.isInteger);
        committed = Math.max(committed, ...numbers);
      });
      try {
        await waitForLine(writer, "ready");
        await waitFor(() => committed >= 100, 10);
        const forks: Array<{ name: string; atLeast: number }> = [];
        for (let i = 1; i <= 6; i++) {
          const atLeast = committed;
          const name = `fork-${i}`;
          await core.fork("dev", name);
          forks.push({ name, atLeast });
          // The next fork only once the writer has committed more since this one started.
          await waitFor(() => committed > atLeast + 20, 10);
        }
        writer.kill("SIGTERM");
        await once(writer, "exit");

        let previous = 0;
        for (const { name, atLeast } of forks) {
          const info = (await core.describe(name))!;
          expect(await scalar(info, "PRAGMA integrity_check")).toBe("ok");
          expect(await scalar(info, "PRAGMA journal_mode")).toBe(mode);
          const [row] = await exec(info, "SELECT count(*) AS c, min(n) AS lo, max(n) AS hi FROM t");
          const last = await scalar(info, "SELECT v FROM meta WHERE k = 'last'");
          // A prefix 1..n with no gaps, and the transaction's second write is there too.
          expect(row).toEqual({ c: row!.hi, lo: 1, hi: last });
          // Everything committed before the fork started is in it; forks only move forward.
          expect(row!.hi as number).toBeGreaterThanOrEqual(atLeast);
          expect(row!.hi as number).toBeGreaterThanOrEqual(previous);
          previous = row!.hi as number;
        }
        expect(previous).toBeLessThanOrEqual(committed + 1);
      } finally {
        writer.kill("SIGKILL");
        await project.cleanup();
      }
    });
  });

  describe("memory", () => {
    it("forking a 200 MB database does not read it into memory", async () => {
      const project = await tempProject();
      try {
        const core = coreDriver(sqlite({}, project.context), project);
        await fill(await core.create("big"), 200);
        const module = await bundleForChild("src/providers/database/sqlite.ts");
        const child = spawnFixture("fork-rss.mjs", [module, project.root, "big", "warm", "copy"]);
        let out = "";
        child.stdout.on("data", (chunk: Buffer) => (out += chunk.toString()));
        child.stderr.on("data", (chunk: Buffer) => (out += chunk.toString()));
        const [code] = await once(child, "exit");
        await rm(module, { force: true });
        expect(code, out).toBe(0);
        const report = JSON.parse(out) as { before: number; after: number; bytes: number };
        expect(report.bytes).toBeGreaterThan(200 * 1024 * 1024);
        expect(report.after - report.before).toBeLessThan(16 * 1024 * 1024);
      } finally {
        await project.cleanup();
      }
    });
  });

  describe("on a filesystem with reflinks", () => {
    let fs: ReflinkFs | { skip: string };
    beforeAll(async () => {
      fs = await mountReflinkFs();
    });
    afterAll(async () => {
      if ("dir" in fs) await fs.unmount();
    });

    it("forks by reflink, adding almost no disk, and still snapshots", async (test) => {
      if (!("dir" in fs)) return test.skip(fs.skip);
      const project = await tempProject("myapp", fs.dir);
      const provider = sqlite({}, project.context);
      const core = coreDriver(provider, project);
      expect(provider.flags.copyOnWrite).toBe(true);
      const dev = await core.create("dev");
      await fill(dev, 64);
      const child = await core.fork("dev", "alice");
      expect(child.method).toBe("reflink");
      expect(child.bytesAdded).toBeLessThan(1024 * 1024);
      expect(await scalar(child, "PRAGMA integrity_check")).toBe("ok");
      await exec(child, "DELETE FROM big WHERE id <= 10");
      expect(await scalar(dev, "SELECT count(*) FROM big")).toBe(64);
      expect(await scalar(child, "SELECT count(*) FROM big")).toBe(54);
      const findings = await provider.doctor!(project.op);
      expect(findings.some((f) => f.level === "ok" && /with reflinks/.test(f.message))).toBe(true);
      await rm(project.root, { recursive: true, force: true });
    });

    it("says when a fork first waits for the parent's freshly written data to reach the disk", async (test) => {
      if (!("dir" in fs)) return test.skip(fs.skip);
      const project = await tempProject("myapp", fs.dir);
      const core = coreDriver(sqlite({}, project.context), project);
      const dev = await core.create("dev");
      await fill(dev, 96); // still in the page cache: nothing has synced it
      const threshold = flushNotice.afterMs;
      flushNotice.afterMs = 0; // tell whatever the wait: what is checked must not depend on disk speed
      try {
        const child = await core.fork("dev", "alice");
        expect(child.method).toBe("reflink");
        const said = project.logs.filter((l) => l.level === "info").map((l) => l.message);
        expect(
          said.some((m) =>
            /^database: writing (up to [\d.]+ [KMG]B of )?"dev"'s pending data to disk first/.test(m),
          ),
        ).toBe(true);
        expect(said.some((m) => /^database: pending data written in \d/.test(m))).toBe(true);
        expect(await scalar(child, "SELECT count(*) FROM big")).toBe(96);
      } finally {
        flushNotice.afterMs = threshold;
      }
      // Once written (as after `sync`), a fork has nothing to wait for and says nothing about it.
      execFileSync("sync");
      project.logs.length = 0;
      const bob = await core.fork("dev", "bob");
      expect(bob.method).toBe("reflink");
      expect(project.logs.some((l) => /pending data/.test(l.message))).toBe(false);
      await rm(project.root, { recursive: true, force: true });
    });

    it("reports the statfs drop honestly when a fork breaks sharing", async (test) => {
      if (!("dir" in fs)) return test.skip(fs.skip);
      const project = await tempProject("myapp", fs.dir);
      const core = coreDriver(sqlite({}, project.context), project);
      const dev = await core.create("dev");
      await fill(dev, 16);
      // A reader on an old snapshot keeps 8 MB of new commits in the WAL (no checkpoint can backfill
      // past it), so the fork must clone the WAL and replay it into its own copy: new blocks.
      const reader = createClient({ url: dev.vars.DATABASE_URL! });
      const snapshot = await reader.transaction("read");
      await snapshot.execute("SELECT count(*) FROM big");
      const writer = createClient({ url: dev.vars.DATABASE_URL! });
      await writer.execute("UPDATE big SET data = randomblob(1048576) WHERE id <= 8");
      // XFS frees an unlinked file's blocks in the background (inode GC), so the free space of the
      // previous tests' removed projects could come back during the fork and hide its drop; `sync`
      // waits for that.
      execFileSync("sync");
      const child = await core.fork("dev", "alice");
      snapshot.close();
      reader.close();
      writer.close();
      expect(child.method).toBe("reflink");
      expect(child.bytesAdded).toBeGreaterThan(4 * 1024 * 1024);
      expect((await stat(child.location)).size).toBeGreaterThan(16 * 1024 * 1024);
      await rm(project.root, { recursive: true, force: true });
    });
  });
});
