/**
 * @module providers/database/sqlite
 * The embedded database: one SQLite/libSQL file per env at `.forkstack/envs/<env>/db.sqlite`.
 *
 * A fork clones the parent's files while holding the parent's write lock, so it is a point-in-time
 * snapshot even while other processes write:
 * - WAL mode: `BEGIN IMMEDIATE` takes the WAL write lock. Committed data lives in the db file plus the
 *   `-wal` file; no writer can append to the WAL or restart it while we hold the lock (RESTART/TRUNCATE
 *   checkpoints need it too), and a concurrent passive checkpoint only copies into the db file pages that
 *   our copy of the WAL also holds, so the clone of both files opens to exactly the committed state.
 * - Rollback-journal modes: `BEGIN IMMEDIATE` first takes SHARED, which makes SQLite roll back a hot
 *   journal left by a crashed writer, then RESERVED, which no other writer can get, so nobody can
 *   modify the db file until we let go. The journal is not cloned: there is no hot one at that point.
 * The clone is a reflink where the filesystem allows (O(1)) and a kernel-side copy elsewhere; the data
 * never passes through JS memory. The child is built under a temporary name, opened once to check it,
 * then published with a no-clobber link, so it appears whole or not at all.
 */
import { readdir, rename, rm, stat } from "node:fs/promises";
import { dirname, join } from "node:path";
import { pathToFileURL } from "node:url";
import { ProviderError, errnoCode, isForkstackError } from "../../errors.js";
import type { DatabaseProvider, DoctorFinding, EnvRef, ProviderFactory, ResourceInfo } from "../types.js";
import { findHolders } from "../_internal/holders.js";
import { formatBytes, formatMs } from "../../format.js";
import {
  bytesAdded,
  cloneFile,
  flushBeforeReflink,
  freeBytes,
  probeReflink,
  probeReflinkSync,
} from "../_internal/clone.js";
import type { CloneMethod } from "../_internal/clone.js";
import {
  ensurePrivateDir,
  exists,
  fsError,
  listEnvsWith,
  publishNoClobber,
  recordedOwnFile,
  tempPath,
} from "../_internal/files.js";
import { checkDatabase, createDatabase, loadLibsql, lockForWrite, sqliteCode } from "../_internal/libsql.js";
import type { WriteLock } from "../_internal/libsql.js";

export interface SqliteOptions {
  /**
   * How long a fork waits for the parent's other writers to let go of the write lock before it gives up.
   * A fork holds that lock only while it clones (milliseconds with reflinks, a copy's duration without).
   * @default 10000
   */
  busyTimeoutMs?: number;
}

const PROVIDER_NAME = "sqlite";
const DB_FILE = "db.sqlite";
/** Files SQLite keeps next to a database. A stale `-wal` next to a *new* db file would be replayed into it. */
const SIDE_SUFFIXES = ["-wal", "-shm", "-journal"] as const;
const DEFAULT_BUSY_TIMEOUT_MS = 10_000;

/** `file:` URL of an absolute path, percent-encoded, as @libsql/client, Drizzle and Prisma take it. */
export function databaseUrl(path: string): string {
  return `file:${pathToFileURL(path).pathname}`;
}

const provider: ProviderFactory<SqliteOptions, DatabaseProvider> = (options, context) => {
  const busyTimeoutMs = options.busyTimeoutMs ?? DEFAULT_BUSY_TIMEOUT_MS;
  const dbPath = (env: EnvRef) => join(context.envDir(env.name), DB_FILE);
  let copyOnWrite: boolean | undefined;

  const info = async (env: EnvRef, extra: Partial<ResourceInfo> = {}): Promise<ResourceInfo | null> => {
    const path = dbPath(env);
    let bytes: number;
    try {
      bytes = (await stat(path)).size;
    } catch (error) {
      if (errnoCode(error) === "ENOENT") return null;
      throw fsError(PROVIDER_NAME, `read the database of "${env.name}"`, path, error);
    }
    const wal = await stat(`${path}-wal`).catch(() => undefined);
    const vars = { DATABASE_URL: databaseUrl(path) };
    return { location: path, bytes: bytes + (wal?.size ?? 0), vars, data: { file: path }, ...extra };
  };

  const alreadyExists = (env: EnvRef, path: string) =>
    new ProviderError(
      PROVIDER_NAME,
      `A database for env "${env.name}" already exists at ${path}.`,
      "E_ENV_EXISTS",
    );

  /** Refuse an existing target, and clear side files of a database that is gone (see SIDE_SUFFIXES). */
  const prepareTarget = async (env: EnvRef): Promise<string> => {
    const path = dbPath(env);
    if (await exists(path)) throw alreadyExists(env, path);
    try {
      // 0700 even if the core made it wider: the temp copy is built in it before being narrowed.
      await ensurePrivateDir(dirname(path));
      for (const suffix of SIDE_SUFFIXES) await rm(path + suffix, { force: true });
    } catch (error) {
      throw fsError(PROVIDER_NAME, `prepare the database of "${env.name}"`, path, error);
    }
    return path;
  };

  const removeFiles = async (path: string) => {
    // Side files first: a `-wal` must never outlive the db file it belongs to.
    for (const suffix of SIDE_SUFFIXES) await rm(path + suffix, { force: true });
    await rm(path, { force: true });
  };

  /** Give a finished temp database (and a WAL that closing did not checkpoint away) its final name. */
  const publish = async (temp: string, path: string) => {
    await publishNoClobber(temp, path);
    if (await exists(`${temp}-wal`)) await rename(`${temp}-wal`, `${path}-wal`);
    await rm(`${temp}-shm`, { force: true });
  };

  const failure = (env: EnvRef, action: string, path: string, error: unknown): Error => {
    if (isForkstackError(error) || (error instanceof Error && error.name === "AbortError"))
      return error as Error;
    if (errnoCode(error) === "EEXIST") return alreadyExists(env, path);
    const code = sqliteCode(error);
    if (!code.startsWith("SQLITE_")) return fsError(PROVIDER_NAME, action, path, error);
    const message = error instanceof Error ? error.message : code;
    return new ProviderError(
      PROVIDER_NAME,
      `Could not ${action}: SQLite says "${message}" (${code}).`,
      "E_PROVIDER",
      {
        cause: error,
      },
    );
  };

  return {
    kind: "database",
    name: PROVIDER_NAME,
    flags: {
      private: true,
      // The contract makes flags plain data; probing lazily here keeps the factory free of I/O.
      get copyOnWrite() {
        return (copyOnWrite ??= probeReflinkSync(context.dataDir));
      },
    },

    async create(env, op) {
      op.signal?.throwIfAborted();
      const path = await prepareTarget(env);
      const temp = tempPath(path);
      try {
        await createDatabase(PROVIDER_NAME, temp);
        await publish(temp, path);
      } catch (error) {
        await removeFiles(temp).catch(() => undefined);
        throw failure(env, `create the database of "${env.name}"`, path, error);
      }
      op.log.debug(`[${PROVIDER_NAME}] created ${path}`);
      const made = (await info(env, { method: "empty" }))!;
      return { ...made, bytesAdded: made.bytes ?? 0 };
    },

    async fork(parent, child, op) {
      op.signal?.throwIfAborted();
      const from = dbPath(parent);
      if (!(await exists(from))) {
        throw new ProviderError(
          PROVIDER_NAME,
          `Env "${parent.name}" has no database (no ${from}).`,
          "E_ENV_NOT_FOUND",
          {
            hint: `Check the parent's name, or recreate "${parent.name}".`,
          },
        );
      }
      const path = await prepareTarget(child);
      const temp = tempPath(path);
      let lock: WriteLock | undefined;
      try {
        const files = (await exists(`${from}-wal`)) ? [from, `${from}-wal`] : [from];
        const flush = await flushBeforeReflink(files, dirname(path), (pending) =>
          op.log.info(
            `database: writing ${pending ? `up to ${formatBytes(pending)} of ` : ""}"${parent.name}"'s pending data to disk first (a reflink shares only what is on disk)…`,
          ),
        );
        if (flush.slow) {
          op.log.info(`database: pending data written in ${formatMs(flush.ms)}; now cloning.`);
        }
        lock = await lockForWrite(PROVIDER_NAME, from, {
          timeoutMs: busyTimeoutMs,
          signal: op.signal,
          clock: context.clock,
          onTimeout: (cause) =>
            new ProviderError(
              PROVIDER_NAME,
              `The database of "${parent.name}" stayed locked by another writer for ${busyTimeoutMs} ms.`,
              "E_ENV_BUSY",
              { cause, hint: "Let long transactions on it finish, or raise `database.busyTimeoutMs`." },
            ),
        });
        const before = await freeBytes(dirname(path));
        let method: CloneMethod;
        let copied: number;
        try {
          // Only under the lock is the WAL complete and safe from being restarted. The WAL goes first:
          // finishing the db file's copy closes a descriptor of it, which drops our locks on it.
          const wal =
            (await exists(`${from}-wal`)) && !lock.walBackfilled
              ? await cloneFile(`${from}-wal`, `${temp}-wal`)
              : undefined;
          const db = await cloneFile(from, temp);
          method = db.method === "copy" || wal?.method === "copy" ? "copy" : "reflink";
          copied = db.bytes + (wal?.bytes ?? 0);
        } finally {
          lock.unlock();
        }
        await checkDatabase(PROVIDER_NAME, temp);
        await publish(temp, path);
        // Measured before the parent's connection closes: see `lockForWrite`.
        const added = bytesAdded(method, copied, before, await freeBytes(dirname(path)));
        op.log.debug(`[${PROVIDER_NAME}] forked ${from} -> ${path} (${method}, ${added} bytes added)`);
        return (await info(child, { method, bytesAdded: added }))!;
      } catch (error) {
        await removeFiles(temp).catch(() => undefined);
        throw failure(child, `fork the database of "${parent.name}" into "${child.name}"`, path, error);
      } finally {
        lock?.close();
      }
    },

    target: (env) => ({ file: dbPath(env) }),

    async remove(env, op, recorded) {
      const path = recordedOwnFile(PROVIDER_NAME, env, recorded, dbPath(env), "database");
      try {
        await removeFiles(path);
        // Temp files of a fork that crashed midway.
        const dir = dirname(path);
        for (const name of await readdir(dir).catch(() => [] as string[])) {
          if (name.startsWith(`.${DB_FILE}.`)) await rm(join(dir, name), { force: true });
        }
      } catch (error) {
        throw fsError(PROVIDER_NAME, `remove the database of "${env.name}"`, path, error);
      }
      op.log.debug(`[${PROVIDER_NAME}] removed ${path}`);
    },

    describe: (env) => info(env),

    list: () => listEnvsWith(context, DB_FILE),

    // The app's connection holds the db file and, in WAL mode, the -wal and -shm (mmapped) files open.
    holders: (env) => {
      const path = dbPath(env);
      return findHolders({ files: [path, ...SIDE_SUFFIXES.map((suffix) => path + suffix)] });
    },

    async doctor() {
      const findings: DoctorFinding[] = [];
      try {
        await loadLibsql(PROVIDER_NAME);
        findings.push({ level: "ok", message: "the libsql native module loads" });
      } catch (error) {
        findings.push({ level: "error", message: (error as Error).message });
      }
      try {
        copyOnWrite = await probeReflink(context.dataDir);
        findings.push(
          copyOnWrite
            ? {
                level: "ok",
                message: `${context.dataDir} is on a filesystem with reflinks: database forks are O(1)`,
              }
            : {
                level: "warn",
                message: `${context.dataDir} is on a filesystem without reflinks: each database fork copies the whole file (XFS, btrfs, APFS or ZFS ≥ 2.2 make it O(1))`,
              },
        );
      } catch (error) {
        findings.push({
          level: "error",
          message: fsError(PROVIDER_NAME, "probe the filesystem", context.dataDir, error).message,
        });
      }
      return findings;
    },
  };
};

export default provider;
