/**
 * `delete` as a user meets it around the current env and a lost record: what it says, and that it
 * changes nothing it should not.
 */
import { existsSync } from "node:fs";
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { cli, projectFiles, runCli, tempProject } from "../helpers/project.js";

describe("cli: delete", () => {
  it("a root whose manifest was deleted: says it has no manifest and what is left, deletes nothing, and `new` takes it back", async () => {
    const cwd = await tempProject();
    await cli(["new", "alice"], { cwd }); // makes dev on the way
    await rm(join(cwd, ".forkstack/envs/dev/manifest.json"));
    const before = projectFiles(cwd);

    const result = await runCli(["delete", "dev", "--force", "--yes"], { cwd });
    expect(result.code, result.stderr).toBe(1);
    expect(result.stderr).not.toMatch(/not found|Available/);
    expect(result.stderr).toMatch(/Environment "dev" has no manifest here \(.*manifest\.json is missing\)/);
    expect(result.stderr).toMatch(/deletes nothing/);
    // What the backends still have, by kind, with where it is.
    expect(result.stderr).toMatch(
      /Its backends still have: database \(.*\/\.forkstack\/envs\/dev\/db\.sqlite\)/,
    );
    expect(result.stderr).toMatch(/secrets \(.*\/\.forkstack\/envs\/dev\/secrets\.env\)/);
    expect(result.stderr).toMatch(/local \(.*\/myapp\.dev\.db\)/);
    expect(result.stderr).toMatch(
      /`forkstack new dev` makes the root again, adopting what its backends have/,
    );
    expect(result.stderr).not.toMatch(/^\s+at /m);
    expect(projectFiles(cwd)).toEqual(before);

    const json = await runCli(["delete", "dev", "--force", "--yes", "--json"], { cwd });
    expect(JSON.parse(json.stdout)).toMatchObject({ error: { code: "E_ENV_NOT_FOUND" } });
    // Other commands do not offer it as available either.
    const switched = await runCli(["switch", "dev"], { cwd });
    expect(switched.code).toBe(1);
    expect(switched.stderr).toMatch(/Environment "dev" has no manifest here/);
    expect(switched.stderr).not.toMatch(/Available/);

    // The hint holds: `new dev` adopts what was left, data and all.
    await cli(["new", "dev", "--no-switch"], { cwd });
    const dev = (
      JSON.parse(await cli(["list", "--json"], { cwd })) as { name: string; status: string }[]
    ).find((e) => e.name === "dev");
    expect(dev?.status).toBe("ready");
  });

  it("a fork whose manifest was deleted: points at gc, which collects it; then it is simply not found", async () => {
    const cwd = await tempProject();
    await cli(["new", "bob", "--no-switch"], { cwd });
    await rm(join(cwd, ".forkstack/envs/bob/manifest.json"));
    const result = await runCli(["delete", "bob", "--yes"], { cwd });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/Environment "bob" has no manifest here/);
    expect(result.stderr).toMatch(/`forkstack gc --yes` removes that/);
    expect(existsSync(join(cwd, ".forkstack/envs/bob/db.sqlite"))).toBe(true);

    await cli(["gc", "--yes"], { cwd });
    const gone = await runCli(["delete", "bob", "--yes"], { cwd });
    expect(gone.code).toBe(1);
    expect(gone.stderr).toMatch(/Environment "bob" not found/);
    expect(gone.stderr).toMatch(/Available: dev\./);
  });

  it("deleting the current env says which env is current now, and --json carries it", async () => {
    const cwd = await tempProject();
    await cli(["new", "alice"], { cwd });
    const deleted = await runCli(["delete", "alice", "--yes"], { cwd });
    expect(deleted.code, deleted.stderr).toBe(0);
    expect(deleted.stderr).toMatch(/Deleted alice\.\n\s+It was the current env: dev is current now\./);
    expect((await cli(["current"], { cwd })).trim()).toBe("dev");

    await cli(["new", "bob"], { cwd });
    await cli(["new", "carol", "--no-switch"], { cwd });
    // Not the current env: nothing to say about it.
    const other = JSON.parse(await cli(["delete", "carol", "--yes", "--json"], { cwd })) as object;
    expect(other).not.toHaveProperty("current");
    const json = JSON.parse(await cli(["delete", "bob", "--yes", "--json"], { cwd })) as object;
    expect(json).toMatchObject({ name: "bob", current: { env: "dev", exists: true } });
  });

  it("deleting the current env when the default env is gone too says so", async () => {
    const cwd = await tempProject();
    await cli(["new", "alice"], { cwd });
    await cli(["delete", "dev", "--force", "--yes"], { cwd });
    const deleted = await runCli(["delete", "alice", "--yes"], { cwd });
    expect(deleted.code, deleted.stderr).toBe(0);
    expect(deleted.stderr).toMatch(
      /It was the current env: dev is current now, but it does not exist here \(`forkstack switch <env>` picks another\)/,
    );
  });
});
