/**
 * @module durable-fs
 * Crash-safe file primitives shared by the core (manifests, `.current-env`) and the file-backed
 * providers: a reader sees the old file or the new one, never half of either, and a kill -9 or power
 * loss after a write returns cannot lose it (temp file, fsync, rename or no-clobber link, fsync dir).
 */
import { randomBytes } from "node:crypto";
import { chmod, link, lstat, mkdir, open, rename, rm, stat, unlink } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { errnoCode } from "./errors.js";

/** A fresh hidden name next to `path`, e.g. `.db.sqlite.3f9a….tmp`, for building a file before publishing it. */
export function tempPath(path: string): string {
  return join(dirname(path), `.${basename(path)}.${randomBytes(6).toString("hex")}.tmp`);
}

export async function exists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch (error) {
    if (errnoCode(error) === "ENOENT" || errnoCode(error) === "ENOTDIR") return false;
    throw error;
  }
}

/**
 * Give the finished file `temp` its final name, failing with EEXIST if that name is taken. `rename` would
 * silently replace a file another process published meanwhile; `link` refuses atomically. Filesystems
 * without hard links get a check-then-rename, which is as good as it gets there.
 */
export async function publishNoClobber(temp: string, path: string): Promise<void> {
  try {
    await link(temp, path);
  } catch (error) {
    const code = errnoCode(error);
    if (code !== "EPERM" && code !== "ENOTSUP" && code !== "EOPNOTSUPP" && code !== "EMLINK") throw error;
    if (await exists(path)) throw Object.assign(new Error(`EEXIST: ${path}`), { code: "EEXIST" });
    await rename(temp, path);
    return;
  }
  await unlink(temp);
}

export async function syncDir(dir: string): Promise<void> {
  const handle = await open(dir, "r");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Write a small file durably with mode `mode` whatever the umask: temp file, fsync, then either replace
 * `path` (`replace: true`) or publish it only if `path` does not exist yet (EEXIST otherwise), then fsync
 * the directory so the new name survives a power loss.
 */
export async function writeFileDurable(
  path: string,
  data: string | Uint8Array,
  options: { mode: number; replace: boolean },
): Promise<void> {
  const temp = tempPath(path);
  try {
    const handle = await open(temp, "wx", options.mode);
    try {
      await handle.chmod(options.mode);
      await handle.writeFile(data);
      await handle.sync();
    } finally {
      await handle.close();
    }
    if (options.replace) await rename(temp, path);
    else await publishNoClobber(temp, path);
    await syncDir(dirname(path));
  } finally {
    await rm(temp, { force: true }).catch(() => undefined);
  }
}

/**
 * Modes of everything forkstack makes for a project's data (`.forkstack/`, env directories, database and
 * secrets files, local state directories): only the owner may read it, whatever the umask. The usual
 * umask 022 would make them 755/644, and an env's database is the app's data.
 */
export const PRIVATE_DIR_MODE = 0o700;
export const PRIVATE_FILE_MODE = 0o600;

/**
 * `mkdir -p` where every directory it creates is 0700 (the umask cannot widen a mode, only narrow it).
 * Directories that exist are left as they are: a parent may be the user's (the project root).
 */
export async function mkdirPrivate(path: string): Promise<void> {
  await mkdir(path, { recursive: true, mode: PRIVATE_DIR_MODE });
}

/**
 * `mkdirPrivate`, then also take group/other access away from `path` itself if it exists with more
 * (made by an older forkstack, or by a copy by hand). Only for directories forkstack owns
 * (`.forkstack/`, an env's directory). Best effort: a read-only filesystem or someone else's directory
 * keeps its mode, and the command goes on.
 */
export async function ensurePrivateDir(path: string): Promise<void> {
  if ((await mkdir(path, { recursive: true, mode: PRIVATE_DIR_MODE })) !== undefined) return;
  await tighten(path);
}

/**
 * Create `path` empty with mode 0600 if it does not exist, so that a library that creates the file
 * itself (SQLite: 0644 & ~umask) finds it made private; if it exists, take group/other bits away.
 * SQLite gives the `-wal` and `-shm` files it creates the mode of the database file, so this covers them.
 */
export async function ensurePrivateFile(path: string): Promise<void> {
  try {
    await (await open(path, "wx", PRIVATE_FILE_MODE)).close();
  } catch (error) {
    if (errnoCode(error) !== "EEXIST") throw error;
    await tighten(path);
  }
}

/** Drop group/other bits from an existing path (keeping the owner's), best effort. */
export async function tighten(path: string): Promise<void> {
  try {
    const { mode } = await stat(path);
    if (mode & 0o077) await chmod(path, mode & 0o700);
  } catch {
    // Read-only filesystem, not ours, or gone: nothing we can or need to do here.
  }
}
