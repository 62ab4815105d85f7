/**
 * Bad input gets one clear message, the right exit code, no stack trace, and changes nothing.
 */
import { execFileSync } from "node:child_process";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from "vitest";
import {
  EMBEDDED_CONFIG,
  cli,
  projectFiles as snapshot,
  removeProject,
  runCli,
  tempProject,
} from "../helpers/project.js";
import { clockAhead } from "../helpers/clock-ahead.js";

function expectCleanFailure(
  result: { code: number | null; stderr: string },
  code: number,
  message: RegExp,
): void {
  expect(result.code, result.stderr).toBe(code);
  expect(result.stderr).toMatch(message);
  expect(result.stderr).not.toMatch(/^\s+at /m);
}

const isRoot = process.getuid?.() === 0;

describe("cli: bad input", () => {
  let cwd: string;
  afterAll(() => removeProject(cwd));
  beforeAll(async () => {
    cwd = await tempProject(undefined, { suite: true });
    await cli(["new", "alice", "--no-switch"], { cwd });
  });

  it.each([
    ["Alice", /Invalid env name "Alice": it contains "A"/],
    ["a_b", /Invalid env name "a_b": it contains "_"/],
    ["../x", /Invalid env name "\.\.\/x": it contains "\.", "\/"/],
    ["", /Invalid env name "": it is empty/],
    ["x".repeat(200), /it is 200 characters long/],
    ["x-", /hyphens may only separate/],
    ["a--b", /hyphens may only separate/],
  ])("refuses the env name %j", async (name, message) => {
    const before = snapshot(cwd);
    const result = await runCli(["new", name], { cwd });
    expectCleanFailure(result, 1, message);
    expect(result.stderr).toMatch(/lowercase letters a-z, digits 0-9 and single hyphens/);
    expect(snapshot(cwd)).toEqual(before);
  });

  it.each([
    [["delete", "dev", "--yes"], /"dev" is a protected env: it cannot be deleted without --force/],
    [["delete", "prod", "--yes"], /"prod" is a protected env/],
    [["reset", "prod"], /Environment "prod" not found/],
    [["reset", "dev"], /"dev" is a root env: it has no parent to reset from/],
    [["new", "alice"], /Environment "alice" already exists/],
    [["switch", "nobody"], /Environment "nobody" not found[\s\S]*Available: alice, dev/],
    [["delete", "nobody", "--yes"], /Environment "nobody" not found/],
    [["new", "carol", "--from", "nobody"], /Environment "nobody" not found/],
    [["delete", "alice"], /Not deleting "alice" without confirmation[\s\S]*--yes/],
    [["new", "carol", "--ttl", "soon"], /Invalid duration "soon"/],
  ])("refuses %j and changes nothing", async (args, message) => {
    const before = snapshot(cwd);
    const result = await runCli(args, { cwd });
    const usage = args.includes("--ttl") || args.join(" ") === "reset dev";
    expectCleanFailure(result, usage ? 2 : 1, message);
    expect(snapshot(cwd)).toEqual(before);
  });

  it("refuses forking an env from itself and resetting a root, changing nothing", async () => {
    const before = snapshot(cwd);
    expectCleanFailure(
      await runCli(["new", "carol", "--from", "carol"], { cwd }),
      2,
      /cannot be forked from itself/,
    );
    expectCleanFailure(
      await runCli(["reset", "dev", "--force"], { cwd }),
      2,
      /"dev" is a root env: it has no parent/,
    );
    expect(snapshot(cwd)).toEqual(before);
  });

  it("usage errors exit 2", async () => {
    expectCleanFailure(await runCli(["new"], { cwd }), 2, /Missing argument <env>/);
    expectCleanFailure(await runCli(["list", "--bogus"], { cwd }), 2, /Unknown option '--bogus'/);
    expectCleanFailure(await runCli(["frobnicate"], { cwd }), 2, /Unknown command "frobnicate"/);
    expectCleanFailure(await runCli(["run", "--env", "alice"], { cwd }), 2, /No command to run/);
  });

  it("--json errors are JSON on stdout too", async () => {
    const result = await runCli(["switch", "nobody", "--json"], { cwd });
    expect(result.code).toBe(1);
    expect(JSON.parse(result.stdout)).toMatchObject({ error: { code: "E_ENV_NOT_FOUND" } });
  });

  it("every command has --help", async () => {
    const top = await runCli(["--help"], { cwd });
    expect(top.code).toBe(0);
    const names = [...top.stdout.matchAll(/^ {2}([a-z]+) {2,}/gm)].map((m) => m[1]!);
    expect(names).toEqual(
      expect.arrayContaining([
        "init",
        "new",
        "switch",
        "current",
        "list",
        "delete",
        "reset",
        "env",
        "run",
        "gc",
        "doctor",
      ]),
    );
    for (const name of names) {
      const help = await runCli([name, "--help"], { cwd });
      expect(help.code, name).toBe(0);
      expect(help.stdout).toMatch(new RegExp(`^Usage: forkstack ${name}`));
    }
  });
});

describe("cli: broken config and state", () => {
  it.each([
    [
      { ...EMBEDDED_CONFIG, database: { provider: "mysql" } },
      /`database.provider` is "mysql".*expected one of: sqlite/,
    ],
    [{ database: { provider: "sqlite" } }, /`project` is required/],
    [{ ...EMBEDDED_CONFIG, project: "My App" }, /`project` must be lowercase/],
    [{ ...EMBEDDED_CONFIG, protected: "dev" }, /`protected` /],
    [{ ...EMBEDDED_CONFIG, databse: {} }, /unknown key `databse`/],
    [{ ...EMBEDDED_CONFIG, database: { provider: "sqlite", file: 3 } }, /database\.file/],
  ])("names the key of an invalid config (%#)", async (config, message) => {
    const cwd = await tempProject(config);
    const result = await runCli(["list"], { cwd });
    expectCleanFailure(result, 1, message);
    expect(result.stderr).toMatch(/forkstack\.config\.json/);
  });

  it("says when there is no config", async () => {
    const cwd = await tempProject(null);
    expectCleanFailure(
      await runCli(["list"], { cwd }),
      1,
      /No forkstack\.config\.\* found[\s\S]*forkstack init/,
    );
  });

  it("reports a corrupted manifest as broken and refuses to use it", async () => {
    const cwd = await tempProject();
    await cli(["new", "alice", "--no-switch"], { cwd });
    await writeFile(join(cwd, ".forkstack/envs/alice/manifest.json"), "{ not json");
    const list = JSON.parse(await cli(["list", "--json"], { cwd })) as Array<{
      name: string;
      status: string;
      problem?: string;
    }>;
    expect(list.find((e) => e.name === "alice")).toMatchObject({
      status: "broken",
      problem: expect.stringMatching(/not valid JSON/),
    });
    expectCleanFailure(
      await runCli(["switch", "alice"], { cwd }),
      1,
      /"alice" is broken: its manifest is not valid JSON/,
    );
    expectCleanFailure(await runCli(["new", "bob", "--from", "alice"], { cwd }), 1, /"alice" is broken/);
    expect((await runCli(["doctor"], { cwd })).code).toBe(1);
    // and it can still be deleted
    await cli(["delete", "alice", "--yes"], { cwd });
    expect(JSON.parse(await cli(["list", "--json"], { cwd }))).toHaveLength(1);
  });

  it("reports garbage in .current-env", async () => {
    const cwd = await tempProject();
    await writeFile(join(cwd, ".current-env"), "\u0000\u0001garbage!!\n");
    expectCleanFailure(
      await runCli(["current"], { cwd }),
      1,
      /\.current-env holds .* not an env name[\s\S]*forkstack switch/,
    );
    expectCleanFailure(await runCli(["run", "--", "true"], { cwd }), 1, /not an env name/);
  });

  it.skipIf(!isRoot)("a read-only .forkstack/ gives a clear error and changes nothing", async () => {
    const cwd = await tempProject();
    await cli(["new", "alice", "--no-switch"], { cwd });
    const envs = join(cwd, ".forkstack/envs");
    // Root ignores mode bits; the immutable attribute stops root too.
    execFileSync("chattr", ["+i", envs]);
    onTestFinished(() => void execFileSync("chattr", ["-i", envs]));
    const before = snapshot(cwd);
    const result = await runCli(["new", "bob"], { cwd });
    expectCleanFailure(result, 1, /read-only|not writable|Cannot write/);
    expect(snapshot(cwd)).toEqual(before);
  });

  it.skipIf(!isRoot)("a full disk gives a clear error and leaves no half-made env", async () => {
    const cwd = await tempProject();
    await cli(["new", "alice", "--no-switch"], { cwd });
    // Mount a tiny tmpfs over the env's future directory's parent, filled to the brim.
    const mnt = join(cwd, "full");
    await mkdir(mnt);
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=256k", "tmpfs", mnt]);
    onTestFinished(() => void execFileSync("umount", ["-l", mnt]));
    await writeFile(join(mnt, "forkstack.config.json"), JSON.stringify(EMBEDDED_CONFIG));
    await cli(["new", "alice", "--no-switch"], { cwd: mnt });
    execFileSync("sh", ["-c", `dd if=/dev/zero of=${mnt}/filler bs=4k 2>/dev/null || true`]);
    const before = snapshot(mnt);
    const result = await runCli(["new", "bob", "--no-switch"], { cwd: mnt });
    expectCleanFailure(result, 1, /disk is full|ENOSPC|No space/);
    expect(snapshot(mnt).filter((p) => !p.startsWith("filler"))).toEqual(
      before.filter((p) => !p.startsWith("filler")),
    );
  });

  it.skipIf(!isRoot)(
    "on a full disk, read-only commands work, doctor says why, and gc/delete free space",
    async () => {
      const mnt = await mkdtemp(join(tmpdir(), "fs-full-"));
      execFileSync("mount", ["-t", "tmpfs", "-o", "size=1m", "tmpfs", mnt]);
      onTestFinished(async () => {
        execFileSync("umount", ["-l", mnt]);
        await rm(mnt, { recursive: true, force: true });
      });
      await writeFile(join(mnt, "forkstack.config.json"), JSON.stringify(EMBEDDED_CONFIG));
      await cli(["new", "alice"], { cwd: mnt });
      await cli(["new", "bob", "--no-switch", "--ttl", "1h"], { cwd: mnt });
      await cli(["new", "carol", "--no-switch"], { cwd: mnt });
      execFileSync("sh", ["-c", `dd if=/dev/zero of=${mnt}/filler bs=4k 2>/dev/null || true`]);

      const listed = JSON.parse(await cli(["list", "--json"], { cwd: mnt })) as { name: string }[];
      expect(listed.map((e) => e.name)).toEqual(["alice", "bob", "carol", "dev"]);
      expect(await cli(["env", "--format", "json"], { cwd: mnt })).toContain("alice");
      expect((await cli(["run", "--", "sh", "-c", "echo $FORKSTACK_ENV"], { cwd: mnt })).trim()).toBe(
        "alice",
      );
      const doctor = await runCli(["doctor"], { cwd: mnt });
      expect(doctor.stdout).toMatch(/disk holding .* is full/);
      expect(doctor.code).toBe(1);
      // what frees space works
      // An hour later (a clock set ahead, not a sleep), bob's ttl has passed.
      expect(await cli(["gc", "--yes"], { cwd: mnt, env: clockAhead(3600_000) })).toContain(
        "Deleted expired env bob",
      );
      await cli(["delete", "carol", "--yes"], { cwd: mnt });
      const after = JSON.parse(await cli(["list", "--json"], { cwd: mnt })) as { name: string }[];
      expect(after.map((e) => e.name)).toEqual(["alice", "dev"]);
    },
  );

  it.skipIf(!isRoot)(
    "with a read-only .forkstack/, read-only commands work and doctor reports it",
    async () => {
      const cwd = await tempProject();
      await cli(["new", "alice"], { cwd });
      const dirs = [join(cwd, ".forkstack"), join(cwd, ".forkstack/envs")];
      for (const dir of dirs) execFileSync("chattr", ["+i", dir]);
      onTestFinished(() => {
        for (const dir of dirs) execFileSync("chattr", ["-i", dir]);
      });
      expect(JSON.parse(await cli(["list", "--json"], { cwd }))).toHaveLength(2);
      expect(await cli(["env", "--format", "json"], { cwd })).toContain("alice");
      expect((await cli(["run", "--", "sh", "-c", "echo $FORKSTACK_ENV"], { cwd })).trim()).toBe("alice");
      const doctor = await runCli(["doctor"], { cwd });
      expect(doctor.stdout).toMatch(/\.forkstack is not writable/);
    },
  );
});
