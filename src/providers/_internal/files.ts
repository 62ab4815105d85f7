/**
 * @module providers/_internal/files
 * Filesystem helpers shared by the file-backed providers: listing envs by a marker file and turning OS
 * errors into ProviderErrors a user can act on (plus the durable-write primitives, re-exported).
 */
import { readdir } from "node:fs/promises";
import { dirname, join } from "node:path";
import { exists } from "../../durable-fs.js";
import { ProviderError, errnoCode, isForkstackError } from "../../errors.js";
import type { ProviderContext } from "../types.js";

// The durable-write primitives live in `src/durable-fs.ts` (the core uses them too).
export {
  PRIVATE_DIR_MODE,
  PRIVATE_FILE_MODE,
  ensurePrivateDir,
  ensurePrivateFile,
  exists,
  mkdirPrivate,
  publishNoClobber,
  syncDir,
  tempPath,
  writeFileDurable,
} from "../../durable-fs.js";

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
      ? "Free some disk space (`forkstack gc --yes` deletes expired envs), then try again."
      : code === "EACCES" || code === "EPERM" || code === "EROFS"
        ? `Make ${dirname(path)} writable by this user, then try again.`
        : undefined;
  return new ProviderError(provider, `Could not ${action}: ${because}.`, "E_PROVIDER", {
    cause: error,
    ...(hint ? { hint } : {}),
  });
}
