/**
 * Authentication and body integrity end to end through the running server: requests the CLI
 * clients never make (signed aws-chunked uploads, presigned URLs, disconnects, bad digests) sent
 * over real HTTP, and what each leaves in the store — a refused upload must store nothing.
 */
import { createHash, randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { crc32 } from "node:zlib";
import {
  CreateBucketCommand,
  GetObjectCommand,
  HeadObjectCommand,
  PutObjectCommand,
  S3Client,
} from "@aws-sdk/client-s3";
import { getSignedUrl } from "@aws-sdk/s3-request-presigner";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generateCredentials } from "../../../src/storage-server/auth/index.js";
import type { RequestHead } from "../../../src/storage-server/auth/index.js";
import { startStorageServer } from "../../../src/storage-server/index.js";
import type { StorageServer } from "../../../src/storage-server/index.js";
import { b64, encodeChunked, randomSizes, signHead } from "./helpers.js";
import { tempFiles } from "../helpers.js";
import { waitFor } from "../../helpers/wait.js";

const creds = generateCredentials();
const region = "us-east-1";
const bucket = "auth-e2e";
let root: string;
let server: StorageServer;
let s3: S3Client;
let host: string;

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** Sends `head` + `body` as-is. `chunked` uses Transfer-Encoding: chunked instead of Content-Length. */
function send(
  head: RequestHead,
  body?: Buffer,
  options: { chunked?: boolean; cutAfter?: number } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const headers = { ...head.headers } as Record<string, string>;
    if (options.chunked) delete headers["content-length"];
    const req = request(
      { host: "127.0.0.1", port: server.port, method: head.method, path: head.rawUrl, headers },
      (res) => {
        const parts: Buffer[] = [];
        res.on("data", (c: Buffer) => parts.push(c));
        res.on("end", () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(parts).toString(),
          }),
        );
      },
    );
    req.on("error", reject);
    if (options.cutAfter !== undefined && body !== undefined) {
      // Cut once the server streams the body to a temp file (it took the request, body and all).
      req.write(body.subarray(0, options.cutAfter), () => {
        void waitFor(async () => (await tempFiles(root)).length > 0).then(() => req.destroy());
      });
      return;
    }
    req.end(body);
  });
}

async function fetchBytes(key: string): Promise<Buffer | "NoSuchKey"> {
  try {
    const out = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    return Buffer.from(
      await (out.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray(),
    );
  } catch (error) {
    if ((error as { name?: string }).name === "NoSuchKey") return "NoSuchKey";
    throw error;
  }
}

function crc32b64(data: Buffer): string {
  const out = Buffer.alloc(4);
  out.writeUInt32BE(crc32(data));
  return b64(out);
}

/** A signed aws-chunked PUT of `data`, framed with random chunk sizes. */
async function signedChunkedPut(key: string, data: Buffer, trailer: boolean) {
  const date = new Date();
  const mode = trailer ? "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER" : "STREAMING-AWS4-HMAC-SHA256-PAYLOAD";
  const trailers = trailer ? ([["x-amz-checksum-crc32", crc32b64(data)]] as const) : undefined;
  // Content-Length is signed, so frame a body first to learn it (framing size does not depend on signatures).
  const sizes = randomSizes(data.length, 40_000).map((n) => Math.max(n, 1));
  const probe = await encodeChunked(data, sizes, {
    signing: { creds, region, date, seed: "0".repeat(64) },
    ...(trailers ? { trailers } : {}),
  });
  const head = await signHead(creds, {
    method: "PUT",
    path: `/${bucket}/${key}`,
    payloadHash: mode,
    host,
    date,
    region,
    headers: {
      "content-encoding": "aws-chunked",
      "content-length": String(probe.length),
      "x-amz-decoded-content-length": String(data.length),
      ...(trailer ? { "x-amz-trailer": "x-amz-checksum-crc32" } : {}),
    },
  });
  const seed = /Signature=([0-9a-f]{64})/.exec(String(head.headers.authorization))?.[1] ?? "";
  const body = await encodeChunked(data, sizes, {
    signing: { creds, region, date, seed },
    ...(trailers ? { trailers } : {}),
  });
  return { head, body };
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "fs-auth-e2e-"));
  server = await startStorageServer({ root, port: 0, credentials: [creds] });
  host = new URL(server.url).host;
  s3 = new S3Client({ endpoint: server.url, region: "auto", credentials: creds });
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
});

afterAll(async () => {
  s3?.destroy();
  await server?.close();
  await rm(root, { recursive: true, force: true });
});

describe("signed aws-chunked uploads through the server", () => {
  it.each([
    [false, false],
    [true, false],
    [false, true],
    [true, true],
  ])("trailer=%s transfer-encoding chunked=%s: stored bytes are exact", async (trailer, chunked) => {
    const data = randomBytes(150_000 + Math.floor(Math.random() * 50_000));
    const key = `signed/${trailer}-${chunked}.bin`;
    const { head, body } = await signedChunkedPut(key, data, trailer);
    const reply = await send(head, body, { chunked });
    expect(reply.status, reply.body).toBe(200);
    expect(reply.headers.etag).toBe(`"${createHash("md5").update(data).digest("hex")}"`);
    expect(await fetchBytes(key)).toEqual(data);
  });

  it("a corrupted chunk is refused with SignatureDoesNotMatch and stores nothing", async () => {
    const data = randomBytes(100_000);
    const { head, body } = await signedChunkedPut("signed/corrupt.bin", data, true);
    const corrupt = Buffer.from(body);
    corrupt[50_000] = (corrupt[50_000] ?? 0) ^ 0x55;
    const reply = await send(head, corrupt);
    expect(reply.status).toBe(403);
    expect(reply.body).toContain("<Code>SignatureDoesNotMatch</Code>");
    expect(await fetchBytes("signed/corrupt.bin")).toBe("NoSuchKey");
  });

  it("a failed overwrite leaves the previous version intact", async () => {
    const original = randomBytes(5000);
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: "keep.bin", Body: original }));
    const next = randomBytes(5000);
    const head = await signHead(creds, {
      method: "PUT",
      path: `/${bucket}/keep.bin`,
      payloadHash: "UNSIGNED-PAYLOAD",
      host,
      headers: {
        "content-length": String(next.length),
        "content-md5": createHash("md5").update(original).digest("base64"),
      },
    });
    const reply = await send(head, next);
    expect(reply.status).toBe(400);
    expect(reply.body).toContain("<Code>BadDigest</Code>");
    expect(await fetchBytes("keep.bin")).toEqual(original);
  });

  it("a client disconnecting mid-upload stores nothing and the server keeps serving", async () => {
    const data = randomBytes(200_000);
    const head = await signHead(creds, {
      method: "PUT",
      path: `/${bucket}/cut.bin`,
      payloadHash: "UNSIGNED-PAYLOAD",
      host,
      headers: { "content-length": String(data.length) },
    });
    await send(head, data, { cutAfter: 70_000 }).catch(() => undefined);
    // Once the server has finished with the cut request (its temp file gone), nothing was stored.
    await waitFor(async () => (await tempFiles(root)).length === 0);
    expect(await fetchBytes("cut.bin")).toBe("NoSuchKey");
    await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: "keep.bin" }));
  });

  it("UTF-8 metadata sent as raw bytes verifies", async () => {
    const data = randomBytes(100);
    const note = "café ☕";
    const head = await signHead(creds, {
      method: "PUT",
      path: `/${bucket}/meta.bin`,
      payloadHash: "UNSIGNED-PAYLOAD",
      host,
      headers: { "content-length": String(data.length), "x-amz-meta-note": note },
    });
    // Node's client refuses non-latin1 header strings; send the UTF-8 bytes one char per byte.
    const wire = {
      ...head,
      headers: { ...head.headers, "x-amz-meta-note": Buffer.from(note).toString("latin1") },
    };
    const reply = await send(wire, data);
    expect(reply.status, reply.body).toBe(200);
  });
});

describe("presigned URLs through the server", () => {
  it("GET and PUT (checksums WHEN_REQUIRED) work with plain fetch", async () => {
    const presigner = new S3Client({
      endpoint: server.url,
      region: "auto",
      credentials: creds,
      requestChecksumCalculation: "WHEN_REQUIRED",
    });
    const data = randomBytes(30_000);
    const key = "presigned/ä b+c.bin";
    const putUrl = await getSignedUrl(presigner, new PutObjectCommand({ Bucket: bucket, Key: key }), {
      expiresIn: 60,
    });
    const put = await fetch(putUrl, { method: "PUT", body: data });
    expect(put.status, await put.clone().text()).toBe(200);
    const getUrl = await getSignedUrl(presigner, new GetObjectCommand({ Bucket: bucket, Key: key }), {
      expiresIn: 60,
    });
    const got = await fetch(getUrl);
    expect(got.status).toBe(200);
    expect(Buffer.from(await got.arrayBuffer())).toEqual(data);
    presigner.destroy();
  });

  it("a default-config presigned PUT (signed empty-body CRC32) of a non-empty body → 400 BadDigest, nothing stored", async () => {
    const url = await getSignedUrl(s3, new PutObjectCommand({ Bucket: bucket, Key: "presigned/crc.bin" }), {
      expiresIn: 60,
    });
    const reply = await fetch(url, { method: "PUT", body: randomBytes(1000) });
    expect(reply.status).toBe(400);
    expect(await reply.text()).toContain("<Code>BadDigest</Code>");
    expect(await fetchBytes("presigned/crc.bin")).toBe("NoSuchKey");
  });

  it("an expired URL → 403 AccessDenied 'Request has expired'", async () => {
    const url = await getSignedUrl(s3, new GetObjectCommand({ Bucket: bucket, Key: "keep.bin" }), {
      expiresIn: 60,
      signingDate: new Date(Date.now() - 120_000),
    });
    const reply = await fetch(url);
    expect(reply.status).toBe(403);
    const text = await reply.text();
    expect(text).toContain("<Code>AccessDenied</Code>");
    expect(text).toContain("Request has expired");
  });
});
