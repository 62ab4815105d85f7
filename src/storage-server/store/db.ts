/**
 * @module storage-server/store/db
 * The metadata database: one SQLite file (WAL, synchronous=FULL) under the store root, opened with
 * libsql's synchronous API. All metadata changes happen inside one synchronous JS call, so the event
 * loop itself serialises writers and no transaction ever spans an `await`.
 */
import Database from "libsql";

export type Db = Database.Database;
export type Stmt = Database.Statement<unknown[]>;

/*
 * Schema notes (why it looks like this):
 * - `seq` is one store-wide, strictly increasing number (microseconds since the epoch, bumped on
 *   collisions). Every version row, snapshot and fork point takes one. Because a fork is created at
 *   `parent_seq` and every later write anywhere gets a larger seq, "the newest row visible in the chain"
 *   is simply the row with the largest seq among (own rows) ∪ (parent rows with seq <= fork point) ∪ …
 *   which lets one ordered UNION ALL resolve a whole chain.
 * - `versions` is WITHOUT ROWID with (bucket_id, key, seq DESC) as its key, so each layer can be read in
 *   (key, newest first) order straight from the primary key and SQLite merges the layers without sorting.
 * - `blobs` lists the content-addressed files the metadata knows about; files on disk that are not in
 *   it are leftovers of a crash between rename and commit and are swept by GC.
 */
const SCHEMA = `
CREATE TABLE IF NOT EXISTS buckets (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  created_ms INTEGER NOT NULL,
  snapshot_enabled INTEGER NOT NULL DEFAULT 0,
  parent_id INTEGER REFERENCES buckets(id),
  parent_seq INTEGER,
  fork_created_ms INTEGER,
  region TEXT NOT NULL DEFAULT 'auto',
  cors TEXT
);
CREATE INDEX IF NOT EXISTS buckets_parent ON buckets(parent_id, parent_seq);

CREATE TABLE IF NOT EXISTS snapshots (
  bucket_id INTEGER NOT NULL,
  seq INTEGER NOT NULL,
  name TEXT,
  created_ms INTEGER NOT NULL,
  PRIMARY KEY (bucket_id, seq)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS versions (
  bucket_id INTEGER NOT NULL,
  key TEXT NOT NULL,
  seq INTEGER NOT NULL,
  deleted INTEGER NOT NULL DEFAULT 0,
  blob TEXT,
  size INTEGER NOT NULL DEFAULT 0,
  etag TEXT,
  mtime_ms INTEGER NOT NULL,
  headers TEXT,
  tags TEXT,
  checksums TEXT,
  parts TEXT,
  PRIMARY KEY (bucket_id, key, seq DESC)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS versions_blob ON versions(blob) WHERE blob IS NOT NULL;

CREATE TABLE IF NOT EXISTS blobs (
  sha TEXT PRIMARY KEY,
  size INTEGER NOT NULL,
  created_ms INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS uploads (
  upload_id TEXT PRIMARY KEY,
  bucket_id INTEGER NOT NULL,
  key TEXT NOT NULL,
  initiated_ms INTEGER NOT NULL,
  headers TEXT,
  tags TEXT,
  checksum_alg TEXT
);
CREATE INDEX IF NOT EXISTS uploads_bucket ON uploads(bucket_id, key, initiated_ms);

CREATE TABLE IF NOT EXISTS parts (
  upload_id TEXT NOT NULL,
  part_number INTEGER NOT NULL,
  blob TEXT NOT NULL,
  size INTEGER NOT NULL,
  etag TEXT NOT NULL,
  md5 TEXT NOT NULL,
  checksums TEXT,
  mtime_ms INTEGER NOT NULL,
  PRIMARY KEY (upload_id, part_number)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS parts_blob ON parts(blob);
`;

export function openDb(file: string): Db {
  const db = new Database(file);
  // WAL lets readers proceed during a commit; FULL makes every commit durable before we answer 200.
  db.exec("PRAGMA journal_mode = WAL");
  db.exec("PRAGMA synchronous = FULL");
  db.exec("PRAGMA foreign_keys = ON");
  db.exec("PRAGMA busy_timeout = 5000");
  db.exec(SCHEMA);
  return db;
}

let savepoints = 0;

/**
 * Runs `fn` atomically: an IMMEDIATE transaction (write lock up front, so no upgrade deadlocks), or a
 * savepoint when already inside one (a group commit batch), so store functions compose.
 */
export function tx<T>(db: Db, fn: () => T): T {
  if (!db.inTransaction) return db.transaction(fn).immediate();
  const name = `sp${++savepoints}`;
  db.exec(`SAVEPOINT ${name}`);
  try {
    const result = fn();
    db.exec(`RELEASE ${name}`);
    return result;
  } catch (error) {
    db.exec(`ROLLBACK TO ${name}`);
    db.exec(`RELEASE ${name}`);
    throw error;
  }
}

interface Pending {
  readonly fn: () => unknown;
  readonly resolve: (value: unknown) => void;
  readonly reject: (error: unknown) => void;
}

/**
 * Group commit. A durable commit costs an fsync, and libsql's API is synchronous, so one commit per
 * request would both cap write throughput and stall the event loop once per write. Writers queue
 * their metadata change; once per event-loop turn the queue runs in one transaction, each change in
 * its own savepoint (a failing one is rolled back alone), and every writer is answered after COMMIT —
 * still durable before the client gets its 200.
 */
export class GroupCommitter {
  private queue: Pending[] = [];

  constructor(private readonly db: Db) {}

  write<T>(fn: () => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ fn, resolve: resolve as (v: unknown) => void, reject });
      if (this.queue.length === 1) setImmediate(() => this.flush());
    });
  }

  private flush(): void {
    const batch = this.queue;
    this.queue = [];
    const outcomes: { ok: boolean; value: unknown }[] = [];
    try {
      this.db.exec("BEGIN IMMEDIATE");
      for (const item of batch) {
        try {
          outcomes.push({ ok: true, value: tx(this.db, item.fn) });
        } catch (error) {
          outcomes.push({ ok: false, value: error });
        }
      }
      this.db.exec("COMMIT");
    } catch (error) {
      if (this.db.inTransaction) this.db.exec("ROLLBACK");
      for (const item of batch) item.reject(error);
      return;
    }
    batch.forEach((item, i) => {
      const o = outcomes[i]!;
      if (o.ok) item.resolve(o.value);
      else item.reject(o.value);
    });
  }
}
