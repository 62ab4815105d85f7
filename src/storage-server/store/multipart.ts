/**
 * @module storage-server/store/multipart
 * Multipart uploads: each part is its own content-addressed blob (written and fsynced like any object)
 * plus a row here. Completing concatenates the chosen parts into one new blob, so a finished object
 * is always exactly one file and reads are one sequential stream.
 */
import { randomBytes } from "node:crypto";
import { S3Error } from "../errors.js";
import { tx } from "./db.js";
import type { Metadata } from "./metadata.js";
import { insertVersion } from "./objects.js";
import type { Precondition } from "./objects.js";
import type { Bucket, Checksums, NewObject, ObjectHeaders, ObjectVersion, Tag } from "./types.js";

export interface Upload {
  readonly uploadId: string;
  readonly bucketId: number;
  readonly key: string;
  readonly initiatedMs: number;
  readonly headers: ObjectHeaders;
  readonly tags: readonly Tag[];
  readonly checksumAlgorithm: string | null;
}

export interface Part {
  readonly partNumber: number;
  readonly blob: string;
  readonly size: number;
  /** Quoted hex MD5, as returned in the UploadPart ETag header. */
  readonly etag: string;
  readonly md5Hex: string;
  readonly checksums: Checksums;
  readonly mtimeMs: number;
}

interface UploadRow {
  upload_id: string;
  bucket_id: number;
  key: string;
  initiated_ms: number;
  headers: string | null;
  tags: string | null;
  checksum_alg: string | null;
}

interface PartRow {
  part_number: number;
  blob: string;
  size: number;
  etag: string;
  md5: string;
  checksums: string | null;
  mtime_ms: number;
}

function toUpload(r: UploadRow): Upload {
  return {
    uploadId: r.upload_id,
    bucketId: r.bucket_id,
    key: r.key,
    initiatedMs: r.initiated_ms,
    headers: r.headers ? (JSON.parse(r.headers) as ObjectHeaders) : { meta: {} },
    tags: r.tags ? (JSON.parse(r.tags) as Tag[]) : [],
    checksumAlgorithm: r.checksum_alg,
  };
}

function toPart(r: PartRow): Part {
  return {
    partNumber: r.part_number,
    blob: r.blob,
    size: r.size,
    etag: r.etag,
    md5Hex: r.md5,
    checksums: r.checksums ? (JSON.parse(r.checksums) as Checksums) : {},
    mtimeMs: r.mtime_ms,
  };
}

export function noSuchUpload(uploadId: string): S3Error {
  return new S3Error(
    "NoSuchUpload",
    "The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.",
    404,
    { UploadId: uploadId },
  );
}

export function createUpload(
  meta: Metadata,
  bucket: Bucket,
  key: string,
  headers: ObjectHeaders,
  tags: readonly Tag[],
  checksumAlgorithm: string | null,
): Upload {
  const uploadId = randomBytes(24).toString("base64url");
  const initiatedMs = Date.now();
  meta
    .prep(
      "INSERT INTO uploads (upload_id, bucket_id, key, initiated_ms, headers, tags, checksum_alg) VALUES (?, ?, ?, ?, ?, ?, ?)",
    )
    .run(
      uploadId,
      bucket.id,
      key,
      initiatedMs,
      JSON.stringify(headers),
      JSON.stringify(tags),
      checksumAlgorithm,
    );
  return { uploadId, bucketId: bucket.id, key, initiatedMs, headers, tags, checksumAlgorithm };
}

export function getUpload(meta: Metadata, bucket: Bucket, key: string, uploadId: string): Upload {
  const r = meta
    .prep("SELECT * FROM uploads WHERE upload_id = ? AND bucket_id = ? AND key = ?")
    .get(uploadId, bucket.id, key) as UploadRow | undefined;
  if (!r) throw noSuchUpload(uploadId);
  return toUpload(r);
}

/** Records a durable part blob; re-uploading a part number replaces the earlier one. */
export function putPart(meta: Metadata, upload: Upload, part: Part): void {
  tx(meta.db, () => {
    if (!meta.prep("SELECT 1 FROM uploads WHERE upload_id = ?").get(upload.uploadId)) {
      throw noSuchUpload(upload.uploadId);
    }
    meta
      .prep("INSERT OR IGNORE INTO blobs (sha, size, created_ms) VALUES (?, ?, ?)")
      .run(part.blob, part.size, Date.now());
    meta
      .prep(
        `INSERT OR REPLACE INTO parts (upload_id, part_number, blob, size, etag, md5, checksums, mtime_ms)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(
        upload.uploadId,
        part.partNumber,
        part.blob,
        part.size,
        part.etag,
        part.md5Hex,
        Object.keys(part.checksums).length ? JSON.stringify(part.checksums) : null,
        part.mtimeMs,
      );
  });
}

export function listParts(meta: Metadata, uploadId: string, afterPart = 0, max = 1000): Part[] {
  const rows = meta
    .prep("SELECT * FROM parts WHERE upload_id = ? AND part_number > ? ORDER BY part_number LIMIT ?")
    .all(uploadId, afterPart, max) as PartRow[];
  return rows.map(toPart);
}

export interface UploadListParams {
  readonly prefix: string;
  readonly keyMarker: string;
  readonly uploadIdMarker: string;
  readonly max: number;
}

/** In-progress uploads of a bucket ordered by (key, initiated), after the markers. */
export function listUploads(meta: Metadata, bucket: Bucket, p: UploadListParams): Upload[] {
  const rows = meta
    .prep(
      `SELECT * FROM uploads WHERE bucket_id = ? AND key >= ? AND substr(key, 1, ?) = ?
       ORDER BY key, initiated_ms, upload_id`,
    )
    .all(bucket.id, p.keyMarker, p.prefix.length, p.prefix) as UploadRow[];
  const out: Upload[] = [];
  let seenMarker = false;
  for (const r of rows) {
    // S3: key-marker alone skips every upload of that key; with upload-id-marker, those up to it.
    if (p.keyMarker !== "" && r.key === p.keyMarker && (p.uploadIdMarker === "" || !seenMarker)) {
      if (r.upload_id === p.uploadIdMarker) seenMarker = true;
      continue;
    }
    out.push(toUpload(r));
    if (out.length > p.max) break;
  }
  return out;
}

export function abortUpload(meta: Metadata, bucket: Bucket, key: string, uploadId: string): void {
  tx(meta.db, () => {
    getUpload(meta, bucket, key, uploadId);
    meta.prep("DELETE FROM parts WHERE upload_id = ?").run(uploadId);
    meta.prep("DELETE FROM uploads WHERE upload_id = ?").run(uploadId);
  });
}

/**
 * Stores the assembled object and drops the upload and its parts in one transaction. `check` is a
 * conditional write's precondition, run against the current object inside it.
 */
export function finishUpload(
  meta: Metadata,
  bucket: Bucket,
  upload: Upload,
  obj: NewObject,
  check?: Precondition,
): ObjectVersion {
  return tx(meta.db, () => {
    if (!meta.prep("SELECT 1 FROM uploads WHERE upload_id = ?").get(upload.uploadId)) {
      throw noSuchUpload(upload.uploadId);
    }
    const v = insertVersion(meta, bucket, upload.key, obj, check);
    meta.prep("DELETE FROM parts WHERE upload_id = ?").run(upload.uploadId);
    meta.prep("DELETE FROM uploads WHERE upload_id = ?").run(upload.uploadId);
    return v;
  });
}
