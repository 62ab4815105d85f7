/**
 * GetObjectAttributes as the S3 API reference describes it, through the SDK: ETag (unquoted),
 * Checksum (with its type), ObjectParts for multipart objects with MaxParts / PartNumberMarker
 * pagination, StorageClass, ObjectSize — and 4xx, never 500, for a client's mistakes.
 */
import { createHash, randomBytes } from "node:crypto";
import {
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  GetObjectAttributesCommand,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
} from "@aws-sdk/client-s3";
import type { ChecksumAlgorithm } from "@aws-sdk/client-s3";
import { describe, expect, test } from "vitest";
import { CREDS, errorCode, harnessWithBucket, s3Error, signedRaw } from "./helpers.js";
import type { Harness } from "./helpers.js";

let h: Harness;
let bucket: string;
harnessWithBucket("attr", (harness, name) => ([h, bucket] = [harness, name]));

const ALL = ["ETag", "Checksum", "ObjectParts", "StorageClass", "ObjectSize"] as const;
const sha256 = (b: Buffer): Buffer => createHash("sha256").update(b).digest();
const md5 = (b: Buffer): string => createHash("md5").update(b).digest("hex");

async function multipart(
  s3: S3Client,
  key: string,
  parts: Buffer[],
  algorithm?: ChecksumAlgorithm,
): Promise<string> {
  const created = await s3.send(
    new CreateMultipartUploadCommand({
      Bucket: bucket,
      Key: key,
      ...(algorithm ? { ChecksumAlgorithm: algorithm } : {}),
    }),
  );
  const done = [];
  for (const [i, body] of parts.entries()) {
    const r = await s3.send(
      new UploadPartCommand({
        Bucket: bucket,
        Key: key,
        UploadId: created.UploadId!,
        PartNumber: i + 1,
        Body: body,
        ...(algorithm ? { ChecksumAlgorithm: algorithm } : {}),
      }),
    );
    done.push({
      PartNumber: i + 1,
      ETag: r.ETag!,
      ...(algorithm ? { ChecksumSHA256: r.ChecksumSHA256! } : {}),
    });
  }
  const c = await s3.send(
    new CompleteMultipartUploadCommand({
      Bucket: bucket,
      Key: key,
      UploadId: created.UploadId!,
      MultipartUpload: { Parts: done },
    }),
  );
  return c.ETag!;
}

describe("GetObjectAttributes", () => {
  test("a single-part object: ETag, full-object checksum, size, storage class, no ObjectParts", async () => {
    const body = randomBytes(1024);
    const sum = sha256(body).toString("base64");
    await h.s3.send(new PutObjectCommand({ Bucket: bucket, Key: "single", Body: body, ChecksumSHA256: sum }));
    const a = await h.s3.send(
      new GetObjectAttributesCommand({ Bucket: bucket, Key: "single", ObjectAttributes: [...ALL] }),
    );
    expect(a.ETag).toBe(md5(body));
    expect(a.ObjectSize).toBe(1024);
    expect(a.StorageClass).toBe("STANDARD");
    expect(a.Checksum?.ChecksumSHA256).toBe(sum);
    expect(a.Checksum?.ChecksumType).toBe("FULL_OBJECT");
    expect(a.ObjectParts).toBeUndefined();
    expect(a.LastModified).toBeInstanceOf(Date);

    // Only what was asked for.
    const some = await h.s3.send(
      new GetObjectAttributesCommand({ Bucket: bucket, Key: "single", ObjectAttributes: ["ObjectSize"] }),
    );
    expect(some.ObjectSize).toBe(1024);
    expect(some.ETag).toBeUndefined();
    expect(some.Checksum).toBeUndefined();
  });

  test("a multipart object with SHA256: composite checksum, per-part checksums, paginated parts", async () => {
    const parts = [randomBytes(5 * 1024 * 1024), randomBytes(5 * 1024 * 1024), randomBytes(1000)];
    const etag = await multipart(h.s3, "mpu-sha", parts, "SHA256");
    const composite = sha256(Buffer.concat(parts.map(sha256))).toString("base64");

    const a = await h.s3.send(
      new GetObjectAttributesCommand({ Bucket: bucket, Key: "mpu-sha", ObjectAttributes: [...ALL] }),
    );
    expect(a.ETag).toBe(etag.replace(/"/g, ""));
    expect(a.ETag).toMatch(/-3$/);
    expect(a.ObjectSize).toBe(10 * 1024 * 1024 + 1000);
    expect(a.Checksum?.ChecksumSHA256).toBe(composite);
    expect(a.Checksum?.ChecksumType).toBe("COMPOSITE");
    expect(a.ObjectParts?.TotalPartsCount).toBe(3);
    expect(a.ObjectParts?.IsTruncated).toBe(false);
    expect(a.ObjectParts?.Parts?.map((p) => [p.PartNumber, p.Size, p.ChecksumSHA256])).toEqual(
      parts.map((p, i) => [i + 1, p.length, sha256(p).toString("base64")]),
    );

    const page1 = await h.s3.send(
      new GetObjectAttributesCommand({
        Bucket: bucket,
        Key: "mpu-sha",
        ObjectAttributes: ["ObjectParts"],
        MaxParts: 2,
      }),
    );
    expect(page1.ObjectParts?.Parts?.map((p) => p.PartNumber)).toEqual([1, 2]);
    expect(page1.ObjectParts?.IsTruncated).toBe(true);
    expect(page1.ObjectParts?.MaxParts).toBe(2);
    expect(page1.ObjectParts?.NextPartNumberMarker).toBe("2");
    const page2 = await h.s3.send(
      new GetObjectAttributesCommand({
        Bucket: bucket,
        Key: "mpu-sha",
        ObjectAttributes: ["ObjectParts"],
        MaxParts: 2,
        PartNumberMarker: page1.ObjectParts!.NextPartNumberMarker!,
      }),
    );
    expect(page2.ObjectParts?.Parts?.map((p) => p.PartNumber)).toEqual([3]);
    expect(page2.ObjectParts?.IsTruncated).toBe(false);
    expect(page2.ObjectParts?.PartNumberMarker).toBe("2");
  });

  test("a multipart object uploaded without a checksum algorithm: the part count, no Part list", async () => {
    const plain = new S3Client({
      endpoint: h.server.url,
      region: "auto",
      credentials: CREDS,
      requestChecksumCalculation: "WHEN_REQUIRED",
    });
    try {
      await multipart(plain, "mpu-plain", [randomBytes(5 * 1024 * 1024), randomBytes(10)]);
      const a = await plain.send(
        new GetObjectAttributesCommand({ Bucket: bucket, Key: "mpu-plain", ObjectAttributes: [...ALL] }),
      );
      expect(a.ObjectParts?.TotalPartsCount).toBe(2);
      expect(a.ObjectParts?.Parts).toBeUndefined();
      expect(a.ObjectSize).toBe(5 * 1024 * 1024 + 10);
    } finally {
      plain.destroy();
    }
  });

  test("client mistakes are 4xx: missing key, bad or missing attribute list, other version, bad max-parts", async () => {
    const missing = await s3Error(
      h.s3.send(new GetObjectAttributesCommand({ Bucket: bucket, Key: "nope", ObjectAttributes: ["ETag"] })),
    );
    expect(missing.name).toBe("NoSuchKey");
    const version = await s3Error(
      h.s3.send(
        new GetObjectAttributesCommand({
          Bucket: bucket,
          Key: "single",
          VersionId: "abc",
          ObjectAttributes: ["ETag"],
        }),
      ),
    );
    expect(version.name).toBe("NoSuchVersion");
    const nobucket = await s3Error(
      h.s3.send(
        new GetObjectAttributesCommand({ Bucket: "no-such-bkt", Key: "k", ObjectAttributes: ["ETag"] }),
      ),
    );
    expect(nobucket.name).toBe("NoSuchBucket");
    const cases: Record<string, string>[] = [
      {},
      { "x-amz-object-attributes": "" },
      { "x-amz-object-attributes": "ETag,Colour" },
      { "x-amz-object-attributes": "ObjectParts", "x-amz-max-parts": "-1" },
      { "x-amz-object-attributes": "ObjectParts", "x-amz-part-number-marker": "x" },
    ];
    for (const headers of cases) {
      const r = await signedRaw(h.server.url, {
        method: "GET",
        path: `/${bucket}/single`,
        query: "attributes",
        headers,
      });
      expect(r.status, JSON.stringify(headers)).toBe(400);
      expect(errorCode(r.body)).toBe("InvalidArgument");
    }
  });
});
