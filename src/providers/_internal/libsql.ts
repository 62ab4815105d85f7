/**
 * @module providers/_internal/libsql
 * The few things the sqlite provider does with the `libsql` package (a better-sqlite3-compatible,
 * synchronous driver): open a file, hold its write lock without blocking the event loop, check a copy.
 *
 * Two libsql quirks shape this file. It ignores better-sqlite3's `fileMustExist`, so we open through a
 * `file:` URI whose `mode=rw` makes SQLite refuse to create a missing file. And a connection that ran a
 * prepared statement is only really closed when that statement is garbage-collected, which keeps the
 * file's locks and its `-wal` alive; so we only use `exec`, which leaves no statement behind, and
 * `close()` then checkpoints and removes the WAL at once.
 */
import type LibsqlDatabase from "libsql";
import { open, type FileHandle } from "node:fs/promises";
import { endianness } from "node:os";
import { pathToFileURL } from "node:url";
import { ensurePrivateFile } from "../../durable-fs.js";
import { ProviderError } from "../../errors.js";
import type { Clock } from "../types.js";
import { requireLibsql } from "../../native-sqlite.js";

export type Connection = LibsqlDatabase.Database;

let loading: Promise<typeof LibsqlDatabase> | undefined;

/** Load the native module on first use, so `list`/`describe` and projects that never fork do not pay for it. */
export async function loadLibsql(provider: string): Promise<typeof LibsqlDatabase> {
  loading ??= Promise.resolve().then(requireLibsql);
  try {
    return await loading;
  } catch (error) {
    loading = undefined;
    throw new ProviderError(provider, "The `libsql` package could not be loaded.", "E_PROVIDER_DEP_MISSING", {
      cause: error,
      hint: "Reinstall dependencies (`npm install`); libsql ships a native binary per platform.",
    });
  }
}

/** Open an existing (`rw`) or new (`rwc`) database file. `busyMs` bounds each lock wait inside SQLite. */
export async function openDatabase(
  provider: string,
  path: string,
  mode: "rw" | "rwc",
  busyMs: number,
): Promise<Connection> {
  const Database = await loadLibsql(provider);
  return new Database(`${pathToFileURL(path).href}?mode=${mode}`, { timeout: busyMs });
}

/** libsql's error code: `SQLITE_BUSY`, `SQLITE_NOTADB`, … (empty if not a SQLite error). */
export function sqliteCode(error: unknown): string {
  return error && typeof error === "object" && "code" in error ? String(error.code) : "";
}

/**
 * libsql is synchronous: SQLite's busy handler would block the event loop (and every other resource of
 * an env being forked in parallel, and any other fork of the same parent in this process, which would
 * then never release) for the whole timeout. So each attempt waits at most `ATTEMPT_MS` inside SQLite
 * and we retry on a timer until the deadline.
 */
const ATTEMPT_MS = 25;
const RETRY_DELAY_MS = 5;
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export interface WriteLockOptions {
  readonly timeoutMs: number;
  readonly signal?: AbortSignal | undefined;
  /** The error to throw when the lock stays taken past `timeoutMs`. */
  readonly onTimeout: (cause: unknown) => Error;
  /** What the timeout and the pauses between attempts are measured on (`ProviderContext.clock`). */
  readonly clock?: Clock | undefined;
}

export interface WriteLock {
  /**
   * Every committed frame of the WAL is already in the db file (read from the wal-index while the lock
   * is held), so a fork need not clone the WAL. False when unsure: cloning the WAL is always correct.
   */
  readonly walBackfilled: boolean;
  /** Release the lock (ROLLBACK; nothing was written). Idempotent. */
  unlock(): void;
  /** Release the lock if held, and close the connection. */
  close(): void;
}

/**
 * Take the database's write lock (`BEGIN IMMEDIATE`): in WAL mode the WAL write lock, in rollback-journal
 * modes SHARED then RESERVED. Getting SHARED is where SQLite rolls back a hot journal left by a crashed
 * writer, so the file is consistent once this resolves.
 *
 * Unlocking and closing are separate because closing has side effects on disk that are not ours: closing
 * a descriptor of a file that was being appended to makes XFS give back its speculative preallocation
 * (often megabytes for a WAL), which would otherwise land inside a fork's free-space measurement.
 */
export async function lockForWrite(
  provider: string,
  path: string,
  options: WriteLockOptions,
): Promise<WriteLock> {
  const db = await openDatabase(provider, path, "rw", ATTEMPT_MS);
  let locked = false;
  let shm: FileHandle | undefined;
  const lock = {
    walBackfilled: false,
    unlock() {
      if (locked) db.exec("ROLLBACK");
      locked = false;
    },
    close() {
      try {
        lock.unlock();
      } finally {
        db.close();
        // Only now: closing it while SQLite holds locks on -shm would have dropped them (see below).
        void shm?.close().catch(() => undefined);
      }
    },
  };
  try {
    // Backfill what we can first (PASSIVE: never waits, never blocks writers), so that usually the
    // db file alone holds every commit and the WAL need not be cloned (see `walIsCheckpointed`).
    // A no-op in rollback-journal modes.
    try {
      db.exec("PRAGMA wal_checkpoint(PASSIVE)");
    } catch (error) {
      // Busy (e.g. another connection is recovering the WAL): then we clone the WAL, which is always correct.
      if (!/^SQLITE_(BUSY|LOCKED)/.test(sqliteCode(error))) throw error;
    }
    const clock = options.clock;
    const now = () => (clock ? clock.now() : Date.now());
    const deadline = now() + options.timeoutMs;
    for (;;) {
      options.signal?.throwIfAborted();
      try {
        db.exec("BEGIN IMMEDIATE");
        locked = true;
        break;
      } catch (error) {
        if (!/^SQLITE_(BUSY|LOCKED)/.test(sqliteCode(error))) throw error;
        if (now() >= deadline) throw options.onTimeout(error);
        // The signal is checked at the top of the loop (an AbortError, as from the caller's own checks).
        await (clock ? clock.sleep(RETRY_DELAY_MS) : sleep(RETRY_DELAY_MS));
      }
    }
    // Fails early (SQLITE_NOTADB, SQLITE_CORRUPT) if the file is not a usable database.
    db.exec("SELECT count(*) FROM sqlite_schema");
    // POSIX locks belong to the process and the file: closing *any* descriptor of a file drops every
    // lock this process holds on it, SQLite's included. So the -shm descriptor stays open until the
    // connection is closed, and callers copy the db file last (its copy's close drops the db locks).
    shm = await open(`${path}-shm`, "r").catch(() => undefined);
    lock.walBackfilled = shm ? await walIsCheckpointed(shm) : false;
    return lock;
  } catch (error) {
    lock.close();
    throw error;
  }
}

/**
 * Whether every committed frame of the WAL is already in the db file, read from the wal-index header in
 * the `-shm` file (layout: https://sqlite.org/walformat.html §2.1: `mxFrame` at 16, a second copy of the
 * 48-byte header at 48, `nBackfill` at 96, native byte order). Only meaningful while holding the write
 * lock, which freezes `mxFrame`; `nBackfill` can only grow. Read through the handle `lockForWrite` keeps open. A WAL stays on disk at its largest size
 * after a big transaction until the next write restarts it, and cloning it would make the child replay
 * (and, on a reflink filesystem, un-share) all of it again, so when it is fully backfilled the fork
 * skips it. Anything unexpected in the header answers false: cloning the WAL is always correct.
 */
export async function walIsCheckpointed(shm: FileHandle): Promise<boolean> {
  const header = Buffer.alloc(136);
  let read: number;
  try {
    ({ bytesRead: read } = await shm.read(header, 0, header.length, 0));
  } catch {
    return false;
  }
  const u32 = (offset: number) =>
    endianness() === "LE" ? header.readUInt32LE(offset) : header.readUInt32BE(offset);
  const consistent = header.subarray(0, 48).equals(header.subarray(48, 96));
  return (
    read === header.length && consistent && u32(0) === 3007000 && header[12] === 1 && u32(96) === u32(16)
  );
}

/**
 * Cheap check of a copied database: opening it and reading the schema validates the header, replays
 * and (on close) checkpoints a copied WAL, and parses every table definition. `PRAGMA quick_check` would
 * read every page, O(data), which is exactly what a fork avoids; the tests run the full `integrity_check`.
 */
export async function checkDatabase(provider: string, path: string): Promise<void> {
  const db = await openDatabase(provider, path, "rw", ATTEMPT_MS);
  try {
    db.exec("SELECT count(*) FROM sqlite_schema");
  } finally {
    db.close();
  }
}

/**
 * Make an empty database in WAL mode, which SQLite records in the file header. The file is made first,
 * empty and 0600 (an empty file is a valid empty database): SQLite would create it 0644 minus the umask,
 * and it gives the `-wal` and `-shm` files it makes later the database file's mode.
 */
export async function createDatabase(provider: string, path: string): Promise<void> {
  await ensurePrivateFile(path);
  const db = await openDatabase(provider, path, "rwc", ATTEMPT_MS);
  try {
    // WAL lets the app's readers and writers (and our forks) work at once.
    db.exec("PRAGMA journal_mode=WAL");
  } finally {
    db.close();
  }
}
