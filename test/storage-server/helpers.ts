/**
 * Shared setup for the storage-server tests: a server on a fresh temp root with one access key, and
 * real SDK clients pointed at it (IP endpoint ⇒ path-style, region "auto" as Tigris uses).
 */
import { createHash, randomBytes } from "node:crypto";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CreateBucketCommand, S3Client, S3ServiceException } from "@aws-sdk/client-s3";
import { Sha256 } from "@aws-crypto/sha256-js";
import { S3RequestPresigner } from "@aws-sdk/s3-request-presigner";
import { SignatureV4 } from "@smithy/signature-v4";
import { afterAll, beforeAll, expect } from "vitest";
import { startStorageServer } from "../../src/storage-server/index.js";
import type { StorageServer } from "../../src/storage-server/index.js";

export const CREDS = {
  accessKeyId: "FSTESTACCESSKEY00001",
  secretAccessKey: "test-secret-key-0123456789abcdefghijklmn",
};

/**
 * The files in the store's temp folder. A body being received streams into one from the moment the
 * server accepts the request (store/blobs.ts), and it is gone once the server has finished with the
 * request, stored or not: the events the cut-connection tests wait on instead of a delay.
 */
export function tempFiles(root: string): Promise<string[]> {
  return readdir(join(root, "tmp"));
}

export interface Harness {
  readonly root: string;
  readonly server: StorageServer;
  readonly s3: S3Client;
  close(): Promise<void>;
}

export async function startHarness(clientOptions: Record<string, unknown> = {}): Promise<Harness> {
  const root = await mkdtemp(join(tmpdir(), "fs-s3-"));
  const server = await startStorageServer({ root, credentials: [CREDS], log: (l) => console.error(l) });
  const s3 = new S3Client({ endpoint: server.url, region: "auto", credentials: CREDS, ...clientOptions });
  return {
    root,
    server,
    s3,
    async close() {
      s3.destroy();
      await server.close();
      await rm(root, { recursive: true, force: true });
    },
  };
}

/**
 * The usual per-file set-up: one server and client for the file (`beforeAll`), one fresh bucket in
 * it, closed after the file (`afterAll`). `use` receives both once they are ready.
 */
export function harnessWithBucket(prefix: string, use: (h: Harness, bucket: string) => void): void {
  let harness: Harness | undefined;
  beforeAll(async () => {
    harness = await startHarness();
    const bucket = uniqueBucket(prefix);
    await harness.s3.send(new CreateBucketCommand({ Bucket: bucket }));
    use(harness, bucket);
  });
  afterAll(async () => {
    await harness?.close();
  });
}

/**
 * A client to presign URLs with as an app does for browsers: no checksum baked into presigned PUTs
 * (the SDK's default signs the CRC32 of an empty body into them), so any body can go to them.
 */
export function browserPresigner(endpoint: string): S3Client {
  return new S3Client({
    endpoint,
    region: "auto",
    credentials: CREDS,
    requestChecksumCalculation: "WHEN_REQUIRED",
  });
}

export function uniqueBucket(prefix = "b"): string {
  return `${prefix}-${randomBytes(4).toString("hex")}`;
}

/** A raw HTTP exchange (for requests the SDK cannot express, e.g. malformed bodies). */
export function raw(
  url: string,
  init: { method: string; path: string; headers?: Record<string, string>; body?: string | Buffer },
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const req = request(
      { host: u.hostname, port: u.port, method: init.method, path: init.path, headers: init.headers },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks).toString("utf8"),
          }),
        );
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end(init.body);
  });
}

export interface RawRequest {
  method: string;
  path: string;
  query?: string;
  /** Sent and signed. */
  headers?: Record<string, string>;
  /** Sent after signing, so the signature does not cover them. */
  unsigned?: Record<string, string>;
  body?: string | Buffer;
  host?: string;
  /** @default CREDS */
  credentials?: { accessKeyId: string; secretAccessKey: string };
}

export type RawReply = {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
};

/**
 * A SigV4-signed raw request (signed with the SDK's own signer), for inputs the SDK cannot produce:
 * malformed XML, wrong lengths, virtual-host Host headers, headers left unsigned. `path` and `query`
 * are sent as given.
 */
export async function signedRaw(url: string, init: RawRequest): Promise<RawReply> {
  const u = new URL(url);
  const body = init.body ?? "";
  const host = init.host ?? u.host;
  const query: Record<string, string> = {};
  for (const [k, v] of new URLSearchParams(init.query ?? "")) query[k] = v;
  const signer = new SignatureV4({
    credentials: init.credentials ?? CREDS,
    region: "auto",
    service: "s3",
    sha256: Sha256,
    uriEscapePath: false,
  });
  const signed = await signer.sign({
    method: init.method,
    protocol: "http:",
    hostname: host.replace(/:\d+$/, ""),
    ...(u.port ? { port: Number(u.port) } : {}),
    path: init.path,
    query,
    headers: {
      host,
      "x-amz-content-sha256": createHash("sha256").update(body).digest("hex"),
      ...init.headers,
    },
  });
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(signed.headers)) headers[k] = String(v);
  return raw(url, {
    method: init.method,
    path: init.query ? `${init.path}?${init.query}` : init.path,
    headers: { ...headers, ...init.unsigned },
    body,
  });
}

/**
 * The same request through a presigned URL made by the SDK's S3 presigner (`getSignedUrl`'s): it
 * moves `x-amz-*` headers into the signed query unless `unhoistable`, signs the others in
 * X-Amz-SignedHeaders, and the request is sent with those plus `unsigned`.
 */
export async function presignedRaw(
  url: string,
  init: RawRequest & { unhoistable?: readonly string[] },
): Promise<RawReply> {
  const u = new URL(url);
  const query: Record<string, string> = {};
  for (const [k, v] of new URLSearchParams(init.query ?? "")) query[k] = v;
  const presigner = new S3RequestPresigner({ credentials: CREDS, region: "auto", sha256: Sha256 });
  const presigned = await presigner.presign(
    {
      method: init.method,
      protocol: "http:",
      hostname: u.hostname,
      port: Number(u.port),
      path: init.path,
      query,
      headers: { ...init.headers },
    },
    { expiresIn: 300, unhoistableHeaders: new Set(init.unhoistable ?? []) },
  );
  const search = Object.entries(presigned.query ?? {})
    .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(String(v))}`)
    .join("&");
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(presigned.headers)) headers[k] = String(v);
  return raw(url, {
    method: init.method,
    path: `${init.path}?${search}`,
    headers: { ...headers, ...init.unsigned },
    ...(init.body !== undefined ? { body: init.body } : {}),
  });
}

/** Reads an S3 error code out of an error XML body. */
export function errorCode(body: string): string | undefined {
  return /<Code>([^<]*)<\/Code>/.exec(body)?.[1];
}

/** The S3 error a request fails with (and a test failure if it succeeds). */
export async function s3Error(p: Promise<unknown>): Promise<S3ServiceException> {
  try {
    await p;
  } catch (error) {
    expect(error).toBeInstanceOf(S3ServiceException);
    return error as S3ServiceException;
  }
  throw new Error("expected the request to fail");
}
