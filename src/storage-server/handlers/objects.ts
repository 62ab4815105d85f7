/**
 * @module storage-server/handlers/objects
 * PutObject, GetObject, HeadObject, DeleteObject, CopyObject. Uploads stream through the body decoder
 * into a fsynced blob and are committed to metadata only after the body ended cleanly; downloads
 * stream from an fd opened in the same tick as the lookup.
 */
import { read as readCallback } from "node:fs";
import type { ServerResponse } from "node:http";
import { promisify } from "node:util";
import type { ChecksumAlgorithm } from "../auth/index.js";
import { S3Error } from "../errors.js";
import type { Ctx } from "../http.js";
import { baseHeaders, discardBody, header, openBody, send, sendXml } from "../http.js";
import { deleteObject, putObject, resolveObject } from "../store/objects.js";
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
          blob: temp.sha256,
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
    ctx.store.blobs.release(temp.sha256);
  }
  send(ctx, 200, undefined, { ETag: v.etag, ...checksumHeaders(v.checksums) });
}

type RangeSpec = { start: number; end: number };

/** `bytes=a-b`, `bytes=a-`, `bytes=-n`; undefined for syntax S3 ignores (then the whole object). */
function parseRange(value: string, size: number): RangeSpec | "unsatisfiable" | undefined {
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

const RESPONSE_OVERRIDES: Record<string, string> = {
  "response-content-type": "Content-Type",
  "response-content-language": "Content-Language",
  "response-expires": "Expires",
  "response-cache-control": "Cache-Control",
  "response-content-disposition": "Content-Disposition",
  "response-content-encoding": "Content-Encoding",
};

const read = promisify(readCallback);

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
  let range: RangeSpec | undefined;
  const partNumber = ctx.query.get("partNumber");
  const rangeHeader = header(ctx, "range");
  if (partNumber !== null) {
    const n = Number(partNumber);
    const sizes = v.parts ?? [v.size];
    if (!Number.isInteger(n) || n < 1 || n > sizes.length) {
      throw new S3Error("InvalidPartNumber", "The requested partnumber is not satisfiable", 416, {
        PartNumberRequested: partNumber,
        ActualPartCount: String(sizes.length),
      });
    }
    const start = sizes.slice(0, n - 1).reduce((a, b) => a + b, 0);
    if (v.parts) range = { start, end: start + sizes[n - 1]! - 1 };
    headers["x-amz-mp-parts-count"] = String(sizes.length);
  } else if (rangeHeader !== undefined) {
    const r = parseRange(rangeHeader, v.size);
    if (r === "unsatisfiable") throw invalidRange(v.size);
    range = r;
  }
  // Stored checksums describe the whole object: only for full reads, and only when asked for.
  if (!range && header(ctx, "x-amz-checksum-mode")?.toUpperCase() === "ENABLED") {
    Object.assign(headers, checksumHeaders(v.checksums));
  }

  let status = 200;
  let length = v.size;
  if (range) {
    status = 206;
    length = range.end - range.start + 1;
    headers["Content-Range"] = `bytes ${range.start}-${range.end}/${v.size}`;
  }
  if (ctx.method === "HEAD" || length === 0 || !v.blob) {
    send(ctx, status, undefined, { ...headers, "Content-Length": String(length) });
    return;
  }
  // Open now, in the lookup's tick: GC may unlink the file later, the fd keeps the bytes readable.
  const { fd } = ctx.store.blobs.openSync(v.blob);
  ctx.res.writeHead(status, { ...baseHeaders(ctx), ...headers, "Content-Length": String(length) });
  try {
    await sendRange(fd, range?.start ?? 0, length, ctx.res);
  } catch {
    // The client went away mid-download (or the read failed after the headers went out): the
    // response cannot carry an error any more, so the connection is cut and the client sees a
    // short body.
    ctx.res.destroy();
  } finally {
    ctx.store.blobs.closeFd(fd);
  }
}

/** Bytes read and written per step of a download, and the most a download holds (two of them). */
const SEND_CHUNK = 1024 * 1024;

/**
 * Streams `length` bytes of `fd` from `start` to `res`, reading the next chunk while the last is
 * written, through two buffers that are reused for the whole download. (A `fs.ReadStream` allocates
 * a new buffer per read: 16 per 16 MB GET at 1 MB reads, 64 at its 256 KB; with 16 downloads at
 * once that garbage kept the GC busy ~10 % of the event loop.) A buffer is refilled only after the
 * socket's write callback for it ran, i.e. once the kernel has copied it.
 */
async function sendRange(fd: number, start: number, length: number, res: ServerResponse): Promise<void> {
  const size = Math.min(length, SEND_CHUNK);
  const buffers = [Buffer.allocUnsafeSlow(size), Buffer.allocUnsafeSlow(size)];
  let closed: () => void = () => undefined;
  // A client that disconnects while a write is pending may never see that write's callback.
  const gone = new Promise<never>((_, reject) => {
    closed = () => reject(new Error("client went away"));
    res.once("close", closed);
  });
  gone.catch(() => undefined);
  let writing: Promise<void> | undefined;
  try {
    let sent = 0;
    for (let i = 0; sent < length; i ^= 1) {
      const buffer = buffers[i]!;
      const want = Math.min(size, length - sent);
      // Not raced with `gone`: a local read ends soon, and the fd must not be closed under it.
      const { bytesRead } = await read(fd, buffer, 0, want, start + sent);
      if (bytesRead === 0) throw new Error("blob file shorter than its recorded size");
      // The other buffer's write must be done before this one is queued and, next turn, refilled.
      await Promise.race([writing, gone]);
      const chunk = buffer.subarray(0, bytesRead);
      writing = new Promise<void>((resolve, reject) =>
        res.write(chunk, (error) => (error ? reject(error) : resolve())),
      );
      writing.catch(() => undefined);
      sent += bytesRead;
    }
    await Promise.race([writing, gone]);
    await Promise.race([new Promise<void>((resolve) => res.end(resolve)), gone]);
  } finally {
    res.off("close", closed);
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
