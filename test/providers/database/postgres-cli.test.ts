/**
 * The `postgres` provider through the built CLI (`npm run build` first; `npm test` does), in a temp
 * project whose JSON config names it, against a real PostgreSQL: `new`, `env --reveal` (a working
 * DATABASE_URL; masked without `--reveal`), a `new` killed with SIGKILL inside the connection fence
 * (the next command restores the parent's ALLOW_CONNECTIONS), and `delete`.
 */
import postgres from "postgres";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cli, runCli, tempProject } from "../../helpers/project.js";
import { PG_PASSWORD, startPostgres, type PgServer } from "../../helpers/postgres-server.js";

let server: PgServer;
beforeAll(async () => {
  server = await startPostgres();
}, 120_000);
afterAll(() => server?.stop());

async function one<T>(url: string, statement: string): Promise<T | undefined> {
  const sql = postgres(url, { max: 1, onnotice: () => undefined, fetch_types: false });
  try {
    const [row] = await sql.unsafe(statement);
    return row as T | undefined;
  } finally {
    await sql.end({ timeout: 5 });
  }
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
});
