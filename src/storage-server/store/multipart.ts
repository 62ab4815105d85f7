/**
 * @module storage-server/store/multipart
 * Multipart uploads: each part is its own immutable blob (written and fsynced like any object)
 * plus a row here. Completing turns the chosen parts into a manifest (manifests.ts): the object *is*
 * its parts, no byte is copied. A completed upload is remembered for a day, so that repeating the
 * Complete (an SDK retrying after a lost response) answers the same success again, as S3 does.
 */
import { randomBytes } from "node:crypto";
import { S3Error } from "../errors.js";
import { tx } from "./db.js";
import { insertManifest } from "./manifests.js";
import type { Metadata } from "./metadata.js";
import { insertVersion } from "./objects.js";
import type { Precondition } from "./objects.js";
import type { Bucket, Checksums, ObjectHeaders, Tag } from "./types.js";

/** How long a completed upload still answers a repeated Complete. */
export const COMPLETED_RETENTION_MS = 24 * 60 * 60 * 1000;

export interface Upload {
  readonly uploadId: string;
  readonly bucketId: number;
  readonly key: string;
  readonly initiatedMs: number;
  readonly headers: ObjectHeaders;
  readonly tags: readonly Tag[];
  readonly checksumAlgorithm: string | null;
  /** `COMPOSITE` or `FULL_OBJECT` when an algorithm was given (x-amz-checksum-type). */
  readonly checksumType: string | null;
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
  checksum_type: string | null;
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
    checksumType: r.checksum_type,
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
  checksumType: string | null = null,
): Upload {
  const uploadId = randomBytes(24).toString("base64url");
  const initiatedMs = Date.now();
  meta
    .prep(
      `INSERT INTO uploads (upload_id, bucket_id, key, initiated_ms, headers, tags, checksum_alg, checksum_type)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
    )
    .run(
      uploadId,
      bucket.id,
      key,
      initiatedMs,
      JSON.stringify(headers),
      JSON.stringify(tags),
      checksumAlgorithm,
      checksumType,
    );
  return { uploadId, bucketId: bucket.id, key, initiatedMs, headers, tags, checksumAlgorithm, checksumType };
}

export function findUpload(
  meta: Metadata,
  bucket: Bucket,
  key: string,
  uploadId: string,
): Upload | undefined {
  const r = meta
    .prep("SELECT * FROM uploads WHERE upload_id = ? AND bucket_id = ? AND key = ?")
    .get(uploadId, bucket.id, key) as UploadRow | undefined;
  return r && toUpload(r);
}

export function getUpload(meta: Metadata, bucket: Bucket, key: string, uploadId: string): Upload {
  const u = findUpload(meta, bucket, key, uploadId);
  if (!u) throw noSuchUpload(uploadId);
  return u;
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

/** A part as named in a CompleteMultipartUpload request. */
export interface RequestedPart {
  readonly partNumber: number;
  /** Without quotes. */
  readonly etag: string;
  readonly checksums: Checksums;
}

/** What the object made of the chosen parts is, as the handler works it out (may throw S3Errors). */
export interface Assembled {
  readonly etag: string;
  readonly checksums: Checksums;
  readonly checksumType: string | null;
}

export interface CompleteResult extends Assembled {
  /** This upload had been completed before; the answer is the one given then. */
  readonly repeated: boolean;
}

/** A repeated Complete must name the same parts (numbers and ETags) to get the earlier answer. */
function signatureOf(requested: readonly RequestedPart[]): string {
  return requested.map((p) => `${p.partNumber}:${p.etag}`).join(",");
}

interface CompletedRow {
  parts: string;
  etag: string;
  checksums: string | null;
  checksum_type: string | null;
}

/**
 * Completes an upload in one transaction: `assemble` validates the requested parts against the stored
 * ones and derives ETag and checksums; then the manifest and the version are stored, the upload and
 * its part rows dropped (the part blobs now belong to the manifest) and the outcome remembered. A
 * repeated Complete of a completed upload with the same part list returns the remembered outcome.
 */
export function completeUpload(
  meta: Metadata,
  bucket: Bucket,
  key: string,
  uploadId: string,
  requested: readonly RequestedPart[],
  assemble: (upload: Upload, stored: ReadonlyMap<number, Part>) => { parts: Part[]; result: Assembled },
  check?: Precondition,
): CompleteResult {
  return tx(meta.db, () => {
    const upload = findUpload(meta, bucket, key, uploadId);
    if (!upload) {
      const done = meta
        .prep("SELECT * FROM completed_uploads WHERE upload_id = ? AND bucket_id = ? AND key = ?")
        .get(uploadId, bucket.id, key) as CompletedRow | undefined;
      if (done && done.parts === signatureOf(requested)) {
        return {
          etag: done.etag,
          checksums: done.checksums ? (JSON.parse(done.checksums) as Checksums) : {},
          checksumType: done.checksum_type,
          repeated: true,
        };
      }
      throw noSuchUpload(uploadId);
    }
    const stored = new Map(listParts(meta, uploadId, 0, 10_000).map((p) => [p.partNumber, p]));
    const { parts, result } = assemble(upload, stored);
    const alg = upload.checksumAlgorithm as keyof Checksums | null;
    const manifest = insertManifest(
      meta,
      parts.map((p) => ({ partNumber: p.partNumber, blob: p.blob, size: p.size, checksums: p.checksums })),
    );
    const now = Date.now();
    insertVersion(
      meta,
      bucket,
      key,
      {
        blob: manifest,
        size: parts.reduce((a, p) => a + p.size, 0),
        etag: result.etag,
        mtimeMs: now,
        headers: upload.headers,
        tags: upload.tags,
        checksums: result.checksums,
        parts: parts.map((p) => p.size),
        // Per-part checksums in the upload's algorithm, for GetObjectAttributes (attributes.ts).
        partChecksums: alg ? parts.map((p) => (p.checksums[alg] ? { [alg]: p.checksums[alg] } : {})) : null,
      },
      check,
    );
    meta.prep("DELETE FROM parts WHERE upload_id = ?").run(uploadId);
    meta.prep("DELETE FROM uploads WHERE upload_id = ?").run(uploadId);
    meta
      .prep(
        `INSERT OR REPLACE INTO completed_uploads
           (upload_id, bucket_id, key, parts, etag, checksums, checksum_type, completed_ms)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(
        uploadId,
        bucket.id,
        key,
        signatureOf(requested),
        result.etag,
        Object.keys(result.checksums).length ? JSON.stringify(result.checksums) : null,
        result.checksumType,
        now,
      );
    return { ...result, repeated: false };
  });
}

/** Forgets completed uploads older than the retention (GC). Caller may hold a transaction. */
export function forgetCompletedUploads(meta: Metadata, now = Date.now()): number {
  return meta.prep("DELETE FROM completed_uploads WHERE completed_ms < ?").run(now - COMPLETED_RETENTION_MS)
    .changes;
}
