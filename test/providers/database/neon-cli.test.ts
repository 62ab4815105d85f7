/**
 * The `neon` provider through the built CLI (`npm run build` first; `npm test` does), against the
 * Neon emulator with real databases: a project whose dev adopts the emulator's `main`, then `new`
 * (with `--at` and `--ttl`), `env` (DATABASE_URL masked without `--reveal`), the core refusing to
 * delete a parent with forks before any API call, `delete` leaving the adopted `main` in place, a name
 * Neon would refuse stopped before any POST, `doctor` with a wrong key; and `run.mjs neon`.
 */
import { spawn } from "node:child_process";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { start, type NeonEmulator } from "../../emulators/neon.js";
import { pgQuery } from "../../helpers/pg-query.js";
import { REPO, cli, runCli, tempProject } from "../../helpers/project.js";
import { startPostgres, type PgServer } from "../../helpers/postgres-server.js";

let server: PgServer;
let emulator: NeonEmulator;
beforeAll(async () => {
  server = await startPostgres({ settings: { fsync: "off" } });
  emulator = await start({ pgUrl: server.url });
}, 120_000);
afterAll(async () => {
  const violations = emulator?.violations.splice(0) ?? [];
  await emulator?.close();
  await server?.stop();
  expect(violations).toEqual([]);
});

const rows = (url: string, statement: string) => pgQuery(url, undefined, statement);

const config = (project: string, database: Record<string, unknown> = {}) => ({
  project,
  database: { provider: "neon", apiKey: { env: "NEON_API_KEY" }, ...database },
  // Only the database: `--at` needs every provider to keep history.
  secrets: false,
  local: false,
  roots: { dev: { database: { branch: "main" } } },
});

describe("neon provider through the CLI", () => {
  it("new (--at, --ttl), env masked and revealed, a parent with forks kept, delete keeps main", async () => {
    const project = `neoncli${process.pid}`;
    const cwd = await tempProject(config(project));
    const env = emulator.variables;
    const run = (args: string[]) => runCli(args, { cwd, env });
    const main = emulator.branches().find((b) => b.name === "main")!;

    const created = await run(["new", "alice", "--no-switch"]);
    expect(created.code, created.stderr).toBe(0);
    expect(created.stdout + created.stderr).toContain("adopted");
    expect(emulator.branches().find((b) => b.name === `${project}/alice`)?.parentId).toBe(main.id);

    // DATABASE_URL holds the role's password: masked unless --reveal, and the revealed one works.
    const masked = JSON.parse(await cli(["env", "alice", "--format", "json"], { cwd, env })) as Record<
      string,
      string
    >;
    const vars = JSON.parse(
      await cli(["env", "alice", "--format", "json", "--reveal"], { cwd, env }),
    ) as Record<string, string>;
    const password = new URL(vars.DATABASE_URL!).password;
    expect(password).toMatch(/^npg_/);
    expect(masked.DATABASE_URL).not.toContain(password);
    expect(created.stdout + created.stderr).not.toContain(password);
    await rows(vars.DATABASE_URL!, "CREATE TABLE t (v text)");
    await rows(vars.DATABASE_URL!, "INSERT INTO t VALUES ('alice')");

    // --at and --ttl reach Neon as parent_timestamp and expires_at. `--at 1s`, sent to the second,
    // must not predate alice (Neon refuses a time before the branch existed): the CLI can get here
    // within a second of making alice, so alice is made a minute older rather than waited for.
    emulator.age(`${project}/alice`, 60_000);
    const pr = await run(["new", "pr-7", "--from", "alice", "--at", "1s", "--ttl", "2h", "--no-switch"]);
    expect(pr.code, pr.stderr).toBe(0);
    const body = emulator.createRequests.at(-1) as { branch: Record<string, string> };
    expect(body.branch.name).toBe(`${project}/pr-7`);
    expect(Date.parse(body.branch.parent_timestamp!)).toBeLessThan(Date.now());
    expect(Date.parse(body.branch.expires_at!) - Date.now()).toBeGreaterThan(3600_000);
    const prVars = JSON.parse(
      await cli(["env", "pr-7", "--format", "json", "--reveal"], { cwd, env }),
    ) as Record<string, string>;
    expect(await rows(prVars.DATABASE_URL!, "SELECT v FROM t")).toEqual([{ v: "alice" }]);

    // alice has a fork: the core refuses before any API call.
    const mark = emulator.exchanges.length;
    const refused = await run(["delete", "alice", "--yes"]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain("pr-7");
    expect(emulator.exchanges.slice(mark).filter((e) => e.method === "DELETE")).toEqual([]);

    for (const name of ["pr-7", "alice"]) {
      const deleted = await run(["delete", name, "--yes"]);
      expect(deleted.code, deleted.stderr).toBe(0);
    }
    const dev = await run(["delete", "dev", "--yes", "--force"]);
    expect(dev.code, dev.stderr).toBe(0);
    expect(emulator.branches().filter((b) => b.name.startsWith(`${project}/`))).toEqual([]);
    expect(emulator.branches().find((b) => b.id === main.id)).toMatchObject({
      name: "main",
      isDefault: true,
    });
  });

  it("a name Neon would refuse is refused before any POST; doctor names a rejected key", async () => {
    const project = `neonname${process.pid}`;
    const cwd = await tempProject(config(project, { branchPrefix: `${"p".repeat(230)}/` }));
    const env = emulator.variables;
    const posts = () => emulator.createRequests.length;
    const before = posts();
    const refused = await runCli(["new", "a-rather-long-feature-name", "--no-switch"], { cwd, env });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain("Neon allows 256");
    expect(posts()).toBe(before);

    const doctor = await runCli(["doctor"], { cwd, env: { ...env, NEON_API_KEY: "napi_not-this-one" } });
    expect(doctor.code).toBe(1);
    expect(doctor.stdout + doctor.stderr).toContain("NEON_API_KEY was rejected");
    expect(doctor.stdout + doctor.stderr).not.toContain("napi_not-this-one");
    const good = await runCli(["doctor"], { cwd, env });
    expect(good.stdout + good.stderr).toMatch(/history window/);
  });

  it("run.mjs neon prints a URL that answers", async () => {
    const child = spawn(process.execPath, [join(REPO, "test/emulators/run.mjs"), "neon", "--port", "0"], {
      cwd: REPO,
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, FORKSTACK_EMULATOR_PG_URL: "" },
    });
    try {
      const output = await new Promise<string>((resolve, reject) => {
        let text = "";
        child.stdout.on("data", (d: Buffer) => {
          text += d.toString();
          if (text.includes("NEON_PROJECT_ID")) resolve(text);
        });
        child.on("exit", (code) => reject(new Error(`run.mjs exited ${code}: ${text}`)));
      });
      const url = /neon emulator: (\S+)/.exec(output)![1]!;
      const key = /NEON_API_KEY=(\S+)/.exec(output)![1]!;
      const project = /NEON_PROJECT_ID=(\S+)/.exec(output)![1]!;
      expect(output).toContain(`FORKSTACK_NEON_API_URL=${url}`);
      const answer = await fetch(`${url}/projects/${project}`, {
        headers: { authorization: `Bearer ${key}` },
      });
      expect(answer.status).toBe(200);
      expect(((await answer.json()) as { project: { id: string } }).project.id).toBe(project);
      const denied = await fetch(`${url}/projects/${project}`, { headers: { authorization: "Bearer nope" } });
      expect(denied.status).toBe(401);
      expect(await denied.json()).toMatchObject({
        message: expect.any(String),
        request_id: expect.any(String),
      });
    } finally {
      child.kill("SIGTERM");
    }
  });
});
