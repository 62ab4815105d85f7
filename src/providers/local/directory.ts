/**
 * @module providers/local/directory
 * Per-env local state: a directory per env at a path template relative to the project root (the seed's
 * `{project}.{env}.db/`), forked by cloning the parent's tree file by file, reflinked where the
 * filesystem allows. Unlike the database there is no lock to take: a fork copies each file as it is at
 * the moment it is cloned, so an app should not be writing to the parent's directory during `new`.
 * The child is built under a hidden temporary name and renamed into place, so it appears whole or not at all.
 */
import { lstat, mkdir, readFile, readdir, rename, rm, rmdir } from "node:fs/promises";
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from "node:path";
import { ProviderError, errnoCode, noRecordError } from "../../errors.js";
import { recordedString } from "../../layout.js";
import type { EnvRef, LocalStateProvider, ProviderFactory, ResourceInfo } from "../types.js";
import { bytesAdded, cloneDir, freeBytes, probeReflink, probeReflinkSync } from "../_internal/clone.js";
import {
  PRIVATE_DIR_MODE,
  PRIVATE_FILE_MODE,
  ensurePrivateDir,
  exists,
  fsError,
  listEnvsWith,
  mkdirPrivate,
  tempPath,
  writeFileDurable,
} from "../_internal/files.js";
import { findHolders } from "../_internal/holders.js";

const DEFAULT_TEMPLATE = "{project}.{env}.db";

export interface DirectoryOptions {
  /**
   * Where each env's directory lives, relative to the project root. `{project}` and `{env}` are replaced
   * by the project and env names; `{env}` must appear exactly once.
   * @default "{project}.{env}.db"
   */
  path?: string;
}

const PROVIDER_NAME = "directory";
/** In the core's per-env directory: the absolute path of the directory we made for that env. */
const MARKER_FILE = "local.path";

const provider: ProviderFactory<DirectoryOptions, LocalStateProvider> = (options, context) => {
  const template = options.path ?? DEFAULT_TEMPLATE;
  const root = context.projectRoot;
  const dirOf = (env: EnvRef) =>
    resolve(root, template.replaceAll("{project}", env.project).replaceAll("{env}", env.name));
  let copyOnWrite: boolean | undefined;

  /** Why `path` may not hold an env's state (whatever template named it); undefined if it may. */
  const placeProblem = (path: string): string | undefined => {
    const rel = relative(root, path);
    if (rel === "" || rel === ".." || rel.startsWith(`..${sep}`) || isAbsolute(rel)) {
      return `resolves to ${path}, which is not inside the project root ${root}`;
    }
    const first = rel.split(sep)[0];
    const reserved = [basename(context.dataDir), ".git", "node_modules"];
    if (first !== undefined && reserved.includes(first)) {
      return `resolves to ${path}, inside ${first}/, which forkstack or your tools own`;
    }
    return undefined;
  };

  /** Why `path` may not hold an env's state; empty if it may. Pure: the core calls it before any I/O. */
  const problems = (path: string): string[] => {
    if (template.split("{env}").length !== 2) {
      return [
        `local.path "${template}" must contain {env} exactly once, or every env would share one directory`,
      ];
    }
    const problem = placeProblem(path);
    return problem ? [`local.path "${template}" ${problem}`] : [];
  };

  /** A guard against writing outside the project because of a bad template. */
  const checkedDir = (env: EnvRef): string => {
    const path = dirOf(env);
    const found = problems(path);
    if (found.length > 0) throw new ProviderError(PROVIDER_NAME, `${found[0]}.`, "E_CONFIG_INVALID");
    return path;
  };

  const alreadyExists = (env: EnvRef, path: string) =>
    new ProviderError(
      PROVIDER_NAME,
      `A local state directory for env "${env.name}" already exists at ${path}.`,
      "E_ENV_EXISTS",
    );

  /** The directory a record names: `data.path`, or what an older record holds (its location). */
  const recordedPath = (recorded: ResourceInfo | undefined): string | undefined =>
    recordedString(recorded, "path") ??
    recorded?.vars.FORKSTACK_LOCAL_PATH ??
    (recorded?.location || undefined);

  /**
   * Which directory we made for an env, recorded in the core's per-env directory. A template such as
   * `{env}` can point at a directory the user already has (env `src` → `./src`): creating refuses it,
   * and without this record a rollback's `remove` would delete it. So we only ever report, fork into
   * or delete directories recorded here.
   */
  const markerPath = (env: EnvRef) => join(context.envDir(env.name), MARKER_FILE);
  const ownedPath = async (env: EnvRef): Promise<string | null> => {
    try {
      return (await readFile(markerPath(env), "utf8")).trim() || null;
    } catch (error) {
      if (errnoCode(error) === "ENOENT" || errnoCode(error) === "ENOTDIR") return null;
      throw error;
    }
  };

  /** Record the directory, then create it (empty) as a claim on the name: EEXIST means it is taken. */
  const claim = async (env: EnvRef, path: string) => {
    if (await exists(path)) throw alreadyExists(env, path);
    try {
      await ensurePrivateDir(context.envDir(env.name));
      await writeFileDurable(markerPath(env), `${path}\n`, { mode: PRIVATE_FILE_MODE, replace: true });
      // Directories the template adds (`state/` of `state/{env}`) are ours and private; existing ones
      // (the project root) are the user's and keep their mode.
      await mkdirPrivate(dirname(path));
      await mkdir(path, { mode: PRIVATE_DIR_MODE });
    } catch (error) {
      // Someone made the directory since we looked (EEXIST): it is theirs, so the record goes too.
      await rm(markerPath(env), { force: true }).catch(() => undefined);
      if (errnoCode(error) === "EEXIST") throw alreadyExists(env, path);
      throw fsError(PROVIDER_NAME, `create the local state directory of "${env.name}"`, path, error);
    }
  };

  /**
   * The env's directory: the one its record names (`data.path`, or an older record's location), else
   * the one today's template names. Only a directory our marker also records is reported as the env's.
   */
  const info = async (
    env: EnvRef,
    extra: Partial<ResourceInfo> = {},
    recorded?: ResourceInfo,
  ): Promise<ResourceInfo | null> => {
    const path = recordedPath(recorded) ?? dirOf(env);
    try {
      if ((await ownedPath(env)) !== path || !(await lstat(path)).isDirectory()) return null;
    } catch (error) {
      if (errnoCode(error) === "ENOENT") return null;
      throw fsError(PROVIDER_NAME, `read the local state of "${env.name}"`, path, error);
    }
    // No `bytes`: summing a tree is O(files), and `list` describes every env.
    return { location: path, vars: { FORKSTACK_LOCAL_PATH: path }, data: { path }, ...extra };
  };

  return {
    kind: "local",
    name: PROVIDER_NAME,
    flags: {
      private: true,
      get copyOnWrite() {
        return (copyOnWrite ??= probeReflinkSync(root));
      },
    },

    checkName: (env) => problems(dirOf(env)),

    async create(env, op) {
      op.signal?.throwIfAborted();
      const path = checkedDir(env);
      await claim(env, path);
      return (await info(env, { method: "empty", bytesAdded: 0 }))!;
    },

    target: (env) => ({ path: dirOf(env) }),

    async fork(parent, child, op, forkOptions) {
      op.signal?.throwIfAborted();
      const path = checkedDir(child);
      // The parent's directory as recorded: the template may have changed since it was made.
      const from = (await info(parent, {}, forkOptions?.parent))?.location;
      if (!from) {
        throw new ProviderError(
          PROVIDER_NAME,
          `Env "${parent.name}" has no local state directory (no ${recordedPath(forkOptions?.parent) ?? dirOf(parent)}).`,
          "E_ENV_NOT_FOUND",
        );
      }
      await claim(child, path);
      const temp = tempPath(path);
      try {
        const before = await freeBytes(dirname(path));
        const cloned = await cloneDir(from, temp);
        // Renaming onto our own empty claim is atomic and fails (ENOTEMPTY) if anyone filled it meanwhile.
        await rename(temp, path);
        const added = bytesAdded(cloned.method, cloned.bytes, before, await freeBytes(dirname(path)));
        op.log.debug(
          `[${PROVIDER_NAME}] forked ${from} -> ${path} (${cloned.method}, ${cloned.files} files)`,
        );
        return (await info(child, { method: cloned.method, bytesAdded: added, bytes: cloned.bytes }))!;
      } catch (error) {
        await rm(temp, { recursive: true, force: true }).catch(() => undefined);
        await rmdir(path).catch(() => undefined);
        await rm(markerPath(child), { force: true }).catch(() => undefined);
        throw fsError(
          PROVIDER_NAME,
          `fork the local state of "${parent.name}" into "${child.name}"`,
          path,
          error,
        );
      }
    },

    // The recorded directory, never the template's (the config may have changed since we made it), and
    // only while our marker records the same one: a step's target that a crash stopped before the
    // directory was claimed may name a directory that is someone else's.
    async remove(env, op, recorded) {
      const path = recordedPath(recorded);
      if (path === undefined) throw noRecordError(PROVIDER_NAME, env.name, "local state directory");
      try {
        const owned = await ownedPath(env);
        if (owned === path && placeProblem(path) === undefined) {
          await rm(path, { recursive: true, force: true });
          // Temp trees of a fork that crashed midway.
          const prefix = `.${basename(path)}.`;
          for (const name of await readdir(dirname(path)).catch(() => [] as string[])) {
            if (name.startsWith(prefix) && name.endsWith(".tmp")) {
              await rm(join(dirname(path), name), { recursive: true, force: true });
            }
          }
          op.log.debug(`[${PROVIDER_NAME}] removed ${path}`);
        } else if (await exists(path)) {
          op.log.warn(`[${PROVIDER_NAME}] left ${path} in place: forkstack did not create it`);
        }
        if (owned === null || owned === path) await rm(markerPath(env), { force: true });
      } catch (error) {
        throw fsError(PROVIDER_NAME, `remove the local state of "${env.name}"`, path, error);
      }
    },

    describe: (env, _op, recorded) => info(env, {}, recorded),

    // An app with a file open in the directory, or a shell or server whose cwd is inside it, would keep
    // using a tree that `reset`/`delete` unlinks. Only the directory we recorded is ours to check.
    holders: (env) => findHolders({ dirs: ownedPath(env).then((path) => (path === null ? [] : [path])) }),

    async list() {
      const found: string[] = [];
      for (const name of await listEnvsWith(context, MARKER_FILE)) {
        if (await info({ name, project: context.project })) found.push(name);
      }
      return found;
    },

    async doctor() {
      copyOnWrite = await probeReflink(root);
      return [
        copyOnWrite
          ? {
              level: "ok" as const,
              message: `${root} is on a filesystem with reflinks: local state forks are O(1) per file`,
            }
          : {
              level: "warn" as const,
              message: `${root} is on a filesystem without reflinks: local state forks copy every file`,
            },
      ];
    },
  };
};

export default provider;
