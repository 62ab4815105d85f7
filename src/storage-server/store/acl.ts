/**
 * @module storage-server/store/acl
 * Bucket ACLs (canned only). Kept apart from `buckets` so older stores gain the table on open; a
 * bucket without a row is private, which is what S3 and Tigris create by default.
 */
import type { Metadata } from "./metadata.js";
import type { CannedAcl } from "./types.js";

export function getBucketAcl(meta: Metadata, bucketId: number): CannedAcl {
  const row = meta.prep("SELECT acl FROM bucket_acls WHERE bucket_id = ?").get(bucketId) as
    { acl: CannedAcl } | undefined;
  return row?.acl ?? "private";
}

export function setBucketAcl(meta: Metadata, bucketId: number, acl: CannedAcl): void {
  if (acl === "private") {
    meta.prep("DELETE FROM bucket_acls WHERE bucket_id = ?").run(bucketId);
  } else {
    meta
      .prep(
        "INSERT INTO bucket_acls (bucket_id, acl) VALUES (?, ?) ON CONFLICT (bucket_id) DO UPDATE SET acl = excluded.acl",
      )
      .run(bucketId, acl);
  }
}
