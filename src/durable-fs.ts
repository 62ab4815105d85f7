/**
 * @module durable-fs
 * Crash-safe file primitives shared by the core (manifests, `.current-env`) and the file-backed
 * providers: a reader sees the old file or the new one, never half of either, and a kill -9 or power
 * loss after a write returns cannot lose it (temp file, fsync, rename or no-clobber link, fsync dir).
 */
import { randomBytes } from "node:crypto";
import { link, lstat, open, rename, rm, unlink } from "node:fs/promises";
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
