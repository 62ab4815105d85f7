/**
 * @module storage-server/handlers/read-range
 * Which bytes a GET/HEAD returns, and the headers that describe them: the whole object, a `Range`,
 * or one part (`partNumber`), with the checksums that are valid for exactly those bytes.
 *
 * `partNumber`, as S3 answers it: on a multipart object, part n is returned as a 206 with its
 * Content-Range and `x-amz-mp-parts-count`; on a single-part object, part 1 is the whole object
 * (206, Content-Range over all of it, no parts count); a part beyond the last is 416
 * InvalidPartNumber; a malformed number is 400 InvalidArgument; partNumber with Range is 400.
 */
import { S3Error } from "../errors.js";
import type { Ctx } from "../http.js";
import { header } from "../http.js";
import { isManifest, manifestPart } from "../store/manifests.js";
import type { Checksums, ObjectVersion } from "../store/types.js";
import { checksumTypeHeader } from "./mpu-checksums.js";

export interface ByteRange {
  readonly start: number;
  readonly end: number;
}

export interface ReadPlan {
  readonly status: 200 | 206;
  /** Undefined: the whole object. */
  readonly range: ByteRange | undefined;
  readonly length: number;
  readonly headers: Record<string, string>;
}

const MAX_PART_NUMBER = 10_000;

/** `bytes=a-b`, `bytes=a-`, `bytes=-n`; undefined for syntax S3 ignores (then the whole object). */
export function parseRange(value: string, size: number): ByteRange | "unsatisfiable" | undefined {
  const m = /^bytes=(\d*)-(\d*)$/.exec(value.trim());
  if (!m || (m[1] === "" && m[2] === "")) return undefined;
  if (m[1] === "") {
    const n = Number(m[2]);
    if (n === 0 || size === 0) return "unsatisfiable";
    return { start: Math.max(0, size - n), end: size - 1 };
  }
  const start = Number(m[1]);
  const end = m[2] === "" ? size - 1 : Math.min(Number(m[2]), size - 1);
  if (m[2] !== "" && Number(m[2]) < start) return undefined;
  if (start >= size) return "unsatisfiable";
  return { start, end };
}

function invalidRange(size: number): S3Error {
  return new S3Error("InvalidRange", "The requested range is not satisfiable", 416, {
    RangeRequested: "",
    ActualObjectSize: String(size),
  });
}

function invalidPartNumber(requested: string, count: number): S3Error {
  return new S3Error("InvalidPartNumber", "The requested partnumber is not satisfiable", 416, {
    PartNumberRequested: requested,
    ActualPartCount: String(count),
  });
}

function checksumHeaders(checksums: Checksums): Record<string, string> {
  const h: Record<string, string> = {};
  for (const [alg, value] of Object.entries(checksums)) if (value) h[`x-amz-checksum-${alg}`] = value;
  return Object.keys(h).length ? { ...h, ...checksumTypeHeader(checksums) } : h;
}

/** One part of `v`: its bytes and the checksums stored for that part alone. */
function partOf(ctx: Ctx, v: ObjectVersion, n: number): { range: ByteRange; checksums: Checksums } {
  if (v.blob !== null && isManifest(v.blob)) {
    const p = manifestPart(ctx.store.meta, v.blob, n);
    if (!p) throw invalidPartNumber(String(n), v.parts?.length ?? 0);
    return { range: { start: p.offset, end: p.offset + p.size - 1 }, checksums: p.checksums };
  }
  // Stored before multipart objects kept their parts (one blob): the sizes still locate each part.
  const sizes = v.parts!;
  const start = sizes.slice(0, n - 1).reduce((a, b) => a + b, 0);
  return { range: { start, end: start + sizes[n - 1]! - 1 }, checksums: {} };
}

export function planRead(ctx: Ctx, v: ObjectVersion): ReadPlan {
  const headers: Record<string, string> = {};
  const wantChecksums = header(ctx, "x-amz-checksum-mode")?.toUpperCase() === "ENABLED";
  const partNumber = ctx.query.get("partNumber");
  const rangeHeader = header(ctx, "range");
  let range: ByteRange | undefined;
  let partial = false;
  if (partNumber !== null) {
    if (rangeHeader !== undefined) {
      throw new S3Error(
        "InvalidRequest",
        "Cannot specify both Range header and partNumber query parameter",
        400,
      );
    }
    const n = Number(partNumber);
    if (!/^\d+$/.test(partNumber) || n < 1 || n > MAX_PART_NUMBER) {
      throw new S3Error(
        "InvalidArgument",
        `Part number must be an integer between 1 and ${MAX_PART_NUMBER}, inclusive`,
        400,
        { ArgumentName: "partNumber", ArgumentValue: partNumber },
      );
    }
    const count = v.parts?.length ?? 1;
    if (n > count) throw invalidPartNumber(partNumber, count);
    partial = true;
    if (v.parts) {
      const part = partOf(ctx, v, n);
      range = part.range;
      headers["x-amz-mp-parts-count"] = String(count);
      if (wantChecksums) Object.assign(headers, checksumHeaders(part.checksums));
    } else if (v.size > 0) {
      range = { start: 0, end: v.size - 1 };
      if (wantChecksums) Object.assign(headers, checksumHeaders(v.checksums));
    }
  } else if (rangeHeader !== undefined) {
    const r = parseRange(rangeHeader, v.size);
    if (r === "unsatisfiable") throw invalidRange(v.size);
    range = r;
    partial = r !== undefined;
  } else if (wantChecksums) {
    // Stored checksums describe the whole object: only for full reads, and only when asked for.
    Object.assign(headers, checksumHeaders(v.checksums));
  }
  const length = range ? Math.max(0, range.end - range.start + 1) : v.size;
  if (!range) partial = false;
  if (partial && range) headers["Content-Range"] = `bytes ${range.start}-${range.end}/${v.size}`;
  return { status: partial ? 206 : 200, range, length, headers };
}
