/**
 * Core S3 object operations through @aws-sdk/client-s3 at its default settings (CRC32 checksums,
 * aws-chunked streaming bodies, response checksum validation).
 */
import { createHash, randomBytes } from "node:crypto";
import { readdirSync, readlinkSync } from "node:fs";
import { join } from "node:path";
import { Readable } from "node:stream";
import {
  CopyObjectCommand,
  CreateBucketCommand,
  DeleteBucketCorsCommand,
  GetBucketCorsCommand,
  GetBucketVersioningCommand,
  PutBucketCorsCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  DeleteObjectTaggingCommand,
  GetBucketLocationCommand,
  GetObjectCommand,
  GetObjectTaggingCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListBucketsCommand,
  ListObjectsCommand,
  ListObjectsV2Command,
  ListObjectVersionsCommand,
  PutObjectCommand,
  PutObjectTaggingCommand,
} from "@aws-sdk/client-s3";
import { getSignedUrl } from "@aws-sdk/s3-request-presigner";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { raw, s3Error, signedRaw, startHarness, uniqueBucket } from "./helpers.js";
import type { Harness } from "./helpers.js";
import { waitFor } from "../helpers/wait.js";

let h: Harness;
let bucket: string;

beforeAll(async () => {
  h = await startHarness();
  bucket = uniqueBucket("obj");
  await h.s3.send(new CreateBucketCommand({ Bucket: bucket }));
});
afterAll(async () => {
  await h.close();
});

async function getText(key: string, extra: Record<string, unknown> = {}): Promise<string> {
  const r = await h.s3.send(new GetObjectCommand({ Bucket: bucket, Key: key, ...extra }));
  return r.Body!.transformToString();
}

describe("put / get / head", () => {
  test("round-trips bytes, ETag (MD5), content headers and user metadata", async () => {
    const body = randomBytes(10_000);
    const put = await h.s3.send(
      new PutObjectCommand({
        Bucket: bucket,
        Key: "dir/file.bin",
        Body: body,
        ContentType: "application/x-test",
        ContentDisposition: 'attachment; filename="f.bin"',
        ContentEncoding: "identity",
        CacheControl: "max-age=60",
        Metadata: { owner: "alice", "mixed-case": "Value" },
      }),
    );
    expect(put.ETag).toBe(`"${createHash("md5").update(body).digest("hex")}"`);
    const got = await h.s3.send(new GetObjectCommand({ Bucket: bucket, Key: "dir/file.bin" }));
    expect(Buffer.from(await got.Body!.transformToByteArray())).toEqual(body);
    expect(got.ContentType).toBe("application/x-test");
    expect(got.ContentDisposition).toBe('attachment; filename="f.bin"');
    expect(got.ContentEncoding).toBe("identity");
    expect(got.CacheControl).toBe("max-age=60");
    expect(got.Metadata).toEqual({ owner: "alice", "mixed-case": "Value" });
    expect(got.ContentLength).toBe(10_000);
    const head = await h.s3.send(new HeadObjectCommand({ Bucket: bucket, Key: "dir/file.bin" }));
    expect(head.ETag).toBe(put.ETag);
    expect(head.ContentLength).toBe(10_000);
    expect(head.LastModified).toBeInstanceOf(Date);
  });

  test("a Node stream body (aws-chunked with a CRC32 trailer) is stored decoded", async () => {
    const data = randomBytes(200_000);
    await h.s3.send(
      new PutObjectCommand({
        Bucket: bucket,
        Key: "stream.bin",
        Body: Readable.from([data.subarray(0, 70_000), data.subarray(70_000)]),
        ContentLength: data.length,
      }),
    );
    const got = await h.s3.send(new GetObjectCommand({ Bucket: bucket, Key: "stream.bin" }));
    expect(Buffer.from(await got.Body!.transformToByteArray())).toEqual(data);
    expect(got.ContentEncoding).toBeUndefined();
  });

  test("Range reads give 206 and Content-Range; unsatisfiable ranges give 416 InvalidRange", async () => {
    await h.s3.send(new PutObjectCommand({ Bucket: bucket, Key: "range.txt", Body: "0123456789" }));
    const r = await h.s3.send(new GetObjectCommand({ Bucket: bucket, Key: "range.txt", Range: "bytes=2-5" }));
    expect(await r.Body!.transformToString()).toBe("2345");
    expect(r.ContentRange).toBe("bytes 2-5/10");
    expect(await getText("range.txt", { Range: "bytes=7-" })).toBe("789");
    expect(await getText("range.txt", { Range: "bytes=-3" })).toBe("789");
    const e = await s3Error(
      h.s3.send(new GetObjectCommand({ Bucket: bucket, Key: "range.txt", Range: "bytes=10-20" })),
    );
    expect(e.name).toBe("InvalidRange");
    expect(e.$metadata.httpStatusCode).toBe(416);
  });

  test("large objects read back whole and by ranges that cross the server's read chunks", async () => {
    // 1 MB is the server's read size; odd offsets and lengths land inside and across chunks.
    const data = randomBytes(3 * 1024 * 1024 + 12_345);
    await h.s3.send(new PutObjectCommand({ Bucket: bucket, Key: "big.bin", Body: data }));
    const whole = await h.s3.send(new GetObjectCommand({ Bucket: bucket, Key: "big.bin" }));
    expect(Buffer.from(await whole.Body!.transformToByteArray()).equals(data)).toBe(true);
    for (const [start, end] of [
      [0, 1024 * 1024],
      [1024 * 1024 - 7, 2 * 1024 * 1024 + 7],
      [12_345, data.length - 1],
      [data.length - 3, data.length - 1],
    ] as const) {
      const r = await h.s3.send(
        new GetObjectCommand({ Bucket: bucket, Key: "big.bin", Range: `bytes=${start}-${end}` }),
      );
      expect(r.ContentRange).toBe(`bytes ${start}-${end}/${data.length}`);
      const got = Buffer.from(await r.Body!.transformToByteArray());
      expect(got.equals(data.subarray(start, end + 1))).toBe(true);
    }
  });

  test("a download the client abandons midway leaves the server serving", async () => {
    const data = randomBytes(8 * 1024 * 1024);
    await h.s3.send(new PutObjectCommand({ Bucket: bucket, Key: "abandoned.bin", Body: data }));
    for (let i = 0; i < 3; i++) {
      const controller = new AbortController();
      const r = await h.s3.send(new GetObjectCommand({ Bucket: bucket, Key: "abandoned.bin" }), {
        abortSignal: controller.signal,
      });
      const body = r.Body as Readable;
      await new Promise<void>((resolve) => body.once("data", () => resolve()));
      body.destroy();
    }
    const again = await h.s3.send(new GetObjectCommand({ Bucket: bucket, Key: "abandoned.bin" }));
    expect(Buffer.from(await again.Body!.transformToByteArray()).equals(data)).toBe(true);
    // Every abandoned download closed its blob descriptor (Linux shows them in /proc).
    if (process.platform === "linux") {
      const openBlobs = () =>
        readdirSync("/proc/self/fd").filter((fd) => {
          try {
            // Blob files only: the store also keeps its blob folders open (to fsync them).
            const target = readlinkSync(`/proc/self/fd/${fd}`);
            return target.startsWith(join(h.root, "blobs")) && /[0-9a-f]{64}$/.test(target);
          } catch {
            return false;
          }
        }).length;
      await waitFor(() => openBlobs() === 0);
    }
  });

  test("conditional GET/HEAD: If-Match, If-None-Match, If-Modified-Since, If-Unmodified-Since", async () => {
    const put = await h.s3.send(new PutObjectCommand({ Bucket: bucket, Key: "cond.txt", Body: "v1" }));
    expect(await getText("cond.txt", { IfMatch: put.ETag })).toBe("v1");
    const pf = await s3Error(
      h.s3.send(new GetObjectCommand({ Bucket: bucket, Key: "cond.txt", IfMatch: '"nope"' })),
    );
    expect(pf.$metadata.httpStatusCode).toBe(412);
    const nm = await s3Error(
      h.s3.send(new HeadObjectCommand({ Bucket: bucket, Key: "cond.txt", IfNoneMatch: put.ETag })),
    );
    expect(nm.$metadata.httpStatusCode).toBe(304);
    const future = new Date(Date.now() + 3600_000);
    const past = new Date(Date.now() - 3600_000);
    const ims = await s3Error(
      h.s3.send(new GetObjectCommand({ Bucket: bucket, Key: "cond.txt", IfModifiedSince: future })),
    );
    expect(ims.$metadata.httpStatusCode).toBe(304);
    expect(await getText("cond.txt", { IfModifiedSince: past })).toBe("v1");
    const ius = await s3Error(
      h.s3.send(new GetObjectCommand({ Bucket: bucket, Key: "cond.txt", IfUnmodifiedSince: past })),
    );
    expect(ius.$metadata.httpStatusCode).toBe(412);
  });

  test("PUT with If-None-Match: * creates once, then 412", async () => {
    await h.s3.send(
      new PutObjectCommand({ Bucket: bucket, Key: "once.txt", Body: "first", IfNoneMatch: "*" }),
    );
    const e = await s3Error(
      h.s3.send(new PutObjectCommand({ Bucket: bucket, Key: "once.txt", Body: "second", IfNoneMatch: "*" })),
    );
    expect(e.$metadata.httpStatusCode).toBe(412);
    expect(await getText("once.txt")).toBe("first");
  });

  test("missing keys: GET → NoSuchKey, HEAD → NotFound, DELETE → 204", async () => {
    expect((await s3Error(h.s3.send(new GetObjectCommand({ Bucket: bucket, Key: "absent" })))).name).toBe(
      "NoSuchKey",
    );
    expect((await s3Error(h.s3.send(new HeadObjectCommand({ Bucket: bucket, Key: "absent" })))).name).toBe(
      "NotFound",
    );
    const d = await h.s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: "absent" }));
    expect(d.$metadata.httpStatusCode).toBe(204);
  });

  test("keys with spaces, plus, unicode, `..` and many slashes are opaque keys", async () => {
    const keys = ["a b+c.txt", "ünï/cødé ✓.txt", "../../etc/passwd", "x//y///z/../..", "..", "dots/../.."];
    for (const key of keys) {
      await h.s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: `body of ${key}` }));
    }
    for (const key of keys) expect(await getText(key)).toBe(`body of ${key}`);
    const listed = await h.s3.send(new ListObjectsV2Command({ Bucket: bucket }));
    for (const key of keys) expect(listed.Contents!.map((c) => c.Key)).toContain(key);
  });
});

describe("copy / delete / tagging", () => {
  test("CopyObject keeps bytes; COPY keeps metadata, REPLACE replaces it", async () => {
    await h.s3.send(
      new PutObjectCommand({
        Bucket: bucket,
        Key: "src.txt",
        Body: "copy me",
        ContentType: "text/plain",
        Metadata: { a: "1" },
      }),
    );
    const c1 = await h.s3.send(
      new CopyObjectCommand({ Bucket: bucket, Key: "dst1.txt", CopySource: `${bucket}/src.txt` }),
    );
    expect(c1.CopyObjectResult?.ETag).toBe(`"${createHash("md5").update("copy me").digest("hex")}"`);
    const h1 = await h.s3.send(new HeadObjectCommand({ Bucket: bucket, Key: "dst1.txt" }));
    expect(h1.Metadata).toEqual({ a: "1" });
    expect(h1.ContentType).toBe("text/plain");
    await h.s3.send(
      new CopyObjectCommand({
        Bucket: bucket,
        Key: "dst2.txt",
        CopySource: `/${bucket}/src.txt`,
        MetadataDirective: "REPLACE",
        Metadata: { b: "2" },
        ContentType: "text/x-other",
      }),
    );
    const h2 = await h.s3.send(new HeadObjectCommand({ Bucket: bucket, Key: "dst2.txt" }));
    expect(h2.Metadata).toEqual({ b: "2" });
    expect(h2.ContentType).toBe("text/x-other");
    expect(await getText("dst2.txt")).toBe("copy me");
    // Source overwritten afterwards: the copy is unaffected.
    await h.s3.send(new PutObjectCommand({ Bucket: bucket, Key: "src.txt", Body: "changed" }));
    expect(await getText("dst1.txt")).toBe("copy me");
    const self = await s3Error(
      h.s3.send(new CopyObjectCommand({ Bucket: bucket, Key: "src.txt", CopySource: `${bucket}/src.txt` })),
    );
    expect(self.name).toBe("InvalidRequest");
    const cond = await s3Error(
      h.s3.send(
        new CopyObjectCommand({
          Bucket: bucket,
          Key: "dst3.txt",
          CopySource: `${bucket}/src.txt`,
          CopySourceIfMatch: '"nope"',
        }),
      ),
    );
    expect(cond.$metadata.httpStatusCode).toBe(412);
  });

  test("DeleteObjects deletes in batch; Quiet mode reports nothing", async () => {
    const keys = Array.from({ length: 20 }, (_, i) => `batch/${i}`);
    await Promise.all(keys.map((Key) => h.s3.send(new PutObjectCommand({ Bucket: bucket, Key, Body: Key }))));
    const r = await h.s3.send(
      new DeleteObjectsCommand({
        Bucket: bucket,
        Delete: { Objects: keys.slice(0, 10).map((Key) => ({ Key })) },
      }),
    );
    expect(r.Deleted?.map((d) => d.Key).sort()).toEqual(keys.slice(0, 10).sort());
    const q = await h.s3.send(
      new DeleteObjectsCommand({
        Bucket: bucket,
        Delete: { Objects: keys.slice(10).map((Key) => ({ Key })), Quiet: true },
      }),
    );
    expect(q.Deleted ?? []).toEqual([]);
    expect(q.Errors ?? []).toEqual([]);
    const left = await h.s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: "batch/" }));
    expect(left.KeyCount).toBe(0);
  });

  test("object tagging: put, get, delete, and x-amz-tagging on PUT", async () => {
    await h.s3.send(
      new PutObjectCommand({ Bucket: bucket, Key: "tagged", Body: "t", Tagging: "env=dev&team=a" }),
    );
    const t1 = await h.s3.send(new GetObjectTaggingCommand({ Bucket: bucket, Key: "tagged" }));
    expect(t1.TagSet).toEqual([
      { Key: "env", Value: "dev" },
      { Key: "team", Value: "a" },
    ]);
    await h.s3.send(
      new PutObjectTaggingCommand({
        Bucket: bucket,
        Key: "tagged",
        Tagging: { TagSet: [{ Key: "x", Value: "y" }] },
      }),
    );
    expect((await h.s3.send(new GetObjectTaggingCommand({ Bucket: bucket, Key: "tagged" }))).TagSet).toEqual([
      { Key: "x", Value: "y" },
    ]);
    await h.s3.send(new DeleteObjectTaggingCommand({ Bucket: bucket, Key: "tagged" }));
    expect(
      (await h.s3.send(new GetObjectTaggingCommand({ Bucket: bucket, Key: "tagged" }))).TagSet ?? [],
    ).toEqual([]);
    expect(await getText("tagged")).toBe("t");
  });
});

describe("listing", () => {
  const lb = uniqueBucket("list");
  beforeAll(async () => {
    await h.s3.send(new CreateBucketCommand({ Bucket: lb }));
    const keys = ["a.txt", "b/1", "b/2", "b/c/3", "d/4", "e", "f/g/h"];
    for (let i = 0; i < 25; i++) keys.push(`many/${String(i).padStart(2, "0")}`);
    await Promise.all(keys.map((Key) => h.s3.send(new PutObjectCommand({ Bucket: lb, Key, Body: Key }))));
  });

  test("ListObjectsV2 prefix + delimiter gives Contents and CommonPrefixes", async () => {
    const r = await h.s3.send(new ListObjectsV2Command({ Bucket: lb, Delimiter: "/" }));
    expect(r.Contents?.map((c) => c.Key)).toEqual(["a.txt", "e"]);
    expect(r.CommonPrefixes?.map((p) => p.Prefix)).toEqual(["b/", "d/", "f/", "many/"]);
    expect(r.KeyCount).toBe(6);
    const b = await h.s3.send(new ListObjectsV2Command({ Bucket: lb, Prefix: "b/", Delimiter: "/" }));
    expect(b.Contents?.map((c) => c.Key)).toEqual(["b/1", "b/2"]);
    expect(b.CommonPrefixes?.map((p) => p.Prefix)).toEqual(["b/c/"]);
    expect(b.Contents?.[0]?.Size).toBe(3);
  });

  test("ListObjectsV2 paginates with continuation tokens and start-after", async () => {
    const seen: string[] = [];
    let token: string | undefined;
    let pages = 0;
    do {
      const r = await h.s3.send(
        new ListObjectsV2Command({ Bucket: lb, Prefix: "many/", MaxKeys: 10, ContinuationToken: token }),
      );
      seen.push(...(r.Contents ?? []).map((c) => c.Key!));
      token = r.NextContinuationToken;
      expect(r.IsTruncated).toBe(token !== undefined);
      pages++;
    } while (token);
    expect(pages).toBe(3);
    expect(seen).toEqual(Array.from({ length: 25 }, (_, i) => `many/${String(i).padStart(2, "0")}`));
    const sa = await h.s3.send(
      new ListObjectsV2Command({ Bucket: lb, Prefix: "many/", StartAfter: "many/22" }),
    );
    expect(sa.Contents?.map((c) => c.Key)).toEqual(["many/23", "many/24"]);
  });

  test("delimiter pagination never repeats a common prefix", async () => {
    const seen: string[] = [];
    let token: string | undefined;
    do {
      const r = await h.s3.send(
        new ListObjectsV2Command({ Bucket: lb, Delimiter: "/", MaxKeys: 2, ContinuationToken: token }),
      );
      seen.push(...(r.Contents ?? []).map((c) => c.Key!), ...(r.CommonPrefixes ?? []).map((p) => p.Prefix!));
      token = r.NextContinuationToken;
    } while (token);
    expect(seen.sort()).toEqual(["a.txt", "b/", "d/", "e", "f/", "many/"]);
  });

  test("ListObjects v1 with marker and NextMarker", async () => {
    const r1 = await h.s3.send(new ListObjectsCommand({ Bucket: lb, Prefix: "many/", MaxKeys: 20 }));
    expect(r1.IsTruncated).toBe(true);
    expect(r1.Contents).toHaveLength(20);
    const r2 = await h.s3.send(
      new ListObjectsCommand({ Bucket: lb, Prefix: "many/", Marker: r1.NextMarker }),
    );
    expect(r2.IsTruncated).toBe(false);
    expect(r2.Contents?.map((c) => c.Key)).toEqual(["many/20", "many/21", "many/22", "many/23", "many/24"]);
  });

  test("encoding-type=url encodes keys and echoes EncodingType", async () => {
    await h.s3.send(new PutObjectCommand({ Bucket: lb, Key: "enc/a b+c&d.txt", Body: "x" }));
    const r = await signedRaw(h.server.url, {
      method: "GET",
      path: `/${lb}`,
      query: "list-type=2&prefix=enc%2F&encoding-type=url",
    });
    expect(r.status).toBe(200);
    expect(r.body).toContain("<EncodingType>url</EncodingType>");
    expect(r.body).toContain("<Key>enc/a%20b%2Bc%26d.txt</Key>");
  });

  test("ListObjectVersions lists current objects with VersionId null", async () => {
    const r = await h.s3.send(new ListObjectVersionsCommand({ Bucket: lb, Prefix: "b/" }));
    expect(r.Versions?.map((v) => [v.Key, v.VersionId, v.IsLatest])).toEqual([
      ["b/1", "null", true],
      ["b/2", "null", true],
      ["b/c/3", "null", true],
    ]);
  });
});

describe("buckets and addressing", () => {
  test("ListBuckets, HeadBucket, GetBucketLocation; any signing region", async () => {
    const list = await h.s3.send(new ListBucketsCommand({}));
    expect(list.Buckets?.map((b) => b.Name)).toContain(bucket);
    const hb = await h.s3.send(new HeadBucketCommand({ Bucket: bucket }));
    expect(hb.$metadata.httpStatusCode).toBe(200);
    const loc = await h.s3.send(new GetBucketLocationCommand({ Bucket: bucket }));
    expect(loc.LocationConstraint).toBe("auto");
    const { S3Client } = await import("@aws-sdk/client-s3");
    const east = new S3Client({
      endpoint: h.server.url,
      region: "us-east-1",
      credentials: (await import("./helpers.js")).CREDS,
    });
    const b2 = uniqueBucket("east");
    await east.send(new CreateBucketCommand({ Bucket: b2 }));
    expect((await east.send(new HeadBucketCommand({ Bucket: b2 }))).BucketRegion).toBe("us-east-1");
    east.destroy();
    const missing = await s3Error(h.s3.send(new HeadBucketCommand({ Bucket: "no-such-bucket-here" })));
    expect(missing.$metadata.httpStatusCode).toBe(404);
  });

  test("virtual-host style: Host bucket.localhost:port addresses the bucket", async () => {
    await h.s3.send(new PutObjectCommand({ Bucket: bucket, Key: "vhost.txt", Body: "via host" }));
    const host = `${bucket}.localhost:${h.server.port}`;
    const r = await signedRaw(h.server.url, { method: "GET", path: "/vhost.txt", host });
    expect(r.status).toBe(200);
    expect(r.body).toBe("via host");
    const nip = await signedRaw(h.server.url, {
      method: "GET",
      path: "/",
      query: "list-type=2&prefix=vhost",
      host: `${bucket}.127.0.0.1.nip.io:${h.server.port}`,
    });
    expect(nip.body).toContain("<Key>vhost.txt</Key>");
  });

  test("CORS preflight on a bucket without CORS configuration is 403, as on S3 (cors.test.ts has the rest)", async () => {
    const r = await raw(h.server.url, {
      method: "OPTIONS",
      path: `/${bucket}/x`,
      headers: { Origin: "http://localhost:3000", "Access-Control-Request-Method": "PUT" },
    });
    expect(r.status).toBe(403);
    expect(r.headers["access-control-allow-origin"]).toBeUndefined();
  });

  test("bucket CORS configuration round-trips; versioning reads as unconfigured", async () => {
    const rule = {
      AllowedOrigins: ["http://localhost:3000"],
      AllowedMethods: ["GET", "PUT"],
      AllowedHeaders: ["*"],
      ExposeHeaders: ["ETag"],
      MaxAgeSeconds: 600,
    };
    await h.s3.send(new PutBucketCorsCommand({ Bucket: bucket, CORSConfiguration: { CORSRules: [rule] } }));
    const got = await h.s3.send(new GetBucketCorsCommand({ Bucket: bucket }));
    expect(got.CORSRules).toEqual([rule]);
    await h.s3.send(new DeleteBucketCorsCommand({ Bucket: bucket }));
    expect((await s3Error(h.s3.send(new GetBucketCorsCommand({ Bucket: bucket })))).name).toBe(
      "NoSuchCORSConfiguration",
    );
    const v = await h.s3.send(new GetBucketVersioningCommand({ Bucket: bucket }));
    expect(v.Status).toBeUndefined();
  });

  test("errors carry the XML document and x-amz-request-id", async () => {
    const r = await signedRaw(h.server.url, { method: "GET", path: `/${bucket}/nothing-here` });
    expect(r.status).toBe(404);
    expect(r.body).toMatch(
      /<Error><Code>NoSuchKey<\/Code><Message>[^<]+<\/Message><Resource>[^<]+<\/Resource><RequestId>[0-9A-F]+<\/RequestId>/,
    );
    expect(r.headers["x-amz-request-id"]).toMatch(/^[0-9A-F]+$/);
    const unsigned = await raw(h.server.url, { method: "GET", path: `/${bucket}/nothing-here` });
    expect(unsigned.status).toBe(403);
  });
});

describe("presigned URLs", () => {
  test("presigned PUT then presigned GET", async () => {
    const putUrl = await getSignedUrl(h.s3, new PutObjectCommand({ Bucket: bucket, Key: "presigned.txt" }), {
      expiresIn: 300,
    });
    const put = await fetch(putUrl, { method: "PUT", body: "" });
    expect(put.status).toBe(200);
    const getUrl = await getSignedUrl(h.s3, new GetObjectCommand({ Bucket: bucket, Key: "dst1.txt" }), {
      expiresIn: 300,
    });
    const get = await fetch(getUrl);
    expect(get.status).toBe(200);
    expect(await get.text()).toBe("copy me");
  });

  test("presigned PUT without the SDK's empty-body checksum carries a real body", async () => {
    const { S3Client } = await import("@aws-sdk/client-s3");
    const { CREDS } = await import("./helpers.js");
    const c = new S3Client({
      endpoint: h.server.url,
      region: "auto",
      credentials: CREDS,
      requestChecksumCalculation: "WHEN_REQUIRED",
    });
    const url = await getSignedUrl(c, new PutObjectCommand({ Bucket: bucket, Key: "presigned2.txt" }), {
      expiresIn: 300,
    });
    const put = await fetch(url, { method: "PUT", body: "uploaded through a presigned URL" });
    expect(put.status).toBe(200);
    expect(await getText("presigned2.txt")).toBe("uploaded through a presigned URL");
    c.destroy();
  });
});
