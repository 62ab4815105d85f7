/**
 * @module storage-server/store/db
 * The metadata database: one SQLite file (WAL, synchronous=FULL) under the store root, opened with
 * libsql's synchronous API. All metadata changes happen inside one synchronous JS call, so the event
 * loop itself serialises writers and no transaction ever spans an `await`.
 */
import Database from "libsql";
import { SETTINGS_SCHEMA } from "./settings.js";

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
 * - `bucket_acls` is its own table (not a `buckets` column) so stores created before it gain it by
 *   `CREATE TABLE IF NOT EXISTS`; a bucket without a row is private. `public_list` = 0 is Tigris's
 *   public bucket without directory listing.
 * - `blobs` lists the blob files the metadata knows about; files on disk that are not in
 *   it are leftovers of a crash between rename and commit and are swept by GC.
 * - A completed multipart object is its list of part blobs (`manifests` + `manifest_parts`, see
 *   manifests.ts); its version row's `blob` names the manifest, so copies, forks and snapshots share
 *   it exactly like a single blob, and Complete never copies bytes.
 * - `completed_uploads` remembers finished uploads for a while, so a repeated Complete (an SDK retry
 *   after a lost response) gets the same answer again, as on S3.
 * - `access_keys` and `access_key_buckets` (access-keys.ts): the keys besides the project's own, each
 *   with the buckets it may reach, by bucket id. New tables, so stores made before them gain them by
 *   `CREATE TABLE IF NOT EXISTS` like any other.
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

CREATE TABLE IF NOT EXISTS bucket_acls (
  bucket_id INTEGER PRIMARY KEY,
  acl TEXT NOT NULL,
  public_list INTEGER NOT NULL DEFAULT 1
);

CREATE TABLE IF NOT EXISTS manifests (
  id TEXT PRIMARY KEY,
  size INTEGER NOT NULL,
  part_count INTEGER NOT NULL,
  created_ms INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS manifest_parts (
  manifest TEXT NOT NULL,
  idx INTEGER NOT NULL,
  part_number INTEGER NOT NULL,
  blob TEXT NOT NULL,
  offset INTEGER NOT NULL,
  size INTEGER NOT NULL,
  checksums TEXT,
  PRIMARY KEY (manifest, idx)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS manifest_parts_blob ON manifest_parts(blob);

CREATE TABLE IF NOT EXISTS completed_uploads (
  upload_id TEXT PRIMARY KEY,
  bucket_id INTEGER NOT NULL,
  key TEXT NOT NULL,
  parts TEXT NOT NULL,
  etag TEXT NOT NULL,
  checksums TEXT,
  checksum_type TEXT,
  completed_ms INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS completed_uploads_bucket ON completed_uploads(bucket_id);

CREATE TABLE IF NOT EXISTS access_keys (
  id TEXT PRIMARY KEY,
  secret TEXT NOT NULL,
  label TEXT NOT NULL,
  created_ms INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS access_key_buckets (
  key_id TEXT NOT NULL,
  bucket_id INTEGER NOT NULL,
  PRIMARY KEY (key_id, bucket_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS access_key_buckets_bucket ON access_key_buckets(bucket_id);
`;

/**
 * Columns added after stores already existed. Each is added only when missing (checked by name, not
 * by a version number), so stores of any age converge and two changes made in parallel never clash.
 * CREATE TABLE IF NOT EXISTS covers new tables; this covers new columns of old tables.
 */
const ADDED_COLUMNS: readonly { table: string; column: string; ddl: string }[] = [
  { table: "uploads", column: "checksum_type", ddl: "ALTER TABLE uploads ADD COLUMN checksum_type TEXT" },
  { table: "versions", column: "part_checksums", ddl: "ALTER TABLE versions ADD COLUMN part_checksums TEXT" },
];

function migrate(db: Db): void {
  for (const c of ADDED_COLUMNS) {
    const cols = db.prepare<unknown[]>(`PRAGMA table_info(${c.table})`).all() as { name: string }[];
    if (!cols.some((col) => col.name === c.column)) db.exec(c.ddl);
  }
}

export function openDb(file: string): Db {
  const db = new Database(file);
  // WAL lets readers proceed during a commit; FULL makes every commit durable before we answer 200.
  // (Group commits switch to NORMAL and fsync the WAL themselves, off the event loop: committer.ts.)
  db.exec("PRAGMA journal_mode = WAL");
  db.exec("PRAGMA synchronous = FULL");
  db.exec("PRAGMA foreign_keys = ON");
  db.exec("PRAGMA busy_timeout = 5000");
  db.exec(SCHEMA);
  db.exec(SETTINGS_SCHEMA);
  migrate(db);
  return db;
}

let savepoints = 0;

/**
 * Runs `fn` atomically: an IMMEDIATE transaction (write lock up front, so no upgrade deadlocks), or a
 * savepoint when already inside one (a group commit batch), so store functions compose.
 */
export function tx<T>(db: Db, fn: () => T): T {
  if (!db.inTransaction) {
    // Not libsql's db.transaction(): when COMMIT fails (SQLITE_FULL on a full disk) SQLite has already
    // rolled back, its wrapper's ROLLBACK then fails too and that error ("no transaction is active")
    // replaces the one that names the cause.
    db.exec("BEGIN IMMEDIATE");
    try {
      const result = fn();
      db.exec("COMMIT");
      return result;
    } catch (error) {
      if (db.inTransaction) {
        try {
          db.exec("ROLLBACK");
        } catch {
          // the original error is the one worth reporting
        }
      }
      throw error;
    }
  }
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
