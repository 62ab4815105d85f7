/**
 * @module storage-server/handlers/complete
 * CompleteMultipartUpload. No bytes move: the chosen parts become the object's manifest in one
 * metadata transaction (store/multipart.ts), so completing 1 GB costs what completing 10 MB does.
 * Validation (part list, ETags, part checksums, sizes, the whole-object checksum a client may send)
 * runs inside that transaction, against the parts as they are at commit time.
 */
import { createHash } from "node:crypto";
import type { ChecksumAlgorithm } from "../auth/index.js";
import { S3Error } from "../errors.js";
import type { Ctx } from "../http.js";
import { header, readSmallBody, sendXml } from "../http.js";
import { completeUpload, findUpload } from "../store/multipart.js";
import type { Assembled, Part, RequestedPart, Upload } from "../store/multipart.js";
import type { XmlObject } from "../xml.js";
import { resolveObject } from "../store/objects.js";
import { requireBucket, requireKey } from "./common.js";
import { parseCompleteBody } from "./complete-xml.js";
import { writeConditions } from "./conditional.js";
import { checksumTypeOf, compositeChecksum, fullObjectChecksum } from "./mpu-checksums.js";
import { checksumElements } from "./objects.js";

const MIN_PART_SIZE = 5 * 1024 * 1024;

function invalidPart(upload: Upload, r: RequestedPart): S3Error {
  return new S3Error(
    "InvalidPart",
    "One or more of the specified parts could not be found. The part may not have been uploaded, or the specified entity tag may not match the part's entity tag.",
    400,
    { UploadId: upload.uploadId, PartNumber: String(r.partNumber), ETag: r.etag },
  );
}

/** The stored parts the request names, checked the way S3 checks them. */
function chooseParts(
  upload: Upload,
  requested: readonly RequestedPart[],
  stored: ReadonlyMap<number, Part>,
): Part[] {
  const alg = upload.checksumAlgorithm as ChecksumAlgorithm | null;
  const parts = requested.map((r) => {
    const p = stored.get(r.partNumber);
    if (!p || p.md5Hex !== r.etag) throw invalidPart(upload, r);
    for (const [a, value] of Object.entries(r.checksums) as [ChecksumAlgorithm, string][]) {
      if (p.checksums[a] !== value) throw invalidPart(upload, r);
    }
    // S3 needs each part's checksum in the request for COMPOSITE uploads (it is what the composite
    // value is made of); FULL_OBJECT uploads may leave them out.
    if (alg && upload.checksumType !== "FULL_OBJECT" && r.checksums[alg] === undefined) {
      throw new S3Error(
        "InvalidRequest",
        `The upload was created using a ${alg} checksum. The complete request must include the checksum for each part. It was missing for part ${r.partNumber} in the request.`,
        400,
      );
    }
    return p;
  });
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
  return parts;
}

/**
 * ETag (MD5 of the part MD5s, `-N`) and checksum. A whole-object checksum the client sends with the
 * Complete (`x-amz-checksum-<alg>`) must match ours, or the upload stays open: BadDigest.
 */
function assemble(ctx: Ctx, upload: Upload, parts: readonly Part[]): Assembled {
  const md5s = Buffer.concat(parts.map((p) => Buffer.from(p.md5Hex, "hex")));
  const etag = `"${createHash("md5").update(md5s).digest("hex")}-${parts.length}"`;
  const alg = upload.checksumAlgorithm as ChecksumAlgorithm | null;
  if (!alg) return { etag, checksums: {}, checksumType: null };
  const type = upload.checksumType === "FULL_OBJECT" ? "FULL_OBJECT" : "COMPOSITE";
  const requestedType = header(ctx, "x-amz-checksum-type")?.trim().toUpperCase();
  if (requestedType !== undefined && requestedType !== type) {
    throw new S3Error(
      "InvalidRequest",
      `The upload was created using the ${type} checksum mode. The complete request must use the same checksum mode.`,
      400,
    );
  }
  const value = type === "FULL_OBJECT" ? fullObjectChecksum(alg, parts) : compositeChecksum(alg, parts);
  if (value === undefined) return { etag, checksums: {}, checksumType: null };
  const sent = header(ctx, `x-amz-checksum-${alg}`)?.trim();
  if (sent !== undefined && sent.replace(/-\d+$/, "") !== value.replace(/-\d+$/, "")) {
    throw new S3Error(
      "BadDigest",
      `The ${alg.toUpperCase()} you specified for the object did not match what was calculated.`,
      400,
    );
  }
  return { etag, checksums: { [alg]: value }, checksumType: checksumTypeOf(value) };
}

/** `x-amz-mp-object-size`, when sent, must be the size of the object the parts make (else 400). */
function checkObjectSize(ctx: Ctx, parts: readonly Part[]): void {
  const expected = header(ctx, "x-amz-mp-object-size");
  if (expected === undefined) return;
  const size = parts.reduce((a, p) => a + p.size, 0);
  if (expected.trim() !== String(size)) {
    throw new S3Error(
      "InvalidRequest",
      `The provided 'x-amz-mp-object-size' header value ${expected} does not match what was computed: ${size}`,
      400,
    );
  }
}

/**
 * The request body (the part list). On Complete, `x-amz-checksum-<alg>` headers carry the checksum
 * of the *object* (checked in `assemble`), not of this XML body, so the body decoder must not see them.
 */
async function readPartList(ctx: Ctx): Promise<string> {
  const headers = Object.fromEntries(
    Object.entries(ctx.head.headers).filter(([name]) => !/^x-amz-checksum-(?!algorithm$|type$)/i.test(name)),
  );
  const view: Ctx = { ...ctx, head: { ...ctx.head, headers } };
  try {
    return (await readSmallBody(view)).toString("utf8");
  } finally {
    ctx.bodyUsed = view.bodyUsed;
  }
}

export async function completeMultipartUpload(ctx: Ctx): Promise<void> {
  const bucket = requireBucket(ctx);
  const key = requireKey(ctx);
  const uploadId = ctx.query.get("uploadId") ?? "";
  const meta = ctx.store.meta;
  // If-None-Match: * / If-Match on Complete: refused before the body is read, checked again with the
  // commit (conditional.ts). A repeat of a completed upload answers as before, whatever exists now.
  const conditions = writeConditions(ctx);
  if (conditions && findUpload(meta, bucket, key, uploadId)) {
    conditions.check(resolveObject(meta, meta.chain(bucket), key));
  }
  const requested = parseCompleteBody(await readPartList(ctx));
  if (requested.length === 0) {
    throw new S3Error("MalformedXML", "You must specify at least one part", 400);
  }
  for (let i = 1; i < requested.length; i++) {
    if (requested[i]!.partNumber <= requested[i - 1]!.partNumber) {
      throw new S3Error(
        "InvalidPartOrder",
        "The list of parts was not in ascending order. The parts list must be specified in order by part number.",
        400,
        { UploadId: uploadId },
      );
    }
  }
  const result = await meta.write(() =>
    completeUpload(
      meta,
      bucket,
      key,
      uploadId,
      requested,
      (upload, stored) => {
        const parts = chooseParts(upload, requested, stored);
        checkObjectSize(ctx, parts);
        return { parts, result: assemble(ctx, upload, parts) };
      },
      conditions?.atCommit,
    ),
  );
  const host = header(ctx, "host") ?? "127.0.0.1";
  const location = `http://${host}/${encodeURIComponent(bucket.name)}/${encodeURIComponent(key)}`;
  const body: XmlObject = {
    Location: location,
    Bucket: bucket.name,
    Key: key,
    ETag: result.etag,
    ...checksumElements(result.checksums),
    ...(result.checksumType ? { ChecksumType: result.checksumType } : {}),
  };
  sendXml(ctx, 200, "CompleteMultipartUploadResult", body);
}
