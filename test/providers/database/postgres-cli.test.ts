/**
 * The `postgres` provider through the built CLI (`npm run build` first; `npm test` does), in a temp
 * project whose JSON config names it, against a real PostgreSQL: `new`, `env --reveal` (a working
 * DATABASE_URL; masked without `--reveal`), a `new` killed with SIGKILL inside the connection fence
 * (the next command restores the parent's ALLOW_CONNECTIONS), and `delete`; a `new` killed during the
 * copy itself; 10 `new` processes forking one parent at once.
 */
import { spawn } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { pgQuery } from "../../helpers/pg-query.js";
import { BIN, cleanEnv, cli, runCli, tempProject } from "../../helpers/project.js";
import { PG_PASSWORD, startPostgres, type PgServer } from "../../helpers/postgres-server.js";
import { waitFor } from "../../helpers/wait.js";

let server: PgServer;
beforeAll(async () => {
  server = await startPostgres({ settings: { fsync: "off" } });
}, 120_000);
afterAll(() => server?.stop());

async function one<T>(url: string, statement: string): Promise<T | undefined> {
  const [row] = await pgQuery(url, undefined, statement);
  return row as T | undefined;
}

const allowConnections = async (database: string) =>
  (
    await one<{ ok: boolean }>(
      server.url,
      `SELECT datallowconn AS ok FROM pg_database WHERE datname = '${database}'`,
    )
  )?.ok;

describe("postgres provider through the CLI", () => {
  it("new, env --reveal, a kill -9 inside the fence, delete", async () => {
    const project = `pgcli${process.pid}`;
    const cwd = await tempProject({
      project,
      database: { provider: "postgres" },
      secrets: { provider: "dotenv" },
      local: { provider: "directory" },
    });
    const env = { FORKSTACK_POSTGRES_URL: server.url };
    const run = (args: string[], extra: Record<string, string> = {}) =>
      runCli(args, { cwd, env: { ...env, ...extra } });

    const created = await run(["new", "alice"]);
    expect(created.code, created.stderr).toBe(0);
    expect(created.stdout + created.stderr).not.toContain(encodeURIComponent(PG_PASSWORD));
    expect(created.stderr).toMatch(/copy/);

    const masked = JSON.parse(await cli(["env", "alice", "--format", "json"], { cwd, env })) as Record<
      string,
      string
    >;
    expect(masked.DATABASE_URL).not.toContain(encodeURIComponent(PG_PASSWORD));
    const vars = JSON.parse(
      await cli(["env", "alice", "--format", "json", "--reveal"], { cwd, env }),
    ) as Record<string, string>;
    expect(vars.DATABASE_URL).toBe(server.urlOf(`${project}_alice`));
    expect(await one(vars.DATABASE_URL!, "SELECT current_database() AS db")).toEqual({
      db: `${project}_alice`,
    });

    // Killed after closing dev to new connections: dev stays fenced until the next command.
    const killed = await run(["new", "bob"], { FORKSTACK_FAILPOINT: "postgres:fenced" });
    expect(killed.signal).toBe("SIGKILL");
    expect(await allowConnections(`${project}_dev`)).toBe(false);
    const listed = await run(["list", "--json"]);
    expect(listed.code, listed.stderr).toBe(0);
    expect(await allowConnections(`${project}_dev`)).toBe(true);
    const names = (JSON.parse(listed.stdout) as { name: string }[]).map((e) => e.name);
    expect(names).toContain("alice");
    // The repaired `new bob` left no database behind; a new one works.
    expect((await run(["new", "bob", "--no-switch"])).code).toBe(0);

    for (const name of ["bob", "alice"]) await cli(["delete", name, "--yes"], { cwd, env });
    expect(
      await one(server.url, `SELECT datname FROM pg_database WHERE datname = '${project}_alice'`),
    ).toBeUndefined();
    await cli(["delete", "dev", "--yes", "--force"], { cwd, env });
    expect(
      await one(server.url, `SELECT count(*)::int AS n FROM pg_database WHERE datname LIKE '${project}%'`),
    ).toEqual({
      n: 0,
    });
  }, 120_000);

  it("a new killed while PostgreSQL copies: the rollback cancels the copy, so no unrecorded database appears", async () => {
    const project = `pgcopy${process.pid}`;
    const cwd = await tempProject({ project, database: { provider: "postgres", strategy: "wal_log" } });
    const env = { FORKSTACK_POSTGRES_URL: server.url };
    await cli(["new", "seed", "--no-switch"], { cwd, env }); // makes dev, the root, on the way
    // Big enough that the copy takes a while (WAL_LOG: ~3 ms/MB).
    await one(
      server.urlOf(`${project}_dev`),
      "CREATE TABLE big AS SELECT g, repeat(md5(g::text), 12) AS body FROM generate_series(1, 400000) g",
    );
    const child = spawn(process.execPath, [BIN, "new", "carol", "--from", "dev"], {
      cwd,
      env: cleanEnv(env),
      stdio: "ignore",
    });
    const exited = new Promise((resolve) => child.on("exit", resolve));
    const copying = `SELECT count(*)::int AS n FROM pg_stat_activity WHERE state = 'active' AND query LIKE 'CREATE DATABASE "${project}_carol"%'`;
    // Until the copy is running (the test's timeout is the only limit: a slow start is no failure).
    await waitFor(async () => (await one<{ n: number }>(server.url, copying))?.n === 1, 10);
    child.kill("SIGKILL");
    await exited;
    // The next command repairs the journal: its rollback removes carol, cancelling the copy first.
    const listed = await runCli(["list", "--json"], { cwd, env });
    expect(listed.code, listed.stderr).toBe(0);
    expect((await one<{ n: number }>(server.url, copying))?.n).toBe(0);
    expect(
      await one(server.url, `SELECT datname FROM pg_database WHERE datname = '${project}_carol'`),
    ).toBeUndefined();
    expect(await allowConnections(`${project}_dev`)).toBe(true);
    expect((await runCli(["new", "carol", "--from", "dev"], { cwd, env })).code).toBe(0);
    for (const name of ["carol", "seed", "dev"])
      await cli(["delete", name, "--yes", "--force"], { cwd, env });
  }, 120_000);

  it("10 `new` processes forking one parent at once all succeed", async () => {
    const project = `pgpar${process.pid}`;
    const cwd = await tempProject({ project, database: { provider: "postgres" } });
    const env = { FORKSTACK_POSTGRES_URL: server.url };
    await cli(["new", "seed", "--no-switch"], { cwd, env });
    const names = Array.from({ length: 10 }, (_, i) => `w${i}`);
    const results = await Promise.all(
      names.map((name) => runCli(["new", name, "--from", "dev", "--no-switch"], { cwd, env })),
    );
    for (const r of results) expect(r.code, r.stderr).toBe(0);
    const rows = await one<{ n: number }>(
      server.url,
      `SELECT count(*)::int AS n FROM pg_database WHERE datname LIKE '${project}\\_w%'`,
    );
    expect(rows).toEqual({ n: 10 });
    expect(await allowConnections(`${project}_dev`)).toBe(true);
    for (const name of [...names, "seed"]) await cli(["delete", name, "--yes"], { cwd, env });
    await cli(["delete", "dev", "--yes", "--force"], { cwd, env });
  }, 120_000);
});
