/**
 * The user's walk-through of the core issue, end to end with the built CLI in a fresh app directory:
 * init → new → current → list → env → run → new --from --ttl → reset → switch → delete → gc → doctor.
 */
import { existsSync, statSync } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { sql } from "../helpers/sql.js";
import { describe, expect, it } from "vitest";
import { cli, runCli, tempProject } from "../helpers/project.js";
import { clockAhead } from "../helpers/clock-ahead.js";

async function envJson(cwd: string, env: string, reveal = false): Promise<Record<string, string>> {
  const out = await cli(["env", env, "--format", "json", ...(reveal ? ["--reveal"] : [])], { cwd });
  return JSON.parse(out) as Record<string, string>;
}

describe("cli: the env lifecycle walk-through", () => {
  it("init, fork, inspect, run, reset, switch, delete, gc and doctor", async () => {
    const cwd = await tempProject(null);
    await writeFile(join(cwd, "package.json"), JSON.stringify({ name: "@acme/my-app", type: "module" }));

    // init: config with embedded defaults, .gitignore entries, the dev env
    await cli(["init", "--yes"], { cwd });
    const config = await readFile(join(cwd, "forkstack.config.ts"), "utf8");
    expect(config).toContain('project: "my-app"');
    expect(config).toContain('provider: "sqlite"');
    const gitignore = await readFile(join(cwd, ".gitignore"), "utf8");
    for (const line of [".forkstack/", ".current-env", ".env.local", "/my-app.*.db/"])
      expect(gitignore).toContain(line);

    // seed dev: a table, a secret, a local file
    const dev = await envJson(cwd, "dev");
    expect(dev.DATABASE_URL).toMatch(/^file:\//);
    await sql(dev.DATABASE_URL!, "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)");
    await sql(dev.DATABASE_URL!, "INSERT INTO notes (body) VALUES ('from dev')");
    await writeFile(join(dev.FORKSTACK_LOCAL_PATH!, "graph.bin"), "dev-state");
    await cli(["secrets", "set", "STRIPE_KEY=sk_test_123", "--env", "dev"], { cwd });

    // new alice: forked from dev, switched to
    expect((await cli(["new", "alice"], { cwd })).trim()).toBe("alice");
    expect((await cli(["current"], { cwd })).trim()).toBe("alice");

    const list = JSON.parse(await cli(["list", "--json"], { cwd })) as Array<Record<string, unknown>>;
    expect(list.map((e) => e.name)).toEqual(["alice", "dev"]);
    const alice = list.find((e) => e.name === "alice")!;
    expect(alice).toMatchObject({ parent: "dev", status: "ready", current: true });
    expect(alice.resources).toMatchObject({
      database: { provider: "sqlite", status: "ok" },
      secrets: { provider: "dotenv", status: "ok" },
      local: { provider: "directory", status: "ok" },
    });
    expect(list.find((e) => e.name === "dev")).toMatchObject({
      parent: null,
      current: false,
      protected: true,
    });

    // env: DESIGN §3 variables, secrets masked unless --reveal
    const vars = await envJson(cwd, "alice");
    expect(vars.FORKSTACK_ENV).toBe("alice");
    expect(vars.DATABASE_URL).toBe(`file:${join(cwd, ".forkstack/envs/alice/db.sqlite")}`);
    expect(vars.FORKSTACK_LOCAL_PATH).toBe(join(cwd, "my-app.alice.db"));
    expect(vars.STRIPE_KEY).toBe("********");
    expect((await envJson(cwd, "alice", true)).STRIPE_KEY).toBe("sk_test_123");

    // the fork has dev's data; writes to it do not reach dev
    await sql(vars.DATABASE_URL!, "INSERT INTO notes (body) VALUES ('from alice')");
    expect(await sql(dev.DATABASE_URL!, "SELECT body FROM notes")).toEqual([{ body: "from dev" }]);
    expect(await readFile(join(vars.FORKSTACK_LOCAL_PATH!, "graph.bin"), "utf8")).toBe("dev-state");

    // run: the command sees alice's variables and its exit code passes through
    await writeFile(
      join(cwd, "app.js"),
      "console.log(JSON.stringify({ env: process.env.FORKSTACK_ENV, db: process.env.DATABASE_URL, key: process.env.STRIPE_KEY })); process.exit(7);",
    );
    const run = await runCli(["run", "--env", "alice", "--", "node", "app.js"], { cwd });
    expect(run.code).toBe(7);
    expect(JSON.parse(run.stdout)).toEqual({ env: "alice", db: vars.DATABASE_URL, key: "sk_test_123" });

    // bob from alice, not switched, with a ttl
    await cli(["new", "bob", "--from", "alice", "--no-switch", "--ttl", "2h"], { cwd });
    expect((await cli(["current"], { cwd })).trim()).toBe("alice");
    const bobListing = (
      JSON.parse(await cli(["list", "--json"], { cwd })) as Array<Record<string, string>>
    ).find((e) => e.name === "bob")!;
    expect(bobListing.parent).toBe("alice");
    expect(Date.parse(bobListing.expiresAt!) - Date.parse(bobListing.createdAt!)).toBe(2 * 3600_000);

    // reset bob: its own writes are gone, alice's data is back, same name and URL
    const bob = await envJson(cwd, "bob");
    await sql(bob.DATABASE_URL!, "DELETE FROM notes");
    await cli(["reset", "bob"], { cwd });
    expect(await sql(bob.DATABASE_URL!, "SELECT body FROM notes ORDER BY id")).toEqual([
      { body: "from dev" },
      { body: "from alice" },
    ]);

    // switch back to dev
    await cli(["switch", "dev"], { cwd });
    expect((await cli(["current"], { cwd })).trim()).toBe("dev");
    expect((await readFile(join(cwd, ".current-env"), "utf8")).trim()).toBe("dev");
    expect(statSync(join(cwd, ".env.local")).mode & 0o777).toBe(0o600);

    // delete alice: database, secrets and local state are gone
    await cli(["delete", "alice", "--yes"], { cwd });
    expect(existsSync(join(cwd, ".forkstack/envs/alice"))).toBe(false);
    expect(existsSync(join(cwd, "my-app.alice.db"))).toBe(false);
    const after = JSON.parse(await cli(["list", "--json"], { cwd })) as Array<{ name: string }>;
    expect(after.map((e) => e.name)).toEqual(["bob", "dev"]);

    // gc deletes envs whose ttl has passed, and only those: run ten minutes later (short's 5 min have
    // passed, bob's 2 h have not), on a clock set ahead rather than after a sleep. Ten minutes stay
    // within the 15 minutes of clock skew SigV4 allows, so the storage server still takes its requests.
    await cli(["new", "short", "--no-switch", "--ttl", "5m"], { cwd });
    const later = { cwd, env: clockAhead(10 * 60_000) };
    const now = JSON.parse(await cli(["gc", "--dry-run", "--json"], { cwd })) as { expired: string[] };
    expect(now.expired).toEqual([]);
    const dry = JSON.parse(await cli(["gc", "--dry-run", "--json"], later)) as { expired: string[] };
    expect(dry.expired).toEqual(["short"]);
    expect(existsSync(join(cwd, ".forkstack/envs/short"))).toBe(true);
    // Outside a terminal, gc without --yes only reports
    const unconfirmed = await runCli(["gc"], later);
    expect(unconfirmed.stdout).toContain("Would delete expired env short");
    expect(unconfirmed.stderr).toContain("pass --yes to delete");
    expect(existsSync(join(cwd, ".forkstack/envs/short"))).toBe(true);
    const collected = JSON.parse(await cli(["gc", "--yes", "--json"], later)) as { expired: string[] };
    expect(collected.expired).toEqual(["short"]);
    expect(existsSync(join(cwd, ".forkstack/envs/short"))).toBe(false);
    expect(existsSync(join(cwd, ".forkstack/envs/bob"))).toBe(true);

    // doctor is happy and says how forks are made
    const doctor = await runCli(["doctor"], { cwd });
    expect(doctor.code).toBe(0);
    expect(doctor.stdout).toMatch(/config: .*valid/);
    expect(doctor.stdout).toMatch(/reflink|copy/);
  });
});

describe("cli: a fresh clone (the config committed, no .forkstack/ yet)", () => {
  it("run and secrets set make the default env on first use, as new does", async () => {
    const cwd = await tempProject();
    const ran = await runCli(["run", "--", "node", "-e", "console.log(process.env.FORKSTACK_ENV)"], { cwd });
    expect(ran.code, ran.stderr).toBe(0);
    expect(ran.stdout.trim()).toBe("dev");
    expect(ran.stderr).toMatch(/The default env "dev" did not exist on this machine; created it empty/);
    expect(existsSync(join(cwd, ".forkstack/envs/dev/manifest.json"))).toBe(true);

    const other = await tempProject();
    const set = await runCli(["secrets", "set", "API_KEY=k1"], { cwd: other });
    expect(set.code, set.stderr).toBe(0);
    expect((await envJson(other, "dev", true)).API_KEY).toBe("k1");
    // Another env is not made on demand: only the default one is.
    const missing = await runCli(["run", "--env", "alice", "--", "true"], { cwd });
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/"alice" not found/);
    await cli(["down"], { cwd });
    await cli(["down"], { cwd: other });
  });
});
