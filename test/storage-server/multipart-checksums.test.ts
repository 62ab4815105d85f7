/**
 * Checksums of multipart objects as S3 computes them: COMPOSITE (`<b64>-N`, checksum of the part
 * checksums) and FULL_OBJECT (the CRC of the whole object, for CRC32/CRC32C/CRC64NVME), returned by
 * Complete and by HEAD/GET with `x-amz-checksum-mode: ENABLED` (GET of a part: that part's checksum),
 * and the refusals S3 gives for impossible combinations, missing part checksums and a wrong value.
 */
import { randomBytes } from "node:crypto";
import { crc32 } from "node:zlib";
import {
  CompleteMultipartUploadCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  HeadObjectCommand,
  UploadPartCommand,
} from "@aws-sdk/client-s3";
import type { ChecksumAlgorithm, ChecksumType, CompletedPart } from "@aws-sdk/client-s3";
import { Crc64Nvme } from "@aws-sdk/crc64-nvme";
import { Upload } from "@aws-sdk/lib-storage";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { s3Error, startHarness, uniqueBucket } from "./helpers.js";
import type { Harness } from "./helpers.js";

const MiB = 1024 * 1024;
let h: Harness;
let bucket: string;
const parts = [randomBytes(5 * MiB), randomBytes(5 * MiB + 1), randomBytes(1234)];
const whole = Buffer.concat(parts);

beforeAll(async () => {
  h = await startHarness();
  bucket = uniqueBucket("mpsum");
  await h.s3.send(new CreateBucketCommand({ Bucket: bucket }));
});
afterAll(async () => {
  await h.close();
});

const b64crc32 = (b: Buffer): string => {
  const out = Buffer.alloc(4);
  out.writeUInt32BE(crc32(b) >>> 0);
  return out.toString("base64");
};

async function b64crc64(b: Buffer): Promise<string> {
  const c = new Crc64Nvme();
  c.update(b);
  return Buffer.from(await c.digest()).toString("base64");
}

/** Create + UploadPart (the SDK computes and sends each part's checksum); returns the parts to complete. */
async function upload(
  key: string,
  alg: ChecksumAlgorithm,
  type?: ChecksumType,
): Promise<{ UploadId: string; done: CompletedPart[] }> {
  const { UploadId } = await h.s3.send(
    new CreateMultipartUploadCommand({
      Bucket: bucket,
      Key: key,
      ChecksumAlgorithm: alg,
      ...(type ? { ChecksumType: type } : {}),
    }),
  );
  const done: CompletedPart[] = [];
  for (const [i, body] of parts.entries()) {
    const r = await h.s3.send(
      new UploadPartCommand({
        Bucket: bucket,
        Key: key,
        UploadId,
        PartNumber: i + 1,
        Body: body,
        ChecksumAlgorithm: alg,
      }),
    );
    done.push({
      PartNumber: i + 1,
      ETag: r.ETag,
      ChecksumCRC32: r.ChecksumCRC32,
      ChecksumCRC32C: r.ChecksumCRC32C,
      ChecksumCRC64NVME: r.ChecksumCRC64NVME,
      ChecksumSHA256: r.ChecksumSHA256,
    });
  }
  return { UploadId: UploadId!, done };
}

const complete = (key: string, UploadId: string, Parts: CompletedPart[], extra: object = {}) =>
  h.s3.send(
    new CompleteMultipartUploadCommand({
      Bucket: bucket,
      Key: key,
      UploadId,
      MultipartUpload: { Parts },
      ...extra,
    }),
  );

describe("COMPOSITE", () => {
  test("CRC32: Complete, HEAD and GET return the checksum of the part checksums with -N", async () => {
    const { UploadId, done } = await upload("comp", "CRC32");
    const rawSums = Buffer.concat(parts.map((p) => Buffer.from(b64crc32(p), "base64")));
    const expected = `${b64crc32(rawSums)}-3`;
    const c = await complete("comp", UploadId, done);
    expect(c.ChecksumCRC32).toBe(expected);
    expect(c.ChecksumType).toBe("COMPOSITE");
    const head = await h.s3.send(
      new HeadObjectCommand({ Bucket: bucket, Key: "comp", ChecksumMode: "ENABLED" }),
    );
    expect(head.ChecksumCRC32).toBe(expected);
    expect(head.ChecksumType).toBe("COMPOSITE");
    // Without checksum mode, no checksum.
    expect(
      (await h.s3.send(new HeadObjectCommand({ Bucket: bucket, Key: "comp" }))).ChecksumCRC32,
    ).toBeUndefined();
    const get = await h.s3.send(
      new GetObjectCommand({ Bucket: bucket, Key: "comp", ChecksumMode: "ENABLED" }),
    );
    expect(Buffer.from(await get.Body!.transformToByteArray()).equals(whole)).toBe(true);
    // A part read carries that part's own checksum, which the SDK validates against the bytes.
    const p2 = await h.s3.send(
      new GetObjectCommand({ Bucket: bucket, Key: "comp", PartNumber: 2, ChecksumMode: "ENABLED" }),
    );
    expect(p2.ChecksumCRC32).toBe(b64crc32(parts[1]!));
    expect(Buffer.from(await p2.Body!.transformToByteArray()).equals(parts[1]!)).toBe(true);
  });

  test("a Complete without the part checksums is InvalidRequest; a wrong one is InvalidPart", async () => {
    const { UploadId, done } = await upload("comp-missing", "CRC32");
    const bare = done.map((p) => ({ PartNumber: p.PartNumber, ETag: p.ETag }));
    const missing = await s3Error(complete("comp-missing", UploadId, bare));
    expect(missing.name).toBe("InvalidRequest");
    expect(missing.message).toContain("missing for part 1");
    const wrong = done.map((p, i) => (i === 1 ? { ...p, ChecksumCRC32: b64crc32(Buffer.from("nope")) } : p));
    expect((await s3Error(complete("comp-missing", UploadId, wrong))).name).toBe("InvalidPart");
    // The upload is still open: the right list completes it.
    expect((await complete("comp-missing", UploadId, done)).ChecksumCRC32).toMatch(/-3$/);
  });

  test("lib-storage Upload with ChecksumAlgorithm SHA256 gets a composite SHA256", async () => {
    const up = new Upload({
      client: h.s3,
      params: { Bucket: bucket, Key: "lib-sha", Body: whole, ChecksumAlgorithm: "SHA256" },
      partSize: 5 * MiB,
    });
    const done = await up.done();
    expect(done.ChecksumSHA256).toMatch(/^[A-Za-z0-9+/]{43}=-3$/);
  });
});

describe("FULL_OBJECT", () => {
  test("CRC32 with x-amz-checksum-type FULL_OBJECT: the CRC32 of the whole object, which GET validates", async () => {
    const { UploadId, done } = await upload("full32", "CRC32", "FULL_OBJECT");
    const c = await complete("full32", UploadId, done, {
      ChecksumCRC32: b64crc32(whole),
      ChecksumType: "FULL_OBJECT",
    });
    expect(c.ChecksumCRC32).toBe(b64crc32(whole));
    expect(c.ChecksumType).toBe("FULL_OBJECT");
    const get = await h.s3.send(
      new GetObjectCommand({ Bucket: bucket, Key: "full32", ChecksumMode: "ENABLED" }),
    );
    expect(get.ChecksumCRC32).toBe(b64crc32(whole));
    expect(get.ChecksumType).toBe("FULL_OBJECT");
    expect(Buffer.from(await get.Body!.transformToByteArray()).equals(whole)).toBe(true);
  });

  test("CRC64NVME is FULL_OBJECT by default", async () => {
    const { UploadId, done } = await upload("full64", "CRC64NVME");
    const c = await complete("full64", UploadId, done);
    expect(c.ChecksumCRC64NVME).toBe(await b64crc64(whole));
    const head = await h.s3.send(
      new HeadObjectCommand({ Bucket: bucket, Key: "full64", ChecksumMode: "ENABLED" }),
    );
    expect(head.ChecksumCRC64NVME).toBe(await b64crc64(whole));
    expect(head.ChecksumType).toBe("FULL_OBJECT");
  });

  test("a wrong whole-object value (or x-amz-mp-object-size) on Complete is refused and leaves the upload open", async () => {
    const { UploadId, done } = await upload("full-bad", "CRC32", "FULL_OBJECT");
    const bad = await s3Error(
      complete("full-bad", UploadId, done, { ChecksumCRC32: b64crc32(Buffer.from("x")) }),
    );
    expect(bad.name).toBe("BadDigest");
    expect(bad.$metadata.httpStatusCode).toBe(400);
    const size = await s3Error(complete("full-bad", UploadId, done, { MpuObjectSize: whole.length + 1 }));
    expect(size.name).toBe("InvalidRequest");
    const ok = await complete("full-bad", UploadId, done, { MpuObjectSize: whole.length });
    expect(ok.ChecksumCRC32).toBe(b64crc32(whole));
  });
});

test("impossible algorithm/type pairs are refused at CreateMultipartUpload", async () => {
  const create = (alg: ChecksumAlgorithm, type: ChecksumType) =>
    s3Error(
      h.s3.send(
        new CreateMultipartUploadCommand({
          Bucket: bucket,
          Key: "nope",
          ChecksumAlgorithm: alg,
          ChecksumType: type,
        }),
      ),
    );
  expect((await create("SHA256", "FULL_OBJECT")).name).toBe("InvalidRequest");
  expect((await create("CRC64NVME", "COMPOSITE")).name).toBe("InvalidRequest");
});
