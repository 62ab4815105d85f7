/**
 * @module storage-server/handlers/common
 * Pieces several handlers share: which bucket/version a request reads, the object headers it stores
 * and returns, conditional-request rules and tag parsing.
 */
import { S3Error } from "../errors.js";
import type { Ctx } from "../http.js";
import { header } from "../http.js";
import { validateKey } from "../names.js";
import { requestAcl } from "./acl.js";
import { seqOfVersion } from "../store/clock.js";
import { LATEST } from "../store/index.js";
import { resolveObject } from "../store/objects.js";
import type { Bucket, Layer, ObjectHeaders, ObjectVersion, Tag } from "../store/types.js";

export const SNAPSHOT_VERSION_HEADER = "x-tigris-snapshot-version";

export function requireBucket(ctx: Ctx): Bucket {
  return ctx.store.meta.requireBucket(ctx.bucketName!);
}

export function requireKey(ctx: Ctx): string {
  const key = ctx.key!;
  validateKey(key);
  return key;
}

/** The seq a read is made at: now, or the Tigris snapshot version the client asked for. */
export function readSeq(ctx: Ctx): number {
  const v = header(ctx, SNAPSHOT_VERSION_HEADER);
  return v ? seqOfVersion(v) : LATEST;
}

export function noSuchKey(key: string): S3Error {
  return new S3Error("NoSuchKey", "The specified key does not exist.", 404, { Key: key });
}

/**
 * Buckets here are never versioned, and every versioned call answers as it would on an unversioned
 * S3 bucket (README, "Versioning"): an object's only version is "null". True when `versionId` names
 * that version (absent or "null"); false for any other id, which cannot exist; an empty one is S3's
 * 400 InvalidArgument.
 */
export function isNullVersion(versionId: string | null | undefined): boolean {
  if (versionId === null || versionId === undefined || versionId === "null") return true;
  if (versionId === "") {
    throw new S3Error("InvalidArgument", "Version id cannot be the empty string", 400, {
      ArgumentName: "versionId",
      ArgumentValue: "",
    });
  }
  return false;
}

export function noSuchVersion(key: string, versionId: string): S3Error {
  return new S3Error("NoSuchVersion", "The specified version does not exist.", 404, {
    Key: key,
    VersionId: versionId,
  });
}

/** Throws NoSuchVersion unless `versionId` names the current ("null") version. */
export function requireNullVersion(key: string, versionId: string | null): void {
  if (!isNullVersion(versionId)) throw noSuchVersion(key, versionId!);
}

/** The object a read refers to through the chain, honouring `versionId` and the snapshot header. */
export function lookupObject(
  ctx: Ctx,
  layers: readonly Layer[],
  key: string,
  versionId: string | null,
): ObjectVersion {
  requireNullVersion(key, versionId);
  const v = resolveObject(ctx.store.meta, layers, key);
  if (!v) throw noSuchKey(key);
  return v;
}

/**
 * A user-metadata value as received. Node hands header bytes over as latin1 characters; S3 stores the
 * characters the client meant: UTF-8 bytes (what SDKs send for non-ASCII strings) are decoded as
 * UTF-8, anything that is not valid UTF-8 is taken as latin1.
 */
export function decodeMetaValue(raw: string): string {
  // eslint-disable-next-line no-control-regex
  if (/^[\x00-\x7f]*$/.test(raw)) return raw;
  const bytes = Buffer.from(raw, "latin1");
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    return raw;
  }
}

/**
 * A user-metadata value as S3 returns it: printable US-ASCII as is, anything else RFC 2047-encoded
 * (`=?UTF-8?B?<base64 of the UTF-8 bytes>?=`) so the header stays mail-safe ASCII (S3 user guide,
 * "User-defined object metadata").
 */
export function encodeMetaValue(value: string): string {
  if (/^[\x20-\x7e\t]*$/.test(value)) return value;
  return `=?UTF-8?B?${Buffer.from(value, "utf8").toString("base64")}?=`;
}

/** Content headers and `x-amz-meta-*` from a PUT / CreateMultipartUpload / REPLACE copy. */
export function objectHeadersFrom(ctx: Ctx): ObjectHeaders {
  const h = ctx.head.headers;
  const meta: Record<string, string> = {};
  for (const [name, value] of Object.entries(h)) {
    if (name.startsWith("x-amz-meta-") && value !== undefined) {
      meta[name.slice("x-amz-meta-".length)] = decodeMetaValue(
        Array.isArray(value) ? value.join(",") : value,
      );
    }
  }
  const out: ObjectHeaders = { meta };
  const contentType = header(ctx, "content-type");
  if (contentType) out.contentType = contentType;
  // aws-chunked is transfer framing (removed by the decoder), never part of the stored encoding.
  const encoding = (header(ctx, "content-encoding") ?? "")
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "" && s.toLowerCase() !== "aws-chunked")
    .join(", ");
  if (encoding) out.contentEncoding = encoding;
  const set = (field: keyof Omit<ObjectHeaders, "meta" | "acl">, name: string): void => {
    const v = header(ctx, name);
    if (v !== undefined && v !== "") out[field] = v;
  };
  set("contentDisposition", "content-disposition");
  set("contentLanguage", "content-language");
  set("cacheControl", "cache-control");
  set("expires", "expires");
  set("storageClass", "x-amz-storage-class");
  const acl = requestAcl(ctx, "object");
  if (acl !== undefined) out.acl = acl;
  return out;
}

export function httpDate(ms: number): string {
  return new Date(ms).toUTCString();
}

/** Response headers describing a stored object (GET/HEAD). */
export function objectResponseHeaders(v: ObjectVersion): Record<string, string> {
  const h: Record<string, string> = {
    ETag: v.etag,
    "Last-Modified": httpDate(v.mtimeMs),
    "Accept-Ranges": "bytes",
    "Content-Type": v.headers.contentType ?? "binary/octet-stream",
  };
  if (v.headers.contentEncoding) h["Content-Encoding"] = v.headers.contentEncoding;
  if (v.headers.contentDisposition) h["Content-Disposition"] = v.headers.contentDisposition;
  if (v.headers.contentLanguage) h["Content-Language"] = v.headers.contentLanguage;
  if (v.headers.cacheControl) h["Cache-Control"] = v.headers.cacheControl;
  if (v.headers.expires) h["Expires"] = v.headers.expires;
  if (v.headers.storageClass && v.headers.storageClass !== "STANDARD") {
    h["x-amz-storage-class"] = v.headers.storageClass;
  }
  for (const [name, value] of Object.entries(v.headers.meta))
    h[`x-amz-meta-${name}`] = encodeMetaValue(value);
  if (v.tags.length > 0) h["x-amz-tagging-count"] = String(v.tags.length);
  // x-amz-mp-parts-count only answers `partNumber` reads, as on S3 (read-range.ts).
  return h;
}

function etagList(value: string): string[] {
  return value.split(",").map((s) =>
    s
      .trim()
      .replace(/^W\//, "")
      .replace(/^"(.*)"$/, "$1"),
  );
}

function etagMatches(value: string, etag: string): boolean {
  const bare = etag.replace(/^"(.*)"$/, "$1");
  return etagList(value).some((e) => e === "*" || e === bare);
}

function parseDate(value: string | undefined): number | undefined {
  if (!value) return undefined;
  const t = Date.parse(value);
  return Number.isNaN(t) ? undefined : t;
}

export function preconditionFailed(condition: string): S3Error {
  return new S3Error(
    "PreconditionFailed",
    "At least one of the pre-conditions you specified did not hold",
    412,
    {
      Condition: condition,
    },
  );
}

/**
 * RFC 9110 evaluation order, as S3 applies it: If-Match, else If-Unmodified-Since (412); then
 * If-None-Match, else If-Modified-Since (304 for reads). `prefix` selects the copy-source variants.
 */
export function checkConditions(ctx: Ctx, v: ObjectVersion, prefix = ""): void {
  const get = (name: string): string | undefined => header(ctx, `${prefix}${name}`);
  const modifiedS = Math.floor(v.mtimeMs / 1000) * 1000;
  const ifMatch = get("if-match");
  if (ifMatch !== undefined) {
    if (!etagMatches(ifMatch, v.etag)) throw preconditionFailed(`${prefix}If-Match`);
  } else {
    const ius = parseDate(get("if-unmodified-since"));
    if (ius !== undefined && modifiedS > ius) throw preconditionFailed(`${prefix}If-Unmodified-Since`);
  }
  const notModified = prefix
    ? preconditionFailed
    : (): S3Error => new S3Error("NotModified", "Not Modified", 304);
  const ifNoneMatch = get("if-none-match");
  if (ifNoneMatch !== undefined) {
    if (etagMatches(ifNoneMatch, v.etag)) throw notModified(`${prefix}If-None-Match`);
  } else {
    const ims = parseDate(get("if-modified-since"));
    if (ims !== undefined && modifiedS <= ims) throw notModified(`${prefix}If-Modified-Since`);
  }
}

/** `x-amz-tagging: k1=v1&k2=v2` (URL query encoding). */
export function tagsFromHeader(value: string | undefined): Tag[] {
  if (!value) return [];
  const tags = [...new URLSearchParams(value)].map(([Key, Value]) => ({ Key, Value }));
  validateTags(tags);
  return tags;
}

export function validateTags(tags: readonly Tag[]): void {
  if (tags.length > 10) throw new S3Error("BadRequest", "Object tags cannot be greater than 10", 400);
  const seen = new Set<string>();
  for (const t of tags) {
    if (t.Key.length === 0 || t.Key.length > 128 || t.Value.length > 256) {
      throw new S3Error("InvalidTag", "The TagKey or TagValue you have provided is invalid", 400);
    }
    if (seen.has(t.Key))
      throw new S3Error("InvalidTag", "Cannot provide multiple Tags with the same key", 400);
    seen.add(t.Key);
  }
}

/** `x-amz-copy-source: /bucket/key?versionId=…` (URL-encoded; leading slash optional). */
export function parseCopySource(value: string): { bucket: string; key: string; versionId: string | null } {
  const q = value.indexOf("?");
  const path = q >= 0 ? value.slice(0, q) : value;
  const versionId = q >= 0 ? new URLSearchParams(value.slice(q + 1)).get("versionId") : null;
  let decoded: string;
  try {
    decoded = decodeURIComponent(path);
  } catch {
    throw new S3Error("InvalidArgument", "Invalid copy source encoding", 400, {
      ArgumentName: "x-amz-copy-source",
    });
  }
  if (decoded.startsWith("/")) decoded = decoded.slice(1);
  const slash = decoded.indexOf("/");
  if (slash <= 0 || slash === decoded.length - 1) {
    throw new S3Error(
      "InvalidArgument",
      "Copy Source must mention the source bucket and key: sourcebucket/sourcekey",
      400,
      {
        ArgumentName: "x-amz-copy-source",
      },
    );
  }
  const key = decoded.slice(slash + 1);
  validateKey(key);
  return { bucket: decoded.slice(0, slash), key, versionId };
}
