/**
 * Shared fixtures for our own provider tests: the public ones from `src/testing` (a throwaway project,
 * the core-like driver), plus a read-only directory that holds even for root, and a reflink filesystem when the machine can mount one.
 */
import { execFile } from "node:child_process";
import { mkdir, mkdtemp, rm, chmod } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { tempProject as makeTempProject, type TestProject } from "../../src/testing/index.js";

const run = promisify(execFile);

export { coreDriver, envRef } from "../../src/testing/index.js";
export type { CoreDriver, LogLine, TestProject } from "../../src/testing/index.js";

/** A project named `myapp` (tests outside the suites assert paths with that name) in a fresh temp dir. */
export function tempProject(project = "myapp", base?: string): Promise<TestProject> {
  return makeTempProject({ project, ...(base ? { base } : {}) });
}

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
