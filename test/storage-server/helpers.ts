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

/**
 * A SigV4-signed raw request (signed with the SDK's own signer), for inputs the SDK cannot produce:
 * malformed XML, wrong lengths, virtual-host Host headers. `path` and `query` are sent as given.
 */
export async function signedRaw(
  url: string,
  init: {
    method: string;
    path: string;
    query?: string;
    headers?: Record<string, string>;
    body?: string | Buffer;
    host?: string;
  },
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  const u = new URL(url);
  const body = init.body ?? "";
  const host = init.host ?? u.host;
  const query: Record<string, string> = {};
  for (const [k, v] of new URLSearchParams(init.query ?? "")) query[k] = v;
  const signer = new SignatureV4({
    credentials: CREDS,
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
    headers,
    body,
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
