/**
 * examples/family-photos is its own npm project (Hono, Preact, Vite, sharp, DuckDB: none of them
 * forkstack's dependencies), with `forkstack` linked from this checkout (`file:../..`, so it runs the
 * dist/ that `npm test` just built). Here its dependencies are installed when they are missing or
 * older than its lockfile (`npm install`, once per machine: later runs skip it), then its own `npm test`
 * runs: typecheck, build, and the browser tests (chromium through playwright-core).
 */
import { spawn } from "node:child_process";
import { statSync } from "node:fs";
import { join } from "node:path";
import { expect, it } from "vitest";
import { REPO, cleanEnv } from "../helpers/project.js";

const EXAMPLE = join(REPO, "examples/family-photos");

function mtime(path: string): number {
  try {
    return statSync(path).mtimeMs;
  } catch {
    return 0;
  }
}

/** npm in the example directory; its output is kept for the failure message. */
function npm(args: string[], timeoutMs: number): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    // CI stays as it is: the example's browser tests then fail, not skip, without chromium. Nothing of
    // this vitest leaks in (NODE_ENV=test would make Vite build for development; VITEST_* confuse
    // the example's own vitest).
    const env: NodeJS.ProcessEnv = { ...cleanEnv(), CI: process.env.CI ?? "" };
    for (const key of Object.keys(env)) if (key === "NODE_ENV" || key.startsWith("VITEST")) delete env[key];
    const child = spawn("npm", args, { cwd: EXAMPLE, env });
    let output = "";
    child.stdout.on("data", (d: Buffer) => (output += d));
    child.stderr.on("data", (d: Buffer) => (output += d));
    const timer = setTimeout(() => child.kill("SIGTERM"), timeoutMs);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

it(
  "examples/family-photos: its own npm test passes (browser tests on forked envs)",
  { timeout: 420_000 },
  async () => {
    const hidden = join(EXAMPLE, "node_modules/.package-lock.json");
    if (mtime(hidden) < mtime(join(EXAMPLE, "package-lock.json"))) {
      // `install`, not `ci`: Vite lists an optional dependency that is not on the registry, which npm
      // leaves out of the lockfile and `npm ci` then calls out of sync; `install` follows the lockfile.
      const install = await npm(["install", "--no-audit", "--no-fund", "--prefer-offline"], 300_000);
      expect(install.code, install.output).toBe(0);
    }
    const test = await npm(["test"], 120_000);
    expect(test.code, test.output).toBe(0);
    expect(test.output).toMatch(/Tests\s+6 passed/);
  },
);
