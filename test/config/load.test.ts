/**
 * Loading a TypeScript config the way a user meets it: through the built CLI, in a fresh project.
 * Each test drives a defect of issue 7 §4 that the old compiled-config cache had.
 */
import { mkdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { BIN, cli, runCli, runProcess, tempProject } from "../helpers/project.js";

const PROVIDERS = `database: { provider: "sqlite" }, secrets: { provider: "dotenv" }, local: { provider: "directory" }`;

async function tsProject(source: string): Promise<string> {
  const cwd = await tempProject(null);
  await writeFile(join(cwd, "forkstack.config.ts"), source);
  return cwd;
}

describe("config: the compiled TypeScript config", () => {
  it("serves 16 concurrent commands on a fresh config, every one of them", async () => {
    const cwd = await tsProject(`import { defineConfig } from "forkstack";
const project: string = "racer";
export default defineConfig({ project, ${PROVIDERS} });
`);
    // The old cache lost this race in roughly half the rounds; several fresh rounds make it certain.
    for (let round = 0; round < 4; round++) {
      await rm(join(cwd, ".forkstack", "cache"), { recursive: true, force: true });
      const results = await Promise.all(Array.from({ length: 16 }, () => runCli(["list"], { cwd })));
      for (const result of results) {
        expect(result.stderr).not.toMatch(/Cannot find module/);
        expect(result.code, result.stderr).toBe(0);
      }
    }
  }, 180_000); // 64 CLI starts on two shared cores

  it("takes an edit of a module the config imports into account", async () => {
    const cwd = await tsProject(`import { defineConfig } from "forkstack";
import { defaultEnv } from "./settings/env.js";
export default defineConfig({ project: "edits", defaultEnv, ${PROVIDERS} });
`);
    await mkdir(join(cwd, "settings"));
    const settings = join(cwd, "settings", "env.ts");
    await writeFile(settings, `export const defaultEnv: string = "alpha";\n`);
    await cli(["list"], { cwd });
    expect((await cli(["current"], { cwd })).trim()).toBe("alpha");

    // Same size, right away: neither the config's mtime nor the module's size changes.
    await writeFile(settings, `export const defaultEnv: string = "omega";\n`);
    await cli(["list"], { cwd });
    expect((await cli(["current"], { cwd })).trim()).toBe("omega");

    // A broken import is reported, not served from the cache.
    await writeFile(settings, `export const defaultEnv: string = "Not A Name";\n`);
    const broken = await runCli(["list"], { cwd });
    expect(broken.code).toBe(1);
    expect(broken.stderr).toMatch(/defaultEnv/);
  });

  it("fails with a clear error when the config's top level never settles, and exits", async () => {
    const env = { FORKSTACK_CONFIG_TIMEOUT_MS: "1000" };
    // An open server keeps the process alive: the old code hung here until killed.
    const server = await tsProject(`import { createServer } from "node:http";
createServer().listen(0, "127.0.0.1");
await new Promise(() => {});
export default { project: "hangs" };
`);
    // Nothing holds the process open: the old code died of Node's "unsettled top-level await" (exit 13).
    const bare = await tsProject(`await new Promise(() => {});
export default { project: "hangs" };
`);
    for (const cwd of [server, bare]) {
      const result = await runProcess(process.execPath, [BIN, "list"], { cwd, env, timeoutMs: 30_000 });
      expect(result.signal, "the CLI had to be killed").toBeNull();
      expect(result.code, result.stderr).toBe(1);
      expect(result.stderr).toContain(join(cwd, "forkstack.config.ts"));
      expect(result.stderr).toMatch(/top level never settled/);
      expect(result.stderr).toMatch(/FORKSTACK_CONFIG_TIMEOUT_MS/);
      expect(result.stderr).not.toMatch(/^\s+at /m);
    }

    const bad = await runCli(["list"], { cwd: bare, env: { FORKSTACK_CONFIG_TIMEOUT_MS: "soon" } });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/FORKSTACK_CONFIG_TIMEOUT_MS/);
  });
});
