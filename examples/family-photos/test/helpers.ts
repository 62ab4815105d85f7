/**
 * A throwaway copy of this example to run forkstack in: its files are symlinks to the real ones, its
 * forkstack state (.forkstack/, .current-env, photos.<env>.db/) its own, so the tests never touch the
 * envs you work in. Commands run there exactly as the README says (`npm run setup`, `npm start`, …).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, rm, symlink } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

export const EXAMPLE = resolve(import.meta.dirname, "..");
const LINKED = [
  "package.json",
  "forkstack.config.ts",
  "vite.config.ts",
  "index.html",
  "src",
  "server",
  "scripts",
  "dist",
  "node_modules",
];

export async function tempProject(): Promise<{ dir: string; remove(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), "family-photos-"));
  await Promise.all(LINKED.map((name) => symlink(join(EXAMPLE, name), join(dir, name))));
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}

/** The environment of a child: nothing forkstack-related inherited (the test picks the env), no colour. */
export function childEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    NO_COLOR: "1",
    CI: "true",
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true",
  };
  for (const key of Object.keys(env)) {
    if (/^(FORKSTACK_|AWS_|BUCKET_NAME|DATABASE_)/.test(key) || key === "ENV" || key === "PORT") {
      if (key !== "AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED") delete env[key];
    }
  }
  return { ...env, ...extra };
}

export interface Finished {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Run a command to its end. */
export function run(
  command: string,
  args: string[],
  cwd: string,
  extra: Record<string, string> = {},
): Promise<Finished> {
  return new Promise((done, fail) => {
    const child = spawn(command, args, { cwd, env: childEnv(extra), stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d));
    child.stderr.on("data", (d: Buffer) => (stderr += d));
    child.on("error", fail);
    child.on("close", (code) => done({ code, stdout, stderr }));
  });
}

/** Run and insist on exit 0, returning stdout. */
export async function ok(command: string, args: string[], cwd: string): Promise<string> {
  const result = await run(command, args, cwd);
  if (result.code !== 0) {
    throw new Error(`${command} ${args.join(" ")} exited ${result.code}\n${result.stdout}\n${result.stderr}`);
  }
  return result.stdout;
}

export function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const server = createServer();
    server.once("error", fail);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => done(port));
    });
  });
}

export interface Started {
  url: string;
  output(): string;
  stop(): Promise<void>;
}

/**
 * Start a long-running command (`npm start`, `npm run dev`) in its own process group and wait for
 * `ready` to match its output; `stop()` sends SIGTERM to the whole group (npm, forkstack, the app).
 */
export function start(
  args: string[],
  cwd: string,
  ready: RegExp,
  extra: Record<string, string>,
  timeoutMs = 30_000,
): Promise<Started> {
  const child: ChildProcess = spawn("npm", args, {
    cwd,
    env: childEnv(extra),
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  let output = "";
  const exited = new Promise<void>((done) => child.once("exit", () => done()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) process.kill(-child.pid!, "SIGTERM");
    await exited;
  };
  return new Promise((done, fail) => {
    const timer = setTimeout(() => {
      void stop();
      fail(new Error(`npm ${args.join(" ")} did not get ready:\n${output}`));
    }, timeoutMs);
    const onData = (d: Buffer) => {
      output += d.toString();
      const match = ready.exec(output);
      if (match) {
        clearTimeout(timer);
        done({ url: match[1]!, output: () => output, stop });
      }
    };
    child.stdout!.on("data", onData);
    child.stderr!.on("data", onData);
    child.once("exit", (code) => {
      clearTimeout(timer);
      fail(new Error(`npm ${args.join(" ")} exited ${code} before it was ready:\n${output}`));
    });
  });
}
