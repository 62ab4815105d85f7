/**
 * @module storage-server/handlers/attributes
 * GetObjectAttributes (`GET /bucket/key?attributes`): what HeadObject and ListParts would tell, in one
 * XML document, limited to the attributes named in `x-amz-object-attributes`. Shapes follow the S3
 * API reference: the ETag unquoted, the checksum of a multipart object without its `-N` suffix (with
 * ChecksumType COMPOSITE), ObjectParts only for multipart objects, and its Part list — paginated by
 * `x-amz-max-parts` / `x-amz-part-number-marker` — only when the upload had a checksum algorithm.
 */
import { S3Error } from "../errors.js";
import type { Ctx } from "../http.js";
import { discardBody, header, sendXml } from "../http.js";
import type { ObjectVersion } from "../store/types.js";
import type { XmlObject } from "../xml.js";
import { httpDate, lookupObject, readSeq, requireBucket, requireKey } from "./common.js";
import { checksumElements } from "./objects.js";

const ATTRIBUTES = ["ETag", "Checksum", "ObjectParts", "StorageClass", "ObjectSize"] as const;
type Attribute = (typeof ATTRIBUTES)[number];

function invalidArgument(message: string, name: string, value?: string): S3Error {
  return new S3Error("InvalidArgument", message, 400, {
    ArgumentName: name,
    ...(value !== undefined ? { ArgumentValue: value } : {}),
  });
}

function requestedAttributes(ctx: Ctx): Set<Attribute> {
  const raw = (ctx.head.headers["x-amz-object-attributes"] ?? "") as string | string[];
  const names = (Array.isArray(raw) ? raw.join(",") : raw)
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "");
  if (names.length === 0) {
    throw invalidArgument(
      "The x-amz-object-attributes header specifying the attributes to be retrieved is either missing or empty",
      "x-amz-object-attributes",
    );
  }
  const out = new Set<Attribute>();
  for (const n of names) {
    const known = ATTRIBUTES.find((a) => a.toLowerCase() === n.toLowerCase());
    if (!known) throw invalidArgument("Invalid attribute name specified.", "x-amz-object-attributes", n);
    out.add(known);
  }
  return out;
}

function intHeader(ctx: Ctx, name: string, fallback: number, max: number): number {
  const raw = header(ctx, name);
  if (raw === undefined || raw.trim() === "") return fallback;
  if (!/^\d+$/.test(raw.trim())) {
    throw invalidArgument(`Provided ${name} not an integer or within integer range`, name, raw);
  }
  return Math.min(Number(raw.trim()), max);
}

function objectParts(v: ObjectVersion, maxParts: number, marker: number): XmlObject | undefined {
  const sizes = v.parts;
  if (!sizes) return undefined;
  const base: XmlObject = { PartsCount: sizes.length };
  // Without an upload checksum S3 lists no parts, only their count.
  if (!v.partChecksums) return { ...base, PartNumberMarker: marker, MaxParts: maxParts, IsTruncated: false };
  const numbered = sizes.map((size, i) => ({ n: i + 1, size, sums: v.partChecksums![i] ?? {} }));
  const after = numbered.filter((p) => p.n > marker);
  const shown = after.slice(0, maxParts);
  const truncated = after.length > shown.length;
  const last = shown[shown.length - 1];
  return {
    PartNumberMarker: marker,
    ...(last ? { NextPartNumberMarker: last.n } : {}),
    MaxParts: maxParts,
    IsTruncated: truncated,
    Part: shown.map((p) => ({ PartNumber: p.n, Size: p.size, ...checksumElements(p.sums) })),
    ...base,
  };
}

function checksum(v: ObjectVersion): XmlObject | undefined {
  const elements = checksumElements(v.checksums);
  if (Object.keys(elements).length === 0) return undefined;
  let composite = false;
  for (const [name, value] of Object.entries(elements)) {
    const m = /^(.*)-\d+$/.exec(value);
    if (m) {
      elements[name] = m[1]!;
      composite = true;
    }
  }
  return { ...elements, ChecksumType: composite ? "COMPOSITE" : "FULL_OBJECT" };
}

export function getObjectAttributes(ctx: Ctx): void {
  discardBody(ctx);
  const bucket = requireBucket(ctx);
  const key = requireKey(ctx);
  const wanted = requestedAttributes(ctx);
  // Validated whatever the object turns out to be, so a bad value is always the same 400.
  const maxParts = intHeader(ctx, "x-amz-max-parts", 1000, 1000);
  const marker = intHeader(ctx, "x-amz-part-number-marker", 0, Number.MAX_SAFE_INTEGER);
  const versionId = ctx.query.get("versionId");
  const v = lookupObject(ctx, ctx.store.meta.chain(bucket, readSeq(ctx)), key, versionId);
  const body: XmlObject = {};
  if (wanted.has("ETag")) body.ETag = v.etag.replace(/^"(.*)"$/, "$1");
  if (wanted.has("Checksum")) {
    const c = checksum(v);
    if (c) body.Checksum = c;
  }
  if (wanted.has("ObjectParts")) {
    const parts = objectParts(v, maxParts, marker);
    if (parts) body.ObjectParts = parts;
  }
  if (wanted.has("StorageClass")) body.StorageClass = v.headers.storageClass ?? "STANDARD";
  if (wanted.has("ObjectSize")) body.ObjectSize = v.size;
  sendXml(ctx, 200, "GetObjectAttributesResponse", body, {
    "Last-Modified": httpDate(v.mtimeMs),
    ...(versionId === "null" ? { "x-amz-version-id": "null" } : {}),
  });
}
