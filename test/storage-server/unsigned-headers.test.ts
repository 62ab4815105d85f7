/**
 * Every `x-amz-*` header (and Tigris header) the store acts on must be covered by the request's
 * signature, as S3 requires: added unsigned next to an Authorization header, or to a presigned URL,
 * it is refused with 403 AccessDenied / HeadersNotSigned and changes nothing. The same headers signed
 * (by the SDK's commands, or carried by a presigned URL) still work. Plain HTTP headers follow S3:
 * they need no signature and only describe or guard the signed request's own object.
 */
import { randomBytes } from "node:crypto";
import type { S3Client } from "@aws-sdk/client-s3";
import {
  CopyObjectCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  GetBucketAclCommand,
  GetObjectAclCommand,
  GetObjectCommand,
  GetObjectTaggingCommand,
  HeadObjectCommand,
  ListBucketsCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  ListPartsCommand,
  PutBucketAclCommand,
  PutObjectCommand,
  UploadPartCopyCommand,
} from "@aws-sdk/client-s3";
import { getSignedUrl } from "@aws-sdk/s3-request-presigner";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { createHasher } from "../../src/storage-server/auth/checksums.js";
import type { ChecksumAlgorithm } from "../../src/storage-server/auth/index.js";
import {
  browserPresigner,
  errorCode,
  presignedRaw,
  raw,
  signedRaw,
  startHarness,
  uniqueBucket,
} from "./helpers.js";
import type { Harness, RawReply, RawRequest } from "./helpers.js";

let h: Harness;
/** Presigned URLs are made as an app makes them for browsers: no checksum baked in. */
let presigner: S3Client;
/** The other env's bucket, with a private object nobody else may read. */
let q1: string;
/** The bucket the presigned URLs and signed requests are for. */
let q2: string;
const SECRET = "private data of q1";
/** An upload in q2 the UploadPartCopy case copies into. */
let uploadId: string;
/** The ETag of q2/copy-src, the source of the copy cases. */
let copySourceEtag: string;

beforeAll(async () => {
  h = await startHarness();
  presigner = browserPresigner(h.server.url);
  q1 = uniqueBucket("q1");
  q2 = uniqueBucket("q2");
  for (const bucket of [q1, q2]) {
    const made = await signedRaw(h.server.url, {
      method: "PUT",
      path: `/${bucket}`,
      headers: { "x-tigris-enable-snapshot": "true" },
    });
    expect(made.status, made.body).toBe(200);
  }
  await h.s3.send(new PutObjectCommand({ Bucket: q1, Key: "private/secret", Body: SECRET }));
  await h.s3.send(
    new PutObjectCommand({
      Bucket: q2,
      Key: "target",
      Body: "original",
      ContentType: "text/plain",
      Metadata: { v: "1" },
      Tagging: "t=1",
    }),
  );
  const src = await h.s3.send(new PutObjectCommand({ Bucket: q2, Key: "copy-src", Body: "copy source" }));
  copySourceEtag = src.ETag!;
  const mpu = await h.s3.send(new CreateMultipartUploadCommand({ Bucket: q2, Key: "mpu" }));
  uploadId = mpu.UploadId!;
});
afterAll(async () => {
  presigner.destroy();
  await h.close();
});

/** What a request could have changed: buckets, objects, the target's headers, tags and ACLs, uploads. */
async function storeState(): Promise<unknown> {
  const buckets = (await h.s3.send(new ListBucketsCommand({}))).Buckets?.map((b) => b.Name).sort();
  const objects: Record<string, unknown> = {};
  for (const bucket of [q1, q2]) {
    const listed = await h.s3.send(new ListObjectsV2Command({ Bucket: bucket }));
    objects[bucket] = listed.Contents?.map((o) => [o.Key, o.ETag, o.Size, o.StorageClass]);
  }
  const target = await h.s3.send(new HeadObjectCommand({ Bucket: q2, Key: "target" }));
  const tags = await h.s3.send(new GetObjectTaggingCommand({ Bucket: q2, Key: "target" }));
  const objectAcl = await h.s3.send(new GetObjectAclCommand({ Bucket: q2, Key: "target" }));
  const bucketAcl = await h.s3.send(new GetBucketAclCommand({ Bucket: q2 }));
  const uploads = await h.s3.send(new ListMultipartUploadsCommand({ Bucket: q2 }));
  const parts = await h.s3.send(new ListPartsCommand({ Bucket: q2, Key: "mpu", UploadId: uploadId }));
  const snapshots = await signedRaw(h.server.url, {
    method: "GET",
    path: "/",
    headers: { "x-tigris-snapshot": q2 },
  });
  return {
    buckets,
    objects,
    target: [target.ETag, target.ContentType, target.Metadata, target.StorageClass, target.LastModified],
    tags: tags.TagSet,
    objectAcl: objectAcl.Grants,
    bucketAcl: bucketAcl.Grants,
    uploads: uploads.Uploads?.map((u) => u.Key),
    parts: parts.Parts?.length ?? 0,
    snapshots: [...snapshots.body.matchAll(/<Name>([^<]*)<\/Name>/g)].map((m) => m[1]),
  };
}

async function bodyOf(bucket: string, key: string): Promise<string> {
  const got = await h.s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return got.Body!.transformToString();
}

const headTarget = () => h.s3.send(new HeadObjectCommand({ Bucket: q2, Key: "target" }));

async function tagsOfTarget(): Promise<unknown> {
  return (await h.s3.send(new GetObjectTaggingCommand({ Bucket: q2, Key: "target" }))).TagSet;
}

/** A GET with no credentials at all, as a browser loading a URL makes it. */
const anonymousGet = (bucket: string, key: string, headers: Record<string, string> = {}): Promise<RawReply> =>
  raw(h.server.url, { method: "GET", path: `/${bucket}/${key}`, headers });

async function checksumOf(algorithm: ChecksumAlgorithm, body: string): Promise<string> {
  const hasher = createHasher(algorithm);
  hasher.update(Buffer.from(body));
  return (await hasher.digest()).toString("base64");
}

async function snapshotOf(bucket: string): Promise<string> {
  const taken = await signedRaw(h.server.url, {
    method: "PUT",
    path: `/${bucket}`,
    headers: { "x-tigris-snapshot": "true" },
  });
  expect(taken.status, taken.body).toBe(200);
  return String(taken.headers["x-tigris-snapshot-version"]);
}

/** A bucket of its own for a case that would destroy it, with an object in it. */
async function bucketWithObject(prefix: string): Promise<string> {
  const bucket = uniqueBucket(prefix);
  await h.s3.send(new CreateBucketCommand({ Bucket: bucket }));
  await h.s3.send(new PutObjectCommand({ Bucket: bucket, Key: "kept", Body: "kept" }));
  return bucket;
}

interface Case {
  /** The header(s) sent unsigned. */
  readonly unsigned: Record<string, string>;
  /** The request they are added to; `headers` are signed. Built anew for every run. */
  readonly request: () => Promise<RawRequest> | RawRequest;
  /** The status of the same request with the header signed too (header auth / presigned URL). */
  readonly signedStatus: number;
  /** What the signed request must have done. */
  readonly effect?: (request: RawRequest, reply: RawReply) => Promise<void>;
}

const BODY = "new body";
const put = (headers: Record<string, string> = {}): RawRequest => ({
  method: "PUT",
  path: `/${q2}/target`,
  headers,
  body: BODY,
});
const copy = (headers: Record<string, string> = {}): RawRequest => ({
  method: "PUT",
  path: `/${q2}/target`,
  headers: { "x-amz-copy-source": `/${q2}/copy-src`, ...headers },
});
const newBucket = (headers: Record<string, string> = {}): RawRequest => ({
  method: "PUT",
  path: `/${uniqueBucket("made")}`,
  headers,
});
const ALL_USERS = 'uri="http://acs.amazonaws.com/groups/global/AllUsers"';
const FUTURE = new Date(Date.now() + 86_400_000).toUTCString();
const PAST = "Mon, 01 Jan 2001 00:00:00 GMT";

const CASES: Record<string, Case> = {
  "x-amz-copy-source": {
    unsigned: { "x-amz-copy-source": "" }, // the value is set per run (q1 is made in beforeAll)
    request: () => ({ method: "PUT", path: `/${q2}/target` }),
    signedStatus: 200,
    effect: async () => expect(await bodyOf(q2, "target")).toBe(SECRET),
  },
  // Each condition fails for the signed copy (412): unsigned, it must not even be evaluated.
  ...Object.fromEntries(
    Object.entries({
      "x-amz-copy-source-if-match": '"0123456789abcdef0123456789abcdef"',
      "x-amz-copy-source-if-none-match": "*",
      "x-amz-copy-source-if-modified-since": FUTURE,
      "x-amz-copy-source-if-unmodified-since": PAST,
    }).map(([name, value]) => [
      name,
      { unsigned: { [name]: value }, request: () => copy(), signedStatus: 412 },
    ]),
  ),
  "x-amz-copy-source-range (UploadPartCopy)": {
    unsigned: { "x-amz-copy-source-range": "bytes=0-3" },
    request: () => ({
      method: "PUT",
      path: `/${q2}/mpu`,
      query: `partNumber=1&uploadId=${encodeURIComponent(uploadId)}`,
      headers: { "x-amz-copy-source": `/${q2}/copy-src` },
    }),
    signedStatus: 200,
    effect: async () => {
      const parts = await h.s3.send(new ListPartsCommand({ Bucket: q2, Key: "mpu", UploadId: uploadId }));
      expect(parts.Parts?.map((p) => [p.PartNumber, p.Size])).toEqual([[1, 4]]);
    },
  },
  "x-amz-metadata-directive": {
    unsigned: { "x-amz-metadata-directive": "REPLACE" },
    request: () => copy({ "x-amz-meta-v": "2" }),
    signedStatus: 200,
    effect: async () => expect((await headTarget()).Metadata).toEqual({ v: "2" }),
  },
  "x-amz-tagging": {
    unsigned: { "x-amz-tagging": "stolen=yes" },
    request: () => put(),
    signedStatus: 200,
    effect: async () => expect(await tagsOfTarget()).toEqual([{ Key: "stolen", Value: "yes" }]),
  },
  "x-amz-tagging-directive": {
    unsigned: { "x-amz-tagging-directive": "REPLACE" },
    request: () => copy({ "x-amz-tagging": "t=2" }),
    signedStatus: 200,
    effect: async () => expect(await tagsOfTarget()).toEqual([{ Key: "t", Value: "2" }]),
  },
  "x-amz-acl (PutObject)": {
    unsigned: { "x-amz-acl": "public-read" },
    request: () => put(),
    signedStatus: 200,
    effect: async () => expect((await anonymousGet(q2, "target")).status).toBe(200),
  },
  "x-amz-acl (PutObjectAcl)": {
    unsigned: { "x-amz-acl": "public-read" },
    request: () => ({ method: "PUT", path: `/${q2}/target`, query: "acl" }),
    signedStatus: 200,
    effect: async () => {
      const acl = await h.s3.send(new GetObjectAclCommand({ Bucket: q2, Key: "target" }));
      expect(acl.Grants?.some((g) => g.Grantee?.URI?.endsWith("/AllUsers"))).toBe(true);
    },
  },
  "x-amz-acl (PutBucketAcl)": {
    unsigned: { "x-amz-acl": "public-read" },
    request: () => ({ method: "PUT", path: `/${q2}`, query: "acl" }),
    signedStatus: 200,
    effect: async () => {
      const acl = await h.s3.send(new GetBucketAclCommand({ Bucket: q2 }));
      expect(acl.Grants?.some((g) => g.Grantee?.URI?.endsWith("/AllUsers"))).toBe(true);
    },
  },
  "x-amz-acl-public-list-objects-enabled": {
    unsigned: { "x-amz-acl-public-list-objects-enabled": "false" },
    request: () => ({ method: "PUT", path: `/${q2}`, query: "acl", headers: { "x-amz-acl": "private" } }),
    signedStatus: 200,
  },
  ...Object.fromEntries(
    ["read", "write", "read-acp", "write-acp", "full-control"].map((grant) => [
      `x-amz-grant-${grant}`,
      { unsigned: { [`x-amz-grant-${grant}`]: ALL_USERS }, request: () => put(), signedStatus: 501 },
    ]),
  ),
  "x-amz-meta-*": {
    unsigned: { "x-amz-meta-owner": "mallory" },
    request: () => put(),
    signedStatus: 200,
    effect: async () => expect((await headTarget()).Metadata).toEqual({ owner: "mallory" }),
  },
  ...Object.fromEntries(
    (["crc32", "crc32c", "crc64nvme", "sha1", "sha256"] as const).map((algorithm) => [
      `x-amz-checksum-${algorithm}`,
      {
        unsigned: { [`x-amz-checksum-${algorithm}`]: algorithm },
        request: () => put(),
        signedStatus: 200,
        effect: async () => {
          const got = await signedRaw(h.server.url, {
            method: "HEAD",
            path: `/${q2}/target`,
            headers: { "x-amz-checksum-mode": "ENABLED" },
          });
          expect(got.headers[`x-amz-checksum-${algorithm}`]).toBe(await checksumOf(algorithm, BODY));
        },
      },
    ]),
  ),
  "x-amz-sdk-checksum-algorithm": {
    unsigned: { "x-amz-sdk-checksum-algorithm": "SHA256" },
    request: () => put(),
    signedStatus: 200,
  },
  "x-amz-checksum-algorithm (CreateMultipartUpload)": {
    unsigned: { "x-amz-checksum-algorithm": "SHA256" },
    request: () => ({ method: "POST", path: `/${q2}/new-upload`, query: "uploads" }),
    signedStatus: 200,
  },
  "x-amz-checksum-type (CreateMultipartUpload)": {
    unsigned: { "x-amz-checksum-type": "FULL_OBJECT" },
    request: () => ({
      method: "POST",
      path: `/${q2}/new-upload`,
      query: "uploads",
      headers: { "x-amz-checksum-algorithm": "CRC32" },
    }),
    signedStatus: 200,
  },
  "x-amz-checksum-mode (GetObject)": {
    unsigned: { "x-amz-checksum-mode": "ENABLED" },
    request: () => ({ method: "GET", path: `/${q2}/target` }),
    signedStatus: 200,
  },
  "x-amz-object-attributes (GetObjectAttributes)": {
    unsigned: { "x-amz-object-attributes": "ETag" },
    request: () => ({ method: "GET", path: `/${q2}/target`, query: "attributes" }),
    signedStatus: 200,
  },
  "x-amz-storage-class": {
    unsigned: { "x-amz-storage-class": "STANDARD_IA" },
    request: () => put(),
    signedStatus: 200,
    effect: async () => expect((await headTarget()).StorageClass).toBe("STANDARD_IA"),
  },
  "x-amz-website-redirect-location": {
    unsigned: { "x-amz-website-redirect-location": "https://elsewhere.example/" },
    request: () => put(),
    signedStatus: 200,
  },
  ...Object.fromEntries(
    Object.entries({
      "x-amz-server-side-encryption": "AES256",
      "x-amz-server-side-encryption-aws-kms-key-id": "arn:aws:kms:us-east-1:111122223333:key/k",
      "x-amz-server-side-encryption-bucket-key-enabled": "true",
      "x-amz-server-side-encryption-customer-algorithm": "AES256",
      "x-amz-object-lock-mode": "GOVERNANCE",
      "x-amz-object-lock-retain-until-date": "2099-01-01T00:00:00Z",
      "x-amz-object-lock-legal-hold": "ON",
    }).map(([name, value]) => [
      name,
      { unsigned: { [name]: value }, request: () => put(), signedStatus: 200 },
    ]),
  ),
  "x-tigris-fork-source-bucket": {
    unsigned: { "x-tigris-fork-source-bucket": "" }, // q1, set per run
    request: () => newBucket(),
    signedStatus: 200,
    effect: async (request) => {
      const made = await signedRaw(h.server.url, { method: "HEAD", path: request.path });
      expect(made.headers["x-tigris-fork-source-bucket"]).toBe(q1);
    },
  },
  "x-tigris-fork-source-bucket-snapshot": {
    unsigned: { "x-tigris-fork-source-bucket-snapshot": "" }, // a snapshot of q1, set per run
    request: () => newBucket({ "x-tigris-fork-source-bucket": q1 }),
    signedStatus: 200,
  },
  "x-tigris-enable-snapshot": {
    unsigned: { "x-tigris-enable-snapshot": "true" },
    request: () => newBucket(),
    signedStatus: 200,
  },
  "x-tigris-snapshot (take a snapshot)": {
    unsigned: { "x-tigris-snapshot": "true" },
    request: () => ({ method: "PUT", path: `/${q2}` }),
    signedStatus: 200,
    effect: async (_request, reply) => expect(reply.headers["x-tigris-snapshot-version"]).toMatch(/^\d+$/),
  },
  "x-tigris-snapshot (list snapshots)": {
    unsigned: { "x-tigris-snapshot": "" }, // q2, set per run
    request: () => ({ method: "GET", path: "/" }),
    signedStatus: 200,
  },
  "x-tigris-fork (list forks)": {
    unsigned: { "x-tigris-fork": "" }, // q1, set per run
    request: () => ({ method: "GET", path: "/" }),
    signedStatus: 200,
  },
  "x-tigris-snapshot-version (read at a snapshot)": {
    unsigned: { "x-tigris-snapshot-version": "" }, // a snapshot of q2, set per run
    request: () => ({ method: "GET", path: `/${q2}/target` }),
    signedStatus: 200,
  },
  "x-tigris-snapshot-version (delete a snapshot)": {
    unsigned: { "x-tigris-snapshot-version": "" }, // a snapshot of q2, set per run
    request: () => ({ method: "DELETE", path: `/${q2}` }),
    signedStatus: 204,
  },
  "tigris-force-delete": {
    unsigned: { "tigris-force-delete": "true" },
    request: async () => ({ method: "DELETE", path: `/${await bucketWithObject("doomed")}` }),
    signedStatus: 204,
    effect: async (request) => {
      expect((await signedRaw(h.server.url, { method: "HEAD", path: request.path })).status).toBe(404);
    },
  },
  "x-tigris-merge-source-bucket": {
    unsigned: { "x-tigris-merge-source-bucket": "" }, // q1, set per run
    request: () => ({ method: "PUT", path: `/${q2}` }),
    signedStatus: 501,
  },
  "x-tigris-rebase": {
    unsigned: { "x-tigris-rebase": "true" },
    request: () => ({ method: "PUT", path: `/${q2}` }),
    signedStatus: 501,
  },
};

/** The header values that name fixtures made in beforeAll, or need a fresh snapshot or checksum. */
async function valuesFor(unsigned: Record<string, string>): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(unsigned)) {
    if (name === "x-amz-copy-source") out[name] = `/${q1}/private/secret`;
    else if (name === "x-tigris-fork-source-bucket" || name === "x-tigris-merge-source-bucket")
      out[name] = q1;
    else if (name === "x-tigris-fork") out[name] = q1;
    else if (name === "x-tigris-snapshot" && value === "") out[name] = q2;
    else if (name === "x-tigris-fork-source-bucket-snapshot") out[name] = await snapshotOf(q1);
    else if (name === "x-tigris-snapshot-version") out[name] = await snapshotOf(q2);
    else if (
      name.startsWith("x-amz-checksum-") &&
      name !== "x-amz-checksum-mode" &&
      !/type|algorithm/.test(name)
    ) {
      out[name] = await checksumOf(value as ChecksumAlgorithm, BODY);
    } else out[name] = value;
  }
  return out;
}

const send = (mode: "header" | "presigned", request: RawRequest): Promise<RawReply> =>
  mode === "header" ? signedRaw(h.server.url, request) : presignedRaw(h.server.url, request);

describe.each(["header", "presigned"] as const)("signed by %s: each header the store acts on", (mode) => {
  test.each(Object.keys(CASES))("%s sent unsigned → 403 HeadersNotSigned, nothing changed", async (label) => {
    const c = CASES[label]!;
    const unsigned = await valuesFor(c.unsigned);
    const request = await c.request();
    const before = await storeState();
    const reply = await send(mode, { ...request, unsigned });
    expect(reply.status, reply.body).toBe(403);
    expect(errorCode(reply.body)).toBe("AccessDenied");
    expect(reply.body).toContain(
      "<Message>There were headers present in the request which were not signed</Message>",
    );
    expect(reply.body).toContain(`<HeadersNotSigned>${Object.keys(unsigned).join(", ")}</HeadersNotSigned>`);
    expect(await storeState()).toEqual(before);
  });

  test.each(Object.keys(CASES))("%s signed → the request does what it says", async (label) => {
    const c = CASES[label]!;
    // A private bucket, whatever an earlier case made it, so an ACL effect is the request's own.
    await h.s3.send(new PutBucketAclCommand({ Bucket: q2, ACL: "private" }));
    const request = await c.request();
    const signed = { ...request.headers, ...(await valuesFor(c.unsigned)) };
    const reply = await send(mode, { ...request, headers: signed });
    expect(reply.status, reply.body).toBe(c.signedStatus);
    await c.effect?.(request, reply);
  });
});

describe("the reported exploit: a presigned PUT URL plus an unsigned copy source and ACL", () => {
  test("refused with HeadersNotSigned; the upload key stays absent and q1's object private", async () => {
    const url = await getSignedUrl(presigner, new PutObjectCommand({ Bucket: q2, Key: "uploads/u.jpg" }), {
      expiresIn: 300,
    });
    const reply = await fetch(url, {
      method: "PUT",
      headers: { "x-amz-copy-source": `${q1}/private/secret`, "x-amz-acl": "public-read" },
    });
    const text = await reply.text();
    expect(reply.status, text).toBe(403);
    expect(errorCode(text)).toBe("AccessDenied");
    expect(text).toContain("<HeadersNotSigned>x-amz-copy-source, x-amz-acl</HeadersNotSigned>");

    const anonymous = await anonymousGet(q2, "uploads/u.jpg");
    expect(anonymous.status).not.toBe(200);
    expect(anonymous.body).not.toContain(SECRET);
    const head = await signedRaw(h.server.url, { method: "HEAD", path: `/${q2}/uploads/u.jpg` });
    expect(head.status).toBe(404);
    expect((await anonymousGet(q1, "private/secret")).status).toBe(403);

    // The URL itself still does what it was made for.
    const upload = await fetch(url, { method: "PUT", body: "a photo" });
    expect(upload.status).toBe(200);
    expect(await bodyOf(q2, "uploads/u.jpg")).toBe("a photo");
  });
});

describe("presigned URLs: x-amz-* headers the signer moved into the signed query", () => {
  test("ACL, metadata, tagging and storage class signed into a presigned PUT apply to the upload", async () => {
    const url = await getSignedUrl(
      presigner,
      new PutObjectCommand({
        Bucket: q2,
        Key: "presigned/rich",
        ACL: "public-read",
        Metadata: { owner: "app" },
        Tagging: "kind=avatar",
        StorageClass: "STANDARD_IA",
      }),
      { expiresIn: 300 },
    );
    expect(url).toContain("x-amz-acl=public-read");
    const reply = await fetch(url, { method: "PUT", body: "avatar" });
    expect(reply.status, await reply.text()).toBe(200);
    const head = await h.s3.send(new HeadObjectCommand({ Bucket: q2, Key: "presigned/rich" }));
    expect(head.Metadata).toEqual({ owner: "app" });
    expect(head.StorageClass).toBe("STANDARD_IA");
    const tags = await h.s3.send(new GetObjectTaggingCommand({ Bucket: q2, Key: "presigned/rich" }));
    expect(tags.TagSet).toEqual([{ Key: "kind", Value: "avatar" }]);
    expect((await anonymousGet(q2, "presigned/rich")).status).toBe(200);
  });

  test("a presigned CopyObject URL copies the source it signed", async () => {
    const url = await getSignedUrl(
      presigner,
      new CopyObjectCommand({ Bucket: q2, Key: "presigned/copy", CopySource: `${q2}/copy-src` }),
      { expiresIn: 300 },
    );
    const reply = await fetch(url, { method: "PUT" });
    expect(reply.status, await reply.text()).toBe(200);
    expect(await bodyOf(q2, "presigned/copy")).toBe("copy source");
  });

  test("a header equal to the signed query parameter is accepted; a different one is not", async () => {
    const url = await getSignedUrl(
      presigner,
      new PutObjectCommand({ Bucket: q2, Key: "presigned/echo", ACL: "public-read" }),
      { expiresIn: 300 },
    );
    const echoed = await fetch(url, { method: "PUT", headers: { "x-amz-acl": "public-read" }, body: "x" });
    expect(echoed.status, await echoed.text()).toBe(200);
    const changed = await fetch(url, {
      method: "PUT",
      headers: { "x-amz-acl": "bucket-owner-full-control" },
      body: "y",
    });
    const text = await changed.text();
    expect(changed.status).toBe(403);
    expect(text).toContain("<HeadersNotSigned>x-amz-acl</HeadersNotSigned>");
    expect(await bodyOf(q2, "presigned/echo")).toBe("x");
  });

  test("a URL that signs x-amz-acl as a header needs it sent, and then applies it", async () => {
    const url = await getSignedUrl(
      presigner,
      new PutObjectCommand({ Bucket: q2, Key: "presigned/header-acl", ACL: "public-read" }),
      { expiresIn: 300, unhoistableHeaders: new Set(["x-amz-acl"]) },
    );
    expect(url).toMatch(/X-Amz-SignedHeaders=[^&]*x-amz-acl/);
    const without = await fetch(url, { method: "PUT", body: "x" });
    expect(without.status).toBe(403);
    expect(errorCode(await without.text())).toBe("SignatureDoesNotMatch");
    const reply = await fetch(url, { method: "PUT", headers: { "x-amz-acl": "public-read" }, body: "x" });
    expect(reply.status, await reply.text()).toBe(200);
    expect((await anonymousGet(q2, "presigned/header-acl")).status).toBe(200);
  });
});

describe("signed by the SDK's commands, the same headers work", () => {
  test("CopyObject with copy conditions, metadata and tagging directives, and an ACL", async () => {
    await h.s3.send(
      new CopyObjectCommand({
        Bucket: q2,
        Key: "sdk/copy",
        CopySource: `${q2}/copy-src`,
        CopySourceIfMatch: copySourceEtag,
        CopySourceIfUnmodifiedSince: new Date(Date.now() + 86_400_000),
        MetadataDirective: "REPLACE",
        Metadata: { made: "by-copy" },
        TaggingDirective: "REPLACE",
        Tagging: "copied=yes",
        ACL: "public-read",
      }),
    );
    expect(await bodyOf(q2, "sdk/copy")).toBe("copy source");
    expect((await h.s3.send(new HeadObjectCommand({ Bucket: q2, Key: "sdk/copy" }))).Metadata).toEqual({
      made: "by-copy",
    });
    const tags = await h.s3.send(new GetObjectTaggingCommand({ Bucket: q2, Key: "sdk/copy" }));
    expect(tags.TagSet).toEqual([{ Key: "copied", Value: "yes" }]);
    expect((await anonymousGet(q2, "sdk/copy")).status).toBe(200);
  });

  test("UploadPartCopy with a source range", async () => {
    const mpu = await h.s3.send(new CreateMultipartUploadCommand({ Bucket: q2, Key: "sdk/part-copy" }));
    await h.s3.send(
      new UploadPartCopyCommand({
        Bucket: q2,
        Key: "sdk/part-copy",
        UploadId: mpu.UploadId,
        PartNumber: 1,
        CopySource: `${q2}/copy-src`,
        CopySourceRange: "bytes=0-3",
      }),
    );
    const parts = await h.s3.send(
      new ListPartsCommand({ Bucket: q2, Key: "sdk/part-copy", UploadId: mpu.UploadId }),
    );
    expect(parts.Parts?.map((p) => p.Size)).toEqual([4]);
  });

  test("PutObject with a checksum, storage class, website redirect and SSE headers", async () => {
    await h.s3.send(
      new PutObjectCommand({
        Bucket: q2,
        Key: "sdk/put",
        Body: BODY,
        ChecksumAlgorithm: "SHA256",
        StorageClass: "STANDARD_IA",
        WebsiteRedirectLocation: "/elsewhere",
        ServerSideEncryption: "AES256",
      }),
    );
    const got = await h.s3.send(
      new GetObjectCommand({ Bucket: q2, Key: "sdk/put", ChecksumMode: "ENABLED" }),
    );
    expect(got.ChecksumSHA256).toBe(await checksumOf("sha256", BODY));
    expect(got.StorageClass).toBe("STANDARD_IA");
    expect(await got.Body!.transformToString()).toBe(BODY);
  });
});

describe("plain HTTP headers need no signature, as on S3, and only touch the signed object", () => {
  async function presignedPut(key: string): Promise<string> {
    return getSignedUrl(presigner, new PutObjectCommand({ Bucket: q2, Key: key }), { expiresIn: 300 });
  }

  test("Content-Type, Cache-Control and Content-Disposition unsigned describe the upload itself", async () => {
    const reply = await fetch(await presignedPut("plain/described"), {
      method: "PUT",
      headers: {
        "Content-Type": "image/png",
        "Cache-Control": "max-age=60",
        "Content-Disposition": "inline",
      },
      body: "png",
    });
    expect(reply.status).toBe(200);
    const head = await h.s3.send(new HeadObjectCommand({ Bucket: q2, Key: "plain/described" }));
    expect([head.ContentType, head.CacheControl, head.ContentDisposition]).toEqual([
      "image/png",
      "max-age=60",
      "inline",
    ]);
  });

  test("If-None-Match / If-Match unsigned can only stop the write (412), never widen it", async () => {
    await h.s3.send(new PutObjectCommand({ Bucket: q2, Key: "plain/guarded", Body: "first" }));
    const url = await presignedPut("plain/guarded");
    const noneMatch = await fetch(url, { method: "PUT", headers: { "If-None-Match": "*" }, body: "second" });
    expect(noneMatch.status).toBe(412);
    const ifMatch = await fetch(url, { method: "PUT", headers: { "If-Match": '"0"' }, body: "second" });
    expect(ifMatch.status).toBe(412);
    expect(await bodyOf(q2, "plain/guarded")).toBe("first");
  });

  test("Content-MD5 unsigned is checked against the body (BadDigest), nothing stored", async () => {
    const reply = await fetch(await presignedPut("plain/md5"), {
      method: "PUT",
      headers: { "Content-MD5": Buffer.alloc(16).toString("base64") },
      body: "body",
    });
    expect(reply.status).toBe(400);
    expect(errorCode(await reply.text())).toBe("BadDigest");
    expect((await signedRaw(h.server.url, { method: "HEAD", path: `/${q2}/plain/md5` })).status).toBe(404);
  });
});

describe("anonymous requests", () => {
  test("a Tigris snapshot read is refused: it would show what a now-private object was", async () => {
    const key = `was-public-${randomBytes(3).toString("hex")}`;
    await h.s3.send(new PutObjectCommand({ Bucket: q2, Key: key, Body: "then public", ACL: "public-read" }));
    expect((await anonymousGet(q2, key)).status).toBe(200);
    const version = await snapshotOf(q2);
    await h.s3.send(new PutObjectCommand({ Bucket: q2, Key: key, Body: "now private" }));
    expect((await anonymousGet(q2, key)).status).toBe(403);

    const old = await anonymousGet(q2, key, { "x-tigris-snapshot-version": version });
    expect(old.status).toBe(403);
    expect(old.body).toContain("<HeadersNotSigned>x-tigris-snapshot-version</HeadersNotSigned>");
    expect(old.body).not.toContain("then public");
  });

  test("S3's own read headers (checksum mode) still work on a public object", async () => {
    await h.s3.send(
      new PutObjectCommand({ Bucket: q2, Key: "public/readable", Body: "hi", ACL: "public-read" }),
    );
    const reply = await anonymousGet(q2, "public/readable", { "x-amz-checksum-mode": "ENABLED" });
    expect(reply.status).toBe(200);
    expect(reply.body).toBe("hi");
  });
});
