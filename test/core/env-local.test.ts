/**
 * `.env.local` is shared with the user: forkstack rewrites only its marked block and never loses a
 * line of theirs. First as a user meets it (init, new, switch with the built CLI), then every edge of
 * the block rules on the pure planner and on disk.
 */
import { readFileSync, statSync } from "node:fs";
import { readFile, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { parseEnv } from "node:util";
import { describe, expect, it } from "vitest";
import {
  BLOCK_BEGIN,
  BLOCK_END,
  planEnvLocal,
  removeEnvLocalBlock,
  writeEnvLocal,
} from "../../src/core/env-local.js";
import { formatDotenv } from "../../src/core/variables.js";
import { cli, runCli, tempProject } from "../helpers/project.js";

/** The user's own file: comments, blank lines, `export`, a multi-line value, no final newline. */
const USER_LINES = [
  "# my settings",
  "API_KEY=mine-123",
  "",
  "export FEATURE_FLAG=on",
  'MULTI="one',
  'two"',
  "DATABASE_URL=postgres://stale/never-used",
  "LAST=no-newline",
].join("\n");

function block(text: string): string {
  const begin = text.indexOf(BLOCK_BEGIN);
  const end = text.indexOf(BLOCK_END);
  expect(begin, text).toBeGreaterThanOrEqual(0);
  expect(end, text).toBeGreaterThan(begin);
  expect(text.indexOf(BLOCK_BEGIN, begin + 1)).toBe(-1);
  return text.slice(begin, end + BLOCK_END.length);
}

describe("core: .env.local through the CLI", () => {
  it("keeps every line of the user's through init, new and two switches, and updates the block", async () => {
    const cwd = await tempProject(null);
    const file = join(cwd, ".env.local");
    await writeFile(file, USER_LINES, { mode: 0o644 });
    try {
      const init = await runCli(["init", "--yes", "--project", "keeper"], { cwd });
      expect(init.code, init.stderr).toBe(0);
      expect(init.stderr).toMatch(/DATABASE_URL above forkstack's block are overridden by it/);
      await cli(["new", "alice"], { cwd });
      await cli(["switch", "dev"], { cwd });
      await cli(["switch", "alice"], { cwd });

      const text = readFileSync(file, "utf8");
      // The user's bytes, untouched and first; a newline was added after their last line only.
      expect(text.startsWith(`${USER_LINES}\n${BLOCK_BEGIN}\n`), text).toBe(true);
      expect(statSync(file).mode & 0o777).toBe(0o600);
      const managed = parseEnv(block(text));
      expect(managed.FORKSTACK_ENV).toBe("alice");
      const alice = JSON.parse(await cli(["env", "alice", "--format", "json"], { cwd })) as Record<
        string,
        string
      >;
      expect(managed.DATABASE_URL).toBe(alice.DATABASE_URL);
      // What an app's dotenv loader sees: the user's keys, and this env's values where both set one.
      const seen = parseEnv(text);
      expect(seen).toMatchObject({
        API_KEY: "mine-123",
        MULTI: "one\ntwo",
        LAST: "no-newline",
        FORKSTACK_ENV: "alice",
        DATABASE_URL: alice.DATABASE_URL,
      });
    } finally {
      await runCli(["down"], { cwd });
    }
  });

  it("refuses to guess when the markers are broken, and changes nothing", async () => {
    const cwd = await tempProject(null);
    try {
      await cli(["init", "--yes", "--project", "broken"], { cwd });
      await cli(["new", "bob", "--no-switch"], { cwd });
      const file = join(cwd, ".env.local");
      const broken = (await readFile(file, "utf8")).replace(`${BLOCK_END}\n`, "MINE=1\n");
      await writeFile(file, broken);
      const result = await runCli(["switch", "bob"], { cwd });
      expect(result.code).toBe(1);
      expect(result.stderr).toMatch(/1 forkstack begin marker\(s\) and 0 end marker\(s\)/);
      expect(result.stderr).not.toMatch(/^\s+at /m);
      expect(await readFile(file, "utf8")).toBe(broken);
      expect((await cli(["current"], { cwd })).trim()).toBe("dev");
    } finally {
      await runCli(["down"], { cwd });
    }
  });
});

describe("core: .env.local with broken markers and `new`", () => {
  it("`new` makes the env, says why it could not switch to it, and leaves nothing unfinished", async () => {
    const cwd = await tempProject();
    await cli(["new", "alice"], { cwd });
    const file = join(cwd, ".env.local");
    const broken = (await readFile(file, "utf8")).replace(`${BLOCK_END}\n`, "MINE=1\n");
    await writeFile(file, broken);
    const result = await runCli(["new", "bob"], { cwd });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/1 forkstack begin marker\(s\) and 0 end marker\(s\)/);
    expect(await readFile(file, "utf8")).toBe(broken);
    expect((await cli(["current"], { cwd })).trim()).toBe("alice");
    // bob is made and ready, and no command finds an unfinished create of it.
    const next = await runCli(["list", "--json"], { cwd });
    expect(next.stderr).not.toMatch(/interrupted|unfinished/i);
    const bob = (JSON.parse(next.stdout) as { name: string; status: string }[]).find((e) => e.name === "bob");
    expect(bob?.status).toBe("ready");
    await cli(["delete", "bob", "--yes"], { cwd });
  });
});

describe("core: the .env.local planner", () => {
  const path = "/app/.env.local";
  const alice = { FORKSTACK_ENV: "alice", DATABASE_URL: "file:/a.db" };
  const bob = { FORKSTACK_ENV: "bob", DATABASE_URL: "file:/b.db", STRIPE_KEY: "sk_b" };

  it("writes just the block when there is no file", () => {
    const plan = planEnvLocal(undefined, alice, path);
    expect(plan.text).toBe(
      `${BLOCK_BEGIN}\nFORKSTACK_ENV='alice'\nDATABASE_URL='file:/a.db'\n${BLOCK_END}\n`,
    );
    expect(plan.warnings).toEqual([]);
  });

  it("replaces only the block, keeping the text around it byte for byte, wherever it is", () => {
    const above = "A=1\n\n# note\n";
    const below = "Z=last";
    const first = planEnvLocal(above, alice, path).text;
    const moved = `${first}${below}`; // the user added a line after the block, without a newline
    const next = planEnvLocal(moved, bob, path);
    expect(next.text).toBe(
      `${above}${BLOCK_BEGIN}\nFORKSTACK_ENV='bob'\nDATABASE_URL='file:/b.db'\nSTRIPE_KEY='sk_b'\n${BLOCK_END}\n${below}`,
    );
    expect(next.warnings).toEqual([]);
  });

  it("keeps CRLF files CRLF", () => {
    const text = planEnvLocal("A=1\r\nB=2\r\n", alice, path).text;
    expect(text).toBe(
      `A=1\r\nB=2\r\n${BLOCK_BEGIN}\r\nFORKSTACK_ENV='alice'\r\nDATABASE_URL='file:/a.db'\r\n${BLOCK_END}\r\n`,
    );
    expect(planEnvLocal(text, bob, path).text).toContain("STRIPE_KEY='sk_b'\r\n");
  });

  it("says which value wins for a key set both by the user and by the block", () => {
    const above = planEnvLocal("DATABASE_URL=x\n", alice, path);
    expect(above.warnings.join("\n")).toMatch(/DATABASE_URL above forkstack's block are overridden by it/);
    expect(parseEnv(above.text).DATABASE_URL).toBe("file:/a.db");

    const below = planEnvLocal(`${above.text}FORKSTACK_ENV=mine\n`, bob, path);
    expect(below.warnings.join("\n")).toMatch(/FORKSTACK_ENV below forkstack's block override/);
    expect(parseEnv(below.text).FORKSTACK_ENV).toBe("mine");
  });

  it("moves lines the user typed inside the block to just above it", () => {
    const first = planEnvLocal("A=1\n", alice, path).text;
    const typed = first.replace(`${BLOCK_END}`, `MY_OWN=1\n# why\n${BLOCK_END}`);
    const plan = planEnvLocal(typed, bob, path);
    expect(plan.text.startsWith(`A=1\nMY_OWN=1\n# why\n${BLOCK_BEGIN}\n`)).toBe(true);
    expect(plan.warnings.join("\n")).toMatch(/Moved 2 line\(s\) you added inside forkstack's block/);
  });

  it("finds the markers even after an unterminated quote of the user's", () => {
    const first = planEnvLocal("BROKEN='oops\n", alice, path).text;
    const next = planEnvLocal(first, bob, path).text;
    expect(next.split(BLOCK_BEGIN)).toHaveLength(2);
    expect(next.startsWith("BROKEN='oops\n")).toBe(true);
  });

  it("refuses doubled, missing or reversed markers", () => {
    const one = planEnvLocal(undefined, alice, path).text;
    for (const bad of [one + one, one.replace(BLOCK_END, ""), `${BLOCK_END}\n${BLOCK_BEGIN}\n`]) {
      expect(() => planEnvLocal(bad, bob, path)).toThrow(/forkstack will not guess/);
    }
  });

  it("migrates a file an older forkstack wrote whole, keeping what is not provably forkstack's", () => {
    const old = formatDotenv({ ...alice, ALICE_ONLY: "secret-a" }) + "ADDED_LATER=1\nDATABASE_URL2='x'\n";
    const plan = planEnvLocal(old, bob, path, {
      legacyValues: { ...alice, ALICE_ONLY: "secret-a" },
    });
    expect(plan.text).toBe(
      `ADDED_LATER=1\nDATABASE_URL2='x'\n${BLOCK_BEGIN}\nFORKSTACK_ENV='bob'\nDATABASE_URL='file:/b.db'\nSTRIPE_KEY='sk_b'\n${BLOCK_END}\n`,
    );
    expect(plan.warnings.join("\n")).toMatch(/into a marked block; kept 2 line\(s\)/);

    // Without the old env's values a line it does not set now is kept, never dropped.
    expect(planEnvLocal(old, bob, path).text).toContain("ALICE_ONLY='secret-a'\n");
  });
});

describe("core: .env.local on disk", () => {
  it("writes 0600 atomically, through a symlink, and looks up the env of an old whole file", async () => {
    const dir = await tempProject(null);
    const real = join(dir, "shared.env");
    const link = join(dir, ".env.local");
    await writeFile(real, formatDotenv({ FORKSTACK_ENV: "alice", OLD: "a" }), { mode: 0o644 });
    await symlink(real, link);
    const asked: string[] = [];
    const result = await writeEnvLocal(
      link,
      { FORKSTACK_ENV: "bob" },
      {
        envValues: (env) => {
          asked.push(env);
          return Promise.resolve({ FORKSTACK_ENV: env, OLD: "a" });
        },
      },
    );
    expect(asked).toEqual(["alice"]);
    expect(result.warnings.join("\n")).toMatch(/into a marked block/);
    expect(await readFile(real, "utf8")).toBe(`${BLOCK_BEGIN}\nFORKSTACK_ENV='bob'\n${BLOCK_END}\n`);
    expect(statSync(real).mode & 0o777).toBe(0o600);
    expect(statSync(link, { throwIfNoEntry: false })).toBeDefined();
  });

  it("never looks up an env whose name in the file is not a valid env name", async () => {
    const dir = await tempProject(null);
    const file = join(dir, ".env.local");
    await writeFile(file, "FORKSTACK_ENV='../../etc'\n");
    const asked: string[] = [];
    await writeEnvLocal(
      file,
      { FORKSTACK_ENV: "bob" },
      { envValues: (env) => (asked.push(env), Promise.resolve({})) },
    );
    expect(asked).toEqual([]);
  });

  it("takes the block out again, keeping the user's lines, and removes a file left empty", async () => {
    const dir = await tempProject(null);
    const file = join(dir, ".env.local");
    await writeEnvLocal(file, { FORKSTACK_ENV: "bob" });
    await writeFile(file, `MINE=1\n${await readFile(file, "utf8")}AFTER=2`);
    await removeEnvLocalBlock(file);
    expect(await readFile(file, "utf8")).toBe("MINE=1\nAFTER=2");

    await writeFile(file, planEnvLocal(undefined, { FORKSTACK_ENV: "bob" }, file).text);
    await removeEnvLocalBlock(file);
    expect(statSync(file, { throwIfNoEntry: false })).toBeUndefined();
  });
});
