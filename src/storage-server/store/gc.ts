/**
 * @module storage-server/store/gc
 * Garbage collection, mark-and-sweep over the metadata:
 *  0. drop detached layers (force-deleted parents) that no fork reads through any more;
 *  1. drop version rows no reader can reach any more: rows shadowed by a newer row of the same layer
 *     with no snapshot or fork point inside their lifetime, and delete markers of root buckets that
 *     hide nothing;
 *  2. drop multipart manifests no version row names, and remembered completed uploads past their
 *     retention; then delete blobs no version row, no manifest and no pending part references;
 *  3. sweep blob files the metadata never learned about (a crash between rename and commit).
 * Blobs held as pending (being written or read right now) are never touched, and every
 * decide-then-unlink step runs synchronously in one tick so no request can interleave with it.
 *
 * Between passes, `reclaimReleased` frees what overwrites and deletes released (the only blobs most
 * stores ever drop) moments after they happen, so deleting objects gives the disk back without a wait.
 */
import type { BlobStore } from "./blobs.js";
import { tx } from "./db.js";
import { dropUnreferencedManifests, isManifest } from "./manifests.js";
import type { Metadata } from "./metadata.js";
import { forgetCompletedUploads } from "./multipart.js";

export interface GcReport {
  readonly droppedLayers: number;
  readonly prunedVersions: number;
  readonly deletedBlobs: number;
  readonly freedBytes: number;
  readonly orphanFiles: number;
}

const SHADOWED_UNPINNED = `
WITH pins(bucket_id, seq) AS (
  SELECT bucket_id, seq FROM snapshots
  UNION ALL SELECT parent_id, parent_seq FROM buckets WHERE parent_id IS NOT NULL
),
v AS (
  SELECT bucket_id, key, seq, LEAD(seq) OVER (PARTITION BY bucket_id, key ORDER BY seq) AS next
  FROM versions
)
SELECT bucket_id, key, seq FROM v
WHERE next IS NOT NULL
  AND NOT EXISTS (SELECT 1 FROM pins p WHERE p.bucket_id = v.bucket_id AND p.seq >= v.seq AND p.seq < v.next)`;

const USELESS_ROOT_MARKERS = `
SELECT bucket_id, key, seq FROM (
  SELECT bucket_id, key, seq, deleted,
         LAG(seq) OVER (PARTITION BY bucket_id, key ORDER BY seq) AS prev
  FROM versions
) WHERE deleted = 1 AND prev IS NULL
  AND bucket_id IN (SELECT id FROM buckets WHERE parent_id IS NULL)`;

const UNREFERENCED_BLOBS = `
SELECT sha, size FROM blobs b
WHERE NOT EXISTS (SELECT 1 FROM versions v WHERE v.blob = b.sha)
  AND NOT EXISTS (SELECT 1 FROM parts p WHERE p.blob = b.sha)
  AND NOT EXISTS (SELECT 1 FROM manifest_parts m WHERE m.blob = b.sha)`;

interface Key {
  bucket_id: number;
  key: string;
  seq: number;
}

function pruneVersions(meta: Metadata): number {
  return tx(meta.db, () => {
    const del = meta.prep("DELETE FROM versions WHERE bucket_id = ? AND key = ? AND seq = ?");
    let n = 0;
    for (const sql of [SHADOWED_UNPINNED, USELESS_ROOT_MARKERS]) {
      for (const r of meta.prep(sql).all() as Key[]) {
        n += del.run(r.bucket_id, r.key, r.seq).changes;
      }
    }
    return n;
  });
}

/** One synchronous pass: decide and unlink without yielding, so no writer can slip in between. */
function deleteUnreferenced(meta: Metadata, blobs: BlobStore): { count: number; bytes: number } {
  // A delete answered moments ago may be committed but not yet fsynced (committer.ts): make it
  // durable before unlinking what it released, or a power loss could resurrect a row without its file.
  meta.syncNow();
  return tx(meta.db, () => {
    // Manifests first, in the same transaction: the part blobs they release go in this very pass.
    dropUnreferencedManifests(meta);
    forgetCompletedUploads(meta);
    let count = 0;
    let bytes = 0;
    const del = meta.prep("DELETE FROM blobs WHERE sha = ?");
    for (const r of meta.prep(UNREFERENCED_BLOBS).all() as { sha: string; size: number }[]) {
      if (blobs.isPending(r.sha)) continue;
      del.run(r.sha);
      blobs.unlinkSync(r.sha);
      count++;
      bytes += r.size;
    }
    return { count, bytes };
  });
}

export async function collectGarbage(meta: Metadata, blobs: BlobStore): Promise<GcReport> {
  const droppedLayers = tx(meta.db, () => meta.dropUnreferencedDetached());
  const prunedVersions = pruneVersions(meta);
  const { count, bytes } = deleteUnreferenced(meta, blobs);

  const onDisk: string[] = [];
  for await (const sha of blobs.listAll()) onDisk.push(sha);
  // Re-check each file against the table *now* (synchronously): a writer may have committed it while
  // we were reading directories, or may still hold it as pending.
  const known = meta.prep("SELECT 1 FROM blobs WHERE sha = ?");
  let orphanFiles = 0;
  for (const sha of onDisk) {
    if (blobs.isPending(sha) || known.get(sha) !== undefined) continue;
    blobs.unlinkSync(sha);
    orphanFiles++;
  }
  return { droppedLayers, prunedVersions, deletedBlobs: count, freedBytes: bytes, orphanFiles };
}

const NAMED_BY_VERSION = "SELECT 1 FROM versions WHERE blob = ? LIMIT 1";
const NAMED_BY_PART = "SELECT 1 FROM parts WHERE blob = ? LIMIT 1";
const NAMED_BY_MANIFEST = "SELECT 1 FROM manifest_parts WHERE blob = ? LIMIT 1";

/**
 * Frees the blobs (and multipart manifests) that `refs` name, if nothing names them any more: no
 * version row of any bucket, fork, snapshot or detached layer, no pending part, no other manifest.
 * The same rule as a full pass, applied to a few names through their indexes instead of every table.
 *
 * Synchronous, like `deleteUnreferenced`: decide and unlink in one tick. The drops that released
 * these names must be durable first (a power loss must not bring back a row whose file is gone), so
 * any commit still waiting for its fdatasync is synced now. The row deletions themselves may be lost
 * to a power cut harmlessly (a file-less row of garbage is dropped by the next full pass).
 */
export function reclaimReleased(
  meta: Metadata,
  blobs: BlobStore,
  refs: readonly string[],
): { count: number; bytes: number } {
  if (refs.length === 0) return { count: 0, bytes: 0 };
  meta.syncNow();
  return meta.runUnsynced(() => {
    const named = meta.prep(NAMED_BY_VERSION);
    const candidates = new Set<string>();
    for (const ref of refs) {
      if (named.get(ref) !== undefined) continue;
      if (!isManifest(ref)) {
        candidates.add(ref);
        continue;
      }
      // A multipart object nothing shows any more: drop its manifest, and its parts become candidates.
      const parts = meta.prep("SELECT blob FROM manifest_parts WHERE manifest = ?").all(ref) as {
        blob: string;
      }[];
      meta.prep("DELETE FROM manifest_parts WHERE manifest = ?").run(ref);
      meta.prep("DELETE FROM manifests WHERE id = ?").run(ref);
      for (const p of parts) candidates.add(p.blob);
    }
    const size = meta.prep("SELECT size FROM blobs WHERE sha = ?");
    const drop = meta.prep("DELETE FROM blobs WHERE sha = ?");
    let count = 0;
    let bytes = 0;
    for (const name of candidates) {
      if (blobs.isPending(name) || named.get(name) !== undefined) continue;
      if (meta.prep(NAMED_BY_PART).get(name) !== undefined) continue;
      if (meta.prep(NAMED_BY_MANIFEST).get(name) !== undefined) continue;
      bytes += (size.get(name) as { size: number } | undefined)?.size ?? 0;
      drop.run(name);
      blobs.unlinkSync(name);
      count++;
    }
    return { count, bytes };
  });
}
