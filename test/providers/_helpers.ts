/**
 * Shared fixtures for provider tests: a throwaway project, core-like drivers for the lifecycle calls,
 * a read-only directory that holds even for root, and a reflink filesystem when the machine can mount one.
 */
import { execFile } from "node:child_process";
import { mkdir, mkdtemp, rm, chmod } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import type {
  EnvRef,
  Logger,
  OpContext,
  Provider,
  ProviderContext,
  ResourceInfo,
} from "../../src/providers/types.js";

const run = promisify(execFile);

export interface LogLine {
  readonly level: "debug" | "info" | "warn";
  readonly message: string;
}

export interface TestProject {
  readonly root: string;
  readonly context: ProviderContext;
  readonly op: OpContext;
  /** Everything providers logged, to assert warnings and that nothing secret was logged. */
  readonly logs: LogLine[];
  cleanup(): Promise<void>;
}

/**
 * A project in a fresh temp directory. The name has a space and a `#` so that paths and URLs that are
 * not escaped properly fail here rather than on a user's machine.
 */
export async function tempProject(project = "myapp", base = tmpdir()): Promise<TestProject> {
  const root = await mkdtemp(join(base, "forkstack test #"));
  const logs: LogLine[] = [];
  const log: Logger = {
    debug: (message) => void logs.push({ level: "debug", message }),
    info: (message) => void logs.push({ level: "info", message }),
    warn: (message) => void logs.push({ level: "warn", message }),
  };
  const dataDir = join(root, ".forkstack");
  const context: ProviderContext = {
    project,
    projectRoot: root,
    dataDir,
    envDir: (env) => join(dataDir, "envs", env),
    log,
  };
  return { root, context, op: { log }, logs, cleanup: () => rm(root, { recursive: true, force: true }) };
}

export function envRef(project: TestProject, name: string): EnvRef {
  return { name, project: project.context.project };
}

/** The lifecycle calls as the core makes them: it creates the env's directory first and deletes it after. */
export function coreDriver(provider: Provider, project: TestProject) {
  const env = (name: string) => envRef(project, name);
  return {
    env,
    async create(name: string): Promise<ResourceInfo> {
      await mkdir(project.context.envDir(name), { recursive: true });
      return provider.create(env(name), project.op);
    },
    async fork(parent: string, child: string): Promise<ResourceInfo> {
      await mkdir(project.context.envDir(child), { recursive: true });
      return provider.fork(env(parent), env(child), project.op);
    },
    async remove(name: string): Promise<void> {
      await provider.remove(env(name), project.op);
      await rm(project.context.envDir(name), { recursive: true, force: true });
    },
    describe: (name: string) => provider.describe(env(name), project.op),
    list: () => provider.list(project.op),
  };
}

export type CoreDriver = ReturnType<typeof coreDriver>;

/**
 * Make `dir` unwritable. Tests here often run as root, which ignores permission bits, so for root the
 * directory is made immutable (`chattr +i`) instead. Returns a function that undoes it, or null if
 * neither works here.
 */
export async function makeReadOnly(dir: string): Promise<(() => Promise<void>) | null> {
  if (process.getuid?.() === 0) {
    try {
      await run("chattr", ["+i", dir]);
      return async () => void (await run("chattr", ["-i", dir]));
    } catch {
      return null;
    }
  }
  await chmod(dir, 0o555);
  return () => chmod(dir, 0o755);
}

export interface ReflinkFs {
  readonly dir: string;
  unmount(): Promise<void>;
}

/**
 * A small XFS filesystem with reflinks on a loop device, or the reason it cannot be had here (not root,
 * no mkfs.xfs, no loop devices in this container). Tests that need reflinks skip with that reason.
 */
export async function mountReflinkFs(sizeMb = 512): Promise<ReflinkFs | { skip: string }> {
  if (process.getuid?.() !== 0) return { skip: "mounting a reflink filesystem needs root" };
  const base = await mkdtemp(join(tmpdir(), "forkstack-xfs-"));
  const image = join(base, "fs.img");
  const dir = join(base, "mnt");
  try {
    await mkdir(dir);
    await run("truncate", ["-s", `${sizeMb}M`, image]);
    await run("mkfs.xfs", ["-q", "-m", "reflink=1", image]);
    await run("mount", ["-o", "loop", image, dir]);
  } catch (error) {
    await rm(base, { recursive: true, force: true });
    return { skip: `cannot mount an XFS image: ${(error as Error).message.split("\n")[0]}` };
  }
  return {
    dir,
    async unmount() {
      await run("umount", [dir]).catch(() => run("umount", ["-l", dir]));
      await rm(base, { recursive: true, force: true });
    },
  };
}

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), "../..");

/**
 * Bundle a TypeScript module of ours into plain ESM that a spawned `node` can import, for tests that need
 * a process of their own (peak RSS, crashes). Written under `node_modules/.cache` so that the bundle's
 * package imports (`libsql`, `zod`) resolve from the repository's node_modules.
 */
export async function bundleForChild(entry: string): Promise<string> {
  const { build } = await import("esbuild");
  const outdir = join(repoRoot, "node_modules/.cache/forkstack-test");
  await mkdir(outdir, { recursive: true });
  const outfile = join(outdir, `${entry.replace(/[^a-z0-9]+/gi, "-")}-${process.pid}.mjs`);
  await build({
    entryPoints: [join(repoRoot, entry)],
    outfile,
    bundle: true,
    platform: "node",
    format: "esm",
    packages: "external",
    logLevel: "silent",
  });
  return outfile;
}
