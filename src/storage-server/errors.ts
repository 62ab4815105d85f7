/**
 * @module storage-server/errors
 * The one S3 error type. Anything in the server that refuses a request throws an S3Error; the router
 * turns it into the XML body and status clients expect, in exactly one place.
 */

export class S3Error extends Error {
  /** S3 error code clients switch on: `NoSuchKey`, `SignatureDoesNotMatch`, `BadDigest`, … */
  readonly code: string;
  /** HTTP status. */
  readonly status: number;
  /** Extra elements for the error XML (e.g. `Key`, `BucketName`, `RequestTime`). */
  readonly details: Readonly<Record<string, string>>;

  constructor(code: string, message: string, status: number, details: Record<string, string> = {}) {
    super(message);
    this.name = "S3Error";
    this.code = code;
    this.status = status;
    this.details = details;
  }
}
