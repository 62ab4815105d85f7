/**
 * @module storage-server/store/manifests
 * A completed multipart object is stored as the list of its part blobs (a manifest), not as one new
 * blob: Complete then costs a few metadata rows whatever the object's size, and the bytes sit on disk
 * once. The version row's `blob` column holds the manifest id, so everything that shares a blob
 * reference (CopyObject, forks, snapshots, tagging rewrites) shares a manifest the same way.
 *
 * A manifest id is `mpu-` + the SHA-256 of its part list. It is never a file name (blob files are
 * 64 hex characters), it is content-addressed (identical part lists share one manifest), and GC
 * drops a manifest once no version row names it; its part blobs then become unreferenced in turn.
 */
import { createHash } from "node:crypto";
import type { Metadata } from "./metadata.js";
import type { Checksums } from "./types.js";

const PREFIX = "mpu-";

export function isManifest(ref: string | null): boolean {
  return ref !== null && ref.startsWith(PREFIX);
}

/** One part of a stored multipart object, with its place in the object. */
export interface ManifestPart {
  /** 1-based position in the object (what `partNumber` reads address). */
  readonly index: number;
  /** The part number the client uploaded it as. */
  readonly partNumber: number;
  readonly blob: string;
  readonly offset: number;
  readonly size: number;
  readonly checksums: Checksums;
}

export interface NewManifestPart {
  readonly partNumber: number;
  readonly blob: string;
  readonly size: number;
  readonly checksums: Checksums;
}

export function manifestIdOf(parts: readonly NewManifestPart[]): string {
  const h = createHash("sha256");
  for (const p of parts) h.update(`${p.partNumber} ${p.blob} ${p.size}\n`);
  return `${PREFIX}${h.digest("hex")}`;
}

/** Records a manifest (a no-op if the same part list is stored already) and returns its id. */
export function insertManifest(meta: Metadata, parts: readonly NewManifestPart[]): string {
  const id = manifestIdOf(parts);
  const size = parts.reduce((a, p) => a + p.size, 0);
  const info = meta
    .prep("INSERT OR IGNORE INTO manifests (id, size, part_count, created_ms) VALUES (?, ?, ?, ?)")
    .run(id, size, parts.length, Date.now());
  if (info.changes === 0) return id;
  const add = meta.prep(
    `INSERT INTO manifest_parts (manifest, idx, part_number, blob, offset, size, checksums)
     VALUES (?, ?, ?, ?, ?, ?, ?)`,
  );
  let offset = 0;
  parts.forEach((p, i) => {
    const sums = Object.keys(p.checksums).length ? JSON.stringify(p.checksums) : null;
    add.run(id, i + 1, p.partNumber, p.blob, offset, p.size, sums);
    offset += p.size;
  });
  return id;
}

interface PartRow {
  idx: number;
  part_number: number;
  blob: string;
  offset: number;
  size: number;
  checksums: string | null;
}

function toPart(r: PartRow): ManifestPart {
  return {
    index: r.idx,
    partNumber: r.part_number,
    blob: r.blob,
    offset: r.offset,
    size: r.size,
    checksums: r.checksums ? (JSON.parse(r.checksums) as Checksums) : {},
  };
}

/** The parts of a manifest overlapping bytes [start, end] (inclusive), in order. */
export function manifestParts(
  meta: Metadata,
  id: string,
  start = 0,
  end = Number.MAX_SAFE_INTEGER,
): ManifestPart[] {
  const rows = meta
    .prep(
      `SELECT idx, part_number, blob, offset, size, checksums FROM manifest_parts
       WHERE manifest = ? AND offset <= ? AND offset + size > ? ORDER BY idx`,
    )
    .all(id, end, start) as PartRow[];
  return rows.map(toPart);
}

/** One part by its 1-based position, for `partNumber` reads. */
export function manifestPart(meta: Metadata, id: string, index: number): ManifestPart | undefined {
  const r = meta
    .prep(
      "SELECT idx, part_number, blob, offset, size, checksums FROM manifest_parts WHERE manifest = ? AND idx = ?",
    )
    .get(id, index) as PartRow | undefined;
  return r && toPart(r);
}

/**
 * Drops manifests no version row names any more (their part blobs are then unreferenced and go in
 * the same GC pass). Caller holds a transaction.
 */
export function dropUnreferencedManifests(meta: Metadata): number {
  const ids = (
    meta
      .prep("SELECT id FROM manifests m WHERE NOT EXISTS (SELECT 1 FROM versions v WHERE v.blob = m.id)")
      .all() as { id: string }[]
  ).map((r) => r.id);
  const parts = meta.prep("DELETE FROM manifest_parts WHERE manifest = ?");
  const manifest = meta.prep("DELETE FROM manifests WHERE id = ?");
  for (const id of ids) {
    parts.run(id);
    manifest.run(id);
  }
  return ids.length;
}
