/**
 * Bad input gets the S3 error clients expect and changes nothing: malformed XML, invalid bucket names,
 * over-long keys, path-like keys, lying Content-Length, truncated uploads, bad credentials, and
 * `Expect: 100-continue` on a request that will fail.
 */
import { createHash, randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { request } from "node:http";
import { connect } from "node:net";
import { dirname, join } from "node:path";
import {
  CreateBucketCommand,
  GetObjectCommand,
  HeadObjectCommand,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
} from "@aws-sdk/client-s3";
import { Sha256 } from "@aws-crypto/sha256-js";
import { SignatureV4 } from "@smithy/signature-v4";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { CREDS, errorCode, s3Error, signedRaw, startHarness, tempFiles, uniqueBucket } from "./helpers.js";
import { waitFor } from "../helpers/wait.js";
import type { Harness } from "./helpers.js";

let h: Harness;
let bucket: string;
beforeAll(async () => {
  h = await startHarness();
  bucket = uniqueBucket("bad");
  await h.s3.send(new CreateBucketCommand({ Bucket: bucket }));
});
afterAll(async () => {
  await h.close();
});

async function exists(key: string): Promise<boolean> {
  try {
    await h.s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
    return true;
  } catch (error) {
    if (error instanceof S3ServiceException && error.name === "NotFound") return false;
    throw error;
  }
}

/** SigV4 headers for a request we then send by hand over a raw socket. */
async function signHeaders(
  method: string,
  path: string,
  headers: Record<string, string>,
  payloadHash: string,
): Promise<Record<string, string>> {
  const u = new URL(h.server.url);
  const signer = new SignatureV4({
    credentials: CREDS,
    region: "auto",
    service: "s3",
    sha256: Sha256,
    uriEscapePath: false,
  });
  const signed = await signer.sign({
    method,
    protocol: "http:",
    hostname: u.hostname,
    port: Number(u.port),
    path,
    headers: { host: u.host, "x-amz-content-sha256": payloadHash, ...headers },
  });
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(signed.headers)) out[k] = String(v);
  return out;
}

function rawHead(method: string, path: string, headers: Record<string, string>): string {
  return `${method} ${path} HTTP/1.1\r\n${Object.entries(headers)
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join("")}\r\n`;
}

/** Until the server has finished with every request body it took (stored or discarded). */
const tmpEmpty = () => waitFor(async () => (await tempFiles(h.root)).length === 0);

describe("malformed XML", () => {
  test("DeleteObjects, CompleteMultipartUpload, CreateBucket and PutObjectTagging answer MalformedXML", async () => {
    const bad = "<Delete><Object><Key>a</Key></Object>";
    const md5 = createHash("md5").update(bad).digest("base64");
    const d = await signedRaw(h.server.url, {
      method: "POST",
      path: `/${bucket}`,
      query: "delete=",
      body: bad,
      headers: { "content-md5": md5 },
    });
    expect(d.status).toBe(400);
    expect(errorCode(d.body)).toBe("MalformedXML");
    const notXml = await signedRaw(h.server.url, {
      method: "PUT",
      path: `/${uniqueBucket("x")}`,
      body: "this is not xml",
    });
    expect(errorCode(notXml.body)).toBe("MalformedXML");
    await h.s3.send(new PutObjectCommand({ Bucket: bucket, Key: "tag-me", Body: "x" }));
    const t = await signedRaw(h.server.url, {
      method: "PUT",
      path: `/${bucket}/tag-me`,
      query: "tagging=",
      body: "<Tagging><TagSet><Tag><Key>k</Key></TagSet></Tagging>",
    });
    expect(errorCode(t.body)).toBe("MalformedXML");
    const init = await signedRaw(h.server.url, { method: "POST", path: `/${bucket}/mp`, query: "uploads=" });
    const uploadId = /<UploadId>([^<]+)<\/UploadId>/.exec(init.body)![1]!;
    const c = await signedRaw(h.server.url, {
      method: "POST",
      path: `/${bucket}/mp`,
      query: `uploadId=${encodeURIComponent(uploadId)}`,
      body: "<CompleteMultipartUpload><Part>",
    });
    expect(c.status).toBe(400);
    expect(errorCode(c.body)).toBe("MalformedXML");
  });
});

describe("names and keys", () => {
  test("invalid bucket names → InvalidBucketName, nothing created", async () => {
    for (const name of [
      "ab",
      "UPPER-case",
      "a..b",
      "192.168.1.1",
      "-leading",
      "trailing-",
      "has_underscore",
      "x".repeat(64),
      "xn--punycode",
    ]) {
      const r = await signedRaw(h.server.url, { method: "PUT", path: `/${encodeURIComponent(name)}` });
      expect(r.status, name).toBe(400);
      expect(errorCode(r.body), name).toBe("InvalidBucketName");
    }
    const list = await signedRaw(h.server.url, { method: "GET", path: "/" });
    expect(list.body).not.toContain("UPPER");
  });

  test("a 1025-byte key → KeyTooLongError; 1024 bytes is fine", async () => {
    const e = await s3Error(
      h.s3.send(new PutObjectCommand({ Bucket: bucket, Key: "k".repeat(1025), Body: "x" })),
    );
    expect(e.name).toBe("KeyTooLongError");
    expect(e.$metadata.httpStatusCode).toBe(400);
    // Multi-byte characters count in bytes: 342 × 3 bytes = 1026.
    expect(
      (await s3Error(h.s3.send(new PutObjectCommand({ Bucket: bucket, Key: "€".repeat(342), Body: "x" }))))
        .name,
    ).toBe("KeyTooLongError");
    await h.s3.send(new PutObjectCommand({ Bucket: bucket, Key: "k".repeat(1024), Body: "ok" }));
    expect(await exists("k".repeat(1024))).toBe(true);
  });

  test("`..` keys never touch the filesystem as paths", async () => {
    const escape = `escape-${randomBytes(4).toString("hex")}`;
    const key = `../../../${escape}`;
    await h.s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: "contained" }));
    const got = await h.s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    expect(await got.Body!.transformToString()).toBe("contained");
    for (let dir = h.root, i = 0; i < 4; i++, dir = dirname(dir))
      expect(existsSync(join(dir, escape))).toBe(false);
    expect(await exists(escape)).toBe(false);
  });
});

describe("bodies", () => {
  test("a Content-Length shorter than the signed body → XAmzContentSHA256Mismatch, nothing stored", async () => {
    const full = Buffer.from("x".repeat(100));
    const sha = createHash("sha256").update(full).digest("hex");
    const key = "short-length";
    const path = `/${bucket}/${key}`;
    const headers = await signHeaders("PUT", path, { "content-length": "50" }, sha);
    const status = await new Promise<number>((resolve, reject) => {
      const sock = connect(Number(new URL(h.server.url).port), "127.0.0.1");
      let data = "";
      sock.on("data", (d) => {
        data += d.toString();
        const m = /^HTTP\/1\.1 (\d+)/.exec(data);
        if (m && data.includes("\r\n\r\n")) {
          resolve(Number(m[1]));
          sock.destroy();
        }
      });
      sock.on("error", reject);
      sock.write(rawHead("PUT", path, headers));
      sock.write(full.subarray(0, 50));
    });
    expect(status).toBe(400);
    expect(await exists(key)).toBe(false);
  });

  test("a client disconnecting mid-body stores nothing and leaves no temp file", async () => {
    const key = "truncated";
    const path = `/${bucket}/${key}`;
    const headers = await signHeaders(
      "PUT",
      path,
      { "content-length": String(4 * 1024 * 1024) },
      "UNSIGNED-PAYLOAD",
    );
    await new Promise<void>((resolve, reject) => {
      const sock = connect(Number(new URL(h.server.url).port), "127.0.0.1", () => {
        sock.write(rawHead("PUT", path, headers));
        sock.write(randomBytes(1024 * 1024), () => {
          // Once the server streams the body to a temp file, vanish.
          waitFor(async () => (await tempFiles(h.root)).length > 0).then(() => {
            sock.destroy();
            resolve();
          }, reject);
        });
      });
      sock.on("error", reject);
    });
    await tmpEmpty();
    expect(await exists(key)).toBe(false);
  });

  test("Expect: 100-continue — refused before the body when the bucket is missing, accepted otherwise", async () => {
    const body = Buffer.from("continued body");
    const sha = createHash("sha256").update(body).digest("hex");
    const send = async (path: string) => {
      const headers = await signHeaders(
        "PUT",
        path,
        { "content-length": String(body.length), expect: "100-continue" },
        sha,
      );
      return new Promise<{ status: number; continued: boolean }>((resolve, reject) => {
        const u = new URL(h.server.url);
        let continued = false;
        const req = request({ host: u.hostname, port: u.port, method: "PUT", path, headers }, (res) => {
          res.resume();
          res.on("end", () => resolve({ status: res.statusCode ?? 0, continued }));
        });
        req.on("continue", () => {
          continued = true;
          req.end(body);
        });
        req.on("error", reject);
      });
    };
    const missing = await send("/no-such-bucket-xyz/key");
    expect(missing).toEqual({ status: 404, continued: false });
    const ok = await send(`/${bucket}/continued`);
    expect(ok).toEqual({ status: 200, continued: true });
    const got = await h.s3.send(new GetObjectCommand({ Bucket: bucket, Key: "continued" }));
    expect(await got.Body!.transformToString()).toBe("continued body");
  });
});

describe("credentials", () => {
  test("wrong secret → SignatureDoesNotMatch, unknown key → InvalidAccessKeyId", async () => {
    const wrong = new S3Client({
      endpoint: h.server.url,
      region: "auto",
      credentials: { ...CREDS, secretAccessKey: "wrong-secret" },
    });
    const e1 = await s3Error(wrong.send(new HeadObjectCommand({ Bucket: bucket, Key: "tag-me" })));
    expect(e1.$metadata.httpStatusCode).toBe(403);
    const e2 = await s3Error(wrong.send(new GetObjectCommand({ Bucket: bucket, Key: "tag-me" })));
    expect(e2.name).toBe("SignatureDoesNotMatch");
    wrong.destroy();
    const unknown = new S3Client({
      endpoint: h.server.url,
      region: "auto",
      credentials: { accessKeyId: "NOPE", secretAccessKey: "x" },
    });
    expect((await s3Error(unknown.send(new GetObjectCommand({ Bucket: bucket, Key: "tag-me" })))).name).toBe(
      "InvalidAccessKeyId",
    );
    unknown.destroy();
    // A rejected write changes nothing.
    const w = new S3Client({
      endpoint: h.server.url,
      region: "auto",
      credentials: { ...CREDS, secretAccessKey: "wrong-secret" },
    });
    await s3Error(w.send(new PutObjectCommand({ Bucket: bucket, Key: "not-written", Body: "x" })));
    w.destroy();
    expect(await exists("not-written")).toBe(false);
  });
});
