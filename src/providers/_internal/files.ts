/**
 * @module providers/_internal/files
 * Filesystem helpers shared by the file-backed providers: listing envs by a marker file and turning OS
 * errors into ProviderErrors a user can act on (plus the durable-write primitives, re-exported).
 */
import { readdir } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { exists } from "../../durable-fs.js";
import { ProviderError, errnoCode, isForkstackError, noRecordError } from "../../errors.js";
import { recordedString } from "../../layout.js";
import type { EnvRef, ProviderContext, ResourceInfo } from "../types.js";

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

/**
 * The env's own file (`own`, in its directory under `.forkstack/envs/`) if the record names it: by
 * `data.file`, else (an older record) its `location`. Compared by the env directory and file name, so a
 * project moved since still matches; a record naming any other file, or none, removes nothing.
 */
export function recordedOwnFile(
  provider: string,
  env: EnvRef,
  recorded: ResourceInfo | undefined,
  own: string,
  what: string,
): string {
  const named = recordedString(recorded, "file") ?? recorded?.location;
  if (!named) throw noRecordError(provider, env.name, what);
  const tail = (path: string) => `${basename(dirname(path))}/${basename(path)}`;
  if (tail(named) !== tail(own)) {
    throw new ProviderError(
      provider,
      `The record of "${env.name}"'s ${what} names ${named}, which is not its own file (${own}): nothing was removed.`,
      "E_NO_RECORD",
      {
        hint: `Check .forkstack/envs/${env.name}/manifest.json; remove the file by hand if it is a leftover.`,
      },
    );
  }
  return own;
}
