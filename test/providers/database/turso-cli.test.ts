/**
 * The `turso` provider through the built CLI (`npm run build` first; `npm test` does), in a temp
 * project whose JSON config names it, against the Turso emulator: `new` (the root dev, then a fork),
 * `env` (DATABASE_AUTH_TOKEN only with `--reveal`), data through `@libsql/client`, `delete` (database
 * gone, token dead), a name Turso would refuse (no request at all), a missing token; and the emulator
 * run standalone with `node test/emulators/run.mjs turso`.
 */
import { spawn } from "node:child_process";
import { createServer } from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { REPO, cli, runCli, tempProject } from "../../helpers/project.js";
import { start, type TursoEmulator } from "../../emulators/turso.js";
import { libsqlQuery } from "./_turso.js";

let emulator: TursoEmulator;
beforeAll(async () => {
  emulator = await start();
});
afterAll(async () => {
  await emulator?.close();
  expect(emulator?.violations ?? []).toEqual([]);
});

const config = (project: string) => ({
  project,
  database: { provider: "turso" },
  secrets: { provider: "dotenv" },
  local: { provider: "directory" },
});

describe("turso provider through the CLI", () => {
  it("new, env with and without --reveal, data through libsql, delete", async () => {
    const project = `tcli${process.pid}`;
    const cwd = await tempProject(config(project));
    const env = { ...emulator.variables };

    const created = await runCli(["new", "alice"], { cwd, env });
    expect(created.code, created.stderr).toBe(0);
    expect(created.stderr).toMatch(/database \(turso\)\s+native/);
    expect(created.stdout + created.stderr).not.toContain("eyJ");

    const masked = JSON.parse(await cli(["env", "alice", "--format", "json"], { cwd, env })) as Record<
      string,
      string
    >;
    expect(masked.DATABASE_URL).toBe(
      `${emulator.dbUrl.replace("{hostname}", `${project}-alice-acme.turso.io`)}`,
    );
    // Masked in JSON, left out of dotenv: the token shows only with --reveal.
    expect(masked.DATABASE_AUTH_TOKEN).not.toMatch(/^eyJ/);
    const dotenv = await cli(["env", "alice"], { cwd, env });
    expect(dotenv).not.toMatch(/^DATABASE_AUTH_TOKEN=/m);
    expect(dotenv).toContain("DATABASE_AUTH_TOKEN");
    const vars = JSON.parse(
      await cli(["env", "alice", "--format", "json", "--reveal"], { cwd, env }),
    ) as Record<string, string>;
    const token = vars.DATABASE_AUTH_TOKEN!;
    expect(token).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/);
    expect(emulator.tokenWorks(token)).toBe(true);
    await libsqlQuery(vars.DATABASE_URL!, token, "CREATE TABLE t (v TEXT)");
    await libsqlQuery(vars.DATABASE_URL!, token, "INSERT INTO t VALUES ('alice')");
    expect(await libsqlQuery(vars.DATABASE_URL!, token, "SELECT v FROM t")).toEqual([{ v: "alice" }]);

    const listed = JSON.parse(await cli(["list", "--json"], { cwd, env })) as { name: string }[];
    expect(listed.map((e) => e.name).sort()).toEqual(["alice", "dev"]);

    await cli(["delete", "alice", "--yes"], { cwd, env });
    expect(emulator.databases.has(`acme/${project}-alice`)).toBe(false);
    expect(emulator.tokenWorks(token)).toBe(false);
    await cli(["delete", "dev", "--yes", "--force"], { cwd, env });
    expect([...emulator.databases.keys()].filter((k) => k.startsWith(`acme/${project}-`))).toEqual([]);
  });

  it("refuses a name Turso would refuse before sending anything, and names a missing token", async () => {
    const project = "p".repeat(30);
    const cwd = await tempProject(config(project));
    const before = emulator.exchanges.length;
    const refused = await runCli(["new", "a".repeat(40)], { cwd, env: { ...emulator.variables } });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain("Turso allows 64");
    expect(emulator.exchanges.slice(before).filter((e) => e.method === "POST")).toEqual([]);

    const { TURSO_API_TOKEN: _, ...noToken } = emulator.variables;
    const missing = await runCli(["new", "alice"], { cwd, env: noToken });
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain("[turso] TURSO_API_TOKEN is not set");
    expect(emulator.exchanges.slice(before).filter((e) => e.method === "POST")).toEqual([]);
  });
});

describe("the Turso emulator standalone", () => {
  it("prints its URL and the variables, and answers", async () => {
    const port = await new Promise<number>((resolve) => {
      const s = createServer().listen(0, "127.0.0.1", () => {
        const p = (s.address() as { port: number }).port;
        s.close(() => resolve(p));
      });
    });
    const child = spawn(
      process.execPath,
      [join(REPO, "test/emulators/run.mjs"), "turso", "--port", String(port)],
      {
        cwd: REPO,
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    try {
      let out = "";
      await new Promise<void>((resolve, reject) => {
        child.stdout.on("data", (d: Buffer) => {
          out += d.toString();
          if (out.includes("TURSO_ORG=")) resolve();
        });
        child.on("exit", (code) => reject(new Error(`exited ${code}: ${out}`)));
      });
      expect(out).toContain(`turso emulator: http://127.0.0.1:${port}`);
      expect(out).toMatch(/export FORKSTACK_TURSO_DB_URL=http:\/\/127\.0\.0\.1:\d+\/\{hostname\}\//);
      const response = await fetch(`http://127.0.0.1:${port}/v1/organizations/acme/databases`, {
        headers: { authorization: "Bearer turso-emulator-token" },
      });
      expect(response.status).toBe(200);
      expect(await response.json()).toEqual({ databases: [] });
    } finally {
      child.kill("SIGTERM");
      await new Promise((resolve) => child.once("close", resolve));
    }
  });
});
