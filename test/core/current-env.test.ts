/**
 * One truth for the current env (issue 7 §1): every command and the runtime library resolve it the
 * same way — `--env` → FORKSTACK_ENV → ENV (aliases) → `.current-env` → defaultEnv — and validate it
 * wherever it comes from. Driven through the built CLI and the built library, as a user would.
 */
import { chmod, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { REPO, cli, removeProject, runCli, runProcess, tempProject } from "../helpers/project.js";

const LIB = join(REPO, "dist/index.js");

/** Node code that imports the library as `fs` and prints the JSON of `expr` (or of the error). */
function libScript(expr: string): string {
  return `const fs = await import(${JSON.stringify(LIB)}); try { console.log(JSON.stringify({ ok: await (${expr}) })); } catch (e) { console.log(JSON.stringify({ error: e.code ?? e.message })); }`;
}

describe("the current env, resolved the same way everywhere", () => {
  let cwd: string;
  let urls: Record<string, string>;
  afterAll(() => removeProject(cwd));
  beforeAll(async () => {
    cwd = await tempProject(undefined, { suite: true });
    await cli(["new", "alice"], { cwd });
    await cli(["new", "prod", "--no-switch"], { cwd }); // a root of its own (test/cli/roots.test.ts)
    await cli(["switch", "dev"], { cwd });
    urls = {};
    for (const env of ["dev", "alice", "prod"]) {
      const vars = JSON.parse(await cli(["env", env, "--format", "json"], { cwd })) as Record<string, string>;
      urls[env] = vars.DATABASE_URL!;
    }
    expect(new Set(Object.values(urls)).size).toBe(3);
  });

  it("run follows FORKSTACK_ENV and ENV, and passes the resolved name to the child", async () => {
    const show = ["run", "--", "sh", "-c", 'echo "$FORKSTACK_ENV $DATABASE_URL"'];
    expect((await cli(show, { cwd, env: { FORKSTACK_ENV: "alice" } })).trim()).toBe(`alice ${urls.alice}`);
    expect((await cli(show, { cwd, env: { ENV: "production" } })).trim()).toBe(`prod ${urls.prod}`);
    expect((await cli(show, { cwd, env: { ENV: "alice", FORKSTACK_ENV: "dev" } })).trim()).toBe(
      `dev ${urls.dev}`,
    );
    // --env beats both variables
    const flagged = ["run", "--env", "alice", "--", "sh", "-c", 'echo "$FORKSTACK_ENV"'];
    expect((await cli(flagged, { cwd, env: { FORKSTACK_ENV: "dev" } })).trim()).toBe("alice");
    expect((await cli(show, { cwd })).trim()).toBe(`dev ${urls.dev}`);
  });

  it("secrets set, env and the list marker follow FORKSTACK_ENV", async () => {
    await cli(["secrets", "set", "ONLY_ALICE=yes"], { cwd, env: { FORKSTACK_ENV: "alice" } });
    const alice = JSON.parse(await cli(["env", "alice", "--format", "json", "--reveal"], { cwd })) as Record<
      string,
      string
    >;
    const dev = JSON.parse(await cli(["env", "dev", "--format", "json", "--reveal"], { cwd })) as Record<
      string,
      string
    >;
    expect(alice.ONLY_ALICE).toBe("yes");
    expect(dev.ONLY_ALICE).toBeUndefined();

    const viaVar = JSON.parse(
      await cli(["env", "--format", "json"], { cwd, env: { FORKSTACK_ENV: "alice" } }),
    );
    expect(viaVar.DATABASE_URL).toBe(urls.alice);
    const viaFlag = JSON.parse(await cli(["env", "--env", "prod", "--format", "json"], { cwd }));
    expect(viaFlag.DATABASE_URL).toBe(urls.prod);

    const list = JSON.parse(await cli(["list", "--json"], { cwd, env: { ENV: "production" } })) as {
      name: string;
      current: boolean;
    }[];
    expect(list.filter((e) => e.current).map((e) => e.name)).toEqual(["prod"]);
  });

  it("current --json says where the name came from", async () => {
    const current = async (env: Record<string, string> = {}) =>
      JSON.parse(await cli(["current", "--json"], { cwd, env })) as { name: string; source: string };
    expect(await current()).toEqual({ name: "dev", source: ".current-env" });
    expect(await current({ FORKSTACK_ENV: "alice" })).toEqual({ name: "alice", source: "FORKSTACK_ENV" });
    expect(await current({ ENV: "development" })).toEqual({ name: "dev", source: "ENV" });
  });

  it("refuses an invalid name from any source, never reading it as a path", async () => {
    for (const args of [["current"], ["env"], ["run", "--", "true"], ["secrets", "set", "A=b"], ["list"]]) {
      const result = await runCli([args[0]!, "--json", ...args.slice(1)], {
        cwd,
        env: { FORKSTACK_ENV: "../../x" },
      });
      if (args[0] === "list") {
        // list still works; it just marks no env current
        expect(result.code).toBe(0);
        continue;
      }
      expect(result.code, args.join(" ")).toBe(1);
      expect(JSON.parse(result.stdout).error.code).toBe("E_INVALID_ENV_NAME");
      expect(result.stderr).toContain("FORKSTACK_ENV");
    }
    const bad = await runCli(["current"], { cwd, env: { ENV: "Staging" } });
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/ENV="Staging" is not a valid env name/);
    const lib = await runProcess(
      process.execPath,
      ["--input-type=module", "-e", libScript("fs.databaseUrl()")],
      {
        cwd,
        env: { FORKSTACK_ENV: "../../x" },
      },
    );
    expect(JSON.parse(lib.stdout)).toEqual({ error: "E_INVALID_ENV_NAME" });
  });

  it("switch warns when FORKSTACK_ENV still wins over .current-env", async () => {
    const result = await runCli(["switch", "alice"], { cwd, env: { FORKSTACK_ENV: "dev" } });
    expect(result.code).toBe(0);
    expect(result.stderr).toContain("FORKSTACK_ENV is set in this shell");
    await cli(["switch", "dev"], { cwd });
  });

  it("a test worker under `forkstack run` that sets FORKSTACK_ENV gets its env's values, not the inherited ones", async () => {
    const worker = join(cwd, "worker.mjs");
    await writeFile(
      worker,
      `process.env.FORKSTACK_ENV = "alice";\n${libScript("[fs.currentEnv(), fs.databaseUrl(), fs.envVars().DATABASE_URL, fs.secret('ONLY_ALICE')]")}`,
    );
    const out = await cli(["run", "--", process.execPath, worker], { cwd });
    expect(JSON.parse(out)).toEqual({ ok: ["alice", urls.alice, urls.alice, "yes"] });
    // The parent's own process (no FORKSTACK_ENV change) keeps dev's values.
    const parent = await cli(
      ["run", "--", process.execPath, "--input-type=module", "-e", libScript("fs.databaseUrl()")],
      {
        cwd,
      },
    );
    expect(JSON.parse(parent)).toEqual({ ok: urls.dev });
  });

  it("a deployed app keeps its platform's values, even with FORKSTACK_ENV set", async () => {
    const platform = { FORKSTACK_ENV: "alice", DATABASE_URL: "postgres://platform/db" };
    const result = await runProcess(
      process.execPath,
      ["--input-type=module", "-e", libScript("[fs.databaseUrl(), fs.currentEnv()]")],
      { cwd, env: platform },
    );
    expect(JSON.parse(result.stdout)).toEqual({ ok: ["postgres://platform/db", "alice"] });
  });

  it("nothing after `--` is forkstack's: a child's --json is the child's", async () => {
    const script = join(cwd, "echo-args.mjs");
    await writeFile(script, "console.log(JSON.stringify(process.argv.slice(2)));\n");
    const result = await runCli(["run", "--", process.execPath, script, "--json", "-v"], { cwd });
    expect(result.code).toBe(0);
    expect(result.stdout.trim()).toBe('["--json","-v"]');
  });

  it("run: an empty command is a usage error, a missing one exits 127, a non-executable one 126", async () => {
    const empty = await runCli(["run", "--", ""], { cwd });
    expect(empty.code).toBe(2);
    expect(empty.stderr).toContain("No command to run");
    expect(empty.stderr).not.toContain("bug in forkstack");

    const missing = await runCli(["run", "--", "no-such-command-xyz"], { cwd });
    expect(missing.code).toBe(127);
    expect(missing.stderr).toContain("Command not found: no-such-command-xyz");

    const file = join(cwd, "not-exec.sh");
    await writeFile(file, "#!/bin/sh\necho hi\n");
    await chmod(file, 0o644);
    const notExec = await runCli(["run", "--", file], { cwd });
    expect(notExec.code).toBe(126);
    expect(notExec.stderr).toContain(`Cannot execute ${file}`);
  });

  it("run, env and the library refuse an env whose manifest is not complete", async () => {
    await cli(["new", "half", "--no-switch"], { cwd });
    const manifestPath = join(cwd, ".forkstack/envs/half/manifest.json");
    const manifest = JSON.parse(await readFile(manifestPath, "utf8")) as Record<string, unknown>;
    await writeFile(manifestPath, JSON.stringify({ ...manifest, status: "creating", resources: {} }));
    for (const args of [
      ["run", "--env", "half", "--", "true"],
      ["env", "half"],
    ]) {
      const result = await runCli([args[0]!, "--json", ...args.slice(1)], { cwd });
      expect(result.code, args.join(" ")).toBe(1);
      expect(JSON.parse(result.stdout).error.code).toBe("E_ENV_BROKEN");
    }
    const lib = await runProcess(
      process.execPath,
      ["--input-type=module", "-e", libScript("fs.databaseUrl()")],
      {
        cwd,
        env: { FORKSTACK_ENV: "half" },
      },
    );
    expect(JSON.parse(lib.stdout)).toEqual({ error: "E_ENV_BROKEN" });
    await writeFile(manifestPath, JSON.stringify(manifest));
  });
});

describe("the runtime library in a deployed app (no project files)", () => {
  it("returns what process.env has, or undefined, for optional values", async () => {
    const cwd = await tempProject(null);
    const run = (env: Record<string, string>) =>
      runProcess(
        process.execPath,
        [
          "--input-type=module",
          "-e",
          libScript("[fs.databaseAuthToken() ?? null, fs.secret('STRIPE_KEY') ?? null, fs.databaseUrl()]"),
        ],
        { cwd, env },
      );
    const withVars = await run({ DATABASE_URL: "libsql://x.turso.io", STRIPE_KEY: "sk_live" });
    expect(JSON.parse(withVars.stdout)).toEqual({ ok: [null, "sk_live", "libsql://x.turso.io"] });
    const without = await run({});
    // The required value is still a clear error.
    expect(JSON.parse(without.stdout)).toEqual({ error: "E_CONFIG_NOT_FOUND" });
  });
});
