/**
 * @module storage-server/handlers/list
 * ListObjects (v1), ListObjectsV2 and ListObjectVersions over the fork chain (optionally at a
 * snapshot version). With `encoding-type=url` every key-like element is URL-encoded and
 * `EncodingType` is echoed, since botocore only decodes when that element is present.
 */
import { S3Error } from "../errors.js";
import type { Ctx } from "../http.js";
import { discardBody, sendXml } from "../http.js";
import { listObjects } from "../store/listing.js";
import type { ListResult } from "../store/listing.js";
import { isoDate } from "../xml.js";
import type { XmlObject } from "../xml.js";
import { readSeq, requireBucket } from "./common.js";

export const OWNER = { ID: "forkstack", DisplayName: "forkstack" };

function maxKeysParam(ctx: Ctx, name = "max-keys"): number {
  const raw = ctx.query.get(name);
  if (raw === null || raw === "") return 1000;
  if (!/^\d+$/.test(raw)) {
    throw new S3Error("InvalidArgument", `Provided ${name} not an integer or within integer range`, 400, {
      ArgumentName: name,
    });
  }
  return Math.min(Number(raw), 1000);
}

/** The key encoder `encoding-type` asks for (identity without it); shared with ListMultipartUploads. */
export function encoder(ctx: Ctx): (s: string) => string {
  const enc = ctx.query.get("encoding-type");
  if (enc === null || enc === "") return (s) => s;
  if (enc.toLowerCase() !== "url") {
    throw new S3Error("InvalidArgument", "Invalid Encoding Method specified in Request", 400, {
      ArgumentName: "encoding-type",
    });
  }
  return (s) => encodeURIComponent(s).replace(/%2F/g, "/");
}

function runList(ctx: Ctx, after: string | undefined, maxKeys: number): ListResult {
  const bucket = requireBucket(ctx);
  const layers = ctx.store.meta.chain(bucket, readSeq(ctx));
  return listObjects(ctx.store.meta, layers, {
    prefix: ctx.query.get("prefix") ?? "",
    delimiter: ctx.query.get("delimiter") ?? "",
    maxKeys,
    ...(after !== undefined && after !== "" ? { after } : {}),
  });
}

function contents(r: ListResult, enc: (s: string) => string, withOwner: boolean): XmlObject[] {
  return r.contents.map((c) => ({
    Key: enc(c.key),
    LastModified: isoDate(c.mtimeMs),
    ETag: c.etag,
    Size: c.size,
    StorageClass: "STANDARD",
    ...(withOwner ? { Owner: OWNER } : {}),
  }));
}

function common(r: ListResult, enc: (s: string) => string): XmlObject[] {
  return r.commonPrefixes.map((p) => ({ Prefix: enc(p) }));
}

/** Continuation tokens are opaque to clients; ours are the last returned key, base64url-encoded. */
function decodeToken(token: string): string {
  const key = Buffer.from(token, "base64url").toString("utf8");
  if (Buffer.from(key, "utf8").toString("base64url") !== token.replace(/=+$/, "")) {
    throw new S3Error("InvalidArgument", "The continuation token provided is incorrect", 400, {
      ArgumentName: "continuation-token",
    });
  }
  return key;
}

export function listObjectsV2(ctx: Ctx): void {
  discardBody(ctx);
  const enc = encoder(ctx);
  const maxKeys = maxKeysParam(ctx);
  const token = ctx.query.get("continuation-token");
  const startAfter = ctx.query.get("start-after");
  const after = token !== null && token !== "" ? decodeToken(token) : (startAfter ?? undefined);
  const r = runList(ctx, after, maxKeys);
  const delimiter = ctx.query.get("delimiter");
  const body: XmlObject = {
    Name: ctx.bucketName,
    Prefix: enc(ctx.query.get("prefix") ?? ""),
    ...(delimiter ? { Delimiter: enc(delimiter) } : {}),
    MaxKeys: maxKeys,
    KeyCount: r.contents.length + r.commonPrefixes.length,
    IsTruncated: r.isTruncated,
    ...(token !== null ? { ContinuationToken: token } : {}),
    ...(r.isTruncated && r.last !== undefined
      ? { NextContinuationToken: Buffer.from(r.last, "utf8").toString("base64url") }
      : {}),
    ...(startAfter !== null ? { StartAfter: enc(startAfter) } : {}),
    ...(ctx.query.get("encoding-type") ? { EncodingType: "url" } : {}),
    Contents: contents(r, enc, ctx.query.get("fetch-owner") === "true"),
    CommonPrefixes: common(r, enc),
  };
  sendXml(ctx, 200, "ListBucketResult", body);
}

export function listObjectsV1(ctx: Ctx): void {
  discardBody(ctx);
  const enc = encoder(ctx);
  const maxKeys = maxKeysParam(ctx);
  const marker = ctx.query.get("marker") ?? "";
  const r = runList(ctx, marker, maxKeys);
  const delimiter = ctx.query.get("delimiter");
  sendXml(ctx, 200, "ListBucketResult", {
    Name: ctx.bucketName,
    Prefix: enc(ctx.query.get("prefix") ?? ""),
    Marker: enc(marker),
    ...(r.isTruncated && r.last !== undefined ? { NextMarker: enc(r.last) } : {}),
    MaxKeys: maxKeys,
    ...(delimiter ? { Delimiter: enc(delimiter) } : {}),
    IsTruncated: r.isTruncated,
    ...(ctx.query.get("encoding-type") ? { EncodingType: "url" } : {}),
    Contents: contents(r, enc, true),
    CommonPrefixes: common(r, enc),
  });
}

/**
 * Buckets here are unversioned (as on S3 without versioning): every listed version is the current
 * one with VersionId "null", which is what cleanup fixtures (ListObjectVersions + DeleteObjects) need.
 */
export function listObjectVersions(ctx: Ctx): void {
  discardBody(ctx);
  const enc = encoder(ctx);
  const maxKeys = maxKeysParam(ctx);
  const keyMarker = ctx.query.get("key-marker") ?? "";
  if (keyMarker === "" && (ctx.query.get("version-id-marker") ?? "") !== "") {
    throw new S3Error(
      "InvalidArgument",
      "A version-id marker cannot be specified without a key marker.",
      400,
      {
        ArgumentName: "version-id-marker",
      },
    );
  }
  const r = runList(ctx, keyMarker, maxKeys);
  const delimiter = ctx.query.get("delimiter");
  sendXml(ctx, 200, "ListVersionsResult", {
    Name: ctx.bucketName,
    Prefix: enc(ctx.query.get("prefix") ?? ""),
    KeyMarker: enc(keyMarker),
    VersionIdMarker: ctx.query.get("version-id-marker") ?? "",
    ...(r.isTruncated && r.last !== undefined
      ? { NextKeyMarker: enc(r.last), NextVersionIdMarker: "null" }
      : {}),
    MaxKeys: maxKeys,
    ...(delimiter ? { Delimiter: enc(delimiter) } : {}),
    IsTruncated: r.isTruncated,
    ...(ctx.query.get("encoding-type") ? { EncodingType: "url" } : {}),
    Version: r.contents.map((c) => ({
      Key: enc(c.key),
      VersionId: "null",
      IsLatest: true,
      LastModified: isoDate(c.mtimeMs),
      ETag: c.etag,
      Size: c.size,
      StorageClass: "STANDARD",
      Owner: OWNER,
    })),
    CommonPrefixes: common(r, enc),
  });
}
