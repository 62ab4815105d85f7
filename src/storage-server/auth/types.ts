/**
 * @module storage-server/auth/types
 * The contract between request authentication/body integrity (this folder) and the S3 router.
 */
import type { IncomingHttpHeaders } from "node:http";
import type { Readable } from "node:stream";

export interface Credentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
}

/** What the router hands to `authenticate`: the request line and headers exactly as received. */
export interface RequestHead {
  readonly method: string;
  /** Raw path and query as received, still percent-encoded (e.g. `/bucket/a%20b?uploads`). */
  readonly rawUrl: string;
  readonly headers: IncomingHttpHeaders;
}

/** How the body must be read, decided by the signature (`x-amz-content-sha256` or presign). */
export type PayloadMode =
  | { readonly kind: "unsigned" }
  | { readonly kind: "sha256"; readonly hex: string }
  | {
      readonly kind: "aws-chunked";
      /** STREAMING-AWS4-HMAC-SHA256-PAYLOAD(-TRAILER): each chunk carries a signature to verify. */
      readonly signed: boolean;
      /** *-TRAILER variants: checksum trailers follow the last chunk. */
      readonly trailer: boolean;
    };

export interface AuthResult {
  readonly accessKeyId: string;
  readonly payload: PayloadMode;
  /** Opaque state the body decoder needs to verify chunk signatures (seed signature, signing key, scope). */
  readonly signing?: unknown;
}

/** Checksums of a received body, base64 as S3 returns them in `x-amz-checksum-*` headers; md5 is hex. */
export interface BodyChecksums {
  md5Hex: string;
  /** Only when the request signed the payload's hash (it is checked against it); else undefined. */
  sha256Hex: string | undefined;
  /** Whichever of crc32, crc32c, crc64nvme, sha1, sha256 the client sent or asked for (base64). */
  readonly checksums: Readonly<Partial<Record<ChecksumAlgorithm, string>>>;
}

export type ChecksumAlgorithm = "crc32" | "crc32c" | "crc64nvme" | "sha1" | "sha256";

/**
 * A decoded body: the object's bytes (aws-chunked framing removed). It errors with an S3Error
 * (BadDigest, XAmzContentSHA256Mismatch, SignatureDoesNotMatch, IncompleteBody, InvalidDigest …)
 * before it ends if any check fails, so the store must commit only after the stream ended cleanly.
 * `result()` is valid after the stream has ended.
 */
export interface DecodedBody {
  readonly stream: Readable;
  result(): BodyChecksums & { readonly size: number };
}
