/**
 * @module storage-server/store/metadata
 * Buckets, forks and snapshots. A bucket is a layer of object versions with an optional parent
 * (bucket, seq); a fork is one row here, so its cost never depends on the parent's contents.
 */
import { S3Error } from "../errors.js";
import { dropBucketFromScopes } from "./access-keys.js";
import { msOfSeq, seqOfVersion, SeqClock, versionOfSeq } from "./clock.js";
import { GroupCommitter } from "./committer.js";
import { tx } from "./db.js";
import { dropSettings } from "./settings.js";
import type { Db, Stmt } from "./db.js";
import type { Bucket, Layer, Snapshot } from "./types.js";

/** Reads "now": larger than any seq that will ever be stored. */
export const LATEST = Number.MAX_SAFE_INTEGER;

/**
 * Name prefix of a detached layer: a bucket force-deleted while forks still read through it. The name
 * is released for reuse, the layer lives on under `/detached/<id>/<old name>` (no valid bucket name
 * starts with `/`, and lookups by name never return it) until GC drops it with its last fork.
 */
export const DETACHED_PREFIX = "/detached/";

export function isDetached(name: string): boolean {
  return name.startsWith(DETACHED_PREFIX);
}

interface BucketRow {
  id: number;
  name: string;
  created_ms: number;
  snapshot_enabled: number;
  parent_id: number | null;
  parent_seq: number | null;
  fork_created_ms: number | null;
  region: string;
  cors: string | null;
}

function toBucket(r: BucketRow): Bucket {
  return {
    id: r.id,
    name: r.name,
    createdMs: r.created_ms,
    snapshotEnabled: r.snapshot_enabled === 1,
    parentId: r.parent_id,
    parentSeq: r.parent_seq,
    forkCreatedMs: r.fork_created_ms,
    region: r.region,
    cors: r.cors,
  };
}

export interface CreateBucketOptions {
  readonly region: string;
  readonly snapshotEnabled: boolean;
  readonly fork?: { readonly source: string; readonly snapshotVersion?: string };
}

export class Metadata {
  readonly db: Db;
  readonly clock: SeqClock;
  private readonly stmts = new Map<string, Stmt>();

  private readonly committer: GroupCommitter;
  /** Blob or manifest names that rows dropped by writes referenced (see `noteReleased`). */
  private readonly released = new Set<string>();
  /** Called when something was released; the store schedules a reclaim pass (store/index.ts). */
  onRelease: (() => void) | undefined;

  /** `walFile`: the database's `-wal` file, which group commits fsync themselves (committer.ts). */
  constructor(db: Db, walFile?: string) {
    this.db = db;
    this.clock = new SeqClock(this.highestSeq());
    this.committer = new GroupCommitter(db, walFile);
  }

  /** Makes every committed write durable now (before acting on it outside SQLite, e.g. unlinking). */
  syncNow(): void {
    this.committer.syncNow();
  }

  /**
   * Records that a dropped version row named `ref` (a blob or a multipart manifest), so the store can
   * free it soon if nothing else names it, instead of waiting for the next full GC pass.
   */
  noteReleased(ref: string): void {
    this.released.add(ref);
    this.onRelease?.();
  }

  /** The names released since the last call. */
  takeReleased(): string[] {
    const refs = [...this.released];
    this.released.clear();
    return refs;
  }

  /** See GroupCommitter.runUnsynced: for changes a power loss may undo harmlessly. */
  runUnsynced<T>(fn: () => T): T {
    return this.committer.runUnsynced(fn);
  }

  /** Waits for in-flight writes, then closes the database. */
  async close(): Promise<void> {
    await this.committer.idle();
    this.db.close();
    this.committer.close();
  }

  /**
   * Runs a metadata change in the next group commit and resolves once it is durable. Request
   * handlers use this for object writes; `fn` runs synchronously inside the batch transaction.
   */
  write<T>(fn: () => T): Promise<T> {
    return this.committer.write(fn);
  }

  /** Prepared statements are cached by their SQL text. */
  prep(sql: string): Stmt {
    let s = this.stmts.get(sql);
    if (!s) {
      s = this.db.prepare<unknown[]>(sql);
      this.stmts.set(sql, s);
    }
    return s;
  }

  private highestSeq(): number {
    const row = this.db
      .prepare<unknown[]>(
        `SELECT max(m) AS m FROM (
           SELECT max(seq) AS m FROM versions
           UNION ALL SELECT max(seq) FROM snapshots
           UNION ALL SELECT max(parent_seq) FROM buckets)`,
      )
      .get() as { m: number | null };
    return row.m ?? 0;
  }

  // ---- buckets -------------------------------------------------------------------------------

  getBucket(name: string): Bucket | undefined {
    if (isDetached(name)) return undefined;
    const r = this.prep("SELECT * FROM buckets WHERE name = ?").get(name) as BucketRow | undefined;
    return r && toBucket(r);
  }

  getBucketById(id: number): Bucket | undefined {
    const r = this.prep("SELECT * FROM buckets WHERE id = ?").get(id) as BucketRow | undefined;
    return r && toBucket(r);
  }

  requireBucket(name: string): Bucket {
    const b = this.getBucket(name);
    if (!b)
      throw new S3Error("NoSuchBucket", "The specified bucket does not exist", 404, { BucketName: name });
    return b;
  }

  listBuckets(): Bucket[] {
    const rows = this.prep("SELECT * FROM buckets ORDER BY name").all() as BucketRow[];
    return rows.filter((r) => !isDetached(r.name)).map(toBucket);
  }

  children(id: number): Bucket[] {
    const rows = this.prep("SELECT * FROM buckets WHERE parent_id = ? ORDER BY name").all(id) as BucketRow[];
    return rows.map(toBucket);
  }

  hasChildren(id: number): boolean {
    return this.prep("SELECT 1 FROM buckets WHERE parent_id = ? LIMIT 1").get(id) !== undefined;
  }

  createBucket(name: string, opts: CreateBucketOptions): Bucket {
    return tx(this.db, () => {
      if (this.getBucket(name)) {
        throw new S3Error(
          "BucketAlreadyOwnedByYou",
          "Your previous request to create the named bucket succeeded and you already own it.",
          409,
          { BucketName: name },
        );
      }
      const now = Date.now();
      let parentId: number | null = null;
      let parentSeq: number | null = null;
      if (opts.fork) {
        const source = this.getBucket(opts.fork.source);
        if (!source) {
          throw new S3Error(
            "NoSuchBucket",
            `The fork source bucket "${opts.fork.source}" does not exist`,
            404,
            {
              BucketName: opts.fork.source,
            },
          );
        }
        if (!source.snapshotEnabled) {
          throw new S3Error(
            "InvalidRequest",
            `Bucket "${source.name}" is not snapshot-enabled; only snapshot-enabled buckets can be forked.`,
            400,
          );
        }
        parentId = source.id;
        if (opts.fork.snapshotVersion !== undefined && opts.fork.snapshotVersion !== "") {
          parentSeq = seqOfVersion(opts.fork.snapshotVersion);
          if (parentSeq > this.clock.current()) {
            throw new S3Error("InvalidArgument", "The fork source snapshot version is in the future.", 400);
          }
        } else {
          // No snapshot given: fork the source as of now (Tigris takes an implicit snapshot).
          parentSeq = this.clock.next();
        }
      }
      // A fork can itself be forked and snapshotted, so forks are always snapshot-enabled.
      const snapshotEnabled = opts.snapshotEnabled || parentId !== null;
      const info = this.prep(
        `INSERT INTO buckets (name, created_ms, snapshot_enabled, parent_id, parent_seq, fork_created_ms, region)
         VALUES (?, ?, ?, ?, ?, ?, ?)`,
      ).run(
        name,
        now,
        snapshotEnabled ? 1 : 0,
        parentId,
        parentSeq,
        parentId === null ? null : now,
        opts.region,
      );
      return this.getBucketById(Number(info.lastInsertRowid))!;
    });
  }

  /** Enables snapshots (Tigris bucket type 1); disabling is refused while forks depend on the bucket. */
  setSnapshotEnabled(bucket: Bucket, enabled: boolean): void {
    if (!enabled && this.hasChildren(bucket.id)) {
      throw new S3Error("InvalidRequest", "The bucket has forks; snapshots cannot be disabled.", 400);
    }
    this.prep("UPDATE buckets SET snapshot_enabled = ? WHERE id = ?").run(enabled ? 1 : 0, bucket.id);
  }

  setCors(bucket: Bucket, cors: string | null): void {
    this.prep("UPDATE buckets SET cors = ? WHERE id = ?").run(cors, bucket.id);
  }

  /**
   * Drops a bucket's metadata (its blobs are reclaimed by GC). Refused while forks depend on it, as on
   * Tigris, unless `force` (Tigris-Force-Delete): then the bucket is detached instead, see
   * DETACHED_PREFIX. `isEmpty` is checked inside the transaction so a concurrent write cannot slip in.
   */
  deleteBucket(bucket: Bucket, isEmpty: () => boolean, force: boolean): void {
    tx(this.db, () => {
      const kids = this.children(bucket.id);
      if (kids.length > 0 && !force) {
        throw new S3Error(
          "BucketNotEmpty",
          `The bucket has forks (${kids.map((k) => k.name).join(", ")}); delete them first.`,
          409,
          { BucketName: bucket.name },
        );
      }
      if (!force && !isEmpty()) {
        throw new S3Error("BucketNotEmpty", "The bucket you tried to delete is not empty", 409, {
          BucketName: bucket.name,
        });
      }
      // Gone for every key too, whether its layer lives on for the forks or not (access-keys.ts).
      dropBucketFromScopes(this, bucket.id);
      if (kids.length > 0) this.detach(bucket);
      else this.dropLayer(bucket.id);
    });
  }

  /**
   * Frees the name of a bucket whose forks still read through it. The layer is frozen (nothing can
   * address it any more), so rows newer than the last fork point are unreachable and go now; so do
   * its snapshots and unfinished uploads.
   */
  private detach(bucket: Bucket): void {
    this.prep(
      "DELETE FROM versions WHERE bucket_id = ? AND seq > (SELECT max(parent_seq) FROM buckets WHERE parent_id = ?)",
    ).run(bucket.id, bucket.id);
    this.dropUploadsAndSnapshots(bucket.id);
    this.prep("UPDATE buckets SET name = ? WHERE id = ?").run(
      `${DETACHED_PREFIX}${bucket.id}/${bucket.name}`,
      bucket.id,
    );
  }

  private dropUploadsAndSnapshots(id: number): void {
    this.prep("DELETE FROM snapshots WHERE bucket_id = ?").run(id);
    this.prep("DELETE FROM parts WHERE upload_id IN (SELECT upload_id FROM uploads WHERE bucket_id = ?)").run(
      id,
    );
    this.prep("DELETE FROM uploads WHERE bucket_id = ?").run(id);
    this.prep("DELETE FROM completed_uploads WHERE bucket_id = ?").run(id);
  }

  private dropLayer(id: number): void {
    this.prep("DELETE FROM versions WHERE bucket_id = ?").run(id);
    dropSettings(this, id);
    // Bucket ids can be reused after a delete: a new bucket must not inherit an old ACL.
    this.prep("DELETE FROM bucket_acls WHERE bucket_id = ?").run(id);
    this.dropUploadsAndSnapshots(id);
    this.prep("DELETE FROM buckets WHERE id = ?").run(id);
  }

  /**
   * Drops detached layers no fork reads through any more (a chain of them goes in one call: dropping
   * a detached child can free its detached parent). Returns how many were dropped. Caller holds a tx.
   */
  dropUnreferencedDetached(): number {
    const find = this.prep(
      `SELECT id FROM buckets b WHERE substr(name, 1, ${DETACHED_PREFIX.length}) = ?
         AND NOT EXISTS (SELECT 1 FROM buckets c WHERE c.parent_id = b.id)`,
    );
    let dropped = 0;
    for (;;) {
      const ids = (find.all(DETACHED_PREFIX) as { id: number }[]).map((r) => r.id);
      if (ids.length === 0) return dropped;
      for (const id of ids) this.dropLayer(id);
      dropped += ids.length;
    }
  }

  /**
   * The layers a read of `bucket` at `atSeq` goes through, nearest first. Each parent is bounded by the
   * fork point below it (and by every fork point further down the chain).
   */
  chain(bucket: Bucket, atSeq: number = LATEST): Layer[] {
    const layers: Layer[] = [{ bucketId: bucket.id, maxSeq: atSeq }];
    let bound = atSeq;
    let cur: Bucket | undefined = bucket;
    while (cur && cur.parentId !== null) {
      bound = Math.min(bound, cur.parentSeq ?? 0);
      cur = this.getBucketById(cur.parentId);
      if (cur) layers.push({ bucketId: cur.id, maxSeq: bound });
    }
    return layers;
  }

  /**
   * True if something still needs to see the bucket as of a seq >= `seq`: a snapshot or a fork point.
   * A version that is not the newest is kept only while such a pin falls inside its lifetime.
   */
  isPinned(bucketId: number, seq: number): boolean {
    return (
      this.prep("SELECT 1 FROM snapshots WHERE bucket_id = ? AND seq >= ? LIMIT 1").get(bucketId, seq) !==
        undefined ||
      this.prep("SELECT 1 FROM buckets WHERE parent_id = ? AND parent_seq >= ? LIMIT 1").get(
        bucketId,
        seq,
      ) !== undefined
    );
  }

  // ---- snapshots -----------------------------------------------------------------------------

  createSnapshot(bucket: Bucket, name: string | null): Snapshot {
    if (!bucket.snapshotEnabled) {
      throw new S3Error(
        "InvalidRequest",
        `Bucket "${bucket.name}" is not snapshot-enabled (create it with X-Tigris-Enable-Snapshot: true).`,
        400,
      );
    }
    const seq = this.clock.next();
    const createdMs = Date.now();
    this.prep("INSERT INTO snapshots (bucket_id, seq, name, created_ms) VALUES (?, ?, ?, ?)").run(
      bucket.id,
      seq,
      name,
      createdMs,
    );
    return { bucketId: bucket.id, seq, version: versionOfSeq(seq), name, createdMs };
  }

  listSnapshots(bucket: Bucket): Snapshot[] {
    const rows = this.prep(
      "SELECT seq, name, created_ms FROM snapshots WHERE bucket_id = ? ORDER BY seq DESC",
    ).all(bucket.id) as { seq: number; name: string | null; created_ms: number }[];
    return rows.map((r) => ({
      bucketId: bucket.id,
      seq: r.seq,
      version: versionOfSeq(r.seq),
      name: r.name,
      createdMs: r.created_ms,
    }));
  }

  /** Forks already made from the snapshot keep their own fork point, so they are unaffected. */
  deleteSnapshot(bucket: Bucket, version: string): void {
    const seq = seqOfVersion(version);
    const info = this.prep("DELETE FROM snapshots WHERE bucket_id = ? AND seq = ?").run(bucket.id, seq);
    if (info.changes === 0) {
      throw new S3Error("NoSuchSnapshot", `Bucket "${bucket.name}" has no snapshot ${version}`, 404);
    }
  }

  /** When the snapshot a fork was made from was created (the fork point itself for implicit ones). */
  snapshotCreatedMs(bucketId: number, seq: number): number {
    const r = this.prep("SELECT created_ms FROM snapshots WHERE bucket_id = ? AND seq = ?").get(
      bucketId,
      seq,
    ) as { created_ms: number } | undefined;
    return r?.created_ms ?? msOfSeq(seq);
  }
}
