/**
 * @module core/state
 * The journal and the per-env locks, in one small SQLite database (`.forkstack/state.db`).
 *
 * Why SQLite and not lock files: taking over a lock whose holder died (kill -9) must be atomic, or two
 * processes can both decide the lock is stale and both take it. A `BEGIN IMMEDIATE` transaction gives
 * us that for free, across processes, and survives crashes with the same guarantees as the data.
 */
import { hostname } from "node:os";
import { mkdir } from "node:fs/promises";
import type Database from "libsql";
import { UserError } from "../errors.js";
import type { ProjectLayout } from "../layout.js";
import { stateWriteError } from "./fs-atomic.js";

export type JournalOp = "create" | "delete" | "reset";

export interface JournalEntry {
  readonly env: string;
  readonly op: JournalOp;
  readonly parent: string | null;
  readonly pid: number;
  readonly startedAt: string;
}

interface LockRow {
  env: string;
  pid: number;
  host: string;
}

const SCHEMA = `
  CREATE TABLE IF NOT EXISTS locks (env TEXT PRIMARY KEY, pid INTEGER NOT NULL, host TEXT NOT NULL, acquired_at TEXT NOT NULL);
  CREATE TABLE IF NOT EXISTS journal (env TEXT PRIMARY KEY, op TEXT NOT NULL, parent TEXT, pid INTEGER NOT NULL, started_at TEXT NOT NULL);
`;

/** Is the process that wrote a lock or journal row still running? Another host's rows are trusted as live. */
export function isHolderAlive(pid: number, host: string): boolean {
  if (host !== hostname()) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

export interface Lock {
  readonly env: string;
  release(): void;
}

export class StateStore {
  private constructor(private readonly db: Database.Database) {}

  static async open(layout: ProjectLayout): Promise<StateStore> {
    try {
      await mkdir(layout.dataDir, { recursive: true });
      const { default: Database } = await import("libsql");
      const db = new Database(layout.stateDb, { timeout: 10_000 });
      // NORMAL in WAL mode survives kill -9 (what the journal guards against); after a power loss the
      // last entries may be lost, and what they guarded shows up as orphans that `gc` collects.
      db.exec("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;");
      db.exec(SCHEMA);
      return new StateStore(db);
    } catch (error) {
      const mapped = stateWriteError(layout.stateDb, error);
      if (mapped !== error) throw mapped;
      const message = (error as Error).message;
      if (/readonly|read-only|unable to open/i.test(message)) {
        throw new UserError(`Cannot open ${layout.stateDb}: ${message}.`, "E_STATE_UNWRITABLE", {
          cause: error,
          hint: "Make the project's .forkstack/ directory writable, then run the command again.",
        });
      }
      throw error;
    }
  }

  close(): void {
    this.db.close();
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

  endOp(env: string): void {
    this.db.prepare("DELETE FROM journal WHERE env = ?").run(env);
  }

  journal(): JournalEntry[] {
    const rows = this.db
      .prepare("SELECT env, op, parent, pid, started_at FROM journal ORDER BY started_at")
      .all() as {
      env: string;
      op: JournalOp;
      parent: string | null;
      pid: number;
      started_at: string;
    }[];
    return rows.map((row) => ({
      env: row.env,
      op: row.op,
      parent: row.parent,
      pid: row.pid,
      startedAt: row.started_at,
    }));
  }

  /** Envs whose lock is held by a live process right now. */
  busyEnvs(): Set<string> {
    const rows = this.db.prepare("SELECT env, pid, host FROM locks").all() as LockRow[];
    return new Set(rows.filter((row) => isHolderAlive(row.pid, row.host)).map((row) => row.env));
  }
}
