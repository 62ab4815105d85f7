/**
 * @module core/state
 * The journal and the per-env locks, in one small SQLite database (`.forkstack/state.db`).
 *
 * Why SQLite and not lock files: taking over a lock whose holder died (kill -9) must be atomic, or two
 * processes can both decide the lock is stale and both take it. A `BEGIN IMMEDIATE` transaction gives
 * us that for free, across processes, and survives crashes with the same guarantees as the data.
 */
import { hostname } from "node:os";
import type Database from "libsql";
import { ensurePrivateFile, mkdirPrivate } from "../durable-fs.js";
import { UserError } from "../errors.js";
import { requireLibsql } from "../native-sqlite.js";
import { processAlive } from "../process-alive.js";
import type { ProjectLayout } from "../layout.js";
import { stateWriteError } from "./fs-atomic.js";

export type JournalOp = "create" | "delete" | "reset";

export interface JournalEntry {
  readonly env: string;
  readonly op: JournalOp;
  readonly parent: string | null;
  readonly pid: number;
  readonly startedAt: string;
  /** Why the last attempt to finish or roll it back failed (a backend was unreachable), if it did. */
  readonly lastError: string | null;
}

/**
 * One resource an operation is making: `making` is recorded after the core checked that the resource
 * did not exist and before the provider is called; `made` once the provider returned. Rollback and
 * crash repair remove exactly these rows' resources — never one that existed before the operation.
 */
export interface StepRow {
  readonly env: string;
  readonly kind: string;
  readonly provider: string;
  readonly state: "making" | "made";
  /** What the provider returned (its `data` is passed back to `remove`). */
  readonly info: Record<string, unknown> | null;
}

interface LockRow {
  env: string;
  pid: number;
  host: string;
}

const SCHEMA = `
  CREATE TABLE IF NOT EXISTS locks (env TEXT PRIMARY KEY, pid INTEGER NOT NULL, host TEXT NOT NULL, acquired_at TEXT NOT NULL);
  CREATE TABLE IF NOT EXISTS journal (env TEXT PRIMARY KEY, op TEXT NOT NULL, parent TEXT, pid INTEGER NOT NULL, started_at TEXT NOT NULL);
  CREATE TABLE IF NOT EXISTS steps (env TEXT NOT NULL, kind TEXT NOT NULL, provider TEXT NOT NULL, state TEXT NOT NULL, info TEXT, updated_at TEXT NOT NULL, PRIMARY KEY (env, kind));
`;

/** Columns added after the first release; added in place to an older state.db. */
const MIGRATIONS = ["ALTER TABLE journal ADD COLUMN last_error TEXT"];

/** Opening the state database failed: a read-only or full `.forkstack/` gets an error the user can act on. */
function openError(layout: ProjectLayout, error: unknown): unknown {
  const mapped = stateWriteError(layout.stateDb, error);
  if (mapped !== error) return mapped;
  const message = (error as Error).message;
  if (/readonly|read-only|unable to open/i.test(message)) {
    return new UserError(`Cannot open ${layout.stateDb}: ${message}.`, "E_STATE_UNWRITABLE", {
      cause: error,
      hint: "Make the project's .forkstack/ directory writable, then run the command again.",
    });
  }
  return error;
}

/** Is the process that wrote a lock or journal row still running? Another host's rows are trusted as live. */
export function isHolderAlive(pid: number, host: string): boolean {
  if (host !== hostname()) return true;
  return processAlive(pid);
}

export interface Lock {
  readonly env: string;
  release(): void;
}

export class StateStore {
  private handle: Database.Database | undefined;
  private constructor(private readonly layout: ProjectLayout) {}

  static async open(layout: ProjectLayout): Promise<StateStore> {
    try {
      await mkdirPrivate(layout.dataDir);
      // SQLite would create it 0644; if we cannot create it, neither can SQLite, which then says why.
      await ensurePrivateFile(layout.stateDb).catch(() => undefined);
    } catch (error) {
      throw openError(layout, error);
    }
    return new StateStore(layout);
  }

  /**
   * The database, opened on first use: loading the native SQLite module costs ~15 ms of CPU, which
   * commands that never touch the journal or the locks (`env`, `run`, `switch`, `secrets`) now skip.
   * Synchronous like every method here, so `libsql` (CommonJS) is `require`d.
   */
  private get db(): Database.Database {
    if (this.handle) return this.handle;
    try {
      const Libsql = requireLibsql();
      const db = new Libsql(this.layout.stateDb, { timeout: 10_000 });
      // A rollback journal that is kept between transactions (PERSIST), not WAL: opening and reading
      // then create no file (WAL needs its -shm), so read-only commands work on a full disk or a
      // read-only `.forkstack/`, and `gc`/`delete` can still journal on a full disk (the journal file
      // already has its space) to free it. NORMAL survives kill -9, which is what the journal guards
      // against; after a power loss the last entries may be lost, and what they guarded shows up as
      // orphans that `gc` collects.
      try {
        db.exec("PRAGMA journal_mode = PERSIST");
      } catch {
        // an older state.db in WAL mode that another process has open: stay in WAL this time
      }
      db.exec("PRAGMA synchronous = NORMAL; PRAGMA journal_size_limit = 65536;");
      db.exec(SCHEMA);
      for (const statement of MIGRATIONS) {
        try {
          db.exec(statement);
        } catch (error) {
          if (!/duplicate column/i.test((error as Error).message)) throw error;
        }
      }
      return (this.handle = db);
    } catch (error) {
      throw openError(this.layout, error);
    }
  }

  close(): void {
    this.handle?.close();
    this.handle = undefined;
  }

  private immediate<T>(fn: () => T): T {
    this.db.exec("BEGIN IMMEDIATE");
    try {
      const result = fn();
      this.db.exec("COMMIT");
      return result;
    } catch (error) {
      this.db.exec("ROLLBACK");
      throw error;
    }
  }

  /** Take the env's lock if it is free or its holder is dead; null if a live process holds it. */
  tryLock(env: string): Lock | null {
    const taken = this.immediate(() => {
      const row = this.db.prepare("SELECT env, pid, host FROM locks WHERE env = ?").get(env) as
        LockRow | undefined;
      if (row && isHolderAlive(row.pid, row.host)) return false;
      this.db
        .prepare("INSERT OR REPLACE INTO locks (env, pid, host, acquired_at) VALUES (?, ?, ?, ?)")
        .run(env, process.pid, hostname(), new Date().toISOString());
      return true;
    });
    if (!taken) return null;
    return {
      env,
      release: () => {
        this.db
          .prepare("DELETE FROM locks WHERE env = ? AND pid = ? AND host = ?")
          .run(env, process.pid, hostname());
      },
    };
  }

  /** Wait up to `timeoutMs` for the env's lock. */
  async lock(env: string, timeoutMs = 30_000): Promise<Lock> {
    const deadline = Date.now() + timeoutMs;
    for (let delay = 10; ; delay = Math.min(delay * 2, 200)) {
      const lock = this.tryLock(env);
      if (lock) return lock;
      if (Date.now() > deadline) {
        const row = this.db.prepare("SELECT pid FROM locks WHERE env = ?").get(env) as
          { pid: number } | undefined;
        throw new UserError(
          `Environment "${env}" is busy: another forkstack process (pid ${row?.pid ?? "?"}) is changing it.`,
          "E_ENV_BUSY",
          { hint: "Wait for it to finish, then run the command again." },
        );
      }
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
  }

  /** Record an operation before it touches any resource, so a crash can be repaired. */
  beginOp(env: string, op: JournalOp, parent: string | null): void {
    this.db
      .prepare("INSERT OR REPLACE INTO journal (env, op, parent, pid, started_at) VALUES (?, ?, ?, ?, ?)")
      .run(env, op, parent, process.pid, new Date().toISOString());
  }

  /** The operation is over: its journal entry and its step records go, in one transaction. */
  endOp(env: string): void {
    this.immediate(() => {
      this.db.prepare("DELETE FROM journal WHERE env = ?").run(env);
      this.db.prepare("DELETE FROM steps WHERE env = ?").run(env);
    });
  }

  /** Keep the entry for the next command, noting why finishing it failed this time. */
  failOp(env: string, error: string): void {
    this.db.prepare("UPDATE journal SET last_error = ? WHERE env = ?").run(error.slice(0, 500), env);
  }

  journal(): JournalEntry[] {
    const rows = this.db
      .prepare("SELECT env, op, parent, pid, started_at, last_error FROM journal ORDER BY started_at")
      .all() as {
      env: string;
      op: JournalOp;
      parent: string | null;
      pid: number;
      started_at: string;
      last_error: string | null;
    }[];
    return rows.map((row) => ({
      env: row.env,
      op: row.op,
      parent: row.parent,
      pid: row.pid,
      startedAt: row.started_at,
      lastError: row.last_error,
    }));
  }

  stepStarted(env: string, kind: string, provider: string): void {
    this.db
      .prepare(
        "INSERT OR REPLACE INTO steps (env, kind, provider, state, info, updated_at) VALUES (?, ?, ?, 'making', NULL, ?)",
      )
      .run(env, kind, provider, new Date().toISOString());
  }

  stepDone(env: string, kind: string, info: object): void {
    this.db
      .prepare("UPDATE steps SET state = 'made', info = ?, updated_at = ? WHERE env = ? AND kind = ?")
      .run(JSON.stringify(info), new Date().toISOString(), env, kind);
  }

  /** The step's resource is gone (rolled back) or was never ours (the backend said it existed). */
  stepForget(env: string, kind: string): void {
    this.db.prepare("DELETE FROM steps WHERE env = ? AND kind = ?").run(env, kind);
  }

  steps(env: string): StepRow[] {
    const rows = this.db
      .prepare("SELECT env, kind, provider, state, info FROM steps WHERE env = ?")
      .all(env) as {
      env: string;
      kind: string;
      provider: string;
      state: "making" | "made";
      info: string | null;
    }[];
    return rows.map((row) => ({
      ...row,
      info: row.info === null ? null : (JSON.parse(row.info) as Record<string, unknown>),
    }));
  }

  /** Envs whose lock is held by a live process right now. */
  busyEnvs(): Set<string> {
    const rows = this.db.prepare("SELECT env, pid, host FROM locks").all() as LockRow[];
    return new Set(rows.filter((row) => isHolderAlive(row.pid, row.host)).map((row) => row.env));
  }
}
