/**
 * @module providers/_internal/files
 * Filesystem helpers shared by the file-backed providers: publishing a finished temp file under its final
 * name without clobbering, durable small-file writes, listing envs by a marker file, and turning OS errors
 * into ProviderErrors a user can act on.
 */
import { randomBytes } from "node:crypto";
import { link, lstat, open, readdir, rename, rm, unlink } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { ProviderError, errnoCode, isForkstackError } from "../../errors.js";
import type { ProviderContext } from "../types.js";

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
 * Envs whose per-env directory holds `file`. The contract gives us `envDir(env)` only, so the envs root is
 * its parent directory; names come from that directory's entries.
 */
export async function listEnvsWith(context: ProviderContext, file: string): Promise<string[]> {
  const root = dirname(context.envDir("_"));
  let names: string[];
  try {
    names = await readdir(root);
  } catch (error) {
    if (errnoCode(error) === "ENOENT") return [];
    throw error;
  }
  const found: string[] = [];
  for (const name of names.sort()) {
    if (!name.startsWith(".") && (await exists(join(context.envDir(name), file)))) found.push(name);
  }
  return found;
}

/**
 * Turn an OS error into a ProviderError that names the path and what to do; ProviderErrors pass through.
 * `action` completes "Could not …", e.g. `fork database "alice"`.
 */
export function fsError(provider: string, action: string, path: string, error: unknown): Error {
  if (isForkstackError(error)) return error;
  const code = errnoCode(error);
  const because =
    code === "EACCES" || code === "EPERM"
      ? `permission denied writing ${path} (${code})`
      : code === "EROFS"
        ? `${path} is on a read-only filesystem (EROFS)`
        : code === "ENOSPC" || code === "EDQUOT"
          ? `the disk holding ${path} is full (${code})`
          : `${error instanceof Error ? error.message : String(error)}`;
  const hint =
    code === "ENOSPC" || code === "EDQUOT"
      ? "Free some disk space (`forkstack gc` deletes expired envs), then try again."
      : code === "EACCES" || code === "EPERM" || code === "EROFS"
        ? `Make ${dirname(path)} writable by this user, then try again.`
        : undefined;
  return new ProviderError(provider, `Could not ${action}: ${because}.`, "E_PROVIDER", {
    cause: error,
    ...(hint ? { hint } : {}),
  });
}
