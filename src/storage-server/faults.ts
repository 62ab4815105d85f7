/**
 * @module storage-server/faults
 * Failures of the machine rather than of the request, turned into answers a client can act on.
 *
 * A full disk (ENOSPC, a quota: EDQUOT, or SQLite's SQLITE_FULL) is **507 Insufficient Storage with
 * code `StorageFull`**, the way S3-compatible servers report it (MinIO: 507 `XMinioStorageFull`),
 * never a 500: SDKs retry 500s (over and over, the disk stays full) but not 507. Nothing is stored by
 * a refused write, reads keep working, and once space is freed writes succeed again with no restart.
 */
import { S3Error } from "./errors.js";

export const STORAGE_FULL_CODE = "StorageFull";

function isDiskFull(error: unknown): boolean {
  if (typeof error !== "object" || error === null) return false;
  const e = error as { code?: unknown; message?: unknown; cause?: unknown };
  if (e.code === "ENOSPC" || e.code === "EDQUOT" || e.code === "SQLITE_FULL") return true;
  if (typeof e.message === "string" && /database or disk is full/i.test(e.message)) return true;
  return e.cause !== undefined && e.cause !== error && isDiskFull(e.cause);
}

/** The S3 error for a machine fault, or undefined when `error` is not one we can name. */
export function faultToS3Error(error: unknown): S3Error | undefined {
  if (!isDiskFull(error)) return undefined;
  return new S3Error(
    STORAGE_FULL_CODE,
    "The storage server's disk is full (ENOSPC): the object was not stored. Free space on the disk that holds the server's data; writes work again as soon as there is room, no restart needed.",
    507,
  );
}
