/**
 * Multipart objects stored as their parts (no copy on Complete): disk use, reads and ranges across
 * parts, forks and copies sharing them, GC knowing they are referenced (also mid-download), the
 * repeated Complete answering the same success, and partNumber reads as S3 answers them.
 */
import { createHash, randomBytes } from "node:crypto";
import { readdir, stat } from "node:fs/promises";
import { join } from "node:path";
import {
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  PutObjectCommand,
  UploadPartCommand,
  UploadPartCopyCommand,
} from "@aws-sdk/client-s3";
import type { S3Client } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { s3Error, signedRaw, startHarness, uniqueBucket } from "./helpers.js";
import type { Harness } from "./helpers.js";

const MiB = 1024 * 1024;
let h: Harness;

beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h.close();
});

/** Total bytes of blob files in the store, and how many there are. */
async function blobFiles(root: string): Promise<{ bytes: number; count: number }> {
  let bytes = 0;
  let count = 0;
  const dir = join(root, "blobs");
  for (const prefix of await readdir(dir)) {
    if (prefix.length !== 2) continue;
    for (const name of await readdir(join(dir, prefix))) {
      bytes += (await stat(join(dir, prefix, name))).size;
      count++;
    }
  }
  return { bytes, count };
}

/** Uploads `parts` as a multipart object and completes it; returns the completed ETag. */
async function multipart(s3: S3Client, bucket: string, key: string, parts: Buffer[]): Promise<string> {
  const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key }));
  const done: { PartNumber: number; ETag: string }[] = [];
  for (const [i, body] of parts.entries()) {
    const r = await s3.send(
      new UploadPartCommand({ Bucket: bucket, Key: key, UploadId, PartNumber: i + 1, Body: body }),
    );
    done.push({ PartNumber: i + 1, ETag: r.ETag! });
  }
  const c = await s3.send(
    new CompleteMultipartUploadCommand({
      Bucket: bucket,
      Key: key,
      UploadId,
      MultipartUpload: { Parts: done },
    }),
  );
  return c.ETag!;
}

async function body(s3: S3Client, bucket: string, key: string, range?: string): Promise<Buffer> {
  const r = await s3.send(
    new GetObjectCommand({ Bucket: bucket, Key: key, ...(range ? { Range: range } : {}) }),
  );
  return Buffer.from(await r.Body!.transformToByteArray());
}

describe("stored as its parts", () => {
  const parts = [randomBytes(5 * MiB), randomBytes(5 * MiB), randomBytes(3 * MiB + 17)];
  const whole = Buffer.concat(parts);
  let bucket: string;

  beforeAll(async () => {
    bucket = uniqueBucket("mparts");
    await h.s3.send(new CreateBucketCommand({ Bucket: bucket }));
  });

  test("Complete adds no copy: the blobs on disk are the parts, nothing more", async () => {
    const before = await blobFiles(h.root);
    await multipart(h.s3, bucket, "obj", parts);
    const after = await blobFiles(h.root);
    expect(after.count - before.count).toBe(3);
    expect(after.bytes - before.bytes).toBeLessThanOrEqual(whole.length * 1.05);
    expect(
      createHash("sha256")
        .update(await body(h.s3, bucket, "obj"))
        .digest("hex"),
    ).toBe(createHash("sha256").update(whole).digest("hex"));
  });

  test("ranges inside one part, across a boundary and across all three parts read the right bytes", async () => {
    const cases: [number, number][] = [
      [0, 0],
      [100, 5000],
      [5 * MiB - 10, 5 * MiB + 10],
      [5 * MiB - 1, 10 * MiB],
      [1, whole.length - 2],
      [10 * MiB, whole.length - 1],
    ];
    for (const [a, b] of cases) {
      expect((await body(h.s3, bucket, "obj", `bytes=${a}-${b}`)).equals(whole.subarray(a, b + 1))).toBe(
        true,
      );
    }
    expect((await body(h.s3, bucket, "obj", "bytes=-20")).equals(whole.subarray(whole.length - 20))).toBe(
      true,
    );
  });

  test("UploadPartCopy from a multipart object copies a range spanning its parts", async () => {
    const from = 5 * MiB - 100;
    const to = 10 * MiB + 99;
    const key = "copied-range";
    const { UploadId } = await h.s3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key }));
    const c = await h.s3.send(
      new UploadPartCopyCommand({
        Bucket: bucket,
        Key: key,
        UploadId,
        PartNumber: 1,
        CopySource: `${bucket}/obj`,
        CopySourceRange: `bytes=${from}-${to}`,
      }),
    );
    await h.s3.send(
      new CompleteMultipartUploadCommand({
        Bucket: bucket,
        Key: key,
        UploadId,
        MultipartUpload: { Parts: [{ PartNumber: 1, ETag: c.CopyPartResult!.ETag }] },
      }),
    );
    expect((await body(h.s3, bucket, key)).equals(whole.subarray(from, to + 1))).toBe(true);
  });

  test("a fork and a copy share the parts; GC keeps them until the last reference goes", async () => {
    const src = uniqueBucket("mpsrc");
    const created = await signedRaw(h.server.url, {
      method: "PUT",
      path: `/${src}`,
      headers: { "x-tigris-enable-snapshot": "true" },
    });
    expect(created.status).toBe(200);
    const p = [randomBytes(5 * MiB), randomBytes(1000)];
    const all = Buffer.concat(p);
    await multipart(h.s3, src, "shared", p);
    const fork = uniqueBucket("mpfork");
    const forked = await signedRaw(h.server.url, {
      method: "PUT",
      path: `/${fork}`,
      headers: { "x-tigris-fork-source-bucket": src },
    });
    expect(forked.status).toBe(200);
    await h.s3.send(new CopyObjectCommand({ Bucket: src, Key: "copy", CopySource: `${src}/shared` }));
    const before = await blobFiles(h.root);
    await h.s3.send(new DeleteObjectCommand({ Bucket: src, Key: "shared" }));
    await h.server.gc();
    expect((await body(h.s3, fork, "shared")).equals(all)).toBe(true);
    expect((await body(h.s3, src, "copy")).equals(all)).toBe(true);
    await h.s3.send(new DeleteObjectCommand({ Bucket: src, Key: "copy" }));
    await h.s3.send(new DeleteObjectCommand({ Bucket: fork, Key: "shared" }));
    await h.server.gc();
    // The fork still sees the parent as of the fork point; only once the fork is gone are the parts free.
    expect((await signedRaw(h.server.url, { method: "DELETE", path: `/${fork}` })).status).toBe(204);
    await h.server.gc();
    const after = await blobFiles(h.root);
    expect(before.count - after.count).toBe(2);
    expect(before.bytes - after.bytes).toBe(all.length);
  });

  test("GC during a download of a deleted multipart object does not cut the download short", async () => {
    const p = [randomBytes(5 * MiB), randomBytes(5 * MiB), randomBytes(5 * MiB)];
    const all = Buffer.concat(p);
    await multipart(h.s3, bucket, "gc-race", p);
    const r = await h.s3.send(new GetObjectCommand({ Bucket: bucket, Key: "gc-race" }));
    const reader = (r.Body as AsyncIterable<Uint8Array>)[Symbol.asyncIterator]();
    const first = await reader.next();
    await h.s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: "gc-race" }));
    await h.server.gc();
    const chunks: Buffer[] = [Buffer.from(first.value as Uint8Array)];
    for (let next = await reader.next(); !next.done; next = await reader.next()) {
      chunks.push(Buffer.from(next.value));
    }
    expect(Buffer.concat(chunks).equals(all)).toBe(true);
    // Released once read: the next pass frees the parts.
    const before = await blobFiles(h.root);
    await h.server.gc();
    expect(before.count - (await blobFiles(h.root)).count).toBe(3);
  });
});

describe("CompleteMultipartUpload repeated", () => {
  test("answers the same success for the same part list, NoSuchUpload for another", async () => {
    const bucket = uniqueBucket("mprep");
    await h.s3.send(new CreateBucketCommand({ Bucket: bucket }));
    const key = "again";
    const { UploadId } = await h.s3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key }));
    const e1 = await h.s3.send(
      new UploadPartCommand({
        Bucket: bucket,
        Key: key,
        UploadId,
        PartNumber: 1,
        Body: randomBytes(5 * MiB),
      }),
    );
    const e2 = await h.s3.send(
      new UploadPartCommand({ Bucket: bucket, Key: key, UploadId, PartNumber: 2, Body: "tail" }),
    );
    const Parts = [
      { PartNumber: 1, ETag: e1.ETag },
      { PartNumber: 2, ETag: e2.ETag },
    ];
    const complete = (parts: typeof Parts) =>
      h.s3.send(
        new CompleteMultipartUploadCommand({
          Bucket: bucket,
          Key: key,
          UploadId,
          MultipartUpload: { Parts: parts },
        }),
      );
    const first = await complete(Parts);
    const second = await complete(Parts);
    expect(second.$metadata.httpStatusCode).toBe(200);
    expect(second.ETag).toBe(first.ETag);
    expect(second.Key).toBe(key);
    expect((await h.s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }))).ETag).toBe(first.ETag);
    expect((await s3Error(complete([Parts[0]!]))).name).toBe("NoSuchUpload");
  });

  test("a create-only Complete (If-None-Match: *) retried after its success answers the same success", async () => {
    const bucket = uniqueBucket("mprepc");
    await h.s3.send(new CreateBucketCommand({ Bucket: bucket }));
    const key = "once";
    const { UploadId } = await h.s3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key }));
    const e1 = await h.s3.send(
      new UploadPartCommand({ Bucket: bucket, Key: key, UploadId, PartNumber: 1, Body: "only part" }),
    );
    const complete = () =>
      h.s3.send(
        new CompleteMultipartUploadCommand({
          Bucket: bucket,
          Key: key,
          UploadId,
          IfNoneMatch: "*",
          MultipartUpload: { Parts: [{ PartNumber: 1, ETag: e1.ETag }] },
        }),
      );
    const first = await complete();
    // The object exists now, but this is the same upload's retry, not a second writer.
    expect((await complete()).ETag).toBe(first.ETag);
    // A different upload of the same key is refused by the condition.
    const other = await h.s3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key }));
    const e2 = await h.s3.send(
      new UploadPartCommand({ Bucket: bucket, Key: key, UploadId: other.UploadId, PartNumber: 1, Body: "x" }),
    );
    const refused = await s3Error(
      h.s3.send(
        new CompleteMultipartUploadCommand({
          Bucket: bucket,
          Key: key,
          UploadId: other.UploadId,
          IfNoneMatch: "*",
          MultipartUpload: { Parts: [{ PartNumber: 1, ETag: e2.ETag }] },
        }),
      ),
    );
    expect(refused.$metadata.httpStatusCode).toBe(412);
  });
});

describe("partNumber reads", () => {
  let bucket: string;
  const parts = [randomBytes(5 * MiB), randomBytes(5 * MiB), Buffer.from("last part")];
  beforeAll(async () => {
    bucket = uniqueBucket("mppn");
    await h.s3.send(new CreateBucketCommand({ Bucket: bucket }));
    await multipart(h.s3, bucket, "mp", parts);
    await h.s3.send(new PutObjectCommand({ Bucket: bucket, Key: "single", Body: "just one part" }));
  });

  test("of a multipart object: 206, the part's bytes, Content-Range and the parts count", async () => {
    const g = await h.s3.send(new GetObjectCommand({ Bucket: bucket, Key: "mp", PartNumber: 3 }));
    expect(g.$metadata.httpStatusCode).toBe(206);
    expect(g.PartsCount).toBe(3);
    expect(g.ContentLength).toBe(9);
    expect(g.ContentRange).toBe(`bytes ${10 * MiB}-${10 * MiB + 8}/${10 * MiB + 9}`);
    expect(await g.Body!.transformToString()).toBe("last part");
    const head = await h.s3.send(new HeadObjectCommand({ Bucket: bucket, Key: "mp", PartNumber: 2 }));
    expect(head.$metadata.httpStatusCode).toBe(206);
    expect(head.ContentLength).toBe(5 * MiB);
    expect(head.PartsCount).toBe(3);
    const beyond = await s3Error(
      h.s3.send(new GetObjectCommand({ Bucket: bucket, Key: "mp", PartNumber: 4 })),
    );
    expect(beyond.$metadata.httpStatusCode).toBe(416);
    expect(beyond.name).toBe("InvalidPartNumber");
    const headBeyond = await s3Error(
      h.s3.send(new HeadObjectCommand({ Bucket: bucket, Key: "mp", PartNumber: 4 })),
    );
    expect(headBeyond.$metadata.httpStatusCode).toBe(416);
  });

  test("of a single-part object: part 1 is the whole object, any other is 416 InvalidPartNumber", async () => {
    const g = await h.s3.send(new GetObjectCommand({ Bucket: bucket, Key: "single", PartNumber: 1 }));
    expect(g.$metadata.httpStatusCode).toBe(206);
    expect(g.ContentRange).toBe("bytes 0-12/13");
    expect(g.PartsCount).toBeUndefined();
    expect(await g.Body!.transformToString()).toBe("just one part");
    const two = await s3Error(
      h.s3.send(new GetObjectCommand({ Bucket: bucket, Key: "single", PartNumber: 2 })),
    );
    expect(two.$metadata.httpStatusCode).toBe(416);
    expect(two.name).toBe("InvalidPartNumber");
  });

  test("a malformed part number is 400 InvalidArgument; with a Range it is 400 InvalidRequest", async () => {
    for (const n of ["0", "abc", "10001"]) {
      const r = await signedRaw(h.server.url, {
        method: "GET",
        path: `/${bucket}/mp`,
        query: `partNumber=${n}`,
      });
      expect(r.status).toBe(400);
      expect(r.body).toContain("<Code>InvalidArgument</Code>");
    }
    const both = await signedRaw(h.server.url, {
      method: "GET",
      path: `/${bucket}/mp`,
      query: "partNumber=1",
      headers: { range: "bytes=0-1" },
    });
    expect(both.status).toBe(400);
    expect(both.body).toContain("<Code>InvalidRequest</Code>");
  });
});
