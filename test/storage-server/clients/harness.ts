/**
 * Harness for driving the embedded S3 server with real command-line clients (aws CLI, rclone,
 * s3cmd): a server on a temp root, a throwaway HOME per client, explicit environments (nothing
 * inherited but PATH, so the machine's AWS_* / CA settings cannot leak in), hard timeouts, and
 * helpers to build and compare file trees byte for byte.
 */
import { execFileSync, spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { delimiter, dirname, join, relative } from "node:path";
import { generateCredentials } from "../../../src/storage-server/auth/index.js";
import type { Credentials } from "../../../src/storage-server/auth/index.js";
import { startStorageServer } from "../../../src/storage-server/index.js";
import type { StorageServer } from "../../../src/storage-server/index.js";

export interface RunResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface ClientEnv {
  readonly server: StorageServer;
  readonly creds: Credentials;
  /** Scratch directory for this suite; also the clients' HOME. */
  readonly dir: string;
  close(): Promise<void>;
}

/**
 * Each test of these suites runs a real client several times (the aws CLI starts Python: 1-2 s on an
 * idle machine, many more with both cores busy), so its time is the client's start-up times a count,
 * not the server's speed: the suites give their tests this long instead of vitest's 60 s.
 */
export const CLIENT_TEST_TIMEOUT_MS = 300_000;

/** Per-command ceiling (the test's own), so that a hung client is reaped when its test gives up. */
export const COMMAND_TIMEOUT_MS = CLIENT_TEST_TIMEOUT_MS;

export async function startClientEnv(): Promise<ClientEnv> {
  const dir = await mkdtemp(join(tmpdir(), "fs-clients-"));
  const creds = generateCredentials();
  const server = await startStorageServer({
    root: join(dir, "store"),
    port: 0,
    credentials: [creds],
    log: (line) => console.error(line),
  });
  await mkdir(join(dir, "home"), { recursive: true });
  return {
    server,
    creds,
    dir,
    async close() {
      await server.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Spawns `cmd` with exactly `env` (+ PATH), killing it after `timeoutMs`. Never throws on exit code. */
export function run(
  cmd: string,
  args: readonly string[],
  env: Record<string, string>,
  options: { cwd?: string; timeoutMs?: number } = {},
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      cwd: options.cwd,
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin", LANG: "C.UTF-8", LC_ALL: "C.UTF-8", ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    const timer = setTimeout(() => {
      stderr += `\n[harness] killed after ${options.timeoutMs ?? COMMAND_TIMEOUT_MS} ms`;
      child.kill("SIGKILL");
    }, options.timeoutMs ?? COMMAND_TIMEOUT_MS);
    child.on("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** Like `run`, but a non-zero exit throws with the client's output (the message a failing test shows). */
export async function ok(
  cmd: string,
  args: readonly string[],
  env: Record<string, string>,
  options: { cwd?: string; timeoutMs?: number } = {},
): Promise<string> {
  const r = await run(cmd, args, env, options);
  if (r.code !== 0) {
    throw new Error(
      `${cmd} ${args.join(" ")} exited ${r.code}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`,
    );
  }
  return r.stdout;
}

/** Executables named `name` on PATH (pyenv shims excluded: they need the real HOME). */
export function findOnPath(name: string): string[] {
  const found: string[] = [];
  for (const dir of (process.env.PATH ?? "").split(delimiter)) {
    const candidate = join(dir, name);
    if (dir !== "" && !dir.includes(".pyenv/shims") && existsSync(candidate) && !found.includes(candidate)) {
      found.push(candidate);
    }
  }
  return found;
}

/**
 * Every distinct aws CLI on this machine: Debian's awscli 2.9 (legacy Content-MD5 uploads) and, if
 * present, a pip/pyenv awscli 1.x with botocore ≥ 1.36 (CRC32 checksums by default) — storage.md §4.
 */
export function findAwsClis(): Array<{ label: string; path: string }> {
  const paths = findOnPath("aws");
  try {
    const viaPyenv = execFileSync("pyenv", ["which", "aws"], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "ignore"],
    });
    if (viaPyenv.trim() !== "") paths.push(viaPyenv.trim());
  } catch {
    // no pyenv: only the PATH ones
  }
  const byVersion = new Map<string, string>();
  for (const path of paths) {
    try {
      const version = execFileSync(path, ["--version"], {
        encoding: "utf8",
        stdio: ["ignore", "pipe", "pipe"],
        env: { PATH: process.env.PATH ?? "", HOME: tmpdir() },
        timeout: 20_000,
      })
        .trim()
        .split(" ")[0];
      if (version !== undefined && version.startsWith("aws-cli/") && !byVersion.has(version)) {
        byVersion.set(version, path);
      }
    } catch {
      // broken install: skip it
    }
  }
  return [...byVersion].map(([label, path]) => ({ label, path }));
}

export function uniqueBucket(prefix: string): string {
  return `${prefix}-${randomBytes(4).toString("hex")}`;
}

/**
 * Keys that trip up encoders: spaces, `+`, `~`, `=`, parentheses, unicode, nested dirs, plus an
 * empty file and sizes that straddle buffer boundaries.
 */
export const TREE_SPEC: ReadonlyArray<readonly [string, number]> = [
  ["plain.bin", 100_000],
  ["empty.txt", 0],
  ["one.txt", 1],
  ["a b+c.txt", 4_321],
  ["tilde~and=eq (1).dat", 65_537],
  ["dir/sub dir/deep.bin", 300_000],
  ["ünïcødé/文件.bin", 2_048],
];

/** Writes random files for `spec` under `root`; returns relative path → sha256. */
export async function writeTree(
  root: string,
  spec: ReadonlyArray<readonly [string, number]> = TREE_SPEC,
): Promise<Map<string, string>> {
  const hashes = new Map<string, string>();
  for (const [rel, size] of spec) {
    const data = randomBytes(size);
    await mkdir(dirname(join(root, rel)), { recursive: true });
    await writeFile(join(root, rel), data);
    hashes.set(rel, sha256(data));
  }
  return hashes;
}

/** Relative path → sha256 of every regular file under `root`. */
export async function hashTree(root: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const walk = async (dir: string): Promise<void> => {
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      const full = join(dir, entry.name);
      if (entry.isDirectory()) await walk(full);
      else if (entry.isFile()) out.set(relative(root, full), sha256(await readFile(full)));
    }
  };
  await walk(root);
  return new Map([...out].sort(([a], [b]) => (a < b ? -1 : 1)));
}

export function sortedEntries(m: Map<string, string>): Array<[string, string]> {
  return [...m].sort(([a], [b]) => (a < b ? -1 : 1));
}

export function sha256(data: Buffer): string {
  return createHash("sha256").update(data).digest("hex");
}

export function md5(data: Buffer): string {
  return createHash("md5").update(data).digest("hex");
}

/**
 * `secret` with its last character changed: a wrong secret for sure. (Appending a fixed "X" after
 * dropping the last character left it right whenever it already ended in "X", 1 run in 62.)
 */
export function wrongSecret(secret: string): string {
  return `${secret.slice(0, -1)}${secret.endsWith("X") ? "Y" : "X"}`;
}
