/**
 * Rollback, repair and gc touch only what forkstack's own operations made (issue 7 §2, DESIGN.md §5.7),
 * driven through the built CLI the way a user (or an attacker) would.
 */
import { spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:net";
import { join } from "node:path";
import { sql } from "../helpers/sql.js";
import { describe, expect, it, onTestFinished } from "vitest";
import { BIN, EMBEDDED_CONFIG, REPO, cleanEnv, cli, runCli, tempProject } from "../helpers/project.js";
import { freePort, waitFor } from "../helpers/wait.js";

type Vars = Record<string, string>;
const envOf = async (cwd: string, env: string): Promise<Vars> =>
  JSON.parse(await cli(["env", env, "--format", "json", "--reveal"], { cwd })) as Vars;

interface Listed {
  name: string;
  status: string;
  parent: string | null;
  problem?: string;
}
const list = async (cwd: string) => JSON.parse(await cli(["list", "--json"], { cwd })) as Listed[];

/** Seed dev with a row, a secret and a local file; return dev's variables. */
async function seedDev(cwd: string): Promise<Vars> {
  const dev = await envOf(cwd, "dev");
  await sql(dev.DATABASE_URL!, "CREATE TABLE notes (body TEXT)");
  await sql(dev.DATABASE_URL!, "INSERT INTO notes VALUES ('precious')");
  await cli(["secrets", "set", "API_KEY=dev-secret", "--env", "dev"], { cwd });
  await writeFile(join(dev.FORKSTACK_LOCAL_PATH!, "graph.bin"), "dev-state");
  return dev;
}

async function expectDevIntact(cwd: string, dev: Vars): Promise<void> {
  expect(await sql(dev.DATABASE_URL!, "SELECT body FROM notes")).toEqual([{ body: "precious" }]);
  expect(readFileSync(join(dev.FORKSTACK_LOCAL_PATH!, "graph.bin"), "utf8")).toBe("dev-state");
  expect((await envOf(cwd, "dev")).API_KEY).toBe("dev-secret");
}

describe("rollback and repair never touch what the operation did not make", () => {
  it("a root whose manifest is gone is adopted, not deleted, by the next `new`", async () => {
    const cwd = await tempProject();
    await cli(["new", "warm", "--no-switch"], { cwd });
    const dev = await seedDev(cwd);
    await rm(join(cwd, ".forkstack/envs/dev/manifest.json"));

    const result = await runCli(["new", "bob", "--no-switch"], { cwd });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toMatch(/adopted/);
    await expectDevIntact(cwd, dev);
    // bob is a real fork of the adopted dev
    const bob = await envOf(cwd, "bob");
    expect(await sql(bob.DATABASE_URL!, "SELECT body FROM notes")).toEqual([{ body: "precious" }]);
    expect(bob.API_KEY).toBe("dev-secret");
    const manifest = JSON.parse(await readFile(join(cwd, ".forkstack/envs/dev/manifest.json"), "utf8"));
    expect(manifest.status).toBe("ready");
    expect(Object.values(manifest.resources).every((r) => (r as { adopted?: boolean }).adopted)).toBe(true);

    // deleting an adopted root (with --force) forgets it and keeps its data on the backend
    await cli(["delete", "bob", "--yes"], { cwd });
    const deleted = await runCli(["delete", "dev", "--yes", "--force"], { cwd });
    expect(deleted.code, deleted.stderr).toBe(0);
    expect(deleted.stderr).toMatch(/Kept its adopted database, secrets, local/);
    expect(await sql(dev.DATABASE_URL!, "SELECT body FROM notes")).toEqual([{ body: "precious" }]);
    expect(readFileSync(join(dev.FORKSTACK_LOCAL_PATH!, "graph.bin"), "utf8")).toBe("dev-state");
  });

  it("a fork whose resource already exists fails without removing that resource or anything else", async () => {
    const cwd = await tempProject();
    await cli(["new", "warm", "--no-switch"], { cwd });
    // Someone's data where carol's local state would go.
    const theirs = join(cwd, "myapp.carol.db");
    await mkdir(theirs);
    await writeFile(join(theirs, "keep.txt"), "not forkstack's");

    const result = await runCli(["new", "carol", "--no-switch"], { cwd });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/already exists/);
    expect(readFileSync(join(theirs, "keep.txt"), "utf8")).toBe("not forkstack's");
    // what the failed `new` made itself (database, secrets) is gone, and no record remains
    expect(existsSync(join(cwd, ".forkstack/envs/carol"))).toBe(false);
    expect((await list(cwd)).map((e) => e.name)).toEqual(["dev", "warm"]);
    // gc does not take the pre-existing directory for an orphan to delete without asking
    const dry = await runCli(["gc"], { cwd });
    expect(readFileSync(join(theirs, "keep.txt"), "utf8")).toBe("not forkstack's");
    expect(dry.code).toBe(0);
  });

  it("a rollback that fails because the backend is down stays pending and is finished by a later command", async () => {
    const port = await freePort();
    const cwd = await tempProject({ ...EMBEDDED_CONFIG, storage: { provider: "local", port } });
    onTestFinished(async () => void (await runCli(["down"], { cwd })));
    await cli(["new", "warm", "--no-switch"], { cwd });

    // `new zz1` fails its database step, then stops just before rolling back; meanwhile the storage
    // server goes away and another program takes its port, so the buckets cannot be removed.
    const child = spawn(process.execPath, [BIN, "new", "zz1", "--no-switch"], {
      cwd,
      env: cleanEnv({ FORKSTACK_FAILPOINT: "step:database=throw,rollback:before=stop" }),
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stderr = "";
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on("close", resolve));
    await waitFor(() => stopped(child.pid!));
    await cli(["down"], { cwd });
    const squatter = await listen(port);
    process.kill(child.pid!, "SIGCONT");
    expect(await exited).toBe(1);
    expect(stderr).toMatch(/Rollback of zz1 is incomplete/);

    // While the backend is down: visible, refused with the reason, reported by gc.
    const listed = (await list(cwd)).find((e) => e.name === "zz1");
    expect(listed?.status).toBe("interrupted");
    expect(listed?.problem).toMatch(/rollback incomplete/);
    const again = await runCli(["new", "zz1", "--no-switch"], { cwd });
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/Could not finish the interrupted `create` of "zz1" yet/);
    const gc = JSON.parse(await cli(["gc", "--dry-run", "--json"], { cwd })) as {
      pending: { env: string }[];
    };
    expect(gc.pending.map((p) => p.env)).toEqual(["zz1"]);

    // Backend back: the next command finishes the rollback, and the name is free again.
    await new Promise<void>((resolve) => squatter.close(() => resolve()));
    const after = await runCli(["list", "--json"], { cwd });
    expect(after.stderr).toMatch(/Repaired an interrupted `create` of "zz1": rolled back/);
    expect((JSON.parse(after.stdout) as Listed[]).map((e) => e.name)).toEqual(["dev", "warm"]);
    await cli(["new", "zz1", "--no-switch"], { cwd });
    expect((await list(cwd)).find((e) => e.name === "zz1")?.status).toBe("ready");
  });
});

describe("parents with forks", () => {
  it("deleting a parent re-parents its forks to the grandparent, so they can still be reset", async () => {
    const cwd = await tempProject();
    await cli(["new", "p", "--no-switch"], { cwd });
    await cli(["new", "c", "--from", "p", "--no-switch"], { cwd });
    const deleted = await runCli(["delete", "p", "--yes"], { cwd });
    expect(deleted.code, deleted.stderr).toBe(0);
    expect(deleted.stderr).toMatch(/c was forked from it: its parent is now dev/);
    expect((await list(cwd)).find((e) => e.name === "c")?.parent).toBe("dev");
    const reset = await runCli(["reset", "c"], { cwd });
    expect(reset.code, reset.stderr).toBe(0);
  });

  it("doctor reports a fork whose parent is gone, and reset says so clearly", async () => {
    const cwd = await tempProject();
    await cli(["new", "p", "--no-switch"], { cwd });
    await cli(["new", "c", "--from", "p", "--no-switch"], { cwd });
    // The parent's record vanished behind forkstack's back (a manual rm).
    await rm(join(cwd, ".forkstack/envs/p"), { recursive: true });
    await rm(join(cwd, "myapp.p.db"), { recursive: true });
    const doctor = await runCli(["doctor"], { cwd });
    expect(doctor.stdout).toMatch(/env c: its parent "p" no longer exists/);
    const reset = await runCli(["reset", "c"], { cwd });
    expect(reset.code).toBe(1);
    expect(reset.stderr).toMatch(/its parent "p" no longer exists/);
  });
});

describe("gc collects only what it can prove is this project's and unowned", () => {
  it("never a root's resources, dry-run unless --yes, and says what it would delete", async () => {
    const cwd = await tempProject();
    await cli(["new", "alice", "--no-switch"], { cwd });
    const dev = await seedDev(cwd);
    // An orphan: alice's manifest gone. A root without manifest: dev's gone too.
    await rm(join(cwd, ".forkstack/envs/alice/manifest.json"));
    await rm(join(cwd, ".forkstack/envs/dev/manifest.json"));

    const dry = await runCli(["gc"], { cwd });
    expect(dry.code).toBe(0);
    expect(dry.stderr).toContain("pass --yes to delete");
    expect(existsSync(join(cwd, "myapp.alice.db"))).toBe(true);

    const collected = JSON.parse(await cli(["gc", "--yes", "--json"], { cwd })) as {
      orphans: { env: string; kind: string }[];
    };
    expect(collected.orphans.map((o) => `${o.kind}:${o.env}`).sort()).toEqual([
      "database:alice",
      "local:alice",
      "secrets:alice",
    ]);
    expect(existsSync(join(cwd, "myapp.alice.db"))).toBe(false);
    expect(existsSync(join(cwd, ".forkstack/envs/alice"))).toBe(false);
    // dev, a root, was not touched: the next `new` adopts it with its data
    await cli(["new", "again", "--no-switch"], { cwd });
    await expectDevIntact(cwd, dev);
  });
});

function stopped(pid: number): boolean {
  try {
    return /^\d+ \(.*\) T/s.test(readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return false;
  }
}

function listen(port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer((socket) => socket.destroy());
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => resolve(server));
  });
}

describe("reset and delete while an app holds the env's database", () => {
  it("refuse, naming the process; --force overrides", async () => {
    const cwd = await tempProject();
    await cli(["new", "alice", "--no-switch"], { cwd });
    // The app, started the way a user starts it, through `forkstack run`.
    const app = join(REPO, "test/core/_fixtures/app.mjs");
    const child = spawn(
      process.execPath,
      [BIN, "run", "--env", "alice", "--", "sh", "-c", `exec node ${app} "\${DATABASE_URL#file:}"`],
      { cwd, env: cleanEnv(), stdio: ["ignore", "pipe", "inherit"] },
    );
    // SIGTERM: `forkstack run` forwards it to the app, so nothing outlives the test.
    const exited = new Promise((resolve) => child.once("close", resolve));
    onTestFinished(async () => {
      child.kill("SIGTERM");
      await exited;
    });
    await new Promise<void>((resolve) => child.stdout.once("data", () => resolve()));

    for (const args of [
      ["reset", "alice"],
      ["delete", "alice", "--yes"],
    ]) {
      const refused = await runCli([args[0]!, "--json", ...args.slice(1)], { cwd });
      expect(refused.code, args.join(" ")).toBe(1);
      expect(JSON.parse(refused.stdout).error.code).toBe("E_ENV_BUSY");
      expect(refused.stderr).toMatch(/pid \d+ node .*app\.mjs/);
      expect(refused.stderr).toContain("--force");
    }
    expect((await list(cwd)).find((e) => e.name === "alice")?.status).toBe("ready");
    const forced = await runCli(["reset", "alice", "--force"], { cwd });
    expect(forced.code, forced.stderr).toBe(0);
  });
});

describe("point-in-time forks", () => {
  it("--at is refused clearly where a provider keeps no history, and bad values are usage errors", async () => {
    const cwd = await tempProject();
    await cli(["new", "warm", "--no-switch"], { cwd });
    const refused = await runCli(["new", "past", "--at", "1h", "--no-switch"], { cwd });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(
      /Cannot fork at a past time: database \(sqlite\), secrets \(dotenv\), local \(directory\)/,
    );
    for (const at of ["yesterday", "10:00", "2026-11-30T10:00"]) {
      const bad = await runCli(["new", "past", "--at", at], { cwd });
      expect(bad.code, at).toBe(2);
      expect(bad.stderr).toContain(`Invalid --at "${at}"`);
    }
    const future = await runCli(["new", "past", "--at", "2999-01-01T00:00Z"], { cwd });
    expect(future.code).toBe(2);
    expect(future.stderr).toContain("is in the future");
    expect((await list(cwd)).map((e) => e.name)).toEqual(["dev", "warm"]);
  });
});
