/** `forkstack secrets`: set from argv or stdin, unset, never printed, forked with the env. */
import { statSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { BIN, cli, runCli, runProcess, tempProject } from "../helpers/project.js";

const reveal = async (cwd: string, env: string) =>
  JSON.parse(await cli(["env", env, "--format", "json", "--reveal"], { cwd })) as Record<string, string>;

describe("cli: secrets", () => {
  it("sets from argv and stdin, unsets, and keeps values out of output", async () => {
    const cwd = await tempProject();
    await cli(["new", "alice"], { cwd });
    const set = await runCli(["secrets", "set", "A=1", "B=two words"], { cwd });
    expect(set.code).toBe(0);
    expect(set.stderr).toMatch(/Set A, B in alice/);
    expect(set.stdout + set.stderr).not.toMatch(/two words/);
    const piped = await runProcess(process.execPath, [BIN, "secrets", "set", "TOKEN"], {
      cwd,
      input: "s3cr3t value\n",
    });
    expect(piped.code, piped.stderr).toBe(0);
    expect(await reveal(cwd, "alice")).toMatchObject({ A: "1", B: "two words", TOKEN: "s3cr3t value" });
    expect(statSync(join(cwd, ".forkstack/envs/alice/secrets.env")).mode & 0o777).toBe(0o600);
    // a value with every quote character cannot be stored in a dotenv file: refused, nothing changed
    const unstorable = await runProcess(process.execPath, [BIN, "secrets", "set", "TOKEN"], {
      cwd,
      input: "a'b\"c`d\n",
    });
    expect(unstorable.code).toBe(2); // a value it cannot store: a usage error (docs/errors.md)
    expect(unstorable.stderr).toMatch(/TOKEN cannot be stored/);
    expect((await reveal(cwd, "alice")).TOKEN).toBe("s3cr3t value");

    await cli(["secrets", "unset", "A"], { cwd });
    expect((await reveal(cwd, "alice")).A).toBeUndefined();
    // forks carry secrets; the parent is untouched
    await cli(["new", "bob", "--from", "alice"], { cwd });
    expect(await reveal(cwd, "bob")).toMatchObject({ B: "two words" });
    expect((await reveal(cwd, "dev")).B).toBeUndefined();
  });

  it("refuses unknown actions and unknown envs", async () => {
    const cwd = await tempProject();
    expect((await runCli(["secrets", "list", "X"], { cwd })).stderr).toMatch(/Unknown action "list"/);
    const missing = await runCli(["secrets", "set", "A=1", "--env", "ghost"], { cwd });
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/Environment "ghost" not found/);
  });
});
