/**
 * @module core/state
 * The journal and the per-env locks, in one small SQLite database (`.forkstack/state.db`).
 *
 * Why SQLite and not lock files: taking over a lock whose holder died (kill -9) must be atomic, or two
 * processes can both decide the lock is stale and both take it. A `BEGIN IMMEDIATE` transaction gives
 * us that for free, across processes, and survives crashes with the same guarantees as the data.
 */
import { readFileSync, readdirSync } from "node:fs";
import { hostname } from "node:os";
import type Database from "libsql";
import { ensurePrivateFile, mkdirPrivate } from "../durable-fs.js";
import { UserError, errnoCode } from "../errors.js";
import { requireLibsql } from "../native-sqlite.js";
import { processAlive } from "../process-alive.js";
import type { ProjectLayout } from "../layout.js";
import { stateWriteError } from "./fs-atomic.js";
import { parseManifest } from "./manifests.js";

export type JournalOp = "create" | "delete" | "reset" | "gc";

export interface JournalEntry {
  /** The env the operation changes (`gc`, which changes several, has its own key). */
  readonly env: string;
  readonly op: JournalOp;
  /** create, reset: the env forked from; delete: the parent its forks are re-parented to. */
  readonly parent: string | null;
  readonly pid: number;
  readonly startedAt: string;
  /** Why the last attempt to finish or roll it back failed (a backend was unreachable), if it did. */
  readonly lastError: string | null;
  /**
   * What else repair needs to end where the operation would have (its module reads it): e.g. whether a
   * create switches to the new env. Null in entries written before the column existed.
   */
  readonly plan: unknown;
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
  /**
   * What the provider said it was about to make (its `target`), recorded with the step before it was
   * called: what a rollback removes when a crash came before the provider returned. Null for a
   * provider without `target`.
   */
  readonly target: Record<string, unknown> | null;
}

/**
 * One resource this project's own operations made and forkstack has not removed since: the durable
 * record (docs/architecture.md, "What each operation leaves") that rollback, `delete`, `reset` and
 * `gc` remove by — never by what a backend lists or today's config names.
 */
export interface RecordedResource {
  readonly env: string;
  readonly kind: string;
  readonly provider: string;
  /** What the provider returned for it, as the env's manifest holds it. */
  readonly info: Record<string, unknown>;
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
const MIGRATIONS = [
  "ALTER TABLE journal ADD COLUMN last_error TEXT",
  "ALTER TABLE journal ADD COLUMN plan TEXT",
  "ALTER TABLE steps ADD COLUMN target TEXT",
];

/** The record of what this project made; created (and seeded) by `ensureRecord`. */
const RECORD_SCHEMA = `CREATE TABLE made (env TEXT NOT NULL, kind TEXT NOT NULL, provider TEXT NOT NULL, info TEXT NOT NULL, made_at TEXT NOT NULL, PRIMARY KEY (env, kind, provider))`;

/**
 * What the manifests say this project made, for a state.db from before the record: every resource of
 * every readable manifest except adopted ones (a root's existing resources, never forkstack's to
 * remove). Synchronous like the rest of this module; it runs once per project.
 */
function manifestResources(layout: ProjectLayout): RecordedResource[] {
  let names: string[];
  try {
    names = readdirSync(layout.envsDir);
  } catch (error) {
    if (errnoCode(error) === "ENOENT" || errnoCode(error) === "ENOTDIR") return [];
    throw error;
  }
  const found: RecordedResource[] = [];
  for (const name of names.sort()) {
    let text: string;
    try {
      text = readFileSync(layout.manifest(name), "utf8");
    } catch {
      continue; // no manifest: nothing it says was made
    }
    const read = parseManifest(text, name);
    if (!read.ok) continue;
    for (const [kind, resource] of Object.entries(read.manifest.resources)) {
      if (resource.adopted) continue;
      found.push({ env: name, kind, provider: resource.provider, info: { ...resource } });
    }
  }
  return found;
}

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
      // against; after a power loss the last entries may be lost, and what they guarded is then not on
      // the record: `gc` reports it and leaves it for a person to delete.
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
      this.ensureRecord(db);
      return (this.handle = db);
    } catch (error) {
      throw openError(this.layout, error);
    }
  }

  /**
   * The record of what this project made, created once. A state.db from before it is seeded from the
   * manifests, so envs made by an older version stay collectable (`gc`) once their manifest is gone.
   * In one IMMEDIATE transaction: two processes opening an old state.db at once seed it once.
   */
  private ensureRecord(db: Database.Database): void {
    const exists = () =>
      db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'made'").get();
    if (exists()) return;
    db.exec("BEGIN IMMEDIATE");
    try {
      if (!exists()) {
        db.exec(RECORD_SCHEMA);
        const insert = db.prepare(
          "INSERT OR IGNORE INTO made (env, kind, provider, info, made_at) VALUES (?, ?, ?, ?, ?)",
        );
        const now = new Date().toISOString();
        for (const r of manifestResources(this.layout)) {
          insert.run(r.env, r.kind, r.provider, JSON.stringify(r.info), now);
        }
      }
      db.exec("COMMIT");
    } catch (error) {
      db.exec("ROLLBACK");
      throw error;
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

  /** Record an operation, with what its repair needs, before it touches anything, so a crash can be repaired. */
  beginOp(env: string, op: JournalOp, parent: string | null, plan?: object): void {
    this.db
      .prepare(
        "INSERT OR REPLACE INTO journal (env, op, parent, pid, started_at, plan) VALUES (?, ?, ?, ?, ?, ?)",
      )
      .run(env, op, parent, process.pid, new Date().toISOString(), plan ? JSON.stringify(plan) : null);
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
      .prepare("SELECT env, op, parent, pid, started_at, last_error, plan FROM journal ORDER BY started_at")
      .all() as {
      env: string;
      op: JournalOp;
      parent: string | null;
      pid: number;
      started_at: string;
      last_error: string | null;
      plan: string | null;
    }[];
    return rows.map((row) => ({
      env: row.env,
      op: row.op,
      parent: row.parent,
      pid: row.pid,
      startedAt: row.started_at,
      lastError: row.last_error,
      plan: row.plan === null ? null : (JSON.parse(row.plan) as unknown),
    }));
  }

  /** A step is about to make a resource: `target` is what the provider said it will make (if it says). */
  stepStarted(env: string, kind: string, provider: string, target?: object): void {
    this.db
      .prepare(
        "INSERT OR REPLACE INTO steps (env, kind, provider, state, info, target, updated_at) VALUES (?, ?, ?, 'making', NULL, ?, ?)",
      )
      .run(env, kind, provider, target ? JSON.stringify(target) : null, new Date().toISOString());
  }

  /** The step's resource is made: the step and the project's record of it, in one transaction. */
  stepDone(env: string, kind: string, info: { readonly provider: string }): void {
    const now = new Date().toISOString();
    this.immediate(() => {
      this.db
        .prepare("UPDATE steps SET state = 'made', info = ?, updated_at = ? WHERE env = ? AND kind = ?")
        .run(JSON.stringify(info), now, env, kind);
      this.db
        .prepare("INSERT OR REPLACE INTO made (env, kind, provider, info, made_at) VALUES (?, ?, ?, ?, ?)")
        .run(env, kind, info.provider, JSON.stringify(info), now);
    });
  }

  /** The step's resource was never ours (the backend said it existed): nothing of it is recorded. */
  stepForget(env: string, kind: string): void {
    this.db.prepare("DELETE FROM steps WHERE env = ? AND kind = ?").run(env, kind);
  }

  /** The step's resource was rolled back: the step and the record of the resource go together. */
  stepRolledBack(env: string, kind: string, provider: string): void {
    this.immediate(() => {
      this.db.prepare("DELETE FROM steps WHERE env = ? AND kind = ?").run(env, kind);
      this.forgetRecorded(env, kind, provider);
    });
  }

  steps(env: string): StepRow[] {
    const rows = this.db
      .prepare("SELECT env, kind, provider, state, info, target FROM steps WHERE env = ?")
      .all(env) as {
      env: string;
      kind: string;
      provider: string;
      state: "making" | "made";
      info: string | null;
      target: string | null;
    }[];
    const parse = (text: string | null) =>
      text === null ? null : (JSON.parse(text) as Record<string, unknown>);
    return rows.map((row) => ({ ...row, info: parse(row.info), target: parse(row.target) }));
  }

  /** Every resource this project made and has not removed (of one env, or all), oldest first. */
  recorded(env?: string): RecordedResource[] {
    const rows = (
      env === undefined
        ? this.db.prepare("SELECT env, kind, provider, info FROM made ORDER BY made_at, env, kind").all()
        : this.db
            .prepare("SELECT env, kind, provider, info FROM made WHERE env = ? ORDER BY made_at, kind")
            .all(env)
    ) as { env: string; kind: string; provider: string; info: string }[];
    return rows.map((row) => ({ ...row, info: JSON.parse(row.info) as Record<string, unknown> }));
  }

  /** forkstack removed the resource (delete, reset, gc): it is no longer on the record. */
  forgetRecorded(env: string, kind: string, provider: string): void {
    this.db.prepare("DELETE FROM made WHERE env = ? AND kind = ? AND provider = ?").run(env, kind, provider);
  }

  /** Envs whose lock is held by a live process right now. */
  busyEnvs(): Set<string> {
    const rows = this.db.prepare("SELECT env, pid, host FROM locks").all() as LockRow[];
    return new Set(rows.filter((row) => isHolderAlive(row.pid, row.host)).map((row) => row.env));
  }
}
