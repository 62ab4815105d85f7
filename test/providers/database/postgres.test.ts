/**
 * The `postgres` provider against a real PostgreSQL (Debian's, started in a temp dir on a free port):
 * the shared conformance suite unchanged, then what only this backend has — the connection fence
 * (an app connected to the parent, opt-in termination, parallel forks of one parent), and bad input.
 */
import { access, mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import postgres from "postgres";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import provider, { optionsSchema } from "../../../src/providers/database/postgres.js";
import type { DatabaseProvider } from "../../../src/providers/types.js";
import { coreDriver, databaseSuite, expectProviderError, tempProject } from "../../../src/testing/index.js";
import type { TestProject } from "../../../src/testing/index.js";
import { pgQuery as query } from "../../helpers/pg-query.js";
import { PG_PASSWORD, freePort, startPostgres, type PgServer } from "../../helpers/postgres-server.js";

let server: PgServer;
beforeAll(async () => {
  // No fsync: these tests are about behaviour; docs/databases.md has the timings with fsync on.
  server = await startPostgres({ settings: { fsync: "off" } });
}, 120_000);
afterAll(() => server?.stop());

const make = (project: TestProject, extra: Record<string, unknown> = {}): DatabaseProvider =>
  provider(optionsSchema.parse({ connectionString: server.url, ...extra }), project.context);

async function allowConnections(database: string): Promise<boolean | undefined> {
  const [row] = await query(
    server.url,
    undefined,
    `SELECT datallowconn FROM pg_database WHERE datname = '${database}'`,
  );
  return row?.datallowconn as boolean | undefined;
}

describe("postgres provider", () => {
  databaseSuite({ provider: (project) => make(project), dialect: "postgres", query, timeout: 60_000 });
});

describe("postgres provider: the connection fence", () => {
  /** A project with a dev holding one row, and an app connected to dev under a name. */
  async function withApp(extra: Record<string, unknown> = {}) {
    const project = await tempProject();
    const p = make(project, extra);
    const core = coreDriver(p, project);
    const dev = await core.create("dev");
    const devUrl = dev.secretVars!.DATABASE_URL!;
    await query(devUrl, undefined, "CREATE TABLE t (v text)");
    await query(devUrl, undefined, "INSERT INTO t VALUES ('dev')");
    const app = postgres(devUrl, {
      max: 1,
      fetch_types: false,
      onnotice: () => undefined,
      connection: { application_name: "billing-worker" },
    });
    await app`SELECT 1`;
    const cleanup = async () => {
      await app.end({ timeout: 1 }).catch(() => undefined);
      for (const name of core.made().reverse()) await core.remove(name);
      await project.cleanup();
    };
    return { project, p, core, app, devUrl, cleanup };
  }

  it("refuses to fork while an app is connected, naming it, and leaves nothing behind", async () => {
    const { project, p, core, app, cleanup } = await withApp({ fenceTimeoutMs: 300 });
    try {
      const error = await expectProviderError(core.fork("dev", "alice"), p, "E_ENV_BUSY");
      expect(error.message).toContain('"billing-worker" from 127.0.0.1');
      expect(error.message).toMatch(/pid \d+/);
      expect(error.hint).toContain("terminateConnections");
      expect(await core.list()).toEqual(["dev"]);
      expect(await allowConnections(`${project.context.project}_dev`)).toBe(true);
      // The app's session was left alone.
      expect(await app`SELECT v FROM t`).toEqual([{ v: "dev" }]);
    } finally {
      await cleanup();
    }
  });

  it("with terminateConnections it ends the app's sessions, forks, and the app reconnects", async () => {
    const { project, p, core, app, devUrl, cleanup } = await withApp({ terminateConnections: true });
    try {
      const alice = await core.fork("dev", "alice");
      expect(alice.method).toBe("copy");
      expect(alice.bytesAdded).toBeGreaterThan(1_000_000);
      // A small database is copied through the WAL: faster than FILE_COPY's two checkpoints.
      expect(project.logs.map((l) => l.message).join("\n")).toContain("STRATEGY WAL_LOG");
      expect(await query(alice.secretVars!.DATABASE_URL!, undefined, "SELECT v FROM t")).toEqual([
        { v: "dev" },
      ]);
      // postgres.js reconnects on the next query once its session was terminated.
      expect(await app`SELECT v FROM t`).toEqual([{ v: "dev" }]);
      expect(await query(devUrl, undefined, "SELECT 1 AS one")).toEqual([{ one: 1 }]);
      expect(p.flags.private).toBe(false);
    } finally {
      await cleanup();
    }
  });

  it("a fence left by a killed process is restored by the next describe, unless its owner still holds it", async () => {
    const { project, p, core, cleanup } = await withApp();
    const dev = `${project.context.project}_dev`;
    const dir = join(project.context.dataDir, "postgres", "fences");
    const marker = join(dir, `${Buffer.from(dev).toString("hex")}.json`);
    const owner = postgres(server.url, { max: 1, fetch_types: false });
    try {
      // What a fork killed inside the fence leaves: the marker and the parent closed to connections.
      await mkdir(dir, { recursive: true });
      await writeFile(marker, JSON.stringify({ database: dev, allowed: true, pid: 1, since: "" }));
      await query(server.url, undefined, `ALTER DATABASE "${dev}" ALLOW_CONNECTIONS false`);
      // A live fork holds the parent's advisory lock: its fence is not a crash and stays.
      const [row] = await owner<
        { oid: number }[]
      >`SELECT oid::int AS oid FROM pg_database WHERE datname = ${dev}`;
      const oid = row!.oid;
      await owner`SELECT pg_advisory_lock(${0x666b7374}, ${oid})`;
      await core.describe("alice");
      expect(await allowConnections(dev)).toBe(false);
      await owner`SELECT pg_advisory_unlock(${0x666b7374}, ${oid})`;
      expect(await p.describe(core.env("dev"), project.op)).not.toBeNull();
      expect(await allowConnections(dev)).toBe(true);
      await expect(access(marker)).rejects.toThrow();
      expect(
        project.logs.some((l) => l.level === "warn" && l.message.includes("restored ALLOW_CONNECTIONS")),
      ).toBe(true);
    } finally {
      await owner.end({ timeout: 1 });
      await cleanup();
    }
  });

  it("10 parallel forks of one parent all succeed (they take turns on its fence)", async () => {
    const { project, core, cleanup } = await withApp({ terminateConnections: true, fenceTimeoutMs: 60_000 });
    try {
      // Each fork through its own provider instance, as 10 processes would.
      const names = Array.from({ length: 10 }, (_, i) => `w${i}`);
      const results = await Promise.all(
        names.map((name) =>
          coreDriver(make(project, { terminateConnections: true, fenceTimeoutMs: 60_000 }), project).fork(
            "dev",
            name,
          ),
        ),
      );
      expect(results.every((r) => r.method === "copy")).toBe(true);
      expect((await core.list()).sort()).toEqual([...names, "dev"].sort());
      for (const r of results) {
        expect(await query(r.secretVars!.DATABASE_URL!, undefined, "SELECT v FROM t")).toEqual([
          { v: "dev" },
        ]);
      }
      expect(await allowConnections(`${project.context.project}_dev`)).toBe(true);
      for (const [i, name] of names.entries()) {
        await make(project).remove(core.env(name), project.op, results[i]);
      }
    } finally {
      await cleanup();
    }
  }, 120_000);
});

describe("postgres provider: a 1 GB database", () => {
  it("forks it whole: every row, the same checksum, and the child's writes stay its own", async () => {
    const project = await tempProject();
    const p = make(project);
    const core = coreDriver(p, project);
    try {
      const dev = await core.create("dev");
      const devUrl = dev.secretVars!.DATABASE_URL!;
      // 1 GiB in 8,192 rows of 128 KiB. Stored EXTERNAL (out of line, never compressed), so the bytes
      // on disk are the bytes written even though each row repeats one random 16-byte value.
      await query(devUrl, undefined, "CREATE TABLE blobs (id int PRIMARY KEY, data bytea NOT NULL)");
      await query(devUrl, undefined, "ALTER TABLE blobs ALTER COLUMN data SET STORAGE EXTERNAL");
      for (let batch = 0; batch < 8; batch++) {
        await query(
          devUrl,
          undefined,
          `INSERT INTO blobs SELECT i, decode(repeat(md5(random()::text || i), 8192), 'hex')
           FROM generate_series(${batch * 1024 + 1}, ${(batch + 1) * 1024}) i`,
        );
      }
      const [size] = await query(devUrl, undefined, "SELECT pg_database_size(current_database()) AS bytes");
      expect(Number(size!.bytes)).toBeGreaterThan(1024 ** 3);
      const checksum = "SELECT count(*) AS n, md5(string_agg(md5(data), '' ORDER BY id)) AS sum FROM blobs";
      const [before] = await query(devUrl, undefined, checksum);

      const alice = await core.fork("dev", "alice");
      expect(alice.method).toBe("copy");
      expect(alice.bytesAdded).toBeGreaterThan(1024 ** 3);
      const aliceUrl = alice.secretVars!.DATABASE_URL!;
      expect(await query(aliceUrl, undefined, checksum)).toEqual([before]);
      await query(aliceUrl, undefined, "DELETE FROM blobs WHERE id % 2 = 0");
      expect(await query(devUrl, undefined, checksum)).toEqual([before]);
      expect(Number((await query(aliceUrl, undefined, "SELECT count(*) AS n FROM blobs"))[0]!.n)).toBe(4096);
    } finally {
      for (const name of core.made().reverse()) await core.remove(name);
      await project.cleanup();
    }
  }, 600_000);
});

describe("postgres provider: bad input", () => {
  it("a wrong password names the provider and where the URL came from, never the password", async () => {
    const project = await tempProject();
    try {
      const wrong = server.url.replace(encodeURIComponent(PG_PASSWORD), "not-the-password");
      process.env.FS_TEST_PG_URL = wrong;
      const p = make(project, { connectionString: undefined, connectionStringEnv: "FS_TEST_PG_URL" });
      const error = await expectProviderError(p.list(project.op), p, "E_PROVIDER_AUTH");
      expect(error.message).toContain("FS_TEST_PG_URL");
      expect(error.message).toContain('user "postgres"');
      expect(error.message).not.toContain("not-the-password");
      delete process.env.FS_TEST_PG_URL;
      const unset = make(project, { connectionString: undefined, connectionStringEnv: "FS_TEST_PG_URL" });
      const missing = await expectProviderError(unset.list(project.op), unset, "E_PROVIDER_AUTH");
      expect(missing.message).toContain("FS_TEST_PG_URL is not set");
    } finally {
      delete process.env.FS_TEST_PG_URL;
      await project.cleanup();
    }
  });

  it("an unreachable server names host:port", async () => {
    const project = await tempProject();
    try {
      const port = await freePort();
      const p = make(project, { connectionString: `postgres://u:secret-pw@127.0.0.1:${port}/postgres` });
      const error = await expectProviderError(p.list(project.op), p, "E_SERVER");
      expect(error.message).toContain(`127.0.0.1:${port}`);
      expect(error.message).not.toContain("secret-pw");
    } finally {
      await project.cleanup();
    }
  });

  it("a name past PostgreSQL's 63 bytes is refused before anything is made", async () => {
    const project = await tempProject();
    const p = make(project);
    expect(p.checkName!({ project: "a".repeat(40), name: "b".repeat(22) })).toEqual([]);
    expect(p.checkName!({ project: "a".repeat(40), name: "b".repeat(23) })[0]).toContain("64 bytes");
    await project.cleanup();
  });

  it("adopts a root named in the config, and never drops it", async () => {
    const project = await tempProject();
    const p = make(project);
    const existing = `${project.context.project}-legacy`;
    await query(server.url, undefined, `CREATE DATABASE "${existing}"`);
    try {
      const ref = { database: existing };
      const adopted = await p.adopt!({ project: project.context.project, name: "dev" }, ref, project.op);
      expect(adopted?.data).toEqual({ database: existing, server: `127.0.0.1:${new URL(server.url).port}` });
      expect(adopted?.secretVars?.DATABASE_URL).toBe(server.urlOf(existing));
      expect(
        await p.adopt!({ project: project.context.project, name: "prod" }, undefined, project.op),
      ).toBeNull();
      await expectProviderError(
        p.adopt!({ project: project.context.project, name: "dev" }, { branch: "x" }, project.op),
        p,
        "E_CONFIG_INVALID",
      );
      await p.remove({ project: project.context.project, name: "dev" }, project.op, adopted!);
      expect(
        await p.describe({ project: project.context.project, name: "dev" }, project.op, adopted!),
      ).not.toBeNull();
    } finally {
      await query(server.url, undefined, `DROP DATABASE IF EXISTS "${existing}"`);
      await project.cleanup();
    }
  });
});
