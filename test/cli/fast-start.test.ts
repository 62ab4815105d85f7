/**
 * `forkstack --help` and `forkstack current` must start fast: they load no config loader, no schema
 * library, no native SQLite and no cloud SDK.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { describe, expect, it } from "vitest";
import { BIN, REPO, cli, runProcess, tempProject } from "../helpers/project.js";

async function modulesLoadedBy(args: string[], cwd: string): Promise<string[]> {
  const hook = join(REPO, "test/helpers/loaded-modules.mjs");
  const result = await runProcess(process.execPath, ["--import", hook, BIN, ...args], { cwd });
  expect(result.code, result.stderr).toBe(0);
  return JSON.parse(/LOADED (.*)/.exec(result.stderr)![1]!) as string[];
}

/** The source files bundled into the loaded files of dist/, from the path comments esbuild writes. */
function sourcesIn(loaded: string[]): string[] {
  const files = [...new Set(loaded.filter((url) => url.startsWith("file:") && url.includes("/dist/")))];
  return files.flatMap((url) =>
    [...readFileSync(fileURLToPath(url), "utf8").matchAll(/^\/\/ (src\/\S+)$/gm)].map((m) => m[1]!),
  );
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
      // The bundles name each source file they hold (`// src/…`): none of the core, the providers, the
      // config loader or the storage server is in a file these load.
      expect(
        sourcesIn(loaded).filter((src) => /^src\/(core|providers|config|storage-server)\//.test(src)),
      ).toEqual([]);
    },
  );

  // What the README says of `current`: no config is read while the cache knows the default env; with a
  // cold cache (a fresh clone, a config just edited) and nothing else naming the env, it reads it once.
  it("`forkstack current` reads the config only with a cold cache, once", async () => {
    const cwd = await tempProject(); // a config and nothing else: no .forkstack/, no .current-env
    const configLoader = (loaded: string[]) =>
      sourcesIn(loaded).filter((src) => /^src\/config\//.test(src)).length > 0;
    expect(configLoader(await modulesLoadedBy(["current"], cwd))).toBe(true);
    expect(configLoader(await modulesLoadedBy(["current"], cwd))).toBe(false);
    await cli(["new", "alice"], { cwd }); // .current-env names the env: no default needed at all
    expect(configLoader(await modulesLoadedBy(["current"], cwd))).toBe(false);
  });

  // The common path is a few chunks, not dozens of small modules (each costs a read, parse and link).
  it.each([["new", "bob", "--no-switch"], ["list"], ["env"]])(
    "`forkstack %s` loads few of forkstack's own files",
    async (...args) => {
      const cwd = await tempProject();
      await cli(["new", "alice"], { cwd });
      const loaded = await modulesLoadedBy(args, cwd);
      const own = new Set(loaded.filter((url) => url.startsWith(pathToFileURL(REPO).href + "/dist/")));
      expect(own.size, [...own].join("\n")).toBeLessThanOrEqual(20);
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

  // libsql's loader reads one field of a full diagnostic report (4–7 ms); on glibc Linux we answer it.
  const glibc =
    process.platform === "linux" &&
    existsSync("/usr/bin/ldd") &&
    readFileSync("/usr/bin/ldd", "latin1").includes("GNU C Library");
  it.skipIf(!glibc).each([["new", "bob", "--no-switch"], ["list"]])(
    "`forkstack %s` builds no diagnostic report to load SQLite",
    async (...args) => {
      const cwd = await tempProject();
      await cli(["new", "alice"], { cwd });
      const count =
        "data:text/javascript," +
        encodeURIComponent(
          "let n = 0; const r = process.report; const g = r.getReport.bind(r);" +
            "r.getReport = (...a) => { n++; return g(...a); };" +
            "process.on('exit', () => process.stderr.write(`\\nREPORTS ${n}\\n`));",
        );
      const result = await runProcess(process.execPath, ["--import", count, BIN, ...args], { cwd });
      expect(result.code, result.stderr).toBe(0);
      expect(/REPORTS (\d+)/.exec(result.stderr)?.[1]).toBe("0");
    },
  );
});
