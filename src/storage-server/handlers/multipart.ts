/**
 * @module storage-server/handlers/multipart
 * Create / UploadPart / UploadPartCopy / Abort / ListParts / ListMultipartUploads (Complete is in
 * complete.ts). Parts stream to disk like objects; a completed object is the list of its parts.
 */
import type { Readable } from "node:stream";
import type { ChecksumAlgorithm } from "../auth/index.js";
import { S3Error } from "../errors.js";
import type { Ctx } from "../http.js";
import { discardBody, header, openBody, send, sendXml } from "../http.js";
import { abortUpload, createUpload, getUpload, listParts, listUploads, putPart } from "../store/multipart.js";
import type { Part, Upload } from "../store/multipart.js";
import { openObjectStream } from "../store/reader.js";
import type { Checksums } from "../store/types.js";
import { isoDate } from "../xml.js";
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
import { encoder, OWNER } from "./list.js";
import { uploadChecksumType } from "./mpu-checksums.js";
import { checksumElements, checksumHeaders } from "./objects.js";

export { completeMultipartUpload } from "./complete.js";

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
  const checksumType = uploadChecksumType(
    algHeader as ChecksumAlgorithm | undefined,
    header(ctx, "x-amz-checksum-type"),
  );
  const upload = createUpload(
    ctx.store.meta,
    bucket,
    key,
    objectHeadersFrom(ctx),
    tagsFromHeader(header(ctx, "x-amz-tagging")),
    algHeader ?? null,
    checksumType,
  );
  sendXml(
    ctx,
    200,
    "InitiateMultipartUploadResult",
    { Bucket: bucket.name, Key: key, UploadId: upload.uploadId },
    algHeader
      ? { "x-amz-checksum-algorithm": algHeader.toUpperCase(), "x-amz-checksum-type": checksumType ?? "" }
      : {},
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
  digests?: () => { sha256Hex: string | undefined; md5Hex: string },
  checksums: () => Checksums = () => ({}),
): Promise<Part> {
  const blobs = ctx.store.blobs;
  const temp = await blobs.writeTemp(source, digests);
  await blobs.commit(temp);
  const md5Hex = temp.md5.toString("hex");
  const part: Part = {
    partNumber,
    blob: temp.name,
    size: temp.size,
    etag: `"${md5Hex}"`,
    md5Hex,
    checksums: checksums(),
    mtimeMs: Date.now(),
  };
  try {
    await ctx.store.meta.write(() => putPart(ctx.store.meta, upload, part));
  } finally {
    blobs.release(temp.name);
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
  // Opened in the lookup's tick so GC cannot remove the source's bytes before we read them.
  const stream: Readable = openObjectStream(meta, ctx.store.blobs, source, start, end);
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
    ...(upload.checksumType ? { ChecksumType: upload.checksumType } : {}),
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
