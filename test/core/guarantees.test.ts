/**
 * DESIGN.md §5 guarantees 3 and 4, with real processes: rollback when one resource fails, repair after
 * a kill -9 at each step, and many `new` commands at once.
 */
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { cli, runCli, tempProject } from "../helpers/project.js";

interface Listed {
  name: string;
  status: string;
  parent: string | null;
}

async function list(cwd: string): Promise<Listed[]> {
  return JSON.parse(await cli(["list", "--json"], { cwd })) as Listed[];
}

/** Nothing of `env` anywhere: no env dir (database, secrets, manifest) and no local state dir. */
function expectNoTrace(cwd: string, env: string): void {
  expect(existsSync(join(cwd, ".forkstack/envs", env)), `.forkstack/envs/${env}`).toBe(false);
  expect(existsSync(join(cwd, `myapp.${env}.db`)), `myapp.${env}.db`).toBe(false);
  expect(readdirSync(join(cwd, ".forkstack/envs")).filter((n) => n.startsWith("."))).toEqual([]);
}

describe("guarantee: atomic envs", () => {
  it.each(["database", "secrets", "local"])(
    "rolls back every resource when the %s fork fails",
    async (kind) => {
      const cwd = await tempProject();
      await cli(["new", "alice", "--no-switch"], { cwd });
      const result = await runCli(["new", "bob"], {
        cwd,
        env: { FORKSTACK_FAILPOINT: `step:${kind}=throw` },
      });
      expect(result.code).toBe(1);
      expect(result.stderr).toMatch(new RegExp(`failpoint step:${kind}`));
      expectNoTrace(cwd, "bob");
      expect((await list(cwd)).map((e) => e.name)).toEqual(["alice", "dev"]);
      expect((await cli(["current"], { cwd })).trim()).toBe("dev");
    },
  );

  it.each(["create:after-journal", "step:database", "step:local", "fork:after-steps", "create:before-ready"])(
    "repairs a kill -9 of `new` at %s: the next command rolls it back",
    async (point) => {
      const cwd = await tempProject();
      await cli(["new", "warm", "--no-switch"], { cwd });
      await cli(["delete", "warm", "--yes"], { cwd });
      const killed = await runCli(["new", "bob"], { cwd, env: { FORKSTACK_FAILPOINT: point } });
      expect(killed.signal).toBe("SIGKILL");
      const after = await list(cwd);
      expect(after.map((e) => e.name)).toEqual(["dev"]);
      expectNoTrace(cwd, "bob");
      // and the name is usable again
      await cli(["new", "bob", "--no-switch"], { cwd });
      expect((await list(cwd)).find((e) => e.name === "bob")?.status).toBe("ready");
    },
  );

  it("finishes a `delete` killed half-way", async () => {
    const cwd = await tempProject();
    await cli(["new", "bob", "--no-switch"], { cwd });
    const killed = await runCli(["delete", "bob", "--yes"], {
      cwd,
      env: { FORKSTACK_FAILPOINT: "delete:after-journal" },
    });
    expect(killed.signal).toBe("SIGKILL");
    expect((await list(cwd)).map((e) => e.name)).toEqual(["dev"]);
    expectNoTrace(cwd, "bob");
  });

  it("finishes a `reset` killed after its resources were removed", async () => {
    const cwd = await tempProject();
    await cli(["new", "bob", "--no-switch"], { cwd });
    const killed = await runCli(["reset", "bob"], {
      cwd,
      env: { FORKSTACK_FAILPOINT: "reset:after-remove" },
    });
    expect(killed.signal).toBe("SIGKILL");
    const bob = (await list(cwd)).find((e) => e.name === "bob");
    expect(bob).toMatchObject({ status: "ready", parent: "dev" });
    expect(existsSync(join(cwd, ".forkstack/envs/bob/db.sqlite"))).toBe(true);
  });
});

describe("guarantee: parallel-safe", () => {
  it("creates many envs at once when their names differ", async () => {
    const cwd = await tempProject();
    await cli(["list"], { cwd });
    const names = ["w1", "w2", "w3", "w4", "w5", "w6"];
    const results = await Promise.all(names.map((n) => runCli(["new", n, "--no-switch"], { cwd })));
    for (const r of results) expect(r.code, r.stderr).toBe(0);
    const envs = await list(cwd);
    expect(envs.map((e) => e.name).sort()).toEqual(["dev", ...names].sort());
    expect(envs.every((e) => e.status === "ready")).toBe(true);
  });

  it("the same name at once gives one env and clear 'already exists' errors", async () => {
    const cwd = await tempProject();
    await cli(["list"], { cwd });
    const results = await Promise.all(
      [1, 2, 3, 4].map(() => runCli(["new", "same", "--no-switch"], { cwd })),
    );
    expect(results.filter((r) => r.code === 0)).toHaveLength(1);
    for (const r of results.filter((r) => r.code !== 0)) {
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/Environment "same" already exists/);
    }
    expect((await list(cwd)).filter((e) => e.name === "same")).toEqual([
      expect.objectContaining({ status: "ready" }),
    ]);
  });
});

describe("interruption", () => {
  it("Ctrl-C during `new` rolls back and exits 130", async () => {
    const cwd = await tempProject();
    await cli(["new", "alice", "--no-switch"], { cwd });
    const result = await runCli(["new", "bob"], {
      cwd,
      env: { FORKSTACK_FAILPOINT: "step:database=sigint" },
    });
    expect(result.code).toBe(130);
    expect(result.stderr).toMatch(/Interrupted/);
    expectNoTrace(cwd, "bob");
    expect((await list(cwd)).map((e) => e.name)).toEqual(["alice", "dev"]);
  });
});
