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

/** ENOSPC / EDQUOT / SQLITE_FULL when `error` (or its cause) is a full disk, else undefined. */
function diskFullCode(error: unknown): string | undefined {
  if (typeof error !== "object" || error === null) return undefined;
  const e = error as { code?: unknown; message?: unknown; cause?: unknown };
  if (e.code === "ENOSPC" || e.code === "EDQUOT" || e.code === "SQLITE_FULL") return e.code;
  if (typeof e.message === "string" && /database or disk is full/i.test(e.message)) return "SQLITE_FULL";
  return e.cause !== undefined && e.cause !== error ? diskFullCode(e.cause) : undefined;
}

/** The S3 error for a machine fault, or undefined when `error` is not one we can name. */
export function faultToS3Error(error: unknown): S3Error | undefined {
  const code = diskFullCode(error);
  if (code === undefined) return undefined;
  const what = code === "EDQUOT" ? "disk quota is exhausted" : "disk is full";
  return new S3Error(
    STORAGE_FULL_CODE,
    `The storage server's ${what} (${code}): nothing was stored. Free space on the disk that holds the server's data; writes work again as soon as there is room, no restart needed.`,
    507,
  );
}
