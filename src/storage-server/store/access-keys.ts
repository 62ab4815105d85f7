/**
 * @module storage-server/store/access-keys
 * Access keys besides the project's own (which lives in `credentials.json` and may do anything): each
 * reaches only the buckets in its scope. The `local` provider makes one per env, so an app running in
 * `alice` cannot touch `dev`'s buckets (docs/storage.md, "Keys").
 *
 * Why the scope holds bucket ids, not names: a bucket deleted and made again under the same name (a
 * later env of the same name) is another bucket, and a key that leaked from the first must not reach
 * it. Deleting a bucket (metadata.ts) therefore drops it from every scope, and a key that loses its
 * last bucket that way is deleted with it: nothing can ever give it a bucket back, and a key whose
 * only purpose was those buckets must not outlive them. A key made with an empty scope, or emptied on
 * purpose (`setScope(…, [])`, what a `reset` does while it forks the env's buckets again), stays.
 *
 * Every request looks its key up here (no cache), so a revoked key is refused from the next request on.
 * The secret is stored as is: SigV4 is an HMAC, so the server needs it to check a signature (the
 * metadata database is 0600 under a 0700 directory, like `credentials.json`).
 */
import { generateCredentials } from "../auth/credentials.js";
import type { Credentials } from "../auth/types.js";
import { tx } from "./db.js";
import type { Metadata } from "./metadata.js";

export interface AccessKey {
  readonly accessKeyId: string;
  readonly label: string;
  readonly createdMs: number;
  /** Ids of the buckets the key may reach. */
  readonly bucketIds: readonly number[];
}

interface KeyRow {
  id: string;
  secret: string;
  label: string;
  created_ms: number;
}

function scopeOf(meta: Metadata, id: string): number[] {
  const rows = meta
    .prep("SELECT bucket_id FROM access_key_buckets WHERE key_id = ? ORDER BY bucket_id")
    .all(id) as { bucket_id: number }[];
  return rows.map((r) => r.bucket_id);
}

function toKey(meta: Metadata, r: KeyRow): AccessKey {
  return { accessKeyId: r.id, label: r.label, createdMs: r.created_ms, bucketIds: scopeOf(meta, r.id) };
}

/** The key pair of an access key, for checking a signature; undefined for an unknown (or revoked) id. */
export function accessKeyCredentials(meta: Metadata, id: string): Credentials | undefined {
  const r = meta.prep("SELECT secret FROM access_keys WHERE id = ?").get(id) as
    { secret: string } | undefined;
  return r && { accessKeyId: id, secretAccessKey: r.secret };
}

/** The buckets (by id) an access key may reach; undefined for an unknown id. */
export function accessKeyScope(meta: Metadata, id: string): ReadonlySet<number> | undefined {
  if (!meta.prep("SELECT 1 FROM access_keys WHERE id = ?").get(id)) return undefined;
  return new Set(scopeOf(meta, id));
}

export function getAccessKey(meta: Metadata, id: string): (AccessKey & { secret: string }) | undefined {
  const r = meta.prep("SELECT * FROM access_keys WHERE id = ?").get(id) as KeyRow | undefined;
  return r && { ...toKey(meta, r), secret: r.secret };
}

/** Every key, oldest first; with `bucketId`, only the keys whose scope holds that bucket. */
export function listAccessKeys(meta: Metadata, bucketId?: number): AccessKey[] {
  const rows = (
    bucketId === undefined
      ? meta.prep("SELECT * FROM access_keys ORDER BY created_ms, id").all()
      : meta
          .prep(
            `SELECT k.* FROM access_keys k JOIN access_key_buckets s ON s.key_id = k.id
             WHERE s.bucket_id = ? ORDER BY k.created_ms, k.id`,
          )
          .all(bucketId)
  ) as KeyRow[];
  return rows.map((r) => toKey(meta, r));
}

/**
 * A new key pair reaching `bucketIds`. `taken` says whether an id is used elsewhere (the project's
 * key), so a new key can never share an id with it.
 */
export function createAccessKey(
  meta: Metadata,
  label: string,
  bucketIds: readonly number[],
  taken: (id: string) => boolean,
): Credentials & { createdMs: number } {
  let creds = generateCredentials();
  while (taken(creds.accessKeyId) || accessKeyCredentials(meta, creds.accessKeyId)) {
    creds = generateCredentials();
  }
  const createdMs = Date.now();
  tx(meta.db, () => {
    meta
      .prep("INSERT INTO access_keys (id, secret, label, created_ms) VALUES (?, ?, ?, ?)")
      .run(creds.accessKeyId, creds.secretAccessKey, label, createdMs);
    insertScope(meta, creds.accessKeyId, bucketIds);
  });
  return { ...creds, createdMs };
}

function insertScope(meta: Metadata, id: string, bucketIds: readonly number[]): void {
  const insert = meta.prep("INSERT OR IGNORE INTO access_key_buckets (key_id, bucket_id) VALUES (?, ?)");
  for (const bucketId of bucketIds) insert.run(id, bucketId);
}

/** Replaces a key's scope (and its label, if given). False when there is no such key. */
export function updateAccessKey(
  meta: Metadata,
  id: string,
  change: { readonly bucketIds: readonly number[]; readonly label?: string },
): boolean {
  return tx(meta.db, () => {
    if (!accessKeyCredentials(meta, id)) return false;
    if (change.label !== undefined) {
      meta.prep("UPDATE access_keys SET label = ? WHERE id = ?").run(change.label, id);
    }
    meta.prep("DELETE FROM access_key_buckets WHERE key_id = ?").run(id);
    insertScope(meta, id, change.bucketIds);
    return true;
  });
}

/** Revokes a key: the next request signed with it is refused. False when there is no such key. */
export function deleteAccessKey(meta: Metadata, id: string): boolean {
  return tx(meta.db, () => {
    meta.prep("DELETE FROM access_key_buckets WHERE key_id = ?").run(id);
    return meta.prep("DELETE FROM access_keys WHERE id = ?").run(id).changes > 0;
  });
}

/**
 * A bucket is gone (deleted, or detached for its forks): it leaves every scope, and the keys it was
 * the last bucket of go too (see the module comment). Caller holds the bucket delete's transaction.
 */
export function dropBucketFromScopes(meta: Metadata, bucketId: number): void {
  const holders = meta.prep("SELECT key_id FROM access_key_buckets WHERE bucket_id = ?").all(bucketId) as {
    key_id: string;
  }[];
  if (holders.length === 0) return;
  meta.prep("DELETE FROM access_key_buckets WHERE bucket_id = ?").run(bucketId);
  const orphaned = meta.prep(
    "DELETE FROM access_keys WHERE id = ? AND NOT EXISTS (SELECT 1 FROM access_key_buckets WHERE key_id = ?)",
  );
  for (const { key_id } of holders) orphaned.run(key_id, key_id);
}
