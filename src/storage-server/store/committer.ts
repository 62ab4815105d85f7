/**
 * @module storage-server/store/committer
 * Group commit with the durability wait moved off the event loop.
 *
 * libsql's API is synchronous: a `synchronous=FULL` COMMIT blocks the whole server for its fsync of
 * the WAL, once per batch. Instead, batches commit with `synchronous=NORMAL` (the WAL frames are
 * written, not fsynced: microseconds), and then we `fdatasync` the WAL file ourselves on the thread
 * pool; a writer's promise resolves only after an fdatasync that started after its COMMIT finished.
 * While one fdatasync runs, later batches keep committing and share the next one, so under load
 * one disk flush covers many writes and the event loop never waits for the disk.
 *
 * Why this keeps every guarantee:
 * - kill -9: a COMMIT that returned has written its WAL frames with write(2); they are in the OS page
 *   cache, which outlives the process. SQLite recovers them on the next open. Nothing is answered
 *   before COMMIT returned, so no acknowledged write can be lost (even un-acknowledged ones survive).
 * - power loss: what `synchronous=FULL` does in WAL mode is exactly "fsync the WAL after writing the
 *   commit frame"; we do the same fsync, only on another thread, and answer after it. A crash before
 *   it loses only unanswered commits; SQLite's WAL checksums make recovery stop at the last complete
 *   commit. Checkpoints are unchanged (NORMAL still syncs the WAL before and the db after one).
 * - Other statements (bucket changes, GC, multipart bookkeeping through `tx`) run outside batches
 *   with the connection's default `synchronous=FULL`, so they stay durable on their own and their
 *   COMMIT's fsync also covers any earlier batch.
 * - Readers may see a batch between its COMMIT and its fdatasync. Anything derived from it that
 *   is stored (a copy, a fork) commits later in the same WAL, so it can't be durable without it.
 *   Side effects outside SQLite must not act on such state: GC calls `syncNow()` before unlinking.
 */
import { closeSync, fdatasync, fdatasyncSync, openSync } from "node:fs";
import type { Db } from "./db.js";
import { tx } from "./db.js";

interface Pending {
  readonly fn: () => unknown;
  readonly resolve: (value: unknown) => void;
  readonly reject: (error: unknown) => void;
}

interface Outcome {
  readonly item: Pending;
  readonly ok: boolean;
  readonly value: unknown;
}

export class GroupCommitter {
  private queue: Pending[] = [];
  /** Committed, waiting for a WAL fdatasync that starts after their COMMIT. */
  private unsynced: Outcome[] = [];
  private syncing = false;
  private idleWaiters: (() => void)[] = [];
  /** Set when an fdatasync failed: after that the kernel may have dropped dirty pages, so a later
   * "successful" sync proves nothing (fsyncgate). Writes are refused until the store reopens. */
  private broken: unknown;
  /** fd of the WAL file, or undefined when we cannot sync it ourselves (then batches use FULL). */
  private walFd: number | undefined;

  constructor(
    private readonly db: Db,
    walFile: string | undefined,
  ) {
    try {
      // Opened once: POSIX fsync flushes the file, whichever descriptor asks. SQLite keeps the same
      // WAL file (it restarts it in place after a checkpoint) as long as the connection is open.
      this.walFd = walFile === undefined ? undefined : openSync(walFile, "r+");
    } catch {
      this.walFd = undefined;
    }
  }

  /** Runs `fn` in the next batch; resolves (or rejects with its error) once the batch is durable. */
  write<T>(fn: () => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      if (this.broken !== undefined) {
        reject(this.broken);
        return;
      }
      this.queue.push({ fn, resolve: resolve as (v: unknown) => void, reject });
      if (this.queue.length === 1) setImmediate(() => this.flush());
    });
  }

  /**
   * Makes every committed batch durable right now, synchronously. For callers about to act on what
   * they read outside SQLite (GC unlinking files), which must not trust a commit power loss may undo.
   */
  syncNow(): void {
    if (this.broken !== undefined) throw this.broken;
    if (this.walFd !== undefined && (this.syncing || this.unsynced.length > 0)) fdatasyncSync(this.walFd);
  }

  /**
   * Runs `fn` in a transaction of its own right now, committed without waiting for the disk. Only
   * for changes a power loss may undo harmlessly (dropping bookkeeping rows of garbage, which the next
   * GC pass drops again); the next batch's fdatasync makes it durable along with its own.
   */
  runUnsynced<T>(fn: () => T): T {
    if (this.broken !== undefined) throw this.broken;
    if (this.walFd === undefined) return tx(this.db, fn);
    this.db.exec("PRAGMA synchronous = NORMAL");
    try {
      return tx(this.db, fn);
    } finally {
      this.db.exec("PRAGMA synchronous = FULL");
    }
  }

  /** Resolves when no batch is queued, committing or waiting for its sync. */
  idle(): Promise<void> {
    if (this.queue.length === 0 && this.unsynced.length === 0 && !this.syncing) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Closes the WAL descriptor; call after `idle()` and after closing the database. */
  close(): void {
    if (this.walFd !== undefined) closeSync(this.walFd);
    this.walFd = undefined;
  }

  private flush(): void {
    const batch = this.queue;
    this.queue = [];
    const deferSync = this.walFd !== undefined;
    const outcomes: Outcome[] = [];
    try {
      if (deferSync) this.db.exec("PRAGMA synchronous = NORMAL");
      this.db.exec("BEGIN IMMEDIATE");
      for (const item of batch) {
        try {
          outcomes.push({ item, ok: true, value: tx(this.db, item.fn) });
        } catch (error) {
          outcomes.push({ item, ok: false, value: error });
        }
      }
      this.db.exec("COMMIT");
    } catch (error) {
      // A COMMIT that failed for lack of space was rolled back by SQLite already; a ROLLBACK that
      // fails here must not escape (this runs from setImmediate: it would take the server down).
      try {
        if (this.db.inTransaction) this.db.exec("ROLLBACK");
      } catch {
        // the batch's own error is what the writers are told
      }
      for (const item of batch) item.reject(error);
      this.notifyIdle();
      return;
    } finally {
      if (deferSync) {
        try {
          this.db.exec("PRAGMA synchronous = FULL");
        } catch {
          // only a broken connection fails this; the next batch reports it
        }
      }
    }
    if (!deferSync) {
      settle(outcomes);
      this.notifyIdle();
      return;
    }
    // Failed items are answered after the sync too: their verdict may rest on a commit of this batch.
    this.unsynced.push(...outcomes);
    this.startSync();
  }

  private startSync(): void {
    if (this.syncing || this.unsynced.length === 0 || this.walFd === undefined) return;
    this.syncing = true;
    const group = this.unsynced;
    this.unsynced = [];
    fdatasync(this.walFd, (error) => {
      this.syncing = false;
      if (error) {
        this.broken ??= error;
        for (const o of [...group, ...this.unsynced.splice(0)]) o.item.reject(error);
      } else {
        settle(group);
      }
      this.startSync();
      this.notifyIdle();
    });
  }

  private notifyIdle(): void {
    if (this.queue.length > 0 || this.unsynced.length > 0 || this.syncing) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }
}

function settle(outcomes: readonly Outcome[]): void {
  for (const o of outcomes) {
    if (o.ok) o.item.resolve(o.value);
    else o.item.reject(o.value);
  }
}
