/**
 * The `planetscale` provider through the built CLI (`npm test` builds first), in temp projects whose
 * JSON config names it, against the PlanetScale emulator with Vitess branches on a local MariaDB: a root
 * adopted from `main`, `new` with a working `DATABASE_URL` that `env` masks unless `--reveal`, the
 * schema-only notice, a name refused before any request, `doctor`, a missing token, and `delete`
 * (the env's branch and password go; the adopted `main` stays).
 */
import mysql from "mysql2/promise";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { start, type PlanetScaleEmulator } from "../../emulators/planetscale.js";
import { cli, runCli, tempProject } from "../../helpers/project.js";
import { startMariaDb, type MariaDbServer } from "../../helpers/mariadb-server.js";

let maria: MariaDbServer;
let emu: PlanetScaleEmulator;
beforeAll(async () => {
  maria = await startMariaDb();
  emu = await start({ mariadb: maria.url, readyAfterMs: 50, backupAfterMs: 20 });
}, 120_000);
afterAll(async () => {
  const violations = emu ? [...emu.violations] : [];
  await emu?.close();
  await maria?.stop();
  expect(violations).toEqual([]);
});

async function query(url: string, statement: string): Promise<unknown[]> {
  const connection = await mysql.createConnection({ uri: url });
  try {
    const [rows] = await connection.query(statement);
    return Array.isArray(rows) ? rows : [];
  } finally {
    await connection.end();
  }
}

const userExists = async (user: string) =>
  (await query(maria.url, `SELECT 1 FROM mysql.user WHERE user = '${user}'`)).length > 0;

const config = (project: string, database: Record<string, unknown> = {}, extra: object = {}) => ({
  project,
  database: {
    provider: "planetscale",
    organization: "acme",
    database: "shop",
    // The local MariaDB speaks no TLS; quick polls against the emulator.
    urlQuery: "",
    pollIntervalMs: 20,
    ...database,
  },
  secrets: { provider: "dotenv" },
  local: { provider: "directory" },
  ...extra,
});

describe("planetscale provider through the CLI", () => {
  const env = () => emu.variables as Record<string, string>;

  it("adopts main as dev, new forks it with its data, env masks the URL unless --reveal, delete", async () => {
    const project = `pscli${process.pid}`;
    const cwd = await tempProject(
      config(project, { data: "backup" }, { roots: { dev: { database: { branch: "main" } } } }),
    );
    const main = emu.database("acme", "shop")!.branches.get("main")!;
    await query(maria.urlOf(main.storage), "CREATE TABLE IF NOT EXISTS t (v VARCHAR(20))");
    await query(maria.urlOf(main.storage), "DELETE FROM t");
    await query(maria.urlOf(main.storage), "INSERT INTO t VALUES ('from main')");

    const created = await runCli(["new", "alice", "--ttl", "2h"], { cwd, env: env() });
    expect(created.code, created.stderr).toBe(0);
    expect(created.stderr).toMatch(
      /database \(planetscale\)\s+adopted the existing one \(planetscale:acme\/shop\/main\)/,
    );
    expect(created.stderr).toMatch(/database \(planetscale\)\s+native/);
    const alice = emu.database("acme", "shop")!.branches.get(`${project}-alice`)!;
    const [password] = [...alice.passwords.values()];
    expect(password?.ttl).toBeGreaterThan(7000);

    const masked = JSON.parse(await cli(["env", "alice", "--format", "json"], { cwd, env: env() })) as Record<
      string,
      string
    >;
    const vars = JSON.parse(
      await cli(["env", "alice", "--format", "json", "--reveal"], { cwd, env: env() }),
    ) as Record<string, string>;
    const secret = new URL(vars.DATABASE_URL!).password;
    expect(secret).toMatch(/^pscale_pw_/);
    expect(masked.DATABASE_URL).not.toContain(secret);
    expect(created.stdout + created.stderr).not.toContain(secret);
    expect(vars.DATABASE_URL).toMatch(
      new RegExp(`^mysql://${password!.username}:pscale_pw_[^@]+@127\\.0\\.0\\.1:\\d+/shop$`),
    );
    expect(await query(vars.DATABASE_URL!, "SELECT v FROM t")).toEqual([{ v: "from main" }]);

    await cli(["delete", "alice", "--yes"], { cwd, env: env() });
    expect(emu.database("acme", "shop")!.branches.has(`${project}-alice`)).toBe(false);
    expect(await userExists(password!.username)).toBe(false);
    await cli(["delete", "dev", "--yes", "--force"], { cwd, env: env() });
    // Adopted: forkstack never deletes it.
    expect(emu.database("acme", "shop")!.branches.has("main")).toBe(true);
  }, 120_000);

  it("new says when a fork gets the schema only", async () => {
    const project = `psschema${process.pid}`;
    const cwd = await tempProject(config(project));
    const result = await runCli(["new", "bob", "--no-switch"], { cwd, env: env() });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toContain(
      `! [planetscale] "bob" has the schema of "dev" but none of its data: Data Branching® is off for acme/shop`,
    );
    const doctor = await runCli(["doctor"], { cwd, env: env() });
    expect(doctor.stdout).toContain("acme/shop: a vitess database");
    expect(doctor.stdout).toContain("forks get the schema only");
    for (const name of ["bob", "dev"]) await cli(["delete", name, "--yes", "--force"], { cwd, env: env() });
    expect([...emu.database("acme", "shop")!.branches.keys()].filter((b) => b.startsWith(project))).toEqual(
      [],
    );
  }, 120_000);

  it("refuses a name PlanetScale would refuse and --at before any request, and names a missing token", async () => {
    const project = `psname${process.pid}`.padEnd(30, "x");
    const cwd = await tempProject(config(project));
    const mark = emu.exchanges.length;
    const refused = await runCli(["new", "a".repeat(40)], { cwd, env: env() });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain("forkstack keeps them to 63");
    expect(emu.exchanges.slice(mark)).toEqual([]);
    // No point in time on PlanetScale: --at is refused before any request too.
    const at = await runCli(["new", "carol", "--at", "1h"], { cwd, env: env() });
    expect(at.code).toBe(1);
    expect(at.stderr).toContain("--at");
    expect(emu.exchanges.slice(mark)).toEqual([]);

    const { PLANETSCALE_SERVICE_TOKEN: _, ...noToken } = env();
    const missing = await runCli(["new", "carol"], { cwd, env: noToken });
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain("PLANETSCALE_SERVICE_TOKEN is not set");
    expect(emu.exchanges.slice(mark)).toEqual([]);
  }, 60_000);
});
