/**
 * Test fixtures: throwaway projects in temp directories, and the built CLI run as a real process
 * (`npm test` builds first, so these exercise what ships).
 */
import { spawn } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
import { mkdir, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, relative, resolve } from "node:path";
import { onTestFinished } from "vitest";

export const REPO = resolve(import.meta.dirname, "../..");
export const BIN = join(REPO, "bin/forkstack.mjs");

export const EMBEDDED_CONFIG = {
  project: "myapp",
  database: { provider: "sqlite" },
  secrets: { provider: "dotenv" },
  local: { provider: "directory" },
};

/**
 * A temp project with a JSON config (or none), removed when the test ends — or, when made in a
 * `beforeAll`, by the `afterAll` the caller registers with `removeProject`.
 */
export async function tempProject(
  config: object | null = EMBEDDED_CONFIG,
  options: { suite?: boolean } = {},
): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "fs-proj-"));
  if (!options.suite) onTestFinished(() => removeProject(dir));
  if (config) await writeFile(join(dir, "forkstack.config.json"), JSON.stringify(config, null, 2));
  return dir;
}

/**
 * Make `dir` look like an app that ran `npm install forkstack`: a package.json, `node_modules/forkstack`
 * (this checkout, built) with its bin on `node_modules/.bin`, so `npx forkstack` and `import "forkstack"`
 * work offline; `packages` are linked from this checkout's node_modules too (e.g. `@libsql/client`).
 */
export async function installForkstack(dir: string, packages: string[] = []): Promise<void> {
  await mkdir(join(dir, "node_modules/.bin"), { recursive: true });
  await writeFile(join(dir, "package.json"), JSON.stringify({ name: "shop", private: true, type: "module" }));
  await symlink(REPO, join(dir, "node_modules/forkstack"));
  await symlink(BIN, join(dir, "node_modules/.bin/forkstack"));
  for (const name of packages) {
    await mkdir(join(dir, "node_modules", name, ".."), { recursive: true });
    await symlink(join(REPO, "node_modules", name), join(dir, "node_modules", name));
  }
}

/** Every path and size under the project, except the state db that each command opens: to see that nothing changed. */
export function projectFiles(root: string): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.name.startsWith("state.db")) continue;
      out.push(`${relative(root, path)}:${entry.isDirectory() ? "dir" : statSync(path).size}`);
      if (entry.isDirectory()) walk(path);
    }
  };
  walk(root);
  return out.sort();
}

export function removeProject(dir: string): Promise<void> {
  return rm(dir, { recursive: true, force: true });
}

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Env for child processes: no inherited forkstack/ENV variables, no colour, CI mode. */
export function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: "1", CI: "true" };
  for (const key of Object.keys(env)) {
    if (key.startsWith("FORKSTACK_") || key === "ENV" || key === "DATABASE_URL") delete env[key];
  }
  return { ...env, ...extra };
}

export function runProcess(
  command: string,
  args: string[],
  options: { cwd: string; env?: Record<string, string>; input?: string; timeoutMs?: number },
): Promise<CliResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(command, args, { cwd: options.cwd, env: cleanEnv(options.env), stdio: "pipe" });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs ?? 60_000);
    child.on("error", reject);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolvePromise({ code, signal, stdout, stderr });
    });
    // A command that exits without reading its stdin (make, a quick failure) closes the pipe first:
    // the EPIPE is about input nobody wanted, not a failure of the test.
    child.stdin.on("error", (error: NodeJS.ErrnoException) => {
      if (error.code !== "EPIPE") reject(error);
    });
    child.stdin.end(options.input ?? "");
  });
}

export function runCli(
  args: string[],
  options: { cwd: string; env?: Record<string, string> },
): Promise<CliResult> {
  return runProcess(process.execPath, [BIN, ...args], options);
}

/** Run the CLI and fail loudly (with its output) unless it exits 0. */
export async function cli(
  args: string[],
  options: { cwd: string; env?: Record<string, string> },
): Promise<string> {
  const result = await runCli(args, options);
  if (result.code !== 0) {
    throw new Error(
      `forkstack ${args.join(" ")} exited ${result.code}\nstdout: ${result.stdout}\nstderr: ${result.stderr}`,
    );
  }
  return result.stdout;
}
