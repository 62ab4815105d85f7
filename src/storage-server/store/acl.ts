/**
 * @module storage-server/store/acl
 * Bucket ACLs (canned only). Kept apart from `buckets` so older stores gain the table on open; a
 * bucket without a row is private, which is what S3 and Tigris create by default.
 */
import type { Metadata } from "./metadata.js";
import type { CannedAcl } from "./types.js";

export interface BucketAccess {
  readonly acl: CannedAcl;
  /**
   * Whether a public bucket may also be listed anonymously. S3's public-read always allows it;
   * Tigris lets a public bucket turn listing off (`X-Amz-Acl-Public-List-Objects-Enabled: false`,
   * which its SDK sends by default).
   */
  readonly publicList: boolean;
}

const PRIVATE: BucketAccess = { acl: "private", publicList: true };

export function getBucketAccess(meta: Metadata, bucketId: number): BucketAccess {
  const row = meta.prep("SELECT acl, public_list FROM bucket_acls WHERE bucket_id = ?").get(bucketId) as
    { acl: CannedAcl; public_list: number } | undefined;
  return row ? { acl: row.acl, publicList: row.public_list !== 0 } : PRIVATE;
}

export function setBucketAccess(meta: Metadata, bucketId: number, access: BucketAccess): void {
  if (access.acl === PRIVATE.acl && access.publicList === PRIVATE.publicList) {
    meta.prep("DELETE FROM bucket_acls WHERE bucket_id = ?").run(bucketId);
  } else {
    meta
      .prep(
        `INSERT INTO bucket_acls (bucket_id, acl, public_list) VALUES (?, ?, ?)
         ON CONFLICT (bucket_id) DO UPDATE SET acl = excluded.acl, public_list = excluded.public_list`,
      )
      .run(bucketId, access.acl, access.publicList ? 1 : 0);
  }
}
