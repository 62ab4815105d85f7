/**
 * @module storage-server/store/types
 * Plain data shapes of the metadata store.
 */
import type { ChecksumAlgorithm } from "../auth/types.js";

export interface Bucket {
  readonly id: number;
  readonly name: string;
  readonly createdMs: number;
  readonly snapshotEnabled: boolean;
  /** The bucket this one was forked from, if any. */
  readonly parentId: number | null;
  /** The parent's seq at the fork point: the fork sees parent rows with seq <= parentSeq. */
  readonly parentSeq: number | null;
  readonly forkCreatedMs: number | null;
  readonly region: string;
  readonly cors: string | null;
}

/** One level of a read: rows of `bucketId` with seq <= maxSeq. */
export interface Layer {
  readonly bucketId: number;
  readonly maxSeq: number;
}

/** Headers that are stored with an object and returned on GET/HEAD. */
export interface ObjectHeaders {
  contentType?: string;
  contentEncoding?: string;
  contentDisposition?: string;
  contentLanguage?: string;
  cacheControl?: string;
  expires?: string;
  storageClass?: string;
  /**
   * The canned ACL the object was written with (`x-amz-acl`, PutObjectAcl, a POST form's `acl`).
   * Only `public-read` widens access; an object in a public-read bucket is public whatever it says
   * (Tigris's default, see handlers/acl.ts).
   */
  acl?: CannedAcl;
  /** `x-amz-meta-*` without the prefix, names lower-cased (as HTTP delivers them). */
  meta: Record<string, string>;
}

/** S3's canned ACLs. With one owner, only the public ones change who may read. */
export type CannedAcl =
  | "private"
  | "public-read"
  | "public-read-write"
  | "authenticated-read"
  | "aws-exec-read"
  | "bucket-owner-read"
  | "bucket-owner-full-control";

export interface Tag {
  readonly Key: string;
  readonly Value: string;
}

export type Checksums = Partial<Record<ChecksumAlgorithm, string>>;

export interface ObjectVersion {
  readonly bucketId: number;
  readonly key: string;
  readonly seq: number;
  /** A delete marker: hides older rows of this key in this layer and all parents. */
  readonly deleted: boolean;
  readonly blob: string | null;
  readonly size: number;
  /** Quoted, as sent in the ETag header. */
  readonly etag: string;
  readonly mtimeMs: number;
  readonly headers: ObjectHeaders;
  readonly tags: readonly Tag[];
  readonly checksums: Checksums;
  /** Sizes of the parts for multipart objects (for `partNumber` reads and `-N` ETags). */
  readonly parts: readonly number[] | null;
  /**
   * Each part's checksum in the upload's checksum algorithm (GetObjectAttributes lists them), when
   * the upload had one; aligned with `parts`.
   */
  readonly partChecksums: readonly Checksums[] | null;
}

/** What a write stores for a new object version (the store adds bucket, key and seq). */
export interface NewObject {
  readonly blob: string;
  readonly size: number;
  readonly etag: string;
  readonly mtimeMs: number;
  readonly headers: ObjectHeaders;
  readonly tags: readonly Tag[];
  readonly checksums: Checksums;
  readonly parts: readonly number[] | null;
  readonly partChecksums?: readonly Checksums[] | null;
}

export interface Snapshot {
  readonly bucketId: number;
  readonly seq: number;
  readonly version: string;
  readonly name: string | null;
  readonly createdMs: number;
}
