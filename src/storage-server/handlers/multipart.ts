/**
 * @module storage-server/handlers/multipart
 * Create / UploadPart / UploadPartCopy / Complete / Abort / ListParts / ListMultipartUploads.
 * Parts stream to disk like objects; Complete validates the part list, then concatenates the part
 * blobs (streaming, never in memory) into one new blob.
 */
import { createHash } from "node:crypto";
import type { Readable } from "node:stream";
import { PassThrough } from "node:stream";
import { crc32 } from "node:zlib";
import { crc32c } from "@aws-crypto/crc32c";
import type { ChecksumAlgorithm } from "../auth/index.js";
import { S3Error } from "../errors.js";
import type { Ctx } from "../http.js";
import { discardBody, header, openBody, readSmallBody, send, sendXml } from "../http.js";
import {
  createUpload,
  finishUpload,
  getUpload,
  listParts,
  listUploads,
  putPart,
  abortUpload,
} from "../store/multipart.js";
import type { Part, Upload } from "../store/multipart.js";
import { resolveObject } from "../store/objects.js";
import type { Checksums } from "../store/types.js";
import { isoDate, list, malformed, parseXml, text } from "../xml.js";
import type { XmlObject } from "../xml.js";
import {
  checkConditions,
  lookupObject,
  objectHeadersFrom,
  parseCopySource,
  readSeq,
  requireBucket,
  requireKey,
  tagsFromHeader,
} from "./common.js";
import { writeConditions } from "./conditional.js";
import { encoder, OWNER } from "./list.js";
import { checksumElements, checksumHeaders } from "./objects.js";

const MIN_PART_SIZE = 5 * 1024 * 1024;
const MAX_PARTS = 10_000;
const ALGORITHMS: readonly ChecksumAlgorithm[] = ["crc32", "crc32c", "crc64nvme", "sha1", "sha256"];

function uploadOf(ctx: Ctx): Upload {
  const bucket = requireBucket(ctx);
  const key = requireKey(ctx);
  return getUpload(ctx.store.meta, bucket, key, ctx.query.get("uploadId") ?? "");
}

export function createMultipartUpload(ctx: Ctx): void {
  discardBody(ctx);
  const bucket = requireBucket(ctx);
  const key = requireKey(ctx);
  const algHeader = header(ctx, "x-amz-checksum-algorithm")?.toLowerCase();
  if (algHeader !== undefined && !ALGORITHMS.includes(algHeader as ChecksumAlgorithm)) {
    throw new S3Error("InvalidRequest", `Checksum algorithm ${algHeader} is not supported.`, 400);
  }
  const upload = createUpload(
    ctx.store.meta,
    bucket,
    key,
    objectHeadersFrom(ctx),
    tagsFromHeader(header(ctx, "x-amz-tagging")),
    algHeader ?? null,
  );
  sendXml(
    ctx,
    200,
    "InitiateMultipartUploadResult",
    { Bucket: bucket.name, Key: key, UploadId: upload.uploadId },
    algHeader ? { "x-amz-checksum-algorithm": algHeader.toUpperCase() } : {},
  );
}

function partNumberOf(ctx: Ctx): number {
  const raw = ctx.query.get("partNumber") ?? "";
  const n = Number(raw);
  if (!/^\d+$/.test(raw) || n < 1 || n > MAX_PARTS) {
    throw new S3Error(
      "InvalidArgument",
      `Part number must be an integer between 1 and ${MAX_PARTS}, inclusive`,
      400,
      {
        ArgumentName: "partNumber",
        ArgumentValue: raw,
      },
    );
  }
  return n;
}

/** Streams `source` into a part blob and records it. */
async function storePart(
  ctx: Ctx,
  upload: Upload,
  partNumber: number,
  source: Readable,
  digests?: () => { sha256Hex: string; md5Hex: string },
  checksums: () => Checksums = () => ({}),
): Promise<Part> {
  const blobs = ctx.store.blobs;
  const temp = await blobs.writeTemp(source, digests);
  await blobs.commit(temp);
  const md5Hex = temp.md5.toString("hex");
  const part: Part = {
    partNumber,
    blob: temp.sha256,
    size: temp.size,
    etag: `"${md5Hex}"`,
    md5Hex,
    checksums: checksums(),
    mtimeMs: Date.now(),
  };
  try {
    await ctx.store.meta.write(() => putPart(ctx.store.meta, upload, part));
  } finally {
    blobs.release(temp.sha256);
  }
  return part;
}

export async function uploadPart(ctx: Ctx): Promise<void> {
  const upload = uploadOf(ctx);
  const partNumber = partNumberOf(ctx);
  const alg = upload.checksumAlgorithm as ChecksumAlgorithm | null;
  const body = openBody(ctx, alg ? { algorithms: [alg] } : {});
  const part = await storePart(
    ctx,
    upload,
    partNumber,
    body.stream,
    () => body.result(),
    () => body.result().checksums,
  );
  send(ctx, 200, undefined, { ETag: part.etag, ...checksumHeaders(part.checksums) });
}

export function uploadPartCopy(ctx: Ctx, copySource: string): Promise<void> {
  discardBody(ctx);
  const upload = uploadOf(ctx);
  const partNumber = partNumberOf(ctx);
  const src = parseCopySource(copySource);
  const meta = ctx.store.meta;
  const source = lookupObject(
    ctx,
    meta.chain(meta.requireBucket(src.bucket), readSeq(ctx)),
    src.key,
    src.versionId,
  );
  checkConditions(ctx, source, "x-amz-copy-source-");
  let start = 0;
  let end = source.size - 1;
  const rangeHeader = header(ctx, "x-amz-copy-source-range");
  if (rangeHeader !== undefined) {
    const m = /^bytes=(\d+)-(\d+)$/.exec(rangeHeader.trim());
    if (!m || Number(m[2]) < Number(m[1]) || Number(m[2]) >= source.size) {
      throw new S3Error(
        "InvalidArgument",
        "The x-amz-copy-source-range value must be of the form bytes=first-last where first and last are the zero-based offsets of the first and last bytes to copy",
        400,
        {
          ArgumentName: "x-amz-copy-source-range",
          ArgumentValue: rangeHeader,
        },
      );
    }
    start = Number(m[1]);
    end = Number(m[2]);
  }
  // Opened in the lookup's tick so GC cannot remove the source blob before we read it.
  const opened = source.blob && source.size > 0 ? ctx.store.blobs.openSync(source.blob) : undefined;
  const stream: Readable = opened ? ctx.store.blobs.streamFd(opened.fd, start, end) : emptyStream();
  return storePart(ctx, upload, partNumber, stream).then(
    (part) => {
      sendXml(ctx, 200, "CopyPartResult", { ETag: part.etag, LastModified: isoDate(part.mtimeMs) });
    },
    (error: unknown) => {
      stream.destroy(); // closes the source fd if the copy never started
      throw error;
    },
  );
}

function emptyStream(): Readable {
  const p = new PassThrough();
  p.end();
  return p;
}

function compositeChecksum(alg: ChecksumAlgorithm, parts: readonly Part[]): string | undefined {
  const raw: Buffer[] = [];
  for (const p of parts) {
    const v = p.checksums[alg];
    if (!v) return undefined;
    raw.push(Buffer.from(v, "base64"));
  }
  const all = Buffer.concat(raw);
  let digest: Buffer;
  switch (alg) {
    case "crc32":
      digest = Buffer.alloc(4);
      digest.writeUInt32BE(crc32(all) >>> 0);
      break;
    case "crc32c":
      digest = Buffer.alloc(4);
      digest.writeUInt32BE(crc32c(all) >>> 0);
      break;
    case "sha1":
    case "sha256":
      digest = createHash(alg).update(all).digest();
      break;
    default:
      // CRC64NVME only exists as a full-object checksum on S3; we do not compute one here.
      return undefined;
  }
  return `${digest.toString("base64")}-${parts.length}`;
}

/** The part blobs one after another; every fd is closed exactly once, also when we stop early. */
async function* concatenate(ctx: Ctx, fds: { fd: number; size: number }[]): AsyncGenerator<Uint8Array> {
  let next = 0;
  try {
    while (next < fds.length) {
      const { fd, size } = fds[next++]!;
      if (size === 0) {
        ctx.store.blobs.closeFd(fd);
        continue;
      }
      // The stream owns (and closes) this fd from here on, however the iteration ends.
      yield* ctx.store.blobs.streamFd(fd, 0, size - 1) as AsyncIterable<Uint8Array>;
    }
  } finally {
    for (; next < fds.length; next++) ctx.store.blobs.closeFd(fds[next]!.fd);
  }
}

export async function completeMultipartUpload(ctx: Ctx): Promise<void> {
  const bucket = requireBucket(ctx);
  const upload = uploadOf(ctx);
  // If-None-Match: * / If-Match on Complete: refused before the parts are assembled, checked again
  // with the commit (conditional.ts).
  const conditions = writeConditions(ctx);
  conditions?.check(resolveObject(ctx.store.meta, ctx.store.meta.chain(bucket), upload.key));
  const doc = parseXml((await readSmallBody(ctx)).toString("utf8"), "CompleteMultipartUpload");
  const requested = list(doc, "Part").map((p) => {
    const n = text(p, "PartNumber");
    const etag = text(p, "ETag");
    if (n === undefined || !/^\d+$/.test(n.trim()) || etag === undefined) throw malformed();
    return { partNumber: Number(n.trim()), etag: etag.trim().replace(/^"(.*)"$/, "$1") };
  });
  if (requested.length === 0) {
    throw new S3Error("MalformedXML", "You must specify at least one part", 400);
  }
  for (let i = 1; i < requested.length; i++) {
    if (requested[i]!.partNumber <= requested[i - 1]!.partNumber) {
      throw new S3Error(
        "InvalidPartOrder",
        "The list of parts was not in ascending order. The parts list must be specified in order by part number.",
        400,
        {
          UploadId: upload.uploadId,
        },
      );
    }
  }
  const stored = new Map(
    listParts(ctx.store.meta, upload.uploadId, 0, MAX_PARTS).map((p) => [p.partNumber, p]),
  );
  const parts: Part[] = [];
  for (const r of requested) {
    const p = stored.get(r.partNumber);
    if (!p || p.md5Hex !== r.etag) {
      throw new S3Error(
        "InvalidPart",
        "One or more of the specified parts could not be found. The part may not have been uploaded, or the specified entity tag may not match the part's entity tag.",
        400,
        {
          UploadId: upload.uploadId,
          PartNumber: String(r.partNumber),
          ETag: r.etag,
        },
      );
    }
    parts.push(p);
  }
  for (const p of parts.slice(0, -1)) {
    if (p.size < MIN_PART_SIZE) {
      throw new S3Error(
        "EntityTooSmall",
        "Your proposed upload is smaller than the minimum allowed object size.",
        400,
        {
          ProposedSize: String(p.size),
          MinSizeAllowed: String(MIN_PART_SIZE),
          PartNumber: String(p.partNumber),
        },
      );
    }
  }

  const blobs = ctx.store.blobs;
  // Hold the part blobs and open them now: an Abort or GC racing with us cannot pull them away.
  for (const p of parts) blobs.hold(p.blob);
  let sha: string | undefined;
  try {
    const fds: { fd: number; size: number }[] = [];
    try {
      for (const p of parts) fds.push(blobs.openSync(p.blob));
    } catch (error) {
      for (const f of fds) blobs.closeFd(f.fd);
      throw error;
    }
    // Only the content address: the ETag comes from the parts' MD5s, so no MD5 of the whole.
    const temp = await blobs.writeTempAddressed(concatenate(ctx, fds));
    await blobs.commit(temp);
    sha = temp.sha256;
    const md5s = Buffer.concat(parts.map((p) => Buffer.from(p.md5Hex, "hex")));
    const etag = `"${createHash("md5").update(md5s).digest("hex")}-${parts.length}"`;
    const checksums: Checksums = {};
    const alg = upload.checksumAlgorithm as ChecksumAlgorithm | null;
    if (alg) {
      const c = compositeChecksum(alg, parts);
      if (c) checksums[alg] = c;
    }
    const v = await ctx.store.meta.write(() =>
      finishUpload(
        ctx.store.meta,
        bucket,
        upload,
        {
          blob: temp.sha256,
          size: temp.size,
          etag,
          mtimeMs: Date.now(),
          headers: upload.headers,
          tags: upload.tags,
          checksums,
          parts: parts.map((p) => p.size),
          // Per-part checksums in the upload's algorithm, for GetObjectAttributes (attributes.ts).
          partChecksums: alg ? parts.map((p) => (p.checksums[alg] ? { [alg]: p.checksums[alg] } : {})) : null,
        },
        conditions?.atCommit,
      ),
    );
    const host = header(ctx, "host") ?? "127.0.0.1";
    const location = `http://${host}/${encodeURIComponent(bucket.name)}/${encodeURIComponent(upload.key)}`;
    sendXml(ctx, 200, "CompleteMultipartUploadResult", {
      Location: location,
      Bucket: bucket.name,
      Key: upload.key,
      ETag: v.etag,
      ...checksumElements(checksums),
    });
  } finally {
    for (const p of parts) blobs.release(p.blob);
    if (sha) blobs.release(sha);
  }
}

export function abortMultipartUpload(ctx: Ctx): void {
  discardBody(ctx);
  const bucket = requireBucket(ctx);
  const key = requireKey(ctx);
  abortUpload(ctx.store.meta, bucket, key, ctx.query.get("uploadId") ?? "");
  send(ctx, 204);
}

export function listPartsHandler(ctx: Ctx): void {
  discardBody(ctx);
  const upload = uploadOf(ctx);
  const marker = Number(ctx.query.get("part-number-marker") ?? "0") || 0;
  const max = Math.min(Number(ctx.query.get("max-parts") ?? "1000") || 1000, 1000);
  const parts = listParts(ctx.store.meta, upload.uploadId, marker, max + 1);
  const truncated = parts.length > max;
  const shown = parts.slice(0, max);
  sendXml(ctx, 200, "ListPartsResult", {
    Bucket: ctx.bucketName,
    Key: upload.key,
    UploadId: upload.uploadId,
    Initiator: OWNER,
    Owner: OWNER,
    StorageClass: "STANDARD",
    PartNumberMarker: marker,
    ...(truncated ? { NextPartNumberMarker: shown[shown.length - 1]!.partNumber } : {}),
    MaxParts: max,
    IsTruncated: truncated,
    ...(upload.checksumAlgorithm ? { ChecksumAlgorithm: upload.checksumAlgorithm.toUpperCase() } : {}),
    Part: shown.map((p): XmlObject => ({
      PartNumber: p.partNumber,
      LastModified: isoDate(p.mtimeMs),
      ETag: p.etag,
      Size: p.size,
      ...checksumElements(p.checksums),
    })),
  });
}

export function listMultipartUploads(ctx: Ctx): void {
  discardBody(ctx);
  const bucket = requireBucket(ctx);
  const enc = encoder(ctx);
  const max = Math.min(Number(ctx.query.get("max-uploads") ?? "1000") || 1000, 1000);
  const keyMarker = ctx.query.get("key-marker") ?? "";
  const uploadIdMarker = ctx.query.get("upload-id-marker") ?? "";
  const prefix = ctx.query.get("prefix") ?? "";
  const uploads = listUploads(ctx.store.meta, bucket, { prefix, keyMarker, uploadIdMarker, max });
  const truncated = uploads.length > max;
  const shown = uploads.slice(0, max);
  const last = shown[shown.length - 1];
  sendXml(ctx, 200, "ListMultipartUploadsResult", {
    Bucket: bucket.name,
    KeyMarker: enc(keyMarker),
    UploadIdMarker: uploadIdMarker,
    ...(truncated && last ? { NextKeyMarker: enc(last.key), NextUploadIdMarker: last.uploadId } : {}),
    Prefix: enc(prefix),
    MaxUploads: max,
    IsTruncated: truncated,
    ...(ctx.query.get("encoding-type") ? { EncodingType: "url" } : {}),
    Upload: shown.map((u) => ({
      Key: enc(u.key),
      UploadId: u.uploadId,
      Initiator: OWNER,
      Owner: OWNER,
      StorageClass: "STANDARD",
      Initiated: isoDate(u.initiatedMs),
    })),
  });
}
