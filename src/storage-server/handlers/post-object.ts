/**
 * @module storage-server/handlers/post-object
 * PostObject: `POST /{bucket}` with a multipart/form-data body, what an HTML form or
 * `createPresignedPost` sends. The fields before the file carry the key, the SigV4-signed policy and
 * what would be headers on a PUT; the file part is checked against the policy before a byte of it is
 * stored, then streamed to a temp blob (bounded memory, the policy's size range enforced as it
 * flows) and committed like a PutObject. Fields after the file are ignored, as S3 documents.
 *
 * Parsing is @fastify/busboy's (the maintained busboy fork, no dependencies): multipart framing is
 * easy to get subtly wrong, and its streaming file parts give us backpressure for free.
 */
import type { IncomingMessage } from "node:http";
import type { Readable } from "node:stream";
import { Busboy } from "@fastify/busboy";
import type { BusboyFileStream } from "@fastify/busboy";
import type { ChecksumAlgorithm, Credentials } from "../auth/index.js";
import { createHasher, mismatch, planChecksums } from "../auth/checksums.js";
import type { Hasher } from "../auth/checksums.js";
import { checkPolicy, parsePostPolicy, verifyPolicySignature } from "../auth/post-policy.js";
import type { FormFields } from "../auth/post-policy.js";
import { uriEncode } from "../auth/sigv4.js";
import { S3Error } from "../errors.js";
import type { Ctx } from "../http.js";
import { header, send, sendXml } from "../http.js";
import { validateKey } from "../names.js";
import { putObject } from "../store/objects.js";
import type { ObjectHeaders, ObjectVersion, Tag } from "../store/types.js";
import { list, parseXml, text } from "../xml.js";
import { parseCannedAcl } from "./acl.js";
import { requireBucket, validateTags } from "./common.js";
import { checksumHeaders } from "./objects.js";

/** S3: "The form data and boundaries (excluding the contents of the file) cannot exceed 20 KB." */
const MAX_PRE_DATA = 20 * 1024;
/** The largest object a single upload may create (PutObject's limit too). */
const MAX_OBJECT_SIZE = 5 * 1024 ** 3;

interface FilePart {
  readonly stream: BusboyFileStream;
  readonly filename: string;
}

function malformedPost(): S3Error {
  return new S3Error(
    "MalformedPOSTRequest",
    "The body of your POST request is not well-formed multipart/form-data.",
    400,
  );
}

function incomplete(): S3Error {
  return new S3Error(
    "IncompleteBody",
    "You did not provide the number of bytes specified by the Content-Length HTTP header.",
    400,
  );
}

/**
 * Feeds the request to the parser and resolves with the fields before the file and the file part
 * (still streaming). Rejects with S3's error for a malformed body, oversized fields or no file.
 */
function readForm(ctx: Ctx): Promise<{ fields: Map<string, string>; file: FilePart; done: Promise<void> }> {
  const contentType = header(ctx, "content-type") ?? "";
  if (!/^multipart\/form-data\s*(;|$)/i.test(contentType)) {
    throw new S3Error(
      "PreconditionFailed",
      "At least one of the pre-conditions you specified did not hold",
      412,
      {
        Condition: "Bucket POST must be of the enclosure-type multipart/form-data",
      },
    );
  }
  let bb: ReturnType<typeof Busboy>;
  try {
    bb = Busboy({
      headers: { ...ctx.req.headers, "content-type": contentType },
      // The file field is a file even when sent as plain text (no filename); nothing else is.
      isPartAFile: (name) => name?.toLowerCase() === "file",
      limits: { fieldNameSize: MAX_PRE_DATA, fieldSize: MAX_PRE_DATA, files: 1, headerPairs: 100 },
    });
  } catch {
    throw malformedPost(); // e.g. no boundary
  }
  const req: IncomingMessage = ctx.req;
  ctx.bodyUsed = true;
  if (ctx.expectContinue) ctx.res.writeContinue();
  return new Promise((resolve, reject) => {
    const fields = new Map<string, string>();
    let preData = 0;
    let file: FilePart | undefined;
    let failed = false;
    let finished = false;
    let markDone: () => void = () => undefined;
    let failDone: (e: Error) => void = () => undefined;
    const done = new Promise<void>((res, rej) => {
      markDone = res;
      failDone = rej;
    });
    done.catch(() => undefined);
    const fail = (error: S3Error): void => {
      if (failed) return;
      failed = true;
      req.unpipe(bb);
      if (file) file.stream.destroy(error);
      failDone(error);
      reject(error);
    };
    bb.on("field", (name, value, nameTruncated, valueTruncated) => {
      if (file || failed) return; // S3 ignores whatever follows the file
      preData += Buffer.byteLength(name) + Buffer.byteLength(value);
      if (nameTruncated || valueTruncated || preData > MAX_PRE_DATA) {
        fail(
          new S3Error(
            "MaxPostPreDataLengthExceeded",
            "Your POST request fields preceeding the upload file was too large.",
            400,
            { MaxPostPreDataLength: String(MAX_PRE_DATA) },
          ),
        );
        return;
      }
      const lower = name.toLowerCase();
      const prev = fields.get(lower);
      // Repeated fields are compared with the policy comma-joined, as S3 documents.
      fields.set(lower, prev === undefined ? value : `${prev},${value}`);
    });
    bb.on("file", (_name, stream, filename) => {
      if (file || failed) {
        stream.resume();
        return;
      }
      // fail() may destroy the part after its consumer stopped listening (the body turned out malformed
      // after the file ended); unheard, that 'error' would crash the process. A consumer still
      // iterating sees the error anyway.
      stream.on("error", () => undefined);
      file = { stream, filename: filename ?? "" };
      resolve({ fields, file, done });
    });
    bb.on("error", () => fail(malformedPost()));
    bb.on("finish", () => {
      finished = true;
      if (!file)
        fail(
          new S3Error("InvalidArgument", "POST requires exactly one file upload per request.", 400, {
            ArgumentName: "file",
            ArgumentValue: "0",
          }),
        );
      else markDone();
    });
    // A client that goes away mid-body must not leave a truncated object behind.
    req.once("close", () => {
      if (!req.readableEnded && !finished) fail(incomplete());
    });
    req.pipe(bb);
  });
}

/** `${filename}` in any field is the file's name without its path, as browsers may send one. */
function expandFilename(value: string, filename: string): string {
  if (!value.includes("${filename}")) return value;
  const base = filename.split(/[\\/]/).pop() ?? "";
  return value.split("${filename}").join(base);
}

function tagsFromField(xml: string | undefined): Tag[] {
  if (xml === undefined) return [];
  const doc = parseXml(xml, "Tagging");
  const tagSet = doc.TagSet;
  if (tagSet === undefined)
    throw new S3Error(
      "MalformedXML",
      "The XML you provided was not well-formed or did not validate against our published schema",
      400,
    );
  const tags =
    tagSet === ""
      ? []
      : list(tagSet as Record<string, unknown>, "Tag").map((t) => ({
          Key: text(t, "Key") ?? "",
          Value: text(t, "Value") ?? "",
        }));
  validateTags(tags);
  return tags;
}

/**
 * The object's stored headers, from the form fields that stand in for PutObject's headers: each one a
 * field the policy covers (checkPolicy refused any other). The file part's own Content-Type is the
 * uploader's choice, which no policy condition sees, so it is not stored: without a Content-Type field
 * the object has none (served as binary/octet-stream), as on S3.
 */
function headersFromFields(fields: FormFields): ObjectHeaders {
  const meta: Record<string, string> = {};
  for (const [name, value] of fields) {
    if (name.startsWith("x-amz-meta-") && name.length > "x-amz-meta-".length) {
      meta[name.slice("x-amz-meta-".length)] = value;
    }
  }
  const out: ObjectHeaders = { meta };
  const set = (field: keyof Omit<ObjectHeaders, "meta" | "acl">, name: string): void => {
    const v = fields.get(name);
    if (v !== undefined && v !== "") out[field] = v;
  };
  set("contentType", "content-type");
  set("contentEncoding", "content-encoding");
  set("contentDisposition", "content-disposition");
  set("contentLanguage", "content-language");
  set("cacheControl", "cache-control");
  set("expires", "expires");
  set("storageClass", "x-amz-storage-class");
  const acl = parseCannedAcl(fields.get("acl"), "object");
  if (acl !== undefined) out.acl = acl;
  return out;
}

/**
 * Streams the file part, counting bytes against the policy's maximum and hashing for the checksums
 * the form declared. Throws EntityTooLarge as soon as the maximum is passed (nothing is stored).
 */
async function* metered(
  stream: Readable,
  max: number,
  hashers: ReadonlyMap<ChecksumAlgorithm, Hasher>,
  progress: { size: number },
): AsyncGenerator<Buffer> {
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    progress.size += chunk.length;
    if (progress.size > max) {
      throw new S3Error("EntityTooLarge", "Your proposed upload exceeds the maximum allowed size", 400, {
        ProposedSize: String(progress.size),
        MaxSizeAllowed: String(max),
      });
    }
    for (const h of hashers.values()) h.update(chunk);
    yield chunk;
  }
}

/** `success_action_redirect` (or the deprecated `redirect`), when it is a URL we can append to. */
function redirectTarget(fields: FormFields): URL | undefined {
  const raw = fields.get("success_action_redirect") ?? fields.get("redirect");
  if (!raw) return undefined;
  try {
    const url = new URL(raw);
    return url.protocol === "http:" || url.protocol === "https:" ? url : undefined;
  } catch {
    return undefined; // S3 ignores a redirect it cannot interpret
  }
}

/**
 * `authorizeSigner` gets the key id that signed the policy, once the signature is verified, and throws
 * if that key may not write to the bucket (access.ts).
 */
export async function postObject(
  ctx: Ctx,
  lookup: (accessKeyId: string) => Credentials | undefined,
  authorizeSigner: (accessKeyId: string) => void,
): Promise<void> {
  const bucket = requireBucket(ctx);
  const { fields, file, done } = await readForm(ctx);
  try {
    await storeUpload(ctx, bucket.name, fields, file, lookup, authorizeSigner, done);
  } catch (error) {
    // Stop the rest of the body from reaching the parser; the router answers with Connection: close.
    ctx.req.unpipe();
    file.stream.resume();
    throw error;
  }
}

async function storeUpload(
  ctx: Ctx,
  bucketName: string,
  fields: Map<string, string>,
  file: FilePart,
  lookup: (accessKeyId: string) => Credentials | undefined,
  authorizeSigner: (accessKeyId: string) => void,
  done: Promise<void>,
): Promise<void> {
  const rawKey = fields.get("key");
  if (rawKey === undefined) {
    throw new S3Error(
      "InvalidArgument",
      "Bucket POST must contain a field named 'key'.  If it is specified, please check the order of the fields.",
      400,
      { ArgumentName: "key", ArgumentValue: "" },
    );
  }
  // Every field is matched against the policy after `${filename}` is expanded.
  for (const [name, value] of fields) fields.set(name, expandFilename(value, file.filename));
  authorizeSigner(verifyPolicySignature(fields, lookup));
  const range = checkPolicy(parsePostPolicy(fields.get("policy") ?? ""), fields, bucketName);
  const key = fields.get("key")!;
  if (key === "") {
    throw new S3Error("InvalidArgument", "User key must have a length greater than 0.", 400, {
      ArgumentName: "key",
      ArgumentValue: "",
    });
  }
  validateKey(key);
  const headers = headersFromFields(fields);
  const tags = tagsFromField(fields.get("tagging"));

  // Checksums the form declares (x-amz-checksum-algorithm + x-amz-checksum-<alg>, Content-MD5).
  const plan = planChecksums({
    ...Object.fromEntries(
      [...fields].filter(([n]) => n.startsWith("x-amz-checksum-") && n !== "x-amz-checksum-algorithm"),
    ),
    "content-md5": fields.get("content-md5"),
    "x-amz-sdk-checksum-algorithm": fields.get("x-amz-checksum-algorithm"),
  });
  const hashers = new Map<ChecksumAlgorithm, Hasher>();
  for (const alg of plan.compute) hashers.set(alg, createHasher(alg));

  const max = Math.min(range.max, MAX_OBJECT_SIZE);
  const progress = { size: 0 };
  const store = ctx.store;
  const temp = await store.blobs.writeTemp(metered(file.stream, max, hashers, progress));
  let v: ObjectVersion;
  try {
    if (progress.size < range.min) {
      throw new S3Error(
        "EntityTooSmall",
        "Your proposed upload is smaller than the minimum allowed size",
        400,
        {
          ProposedSize: String(progress.size),
          MinSizeAllowed: String(range.min),
        },
      );
    }
    // The file part ended; the rest of the form must be well-formed too before we store anything.
    await done;
    if (plan.contentMd5 !== undefined && !plan.contentMd5.equals(temp.md5)) throw mismatch("md5");
    const checksums: Partial<Record<ChecksumAlgorithm, string>> = {};
    for (const [alg, h] of hashers) {
      const digest = await h.digest();
      const expected = plan.expected.get(alg);
      if (expected !== undefined && !expected.equals(digest)) throw mismatch(alg);
      checksums[alg] = digest.toString("base64");
    }
    await store.blobs.commit(temp);
    try {
      v = await store.meta.write(() =>
        putObject(store.meta, requireBucket(ctx), key, {
          blob: temp.name,
          size: temp.size,
          etag: `"${temp.md5.toString("hex")}"`,
          mtimeMs: Date.now(),
          headers,
          tags,
          checksums,
          parts: null,
        }),
      );
    } finally {
      store.blobs.release(temp.name);
    }
  } catch (error) {
    await store.blobs.discard(temp);
    throw error;
  }
  respond(ctx, bucketName, key, v, fields);
}

function respond(ctx: Ctx, bucket: string, key: string, v: ObjectVersion, fields: FormFields): void {
  const host = header(ctx, "host") ?? ctx.server.host;
  // The object's URL in the addressing style the form was posted with.
  const vhost = host.toLowerCase().startsWith(`${bucket}.`);
  const location = `http://${host}/${vhost ? "" : `${uriEncode(bucket)}/`}${uriEncode(key, false)}`;
  const headers = { ETag: v.etag, Location: location, ...checksumHeaders(v.checksums) };
  const redirect = redirectTarget(fields);
  if (redirect) {
    redirect.searchParams.append("bucket", bucket);
    redirect.searchParams.append("key", key);
    redirect.searchParams.append("etag", v.etag);
    send(ctx, 303, undefined, { ...headers, Location: redirect.toString() });
    return;
  }
  const status = fields.get("success_action_status");
  if (status === "201") {
    sendXml(
      ctx,
      201,
      "PostResponse",
      { Location: location, Bucket: bucket, Key: key, ETag: v.etag },
      headers,
    );
  } else {
    send(ctx, status === "200" ? 200 : 204, undefined, headers);
  }
}
