/**
 * `forkstack/vitest` for real: a small vitest project in a temp dir, with the documented config (4 fork
 * workers, the forkstack global setup and setup file) and 6 test files that each write a row into their
 * worker's database, run by the repo's vitest as a child process against the built package. Then the
 * ways a run ends badly: SIGKILL of the whole run (no hook runs) and Ctrl-C.
 *
 * Runs the built package (`npm run build` first), like the other process-level tests.
 */
import { spawn } from "node:child_process";
import { existsSync, rmSync } from "node:fs";
import { cp, mkdir, readFile, symlink, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { cleanEnv, cli, REPO, removeProject, tempProject, type CliResult } from "../helpers/project.js";
import { sql } from "../helpers/sql.js";
import { waitFor } from "../helpers/wait.js";

const VITEST = join(REPO, "node_modules/vitest/vitest.mjs");
const FILES = 6;

/** The config docs/testing.md shows, plus a switch to leave the global setup out. */
const VITEST_CONFIG = `import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    pool: process.env.POOL ?? "forks",
    maxWorkers: 4,
    // Checks the template once, deletes worker envs an interrupted run left behind.
    globalSetup: process.env.NO_GLOBAL_SETUP ? [] : ["forkstack/vitest/global-setup"],
    // Forks test-<worker> from the template before each test file, deletes it after.
    setupFiles: ["forkstack/vitest/setup"],
    provide: { forkstack: { from: "test-template" } },
    isolate: !process.env.NO_ISOLATE,
  },
});
`;

/** Each test file: write a row as its env, then see only the template's row and its own. */
function testFile(i: number): string {
  return `import { appendFileSync, existsSync } from "node:fs";
import Database from "libsql";
import { expect, test } from "vitest";
import { currentEnv, databaseUrl } from "forkstack";

test("file ${i} sees only its own worker's rows", async () => {
  const env = currentEnv();
  expect(process.env.DATABASE_URL).toBe(databaseUrl());
  const db = new Database(databaseUrl().slice("file:".length));
  db.prepare("insert into seen (who) values (?)").run(env + "/${i}");
  // Overlap with the other workers, so that a shared database would show their rows.
  await new Promise((r) => setTimeout(r, 300));
  const rows = db.prepare("select who from seen order by id").all().map((r) => r.who);
  db.close();
  appendFileSync("../results.jsonl", JSON.stringify({ file: ${i}, env, pool: process.env.VITEST_POOL_ID, pid: process.pid, rows }) + "\\n");
  if (process.env.HANG) {
    // Hold the worker (and its env) until the run is killed.
    appendFileSync("../hanging", env + "\\n");
    while (!existsSync("../never")) await new Promise((r) => setTimeout(r, 50));
  }
  expect(rows).toEqual(["template", env + "/${i}"]);
}, 120_000);
`;
}

interface Result {
  file: number;
  env: string;
  pool: string;
  pid: number;
  rows: string[];
}

/**
 * The package as npm installs it: a real `node_modules/forkstack` directory (a symlink to the repo would
 * resolve outside node_modules, and vitest would run the package through its transformer instead of
 * importing it as a dependency), its dependencies linked next to it, plus vitest and a SQLite client.
 */
async function installPackage(modules: string): Promise<void> {
  const pkg = join(modules, "forkstack");
  await mkdir(pkg, { recursive: true });
  for (const entry of ["package.json", "bin", "dist"]) {
    await cp(join(REPO, entry), join(pkg, entry), { recursive: true });
  }
  const { dependencies } = JSON.parse(await readFile(join(REPO, "package.json"), "utf8")) as {
    dependencies: Record<string, string>;
  };
  for (const dep of [...Object.keys(dependencies), "vitest", "libsql"]) {
    if (existsSync(join(modules, dep))) continue;
    await mkdir(dirname(join(modules, dep)), { recursive: true });
    await symlink(join(REPO, "node_modules", dep), join(modules, dep));
  }
}

let root: string; // holds the results file, next to the project
let project: string;

async function envNames(): Promise<string[]> {
  const list = JSON.parse(await cli(["list", "--json"], { cwd: project })) as { name: string }[];
  return list.map((e) => e.name).sort();
}

async function results(): Promise<Result[]> {
  const file = join(root, "results.jsonl");
  if (!existsSync(file)) return [];
  const text = await readFile(file, "utf8");
  return text
    .trim()
    .split("\n")
    .filter(Boolean)
    .map((line) => JSON.parse(line) as Result);
}

/**
 * Run vitest in the project as its own process group (so the whole run, workers included, can be
 * killed at once, as a crash or a terminal's Ctrl-C would), optionally under `forkstack run`.
 */
function startVitest(options: { env?: Record<string, string>; underRun?: boolean } = {}) {
  for (const file of ["results.jsonl", "hanging"]) rmSync(join(root, file), { force: true });
  const vitest = [VITEST, "run"];
  const args = options.underRun
    ? [join(REPO, "bin/forkstack.mjs"), "run", "--env", "dev", "--", process.execPath, ...vitest]
    : vitest;
  const child = spawn(process.execPath, args, {
    cwd: project,
    env: cleanEnv(options.env),
    stdio: "pipe",
    detached: true,
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  const done = new Promise<CliResult>((resolve, reject) => {
    const timer = setTimeout(() => process.kill(-child.pid!, "SIGKILL"), 150_000);
    child.on("error", reject);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
  return { child, done };
}

describe("forkstack/vitest: one env per worker", () => {
  beforeAll(async () => {
    root = await tempProject(null, { suite: true });
    project = join(root, "app");
    await mkdir(join(project, "node_modules"), { recursive: true });
    await writeFile(
      join(project, "forkstack.config.json"),
      JSON.stringify({
        project: "myapp",
        database: { provider: "sqlite" },
        secrets: { provider: "dotenv" },
        local: { provider: "directory" },
      }),
    );
    await writeFile(
      join(project, "package.json"),
      JSON.stringify({ name: "app", private: true, type: "module" }),
    );
    await installPackage(join(project, "node_modules"));
    await writeFile(join(project, "vitest.config.mjs"), VITEST_CONFIG);
    await mkdir(join(project, "test"));
    for (let i = 1; i <= FILES; i++) await writeFile(join(project, `test/file${i}.test.mjs`), testFile(i));
    // The template: dev forked once, with a table and a row every worker must see.
    await cli(["new", "test-template", "--from", "dev", "--no-switch"], { cwd: project });
    const env = JSON.parse(await cli(["env", "test-template", "--format", "json"], { cwd: project })) as {
      DATABASE_URL: string;
    };
    await sql(env.DATABASE_URL, "create table seen (id integer primary key, who text)");
    await sql(env.DATABASE_URL, "insert into seen (who) values ('template')");
    return () => removeProject(root);
  }, 120_000);

  it(
    "4 workers, each in its own fork of the template, none left after the run",
    { timeout: 180_000 },
    async () => {
      // Under `forkstack run --env dev`: the workers inherit dev's DATABASE_URL and must not use it.
      const run = await startVitest({ underRun: true }).done;
      expect(run.code, run.stdout + run.stderr).toBe(0);
      const seen = await results();
      expect(seen).toHaveLength(FILES);
      expect(new Set(seen.map((r) => r.env))).toEqual(new Set(["test-1", "test-2", "test-3", "test-4"]));
      for (const r of seen) {
        expect(r.env).toBe(`test-${r.pool}`);
        expect(r.rows).toEqual(["template", `${r.env}/${r.file}`]);
      }
      expect(await envNames()).toEqual(["dev", "test-template"]);
      // The template itself was only forked, never written.
      const template = JSON.parse(
        await cli(["env", "test-template", "--format", "json"], { cwd: project }),
      ) as {
        DATABASE_URL: string;
      };
      expect(await sql(template.DATABASE_URL, "select who from seen")).toEqual([{ who: "template" }]);
    },
  );

  it("pool: threads (worker threads, each with its own process.env)", { timeout: 180_000 }, async () => {
    const run = await startVitest({ env: { POOL: "threads" } }).done;
    expect(run.code, run.stdout + run.stderr).toBe(0);
    const seen = await results();
    expect(seen).toHaveLength(FILES);
    expect(new Set(seen.map((r) => r.pid)).size).toBe(1);
    expect(new Set(seen.map((r) => r.env)).size).toBe(4);
    for (const r of seen) expect(r.rows).toEqual(["template", `${r.env}/${r.file}`]);
    expect(await envNames()).toEqual(["dev", "test-template"]);
  });

  it(
    "isolate: false (one process runs many files): each file still gets a fresh fork",
    { timeout: 180_000 },
    async () => {
      const run = await startVitest({ env: { NO_ISOLATE: "1" } }).done;
      expect(run.code, run.stdout + run.stderr).toBe(0);
      const seen = await results();
      expect(seen).toHaveLength(FILES);
      // Some worker process did run more than one file.
      expect(new Set(seen.map((r) => r.pid)).size).toBeLessThan(FILES);
      for (const r of seen) expect(r.rows).toEqual(["template", `${r.env}/${r.file}`]);
      expect(await envNames()).toEqual(["dev", "test-template"]);
    },
  );

  /** Start a run whose tests hang once each of the 4 workers has its env, and wait for that. */
  async function hangingRun() {
    const run = startVitest({ env: { HANG: "1" } });
    await waitFor(async () => {
      const text = existsSync(join(root, "hanging")) ? await readFile(join(root, "hanging"), "utf8") : "";
      return new Set(text.split("\n").filter(Boolean)).size === 4;
    }, 100); // 4 hanging workers
    expect(await workerEnvs()).toEqual(["test-1", "test-2", "test-3", "test-4"]);
    return run;
  }

  async function workerEnvs(): Promise<string[]> {
    return (await envNames()).filter((n) => /^test-\d+$/.test(n));
  }

  it(
    "after a SIGKILL of the whole run, the next run's workers replace the leftovers",
    { timeout: 180_000 },
    async () => {
      const killed = await hangingRun();
      process.kill(-killed.child.pid!, "SIGKILL");
      await killed.done;
      // Nothing ran after the kill: the 4 envs are still there.
      expect(await workerEnvs()).toEqual(["test-1", "test-2", "test-3", "test-4"]);

      // Without the global setup, each worker meets its slot's leftover and replaces it.
      const next = await startVitest({ env: { NO_GLOBAL_SETUP: "1" } }).done;
      expect(next.code, next.stdout + next.stderr).toBe(0);
      const seen = await results();
      expect(seen).toHaveLength(FILES);
      for (const r of seen) expect(r.rows).toEqual(["template", `${r.env}/${r.file}`]);
      expect(await envNames()).toEqual(["dev", "test-template"]);
    },
  );

  it(
    "after a SIGKILL, the next run's global setup deletes the leftovers first",
    { timeout: 180_000 },
    async () => {
      const killed = await hangingRun();
      process.kill(-killed.child.pid!, "SIGKILL");
      await killed.done;

      const next = await startVitest().done;
      expect(next.code, next.stdout + next.stderr).toBe(0);
      expect(next.stderr).toContain(
        "[forkstack] deleted worker envs an interrupted run left: test-1, test-2, test-3, test-4",
      );
      expect(await results()).toHaveLength(FILES);
      expect(await envNames()).toEqual(["dev", "test-template"]);
    },
  );

  it("Ctrl-C: the workers delete their envs before they exit", { timeout: 180_000 }, async () => {
    const interrupted = await hangingRun();
    // What a terminal does on Ctrl-C: SIGINT to every process of the foreground group.
    process.kill(-interrupted.child.pid!, "SIGINT");
    const result = await interrupted.done;
    expect(result.code).not.toBe(0);
    await waitFor(async () => (await workerEnvs()).length === 0, 100); // the workers' cleanup
    expect(await envNames()).toEqual(["dev", "test-template"]);
  });
});
