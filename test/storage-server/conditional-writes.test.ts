/**
 * Conditional writes as S3 documents them (PutObject and CompleteMultipartUpload): If-None-Match
 * takes only `*`, If-Match needs an existing object, and a condition that stops holding while the
 * upload is in flight is a 409 ConditionalRequestConflict.
 */
import { randomBytes } from "node:crypto";
import { request } from "node:http";
import {
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  PutObjectCommand,
  UploadPartCommand,
} from "@aws-sdk/client-s3";
import { describe, expect, test } from "vitest";
import { errorCode, harnessWithBucket, s3Error, tempFiles } from "./helpers.js";
import { waitFor } from "../helpers/wait.js";
import type { Harness } from "./helpers.js";
import { signHeaders } from "./wire.js";

let h: Harness;
let bucket: string;
harnessWithBucket("cond", (harness, name) => ([h, bucket] = [harness, name]));

async function text(key: string): Promise<string> {
  const r = await h.s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return r.Body!.transformToString();
}

describe("PutObject", () => {
  test("If-None-Match with an ETag (not `*`) → 501 NotImplemented, as S3; nothing written", async () => {
    const put = await h.s3.send(new PutObjectCommand({ Bucket: bucket, Key: "inm", Body: "v1" }));
    for (const value of [put.ETag!, `"0123456789abcdef0123456789abcdef"`]) {
      const e = await s3Error(
        h.s3.send(new PutObjectCommand({ Bucket: bucket, Key: "inm", Body: "v2", IfNoneMatch: value })),
      );
      expect(e.name).toBe("NotImplemented");
      expect(e.$metadata.httpStatusCode).toBe(501);
    }
    expect(await text("inm")).toBe("v1");
    // If-Match and If-None-Match together are not a combination S3 implements either.
    const both = await s3Error(
      h.s3.send(
        new PutObjectCommand({
          Bucket: bucket,
          Key: "inm",
          Body: "v2",
          IfNoneMatch: "*",
          IfMatch: put.ETag!,
        }),
      ),
    );
    expect(both.$metadata.httpStatusCode).toBe(501);
  });

  test("If-Match on a missing key → 404 NoSuchKey; wrong ETag → 412; right ETag replaces", async () => {
    const missing = await s3Error(
      h.s3.send(new PutObjectCommand({ Bucket: bucket, Key: "im-missing", Body: "x", IfMatch: '"abc"' })),
    );
    expect(missing.name).toBe("NoSuchKey");
    expect(missing.$metadata.httpStatusCode).toBe(404);
    const star = await s3Error(
      h.s3.send(new PutObjectCommand({ Bucket: bucket, Key: "im-missing", Body: "x", IfMatch: "*" })),
    );
    expect(star.name).toBe("NoSuchKey");

    const v1 = await h.s3.send(new PutObjectCommand({ Bucket: bucket, Key: "im", Body: "v1" }));
    const wrong = await s3Error(
      h.s3.send(new PutObjectCommand({ Bucket: bucket, Key: "im", Body: "v2", IfMatch: '"abc"' })),
    );
    expect(wrong.name).toBe("PreconditionFailed");
    expect(wrong.$metadata.httpStatusCode).toBe(412);
    await h.s3.send(new PutObjectCommand({ Bucket: bucket, Key: "im", Body: "v2", IfMatch: v1.ETag! }));
    expect(await text("im")).toBe("v2");
  });
});

describe("CompleteMultipartUpload", () => {
  async function upload(
    key: string,
  ): Promise<{ uploadId: string; parts: { PartNumber: number; ETag: string }[] }> {
    const created = await h.s3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key }));
    const part = await h.s3.send(
      new UploadPartCommand({
        Bucket: bucket,
        Key: key,
        UploadId: created.UploadId!,
        PartNumber: 1,
        Body: Buffer.from(`mpu of ${key}`),
      }),
    );
    return { uploadId: created.UploadId!, parts: [{ PartNumber: 1, ETag: part.ETag! }] };
  }
  const complete = (
    key: string,
    u: { uploadId: string; parts: { PartNumber: number; ETag: string }[] },
    cond: { IfMatch?: string; IfNoneMatch?: string } = {},
  ) =>
    h.s3.send(
      new CompleteMultipartUploadCommand({
        Bucket: bucket,
        Key: key,
        UploadId: u.uploadId,
        MultipartUpload: { Parts: u.parts },
        ...cond,
      }),
    );

  test("If-None-Match: * on an existing key → 412, and the upload can still be completed", async () => {
    await h.s3.send(new PutObjectCommand({ Bucket: bucket, Key: "mpu-inm", Body: "old" }));
    const u = await upload("mpu-inm");
    const e = await s3Error(complete("mpu-inm", u, { IfNoneMatch: "*" }));
    expect(e.name).toBe("PreconditionFailed");
    expect(e.$metadata.httpStatusCode).toBe(412);
    expect(await text("mpu-inm")).toBe("old");
    await complete("mpu-inm", u);
    expect(await text("mpu-inm")).toBe("mpu of mpu-inm");
    // On a new key it creates.
    const fresh = await upload("mpu-new");
    await complete("mpu-new", fresh, { IfNoneMatch: "*" });
    expect(await text("mpu-new")).toBe("mpu of mpu-new");
  });

  test("If-Match: missing key → 404 NoSuchKey, wrong ETag → 412, right ETag → completes", async () => {
    const u = await upload("mpu-im");
    const missing = await s3Error(complete("mpu-im", u, { IfMatch: '"abc"' }));
    expect(missing.name).toBe("NoSuchKey");
    const v1 = await h.s3.send(new PutObjectCommand({ Bucket: bucket, Key: "mpu-im", Body: "v1" }));
    const wrong = await s3Error(complete("mpu-im", u, { IfMatch: '"abc"' }));
    expect(wrong.name).toBe("PreconditionFailed");
    const done = await complete("mpu-im", u, { IfMatch: v1.ETag! });
    expect(done.ETag).toMatch(/-1"$/);
    expect(await text("mpu-im")).toBe("mpu of mpu-im");
  });

  test("If-None-Match with an ETag → 501 NotImplemented", async () => {
    const u = await upload("mpu-501");
    const e = await s3Error(complete("mpu-501", u, { IfNoneMatch: '"abc"' }));
    expect(e.$metadata.httpStatusCode).toBe(501);
    expect(e.name).toBe("NotImplemented");
  });
});

describe("a write that changes the key while a conditional upload is in flight", () => {
  /**
   * Starts a conditional PUT whose body is held back half-way, runs `meanwhile`, then sends the rest.
   * Resolves with the status and error code of the held-back PUT.
   */
  async function heldBack(
    key: string,
    condition: Record<string, string>,
    meanwhile: () => Promise<unknown>,
  ): Promise<{ status: number; code: string | undefined }> {
    const body = randomBytes(100_000);
    const path = `/${bucket}/${key}`;
    const headers = await signHeaders(
      h.server.url,
      "PUT",
      path,
      { "content-length": String(body.length), ...condition },
      "UNSIGNED-PAYLOAD",
    );
    const u = new URL(h.server.url);
    return new Promise((resolve, reject) => {
      const req = request({ host: u.hostname, port: u.port, method: "PUT", path, headers }, (res) => {
        let data = "";
        res.setEncoding("utf8").on("data", (c: string) => (data += c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, code: errorCode(data) }));
      });
      req.on("error", reject);
      req.write(body.subarray(0, 50_000));
      // Once the server has taken the request (passed the up-front check, streams the body to a temp
      // file), the other write; then the rest of the body.
      waitFor(async () => (await tempFiles(h.root)).length > 0)
        .then(meanwhile)
        .then(() => req.end(body.subarray(50_000)), reject);
    });
  }

  test("If-None-Match: * → 409 ConditionalRequestConflict when another PUT created the key meanwhile", async () => {
    const r = await heldBack("race-create", { "if-none-match": "*" }, () =>
      h.s3.send(
        new PutObjectCommand({ Bucket: bucket, Key: "race-create", Body: "winner", IfNoneMatch: "*" }),
      ),
    );
    expect(r).toEqual({ status: 409, code: "ConditionalRequestConflict" });
    expect(await text("race-create")).toBe("winner");
  });

  test("If-Match → 409 ConditionalRequestConflict when the object was replaced meanwhile", async () => {
    const v1 = await h.s3.send(new PutObjectCommand({ Bucket: bucket, Key: "race-replace", Body: "v1" }));
    const r = await heldBack("race-replace", { "if-match": v1.ETag! }, () =>
      h.s3.send(new PutObjectCommand({ Bucket: bucket, Key: "race-replace", Body: "v2" })),
    );
    expect(r).toEqual({ status: 409, code: "ConditionalRequestConflict" });
    expect(await text("race-replace")).toBe("v2");
  });
});
