/**
 * @module storage-server/store/objects
 * Object versions: reads fall through the layer chain, writes and delete markers land in the bucket's
 * own layer. Older rows are dropped at write time unless a snapshot or fork point still sees them.
 */
import { S3Error } from "../errors.js";
import { tx } from "./db.js";
import { isManifest } from "./manifests.js";
import type { Metadata } from "./metadata.js";
import type { Bucket, Checksums, Layer, NewObject, ObjectVersion } from "./types.js";

export interface VersionRow {
  bucket_id: number;
  key: string;
  seq: number;
  deleted: number;
  blob: string | null;
  size: number;
  etag: string | null;
  mtime_ms: number;
  headers: string | null;
  tags: string | null;
  checksums: string | null;
  parts: string | null;
  part_checksums?: string | null;
}

export function toVersion(r: VersionRow): ObjectVersion {
  return {
    bucketId: r.bucket_id,
    key: r.key,
    seq: r.seq,
    deleted: r.deleted === 1,
    blob: r.blob,
    size: r.size,
    etag: r.etag ?? "",
    mtimeMs: r.mtime_ms,
    headers: r.headers ? (JSON.parse(r.headers) as ObjectVersion["headers"]) : { meta: {} },
    tags: r.tags ? (JSON.parse(r.tags) as ObjectVersion["tags"]) : [],
    checksums: r.checksums ? (JSON.parse(r.checksums) as ObjectVersion["checksums"]) : {},
    parts: r.parts ? (JSON.parse(r.parts) as number[]) : null,
    partChecksums: r.part_checksums ? (JSON.parse(r.part_checksums) as Checksums[]) : null,
  };
}

const NEWEST_IN_LAYER =
  "SELECT * FROM versions WHERE bucket_id = ? AND key = ? AND seq <= ? ORDER BY seq DESC LIMIT 1";

/**
 * The row that decides what `key` is through `layers` (a delete marker included), or undefined.
 * Nearer layers always win: every row of a fork is newer than its parent's fork point.
 */
export function resolveRow(meta: Metadata, layers: readonly Layer[], key: string): ObjectVersion | undefined {
  const stmt = meta.prep(NEWEST_IN_LAYER);
  for (const layer of layers) {
    const r = stmt.get(layer.bucketId, key, layer.maxSeq) as VersionRow | undefined;
    if (r) return toVersion(r);
  }
  return undefined;
}

/** The live object at `key`, or undefined when absent or hidden by a delete marker. */
export function resolveObject(
  meta: Metadata,
  layers: readonly Layer[],
  key: string,
): ObjectVersion | undefined {
  const v = resolveRow(meta, layers, key);
  return v && !v.deleted ? v : undefined;
}

/**
 * Drops the bucket's own newest row of `key` when nothing pins it (no snapshot or fork point at or
 * after it), so unversioned churn does not accumulate rows; its blob is noted as released, for the
 * store to free once nothing else names it.
 */
function pruneOwnNewest(meta: Metadata, bucket: Bucket, key: string): void {
  const prev = meta.prep(NEWEST_IN_LAYER).get(bucket.id, key, Number.MAX_SAFE_INTEGER) as
    VersionRow | undefined;
  if (prev && !meta.isPinned(bucket.id, prev.seq)) {
    meta
      .prep("DELETE FROM versions WHERE bucket_id = ? AND key = ? AND seq = ?")
      .run(bucket.id, key, prev.seq);
    if (prev.blob !== null) meta.noteReleased(prev.blob);
  }
}

export type Precondition = (current: ObjectVersion | undefined) => void;

/**
 * Stores a new version of `key` in `bucket`'s layer. `check` runs inside the transaction against the
 * current object (for If-None-Match: * and If-Match on PUT) and may throw to abort.
 * Returns the stored version. The blob must already be durable on disk.
 */
export function putObject(
  meta: Metadata,
  bucket: Bucket,
  key: string,
  obj: NewObject,
  check?: Precondition,
): ObjectVersion {
  return tx(meta.db, () => insertVersion(meta, bucket, key, obj, check));
}

/** The body of `putObject`, for callers that already hold a transaction. */
export function insertVersion(
  meta: Metadata,
  bucket: Bucket,
  key: string,
  obj: NewObject,
  check?: Precondition,
): ObjectVersion {
  if (!meta.getBucketById(bucket.id)) {
    throw bucketGone(bucket.name);
  }
  if (check) check(resolveObject(meta, meta.chain(bucket), key));
  pruneOwnNewest(meta, bucket, key);
  const seq = meta.clock.next();
  // A multipart manifest is no file: its part blobs are in `blobs` already (manifests.ts).
  if (!isManifest(obj.blob)) {
    meta
      .prep("INSERT OR IGNORE INTO blobs (sha, size, created_ms) VALUES (?, ?, ?)")
      .run(obj.blob, obj.size, Date.now());
  }
  meta
    .prep(
      `INSERT INTO versions (bucket_id, key, seq, deleted, blob, size, etag, mtime_ms, headers, tags, checksums, parts, part_checksums)
       VALUES (?, ?, ?, 0, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    )
    .run(
      bucket.id,
      key,
      seq,
      obj.blob,
      obj.size,
      obj.etag,
      obj.mtimeMs,
      JSON.stringify(obj.headers),
      obj.tags.length ? JSON.stringify(obj.tags) : null,
      Object.keys(obj.checksums).length ? JSON.stringify(obj.checksums) : null,
      obj.parts ? JSON.stringify(obj.parts) : null,
      obj.partChecksums ? JSON.stringify(obj.partChecksums) : null,
    );
  return {
    ...obj,
    bucketId: bucket.id,
    key,
    seq,
    deleted: false,
    tags: obj.tags,
    parts: obj.parts,
    partChecksums: obj.partChecksums ?? null,
  };
}

/**
 * Deletes `key` as seen from `bucket`: drops the own row if unpinned, then adds a delete marker only
 * if something (an own pinned row or a parent layer) would still show the key. Returns whether an
 * object was visible before.
 */
export function deleteObject(meta: Metadata, bucket: Bucket, key: string): boolean {
  return tx(meta.db, () => removeKey(meta, bucket, key));
}

/** The body of `deleteObject`, for callers that already hold a transaction. */
export function removeKey(meta: Metadata, bucket: Bucket, key: string): boolean {
  const layers = meta.chain(bucket);
  const existed = resolveObject(meta, layers, key) !== undefined;
  if (!existed) return false;
  pruneOwnNewest(meta, bucket, key);
  if (resolveObject(meta, layers, key)) {
    meta
      .prep("INSERT INTO versions (bucket_id, key, seq, deleted, size, mtime_ms) VALUES (?, ?, ?, 1, 0, ?)")
      .run(bucket.id, key, meta.clock.next(), Date.now());
  }
  return true;
}

function bucketGone(name: string): S3Error {
  return new S3Error("NoSuchBucket", "The specified bucket does not exist", 404, { BucketName: name });
}
