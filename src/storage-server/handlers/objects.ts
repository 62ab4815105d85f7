/**
 * @module storage-server/handlers/objects
 * PutObject, GetObject, HeadObject, DeleteObject, CopyObject. Uploads stream through the body decoder
 * into a fsynced blob and are committed to metadata only after the body ended cleanly; downloads
 * stream from an fd opened in the same tick as the lookup.
 */
import { pipeline } from "node:stream/promises";
import type { ChecksumAlgorithm } from "../auth/index.js";
import { S3Error } from "../errors.js";
import type { Ctx } from "../http.js";
import { baseHeaders, discardBody, header, openBody, send, sendXml } from "../http.js";
import { deleteObject, putObject, resolveObject } from "../store/objects.js";
import { openObjectStream } from "../store/reader.js";
import type { Bucket, Checksums, ObjectVersion } from "../store/types.js";
import { isoDate } from "../xml.js";
import { writeConditions } from "./conditional.js";
import { requestAcl } from "./acl.js";
import {
  checkConditions,
  isNullVersion,
  lookupObject,
  objectHeadersFrom,
  objectResponseHeaders,
  parseCopySource,
  readSeq,
  requireBucket,
  requireKey,
  tagsFromHeader,
} from "./common.js";
import { planRead } from "./read-range.js";

export function checksumHeaders(checksums: Checksums): Record<string, string> {
  const h: Record<string, string> = {};
  for (const [alg, value] of Object.entries(checksums)) {
    if (value) h[`x-amz-checksum-${alg}`] = value;
  }
  return h;
}

export async function putObjectHandler(ctx: Ctx): Promise<void> {
  const bucket = requireBucket(ctx);
  const key = requireKey(ctx);
  const headers = objectHeadersFrom(ctx);
  const tags = tagsFromHeader(header(ctx, "x-amz-tagging"));
  const meta = ctx.store.meta;
  const conditions = writeConditions(ctx);
  // Fail fast before the upload; the same check runs again atomically with the commit.
  conditions?.check(resolveObject(meta, meta.chain(bucket), key));

  const body = openBody(ctx);
  const temp = await ctx.store.blobs.writeTemp(body.stream, () => body.result());
  const result = body.result();
  await ctx.store.blobs.commit(temp);
  let v: ObjectVersion;
  try {
    v = await meta.write(() =>
      putObject(
        meta,
        bucket,
        key,
        {
          blob: temp.name,
          size: temp.size,
          etag: `"${temp.md5.toString("hex")}"`,
          mtimeMs: Date.now(),
          headers,
          tags,
          checksums: result.checksums,
          parts: null,
        },
        conditions?.atCommit,
      ),
    );
  } finally {
    ctx.store.blobs.release(temp.name);
  }
  send(ctx, 200, undefined, { ETag: v.etag, ...checksumHeaders(v.checksums) });
}

const RESPONSE_OVERRIDES: Record<string, string> = {
  "response-content-type": "Content-Type",
  "response-content-language": "Content-Language",
  "response-expires": "Expires",
  "response-cache-control": "Cache-Control",
  "response-content-disposition": "Content-Disposition",
  "response-content-encoding": "Content-Encoding",
};

export async function getObjectHandler(ctx: Ctx): Promise<void> {
  discardBody(ctx);
  const bucket = requireBucket(ctx);
  const key = requireKey(ctx);
  const layers = ctx.store.meta.chain(bucket, readSeq(ctx));
  const v = lookupObject(ctx, layers, key, ctx.query.get("versionId"));
  checkConditions(ctx, v);

  const headers = objectResponseHeaders(v);
  if (ctx.query.get("versionId") === "null") headers["x-amz-version-id"] = "null";
  for (const [param, name] of Object.entries(RESPONSE_OVERRIDES)) {
    const value = ctx.query.get(param);
    if (value !== null) headers[name] = value;
  }
  const plan = planRead(ctx, v);
  Object.assign(headers, plan.headers);
  if (ctx.method === "HEAD" || plan.length === 0 || !v.blob) {
    send(ctx, plan.status, undefined, { ...headers, "Content-Length": String(plan.length) });
    return;
  }
  // Open now, in the lookup's tick: GC may unlink files later, the open fd / held parts keep the bytes.
  const stream = openObjectStream(ctx.store.meta, ctx.store.blobs, v, plan.range?.start, plan.range?.end);
  ctx.res.writeHead(plan.status, { ...baseHeaders(ctx), ...headers, "Content-Length": String(plan.length) });
  try {
    await pipeline(stream, ctx.res);
  } catch {
    // The client went away mid-download; nothing to clean up beyond the stream itself.
    stream.destroy();
  }
}

export async function deleteObjectHandler(ctx: Ctx): Promise<void> {
  discardBody(ctx);
  const bucket = requireBucket(ctx);
  const key = requireKey(ctx);
  // Only the "null" version exists (unversioned bucket): deleting any other id deletes nothing, and
  // S3 answers 204 for a version that is not there.
  if (isNullVersion(ctx.query.get("versionId"))) {
    await ctx.store.meta.write(() => deleteObject(ctx.store.meta, bucket, key));
  }
  send(ctx, 204);
}

export async function copyObjectHandler(ctx: Ctx, copySource: string): Promise<void> {
  discardBody(ctx);
  const bucket = requireBucket(ctx);
  const key = requireKey(ctx);
  const src = parseCopySource(copySource);
  // Zero-copy: the new version points at the source's blob. Lookup and insert run together inside
  // the commit batch, so neither GC nor a concurrent delete can drop the blob in between.
  const v = await ctx.store.meta.write(() => copyInTx(ctx, bucket, key, src));
  sendXml(ctx, 200, "CopyObjectResult", {
    ETag: v.etag,
    LastModified: isoDate(v.mtimeMs),
    ...checksumElements(v.checksums),
  });
}

function copyInTx(
  ctx: Ctx,
  bucket: Bucket,
  key: string,
  src: ReturnType<typeof parseCopySource>,
): ObjectVersion {
  const meta = ctx.store.meta;
  const srcBucket = meta.requireBucket(src.bucket);
  const source = lookupObject(ctx, meta.chain(srcBucket, readSeq(ctx)), src.key, src.versionId);
  checkConditions(ctx, source, "x-amz-copy-source-");

  const directive = (header(ctx, "x-amz-metadata-directive") ?? "COPY").toUpperCase();
  const tagDirective = (header(ctx, "x-amz-tagging-directive") ?? "COPY").toUpperCase();
  if (!["COPY", "REPLACE"].includes(directive) || !["COPY", "REPLACE"].includes(tagDirective)) {
    throw new S3Error("InvalidArgument", "Unknown metadata or tagging directive.", 400);
  }
  const sameObject = srcBucket.id === bucket.id && src.key === key;
  if (sameObject && directive === "COPY" && tagDirective === "COPY" && !header(ctx, "x-amz-storage-class")) {
    throw new S3Error(
      "InvalidRequest",
      "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes.",
      400,
    );
  }
  // An ACL is never copied (as on S3): the copy gets the one this request names, else its bucket's.
  const { acl: _sourceAcl, ...copied } = source.headers;
  const acl = requestAcl(ctx, "object");
  const headers =
    directive === "REPLACE" ? objectHeadersFrom(ctx) : acl !== undefined ? { ...copied, acl } : copied;
  const tags = tagDirective === "REPLACE" ? tagsFromHeader(header(ctx, "x-amz-tagging")) : source.tags;
  return putObject(
    meta,
    bucket,
    key,
    {
      blob: source.blob!,
      size: source.size,
      etag: source.etag,
      mtimeMs: Date.now(),
      headers,
      tags,
      checksums: source.checksums,
      parts: source.parts,
      partChecksums: source.partChecksums,
    },
    writeConditions(ctx)?.check,
  );
}

/** `ChecksumCRC32` etc. elements for XML results. */
export function checksumElements(checksums: Checksums): Record<string, string> {
  const names: Record<ChecksumAlgorithm, string> = {
    crc32: "ChecksumCRC32",
    crc32c: "ChecksumCRC32C",
    crc64nvme: "ChecksumCRC64NVME",
    sha1: "ChecksumSHA1",
    sha256: "ChecksumSHA256",
  };
  const out: Record<string, string> = {};
  for (const [alg, value] of Object.entries(checksums) as [ChecksumAlgorithm, string][]) {
    if (value) out[names[alg]] = value;
  }
  return out;
}
