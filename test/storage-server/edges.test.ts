/**
 * Protocol edges measured against S3 (issue 8 §1): checksum values that are wrong in any position,
 * keys with a NUL byte, absolute-form request targets, and a sweep of odd requests none of which may
 * be answered 500.
 */
import { createHash, randomBytes } from "node:crypto";
import { crc32 } from "node:zlib";
import { Crc32c } from "@aws-crypto/crc32c";
import { Crc64Nvme } from "@aws-sdk/crc64-nvme";
import {
  CreateMultipartUploadCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  ListPartsCommand,
  PutObjectCommand,
  UploadPartCommand,
} from "@aws-sdk/client-s3";
import type { ChecksumAlgorithm } from "@aws-sdk/client-s3";
import { describe, expect, test } from "vitest";
import { errorCode, harnessWithBucket, s3Error, signedRaw } from "./helpers.js";
import type { Harness } from "./helpers.js";
import { exchange, requestHead, signHeaders } from "./wire.js";

let h: Harness;
let bucket: string;
harnessWithBucket("edge", (harness, name) => ([h, bucket] = [harness, name]));

async function checksumOf(alg: ChecksumAlgorithm, data: Buffer): Promise<string> {
  switch (alg) {
    case "CRC32": {
      const b = Buffer.alloc(4);
      b.writeUInt32BE(crc32(data) >>> 0);
      return b.toString("base64");
    }
    case "CRC32C": {
      const b = Buffer.alloc(4);
      b.writeUInt32BE(new Crc32c().update(data).digest() >>> 0);
      return b.toString("base64");
    }
    case "CRC64NVME": {
      const c = new Crc64Nvme();
      c.update(data);
      return Buffer.from(await c.digest()).toString("base64");
    }
    default:
      return createHash(alg.toLowerCase()).update(data).digest("base64");
  }
}

/** `value` with the character at `i` replaced by a different base64 character. */
function alter(value: string, i: number): string {
  const c = value[i] === "A" ? "B" : "A";
  return value.slice(0, i) + c + value.slice(i + 1);
}

describe("checksums", () => {
  const ALGORITHMS: ChecksumAlgorithm[] = ["CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256"];
  test.each(ALGORITHMS)("a wrong x-amz-checksum-%s value is BadDigest, wherever it differs", async (alg) => {
    const body = randomBytes(3000);
    const right = await checksumOf(alg, body);
    const put = await h.s3.send(
      new PutObjectCommand({ Bucket: bucket, Key: `sum-${alg}`, Body: body, [`Checksum${alg}`]: right }),
    );
    expect(put[`Checksum${alg}` as "ChecksumCRC32"]).toBe(right);
    // The first character, and the last data character (whose low bits are padding for every
    // digest length here: altering it may leave the decoded bytes unchanged or not).
    const last = right.replace(/=+$/, "").length - 1;
    for (const wrong of [alter(right, 0), alter(right, last), alter(right, 2)]) {
      if (wrong === right) continue;
      const decodedSame = Buffer.from(wrong, "base64").equals(Buffer.from(right, "base64"));
      const p = h.s3.send(
        new PutObjectCommand({ Bucket: bucket, Key: `bad-${alg}`, Body: body, [`Checksum${alg}`]: wrong }),
      );
      if (decodedSame) {
        await p; // same digest bytes, only unused bits differ: S3's decoder accepts it
        continue;
      }
      const e = await s3Error(p);
      expect(e.name, `${alg} ${wrong}`).toBe("BadDigest");
      expect(e.$metadata.httpStatusCode).toBe(400);
    }
    // A value that cannot be a digest of this algorithm at all is S3's InvalidRequest.
    const e = await s3Error(
      h.s3.send(
        new PutObjectCommand({ Bucket: bucket, Key: `bad-${alg}`, Body: body, [`Checksum${alg}`]: "AAAA" }),
      ),
    );
    expect(e.name).toBe("InvalidRequest");
    expect(e.message).toBe(`Value for x-amz-checksum-${alg.toLowerCase()} header is invalid.`);
  });
});

describe("checksums on parts", () => {
  test.each(["CRC32C", "SHA1"] as ChecksumAlgorithm[])(
    "UploadPart with a wrong x-amz-checksum-%s → BadDigest, the part is not stored",
    async (alg) => {
      const key = `part-${alg}`;
      const created = await h.s3.send(
        new CreateMultipartUploadCommand({ Bucket: bucket, Key: key, ChecksumAlgorithm: alg }),
      );
      const body = randomBytes(1000);
      const right = await checksumOf(alg, body);
      const e = await s3Error(
        h.s3.send(
          new UploadPartCommand({
            Bucket: bucket,
            Key: key,
            UploadId: created.UploadId!,
            PartNumber: 1,
            Body: body,
            [`Checksum${alg}`]: alter(right, right.replace(/=+$/, "").length - 2),
          }),
        ),
      );
      expect(e.name).toBe("BadDigest");
      const parts = await h.s3.send(
        new ListPartsCommand({ Bucket: bucket, Key: key, UploadId: created.UploadId! }),
      );
      expect(parts.Parts ?? []).toEqual([]);
    },
  );
});

describe("keys with a NUL byte", () => {
  test("are refused with 400 InvalidArgument, so two keys can never merge in a listing", async () => {
    for (const key of ["nul\u0000a", "nul\u0000b"]) {
      const r = await signedRaw(h.server.url, {
        method: "PUT",
        path: `/${bucket}/${encodeURIComponent(key)}`,
        body: "x",
      });
      expect(r.status).toBe(400);
      expect(errorCode(r.body)).toBe("InvalidArgument");
      const e = await s3Error(h.s3.send(new GetObjectCommand({ Bucket: bucket, Key: key })));
      expect(e.name).toBe("InvalidArgument");
    }
    // Nothing was stored under the truncated name either.
    const list = await h.s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: "nul" }));
    expect(list.KeyCount).toBe(0);
    // CopyObject from a NUL key is refused too instead of reading the key cut at the NUL.
    await h.s3.send(new PutObjectCommand({ Bucket: bucket, Key: "nul", Body: "x" }));
    const copy = await signedRaw(h.server.url, {
      method: "PUT",
      path: `/${bucket}/copy-target`,
      headers: { "x-amz-copy-source": `/${bucket}/${encodeURIComponent("nul\u0000a")}` },
    });
    expect(copy.status).toBe(400);
    expect(errorCode(copy.body)).toBe("InvalidArgument");
  });
});

describe("absolute-form request targets", () => {
  test("GET http://host/bucket/key HTTP/1.1 is routed by its path", async () => {
    await h.s3.send(new PutObjectCommand({ Bucket: bucket, Key: "abs/dir/k.txt", Body: "absolute" }));
    const emptySha = createHash("sha256").digest("hex");
    const path = `/${bucket}/abs/dir/k.txt`;
    const headers = await signHeaders(h.server.url, "GET", path, {}, emptySha);
    const reply = await exchange(h.server.url, requestHead("GET", `${h.server.url}${path}`, headers));
    expect(reply.statuses).toEqual([200]);
    expect(reply.text.endsWith("\r\n\r\nabsolute")).toBe(true);

    // With a query (a listing), and the bucket-only form.
    const listHeaders = await signHeaders(h.server.url, "GET", `/${bucket}`, {}, emptySha, {
      "list-type": "2",
      prefix: "abs/",
    });
    const list = await exchange(
      h.server.url,
      requestHead("GET", `${h.server.url}/${bucket}?list-type=2&prefix=abs%2F`, listHeaders),
    );
    expect(list.statuses).toEqual([200]);
    expect(list.text).toContain("<Key>abs/dir/k.txt</Key>");
  });
});

describe("client mistakes are never a 500", () => {
  test("every method × sub-resource × target, and odd headers on writes and reads", async () => {
    await h.s3.send(new PutObjectCommand({ Bucket: bucket, Key: "sweep", Body: "hello" }));
    const subresources = [
      "attributes",
      "attributes&versionId=null",
      "tagging",
      "acl",
      "versions",
      "uploads",
      "uploadId=x",
      "partNumber=0",
      "partNumber=abc",
      "versionId=",
      "versionId=abc",
      "list-type=2&max-keys=-1",
      "list-type=2&continuation-token=abc",
      "max-uploads=-5",
      "publicAccessBlock",
      "cors",
      "encoding-type=foo",
      "delete",
      "restore",
      "retention",
      "object-lock",
    ];
    const cases: { method: string; path: string; query: string; headers: Record<string, string> }[] = [];
    for (const method of ["GET", "PUT", "POST", "DELETE", "HEAD"]) {
      for (const query of subresources) {
        for (const path of [`/${bucket}`, `/${bucket}/sweep`, `/${bucket}/missing`, "/no-such-bkt/k"]) {
          cases.push({ method, path, query, headers: {} });
        }
      }
    }
    const odd: Record<string, string>[] = [
      { range: "bytes=5-1" },
      { "if-modified-since": "garbage" },
      { "x-amz-tagging": "a=%%" },
      { "x-amz-copy-source": "%%%" },
      { "x-amz-copy-source-range": "bytes=9-1" },
      { "x-amz-meta-a": "\u00ff\u00fe" },
      { "x-amz-object-attributes": "ETag", "x-amz-max-parts": "99999999999999999999" },
      { "content-md5": "abc" },
      { "x-amz-checksum-crc32": "!!" },
      { "x-amz-sdk-checksum-algorithm": "md7" },
      { "if-match": "" },
      { "if-none-match": "" },
      { "x-amz-metadata-directive": "BAD" },
    ];
    for (const method of ["GET", "PUT", "POST"]) {
      for (const headers of odd) {
        for (const query of ["", "attributes", "uploads"]) {
          cases.push({ method, path: `/${bucket}/sweep-odd`, query, headers });
        }
      }
    }
    const failures: string[] = [];
    for (const c of cases) {
      const r = await signedRaw(h.server.url, {
        ...c,
        body: c.method === "PUT" || c.method === "POST" ? "<x/>" : "",
      });
      // 501 is S3's answer for what it (or this server) does not implement; 500 never is.
      if (r.status >= 500 && r.status !== 501) {
        failures.push(`${r.status} ${c.method} ${c.path}?${c.query} ${JSON.stringify(c.headers)}`);
      }
    }
    expect(failures).toEqual([]);
  });
});
