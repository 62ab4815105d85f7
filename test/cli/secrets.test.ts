/** `forkstack secrets`: set from argv or stdin, unset, never printed, forked with the env. */
import { readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseEnv } from "node:util";
import dotenv from "dotenv";
import { describe, expect, it } from "vitest";
import { BLOCK_BEGIN, BLOCK_END } from "../../src/core/env-local.js";
import { lineReaderKeys } from "../helpers/line-reader.js";
import { BIN, REPO, cli, runCli, runProcess, tempProject } from "../helpers/project.js";

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
    // a value starting with a quote and holding every quote character cannot be stored in a dotenv
    // file: refused, nothing changed
    const unstorable = await runProcess(process.execPath, [BIN, "secrets", "set", "TOKEN"], {
      cwd,
      input: "'b\"c`d\n",
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

  it("a value with lines that read as a variable or as forkstack's markers reaches every reader unchanged, and switch keeps working", async () => {
    const cwd = await tempProject();
    await cli(["new", "alice"], { cwd });
    const evil = "a\nB=evil";
    const markers = `x\n${BLOCK_END}\nC=evil\n${BLOCK_BEGIN}`;
    // quotes and a `\n` of its own: it cannot go on one line, and spans lines in single quotes
    const json = '{\n  "k": "v\\n",\n  "D=evil": 1\n}';
    // `secrets set K "$(printf 'a\nB=evil')"`, as a shell passes it
    for (const value of [`K=${evil}`, `M=${markers}`, `J=${json}`])
      await cli(["secrets", "set", value], { cwd });
    for (let i = 0; i < 2; i++) await cli(["switch", "alice"], { cwd });
    const expected = { K: evil, M: markers, J: json };

    const envLocal = readFileSync(join(cwd, ".env.local"), "utf8");
    const secretsFile = readFileSync(join(cwd, ".forkstack/envs/alice/secrets.env"), "utf8");
    const printed = await cli(["env", "alice", "--format", "dotenv", "--reveal"], { cwd });
    for (const text of [envLocal, secretsFile, printed]) {
      for (const read of [parseEnv, dotenv.parse]) {
        const seen = read(text);
        expect(seen).toMatchObject(expected);
        for (const injected of ["B", "C", "D"]) expect(seen[injected], text).toBeUndefined();
      }
      expect(
        lineReaderKeys(text).filter((k) => ["B", "C", "D"].includes(k)),
        text,
      ).toEqual([]);
    }
    expect(envLocal.split("\n").filter((l) => l === BLOCK_BEGIN || l === BLOCK_END)).toHaveLength(2);
    // `eval "$(forkstack env --format shell --reveal)"` in a POSIX shell
    const shell = await cli(["env", "alice", "--format", "shell", "--reveal"], { cwd });
    const fromShell = await runProcess("sh", ["-c", `${shell}\nprintf '%s\\0' "$K" "$M" "$J" "$B" "$C"`], {
      cwd,
    });
    expect(fromShell.stdout.split("\0")).toEqual([evil, markers, json, "", "", ""]);
    // process.loadEnvFile, and the runtime library's secret()
    const library = await runProcess(
      process.execPath,
      [
        "--input-type=module",
        "-e",
        `process.loadEnvFile(".env.local");
         const { secret } = await import(${JSON.stringify(join(REPO, "dist/index.js"))});
         console.log(JSON.stringify({ loaded: [process.env.K, process.env.M, process.env.J, process.env.B],
           library: [secret("K"), secret("M"), secret("J"), secret("B")] }));`,
      ],
      { cwd },
    );
    expect(JSON.parse(library.stdout), library.stderr).toEqual({
      loaded: [evil, markers, json, null],
      library: [evil, markers, json, null],
    });
  });

  it("refuses, naming the key and changing nothing, a value no dotenv file can hold", async () => {
    const cwd = await tempProject();
    await cli(["new", "alice"], { cwd });
    await cli(["secrets", "set", "KEEP=1"], { cwd });
    const file = join(cwd, ".forkstack/envs/alice/secrets.env");
    const before = [readFileSync(file, "utf8"), readFileSync(join(cwd, ".env.local"), "utf8")];
    for (const value of ["a\rhunter2", `'"\`\nB=hunter2`]) {
      const result = await runCli(["secrets", "set", `BAD=${value}`], { cwd });
      expect(result.code).toBe(2);
      expect(result.stderr).toMatch(/The value of BAD cannot be stored: it (contains|spans)/);
      expect(result.stderr).not.toContain("hunter2");
      expect(result.stderr).not.toMatch(/Unexpected error|^\s+at /m);
    }
    expect([readFileSync(file, "utf8"), readFileSync(join(cwd, ".env.local"), "utf8")]).toEqual(before);
  });

  it("a value no dotenv file can hold that got in by hand is left out of .env.local and dotenv output, with a word, and still reaches run", async () => {
    const cwd = await tempProject();
    await cli(["new", "alice"], { cwd });
    // Node reads an unclosed quote as the rest of the line: a value starting with a quote and holding
    // all three quote characters, which no quoting can write back.
    const odd = `'"a\`b`;
    writeFileSync(join(cwd, ".forkstack/envs/alice/secrets.env"), `ODD=${odd}\nFINE=1\n`);
    const switched = await runCli(["switch", "alice"], { cwd });
    expect(switched.code, switched.stderr).toBe(0);
    expect(switched.stderr).toMatch(/Left ODD out of .*\.env\.local: its value contains single quotes/);
    expect(parseEnv(readFileSync(join(cwd, ".env.local"), "utf8"))).toMatchObject({ FINE: "1" });
    expect(parseEnv(readFileSync(join(cwd, ".env.local"), "utf8")).ODD).toBeUndefined();
    const printed = await cli(["env", "--format", "dotenv", "--reveal"], { cwd });
    expect(printed).toMatch(/^# left out, no dotenv file can hold their values \(ODD\)/m);
    expect(parseEnv(printed)).toMatchObject({ FINE: "1" });
    expect((await reveal(cwd, "alice")).ODD).toBe(odd);
    const run = await runCli(["run", "--", process.execPath, "-e", "process.stdout.write(process.env.ODD)"], {
      cwd,
    });
    expect(run.stdout).toBe(odd);
  });

  it("refuses unknown actions and unknown envs", async () => {
    const cwd = await tempProject();
    expect((await runCli(["secrets", "list", "X"], { cwd })).stderr).toMatch(/Unknown action "list"/);
    const missing = await runCli(["secrets", "set", "A=1", "--env", "ghost"], { cwd });
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/Environment "ghost" not found/);
  });
});
