/**
 * @module core/fs-atomic
 * The core's own files (manifests, `.current-env`, `.env.local`, caches) are written with the shared
 * durable-write primitive; what this adds is the directory creation and an error a user can act on.
 */
import { dirname } from "node:path";
import { mkdirPrivate, writeFileDurable } from "../durable-fs.js";
import { UserError, errnoCode } from "../errors.js";

export async function writeFileAtomic(path: string, data: string | Uint8Array, mode = 0o600): Promise<void> {
  try {
    // Directories made here hold manifests and caches: private like the files (see PRIVATE_DIR_MODE).
    await mkdirPrivate(dirname(path));
    await writeFileDurable(path, data, { mode, replace: true });
  } catch (error) {
    throw stateWriteError(path, error);
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
      hint: "Free some space (`forkstack gc --yes` deletes expired envs), then run the command again.",
    });
  }
  return error;
}
