/**
 * Multipart uploads: @aws-sdk/lib-storage with a 40 MB stream, the low-level calls, UploadPartCopy,
 * and Complete with missing / out-of-order / too-small parts.
 */
import { createHash } from "node:crypto";
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { Readable } from "node:stream";
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListPartsCommand,
  PutObjectCommand,
  UploadPartCommand,
  UploadPartCopyCommand,
} from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { s3Error, startHarness, uniqueBucket } from "./helpers.js";
import type { Harness } from "./helpers.js";

let h: Harness;
let bucket: string;
const MiB = 1024 * 1024;

beforeAll(async () => {
  h = await startHarness();
  bucket = uniqueBucket("mpu");
  await h.s3.send(new CreateBucketCommand({ Bucket: bucket }));
});
afterAll(async () => {
  await h.close();
});

/** Deterministic pseudo-random bytes, generated chunk by chunk (the test never holds 40 MB at once). */
function* pattern(total: number, chunk = 256 * 1024): Generator<Buffer> {
  let seed = 12345;
  for (let off = 0; off < total; off += chunk) {
    const n = Math.min(chunk, total - off);
    const b = Buffer.allocUnsafe(n);
    for (let i = 0; i < n; i += 4) {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      b.writeUInt32LE(seed, i);
    }
    yield b;
  }
}

function sha256Of(chunks: Iterable<Buffer>): string {
  const h = createHash("sha256");
  for (const c of chunks) h.update(c);
  return h.digest("hex");
}

test("lib-storage Upload of a 40 MB stream round-trips byte for byte", async () => {
  const size = 40 * MiB;
  const upload = new Upload({
    client: h.s3,
    params: {
      Bucket: bucket,
      Key: "big/40mb.bin",
      Body: Readable.from(pattern(size)),
      ContentType: "application/x-big",
    },
    partSize: 8 * MiB,
    queueSize: 2,
  });
  const done = await upload.done();
  expect(done.ETag).toMatch(/^"[0-9a-f]{32}-5"$/);
  const head = await h.s3.send(new HeadObjectCommand({ Bucket: bucket, Key: "big/40mb.bin" }));
  expect(head.ContentLength).toBe(size);
  expect(head.ContentType).toBe("application/x-big");
  // As on S3, the parts count only answers partNumber reads.
  expect(head.PartsCount).toBeUndefined();
  const head1 = await h.s3.send(
    new HeadObjectCommand({ Bucket: bucket, Key: "big/40mb.bin", PartNumber: 1 }),
  );
  expect(head1.PartsCount).toBe(5);
  expect(head1.ContentLength).toBe(8 * MiB);
  const got = await h.s3.send(new GetObjectCommand({ Bucket: bucket, Key: "big/40mb.bin" }));
  const digest = createHash("sha256");
  let n = 0;
  for await (const c of got.Body as Readable) {
    digest.update(c as Buffer);
    n += (c as Buffer).length;
  }
  expect(n).toBe(size);
  expect(digest.digest("hex")).toBe(sha256Of(pattern(size)));
  // partNumber reads return exactly one part.
  const p2 = await h.s3.send(new GetObjectCommand({ Bucket: bucket, Key: "big/40mb.bin", PartNumber: 2 }));
  expect(p2.ContentLength).toBe(8 * MiB);
  expect(p2.ContentRange).toBe(`bytes ${8 * MiB}-${16 * MiB - 1}/${size}`);
  await p2.Body!.transformToByteArray();
  // Nothing is left in the temp area once uploads are done.
  expect(await readdir(join(h.root, "tmp"))).toEqual([]);
});

describe("low-level multipart calls", () => {
  const part5 = Buffer.alloc(5 * MiB, 1);

  test("Create, UploadPart, ListParts, ListMultipartUploads, Complete", async () => {
    const key = "mp/manual.bin";
    const { UploadId } = await h.s3.send(
      new CreateMultipartUploadCommand({ Bucket: bucket, Key: key, Metadata: { m: "1" } }),
    );
    const e1 = await h.s3.send(
      new UploadPartCommand({ Bucket: bucket, Key: key, UploadId, PartNumber: 1, Body: part5 }),
    );
    const e2 = await h.s3.send(
      new UploadPartCommand({ Bucket: bucket, Key: key, UploadId, PartNumber: 2, Body: "tail" }),
    );
    const parts = await h.s3.send(new ListPartsCommand({ Bucket: bucket, Key: key, UploadId }));
    expect(parts.Parts?.map((p) => [p.PartNumber, p.Size, p.ETag])).toEqual([
      [1, 5 * MiB, e1.ETag],
      [2, 4, e2.ETag],
    ]);
    const ups = await h.s3.send(new ListMultipartUploadsCommand({ Bucket: bucket }));
    expect(ups.Uploads?.map((u) => [u.Key, u.UploadId])).toContainEqual([key, UploadId]);
    const done = await h.s3.send(
      new CompleteMultipartUploadCommand({
        Bucket: bucket,
        Key: key,
        UploadId,
        MultipartUpload: {
          Parts: [
            { PartNumber: 1, ETag: e1.ETag },
            { PartNumber: 2, ETag: e2.ETag },
          ],
        },
      }),
    );
    const md5s = Buffer.concat([e1.ETag!, e2.ETag!].map((e) => Buffer.from(e.replace(/"/g, ""), "hex")));
    expect(done.ETag).toBe(`"${createHash("md5").update(md5s).digest("hex")}-2"`);
    const got = await h.s3.send(
      new GetObjectCommand({ Bucket: bucket, Key: key, Range: `bytes=${5 * MiB - 2}-` }),
    );
    expect(Buffer.from(await got.Body!.transformToByteArray())).toEqual(
      Buffer.from([1, 1, ...Buffer.from("tail")]),
    );
    expect((await h.s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }))).Metadata).toEqual({
      m: "1",
    });
    // A completed upload is gone.
    expect(
      (await s3Error(h.s3.send(new ListPartsCommand({ Bucket: bucket, Key: key, UploadId })))).name,
    ).toBe("NoSuchUpload");
  });

  test("Complete with a missing part → InvalidPart; out of order → InvalidPartOrder; small part → EntityTooSmall", async () => {
    const key = "mp/bad.bin";
    const { UploadId } = await h.s3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key }));
    const e1 = await h.s3.send(
      new UploadPartCommand({ Bucket: bucket, Key: key, UploadId, PartNumber: 1, Body: "small" }),
    );
    const e2 = await h.s3.send(
      new UploadPartCommand({ Bucket: bucket, Key: key, UploadId, PartNumber: 2, Body: "small2" }),
    );
    const complete = (Parts: { PartNumber: number; ETag?: string }[]) =>
      s3Error(
        h.s3.send(
          new CompleteMultipartUploadCommand({
            Bucket: bucket,
            Key: key,
            UploadId,
            MultipartUpload: { Parts },
          }),
        ),
      );
    const missing = await complete([
      { PartNumber: 1, ETag: e1.ETag },
      { PartNumber: 3, ETag: e2.ETag },
    ]);
    expect(missing.name).toBe("InvalidPart");
    expect(missing.$metadata.httpStatusCode).toBe(400);
    const wrongEtag = await complete([{ PartNumber: 1, ETag: e2.ETag }]);
    expect(wrongEtag.name).toBe("InvalidPart");
    const order = await complete([
      { PartNumber: 2, ETag: e2.ETag },
      { PartNumber: 1, ETag: e1.ETag },
    ]);
    expect(order.name).toBe("InvalidPartOrder");
    const small = await complete([
      { PartNumber: 1, ETag: e1.ETag },
      { PartNumber: 2, ETag: e2.ETag },
    ]);
    expect(small.name).toBe("EntityTooSmall");
    // Nothing was stored by the failed completes.
    expect((await s3Error(h.s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key })))).name).toBe(
      "NotFound",
    );
    await h.s3.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId }));
    const gone = await s3Error(
      h.s3.send(new UploadPartCommand({ Bucket: bucket, Key: key, UploadId, PartNumber: 3, Body: "x" })),
    );
    expect(gone.name).toBe("NoSuchUpload");
  });

  test("UploadPartCopy copies whole objects and byte ranges", async () => {
    await h.s3.send(new PutObjectCommand({ Bucket: bucket, Key: "mp/src.bin", Body: part5 }));
    await h.s3.send(new PutObjectCommand({ Bucket: bucket, Key: "mp/src2.txt", Body: "0123456789" }));
    const key = "mp/copied.bin";
    const { UploadId } = await h.s3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key }));
    const c1 = await h.s3.send(
      new UploadPartCopyCommand({
        Bucket: bucket,
        Key: key,
        UploadId,
        PartNumber: 1,
        CopySource: `${bucket}/mp/src.bin`,
      }),
    );
    const c2 = await h.s3.send(
      new UploadPartCopyCommand({
        Bucket: bucket,
        Key: key,
        UploadId,
        PartNumber: 2,
        CopySource: `${bucket}/mp/src2.txt`,
        CopySourceRange: "bytes=3-6",
      }),
    );
    expect(c2.CopyPartResult?.ETag).toBe(`"${createHash("md5").update("3456").digest("hex")}"`);
    await h.s3.send(
      new CompleteMultipartUploadCommand({
        Bucket: bucket,
        Key: key,
        UploadId,
        MultipartUpload: {
          Parts: [
            { PartNumber: 1, ETag: c1.CopyPartResult!.ETag },
            { PartNumber: 2, ETag: c2.CopyPartResult!.ETag },
          ],
        },
      }),
    );
    const head = await h.s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
    expect(head.ContentLength).toBe(5 * MiB + 4);
    const tail = await h.s3.send(new GetObjectCommand({ Bucket: bucket, Key: key, Range: "bytes=-4" }));
    expect(await tail.Body!.transformToString()).toBe("3456");
  });
});
