/**
 * @module storage-server/names
 * Bucket-name and key rules (S3 general-purpose bucket rules, which Tigris shares).
 */
import { S3Error } from "./errors.js";

const IP_RE = /^\d{1,3}(\.\d{1,3}){3}$/;
const NAME_RE = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

/** Why `name` is not a valid bucket name, or undefined when it is. */
export function bucketNameProblem(name: string): string | undefined {
  if (name.length < 3 || name.length > 63) return "Bucket names must be between 3 and 63 characters long";
  if (!NAME_RE.test(name)) {
    return "Bucket names may only contain lowercase letters, digits, dots and hyphens, and must begin and end with a letter or digit";
  }
  if (name.includes("..") || name.includes(".-") || name.includes("-.")) {
    return "Bucket names must not contain two adjacent periods or a period next to a hyphen";
  }
  if (IP_RE.test(name)) return "Bucket names must not be formatted as an IP address";
  if (name.startsWith("xn--") || name.startsWith("sthree-"))
    return "Bucket names must not use a reserved prefix";
  if (name.endsWith("-s3alias") || name.endsWith("--ol-s3"))
    return "Bucket names must not use a reserved suffix";
  return undefined;
}

export function validateBucketName(name: string): void {
  const problem = bucketNameProblem(name);
  if (problem)
    throw new S3Error("InvalidBucketName", `The specified bucket is not valid. ${problem}.`, 400, {
      BucketName: name,
    });
}

export const MAX_KEY_BYTES = 1024;

/**
 * Keys are opaque strings: `..`, `//` and the like are fine because a key is only ever a column value,
 * never a filesystem path (object bytes live under their SHA-256).
 */
export function validateKey(key: string): void {
  // A NUL cannot be stored faithfully (the metadata layer's strings end at it, so `a\0x` and `a\0y`
  // would both become `a`) nor written in an XML listing, so such keys are refused up front.
  if (key.includes("\u0000")) {
    throw new S3Error("InvalidArgument", "Object keys must not contain the NUL character (U+0000).", 400, {
      ArgumentName: "key",
    });
  }
  if (Buffer.byteLength(key, "utf8") > MAX_KEY_BYTES) {
    throw new S3Error("KeyTooLongError", "Your key is too long", 400, {
      MaxSizeAllowed: String(MAX_KEY_BYTES),
      Size: String(Buffer.byteLength(key, "utf8")),
    });
  }
}
