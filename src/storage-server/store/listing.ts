/**
 * @module storage-server/store/listing
 * Listing through a fork chain with one SQL statement per page-batch: a UNION ALL with one arm per
 * layer, each arm read in (key, newest-first) order from the primary key, merged by SQLite without a
 * sort. The first row of each key is the winner (largest seq = nearest layer); delete markers hide it.
 * Cost is proportional to the rows scanned, never to per-key lookups, and common prefixes are skipped
 * with a fresh seek instead of walking every key under them.
 */
import type { Metadata } from "./metadata.js";
import type { Layer } from "./types.js";

export interface ListParams {
  readonly prefix: string;
  readonly delimiter: string;
  readonly maxKeys: number;
  /** Exclusive start: a key or common prefix returned by the previous page (or start-after/marker). */
  readonly after?: string;
}

export interface ListEntry {
  readonly key: string;
  readonly size: number;
  readonly etag: string;
  readonly mtimeMs: number;
  readonly seq: number;
}

export interface ListResult {
  readonly contents: ListEntry[];
  readonly commonPrefixes: string[];
  readonly isTruncated: boolean;
  /** The last key or common prefix returned; the next page starts after it. */
  readonly last?: string;
}

interface Row {
  key: string;
  seq: number;
  deleted: number;
  size: number;
  etag: string | null;
  mtime_ms: number;
}

const BATCH = 1000;

function batchSql(arms: number, inclusive: boolean): string {
  const op = inclusive ? ">=" : ">";
  const arm = `SELECT key, seq, deleted, size, etag, mtime_ms FROM versions WHERE bucket_id = ? AND seq <= ? AND key ${op} ?`;
  return `${Array.from({ length: arms }, () => arm).join(" UNION ALL ")} ORDER BY key, seq DESC LIMIT ?`;
}

/**
 * The smallest string greater than every string that starts with `s` (UTF-8 byte order, as SQLite
 * compares TEXT): `s` with its last code point incremented. Undefined if that is impossible.
 */
export function skipPast(s: string): string | undefined {
  const cps = Array.from(s);
  const last = cps.pop();
  if (last === undefined) return undefined;
  let next = last.codePointAt(0)! + 1;
  if (next >= 0xd800 && next <= 0xdfff) next = 0xe000;
  if (next > 0x10ffff) return undefined;
  return cps.join("") + String.fromCodePoint(next);
}

export function listObjects(meta: Metadata, layers: readonly Layer[], p: ListParams): ListResult {
  const contents: ListEntry[] = [];
  const commonPrefixes: string[] = [];
  if (p.maxKeys <= 0) return { contents, commonPrefixes, isTruncated: false };

  let lower = p.prefix;
  let inclusive = true;
  if (p.after !== undefined && p.after >= p.prefix) {
    lower = p.after;
    inclusive = false;
    // Resuming after a common prefix: everything under it was already rolled up into that prefix.
    if (p.delimiter && p.after.startsWith(p.prefix) && p.after.endsWith(p.delimiter)) {
      const idx = p.after.indexOf(p.delimiter, p.prefix.length);
      const next = idx === p.after.length - p.delimiter.length ? skipPast(p.after) : undefined;
      if (next !== undefined) {
        lower = next;
        inclusive = true;
      }
    }
  }

  const params = (bound: string): unknown[] => {
    const out: unknown[] = [];
    for (const l of layers) out.push(l.bucketId, l.maxSeq, bound);
    out.push(BATCH);
    return out;
  };
  let count = 0;
  let last: string | undefined;
  let rolledUp: string | undefined; // a common prefix we could not seek past; skip keys under it
  for (;;) {
    const rows = meta.prep(batchSql(layers.length, inclusive)).all(...params(lower)) as Row[];
    if (rows.length === 0) return { contents, commonPrefixes, isTruncated: false, last };
    let prevKey: string | undefined;
    let reseek = false;
    for (const r of rows) {
      if (r.key === prevKey) continue; // an older, shadowed row of a key already decided
      prevKey = r.key;
      if (!r.key.startsWith(p.prefix)) return { contents, commonPrefixes, isTruncated: false, last };
      if (r.deleted === 1) continue;
      if (rolledUp !== undefined && r.key.startsWith(rolledUp)) continue;
      if (p.delimiter) {
        const idx = r.key.indexOf(p.delimiter, p.prefix.length);
        if (idx >= 0) {
          const cp = r.key.slice(0, idx + p.delimiter.length);
          if (count === p.maxKeys) return { contents, commonPrefixes, isTruncated: true, last };
          commonPrefixes.push(cp);
          count++;
          last = cp;
          const next = skipPast(cp);
          if (next !== undefined) {
            lower = next;
            inclusive = true;
            reseek = true;
            break;
          }
          rolledUp = cp;
          continue;
        }
      }
      if (count === p.maxKeys) return { contents, commonPrefixes, isTruncated: true, last };
      contents.push({ key: r.key, size: r.size, etag: r.etag ?? "", mtimeMs: r.mtime_ms, seq: r.seq });
      count++;
      last = r.key;
    }
    if (reseek) continue;
    if (rows.length < BATCH) return { contents, commonPrefixes, isTruncated: false, last };
    lower = prevKey!;
    inclusive = false;
  }
}

/** True when nothing is visible through the chain (delete markers and shadowed rows do not count). */
export function isEmpty(meta: Metadata, layers: readonly Layer[]): boolean {
  return listObjects(meta, layers, { prefix: "", delimiter: "", maxKeys: 1 }).contents.length === 0;
}
