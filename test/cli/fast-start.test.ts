/**
 * `forkstack --help` and `forkstack current` must start fast: they load no config loader, no schema
 * library, no native SQLite and no cloud SDK.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { BIN, REPO, cli, runProcess, tempProject } from "../helpers/project.js";

async function modulesLoadedBy(args: string[], cwd: string): Promise<string[]> {
  const hook = join(REPO, "test/helpers/loaded-modules.mjs");
  const result = await runProcess(process.execPath, ["--import", hook, BIN, ...args], { cwd });
  expect(result.code, result.stderr).toBe(0);
  return JSON.parse(/LOADED (.*)/.exec(result.stderr)![1]!) as string[];
}

const HEAVY = /node_modules\/(zod|jiti|libsql|@libsql|@aws-sdk|@smithy|@clack|fast-xml-parser)\//;

describe("cli: fast start", () => {
  it.each([["--help"], ["current"], ["current", "--json"]])(
    "`forkstack %s` loads nothing heavy",
    async (...args) => {
      const cwd = await tempProject();
      await cli(["new", "alice"], { cwd });
      const loaded = await modulesLoadedBy(args, cwd);
      expect(loaded.filter((url) => HEAVY.test(url))).toEqual([]);
      expect(loaded.filter((url) => /dist\/(core|providers|storage-server)\//.test(url))).toEqual([]);
    },
  );

  // zod is bundled into a chunk of dist/, so it is found by what the loaded chunks contain.
  it.each([["list"], ["new", "bob", "--no-switch"]])(
    "`forkstack %s` on an unchanged config loads no schema library",
    async (...args) => {
      const cwd = await tempProject();
      await cli(["new", "alice"], { cwd }); // validates the config once and caches the result
      const loaded = await modulesLoadedBy(args, cwd);
      const zod = loaded.filter(
        (url) =>
          url.startsWith("file:") && readFileSync(fileURLToPath(url), "utf8").includes("node_modules/zod/"),
      );
      expect(zod).toEqual([]);
    },
  );

  // The state store (native SQLite) opens on first use: commands that never touch it do not load it.
  it.each([["env"], ["run", "--", "node", "-e", "0"], ["switch", "alice"]])(
    "`forkstack %s` loads no native SQLite",
    async (...args) => {
      const cwd = await tempProject();
      await cli(["new", "alice"], { cwd });
      const loaded = await modulesLoadedBy(args, cwd);
      expect(loaded.filter((url) => /node_modules\/(libsql|@libsql)\//.test(url))).toEqual([]);
    },
  );
});
