/**
 * @module core/fs-atomic
 * Crash-safe file writes: a reader sees the old file or the new one, never half of either, and a
 * kill -9 or power loss after we return cannot lose the write (temp file, fsync, rename, fsync dir).
 */
import { randomBytes } from "node:crypto";
import { mkdir, open, rename, rm } from "node:fs/promises";
import { dirname, join } from "node:path";
import { UserError, errnoCode } from "../errors.js";

export async function writeFileAtomic(path: string, data: string | Uint8Array, mode = 0o600): Promise<void> {
  const dir = dirname(path);
  const temp = join(dir, `.${randomBytes(6).toString("hex")}.tmp`);
  try {
    await mkdir(dir, { recursive: true });
    const handle = await open(temp, "wx", mode);
    try {
      await handle.writeFile(data);
      // writeFile honours the umask at creation; chmod makes 0600 stick whatever the umask.
      await handle.chmod(mode);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, path);
    await syncDir(dir);
  } catch (error) {
    await rm(temp, { force: true }).catch(() => undefined);
    throw stateWriteError(path, error);
  }
}

export async function syncDir(dir: string): Promise<void> {
  const handle = await open(dir, "r");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Turn an OS error writing forkstack's own files into one the user can act on. */
export function stateWriteError(path: string, error: unknown): unknown {
  const code = errnoCode(error);
  if (code === "EACCES" || code === "EPERM" || code === "EROFS") {
    return new UserError(
      `Cannot write ${path}: the directory is read-only (${code}).`,
      "E_STATE_UNWRITABLE",
      {
        cause: error,
        hint: "Make the project's .forkstack/ directory writable, then run the command again.",
      },
    );
  }
  if (code === "ENOSPC" || code === "EDQUOT") {
    return new UserError(`Cannot write ${path}: the disk is full (${code}).`, "E_STATE_UNWRITABLE", {
      cause: error,
      hint: "Free some space (`forkstack gc` deletes expired envs), then run the command again.",
    });
  }
  return error;
}
