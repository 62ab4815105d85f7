/**
 * Shared test helpers: signing with the AWS SDK's own signer (@smithy/signature-v4), building
 * aws-chunked bodies, and asserting S3 error codes. Chunk and trailer signatures are computed by
 * formatting the documented string-to-sign and letting smithy derive the key and HMAC it, so the
 * tests do not reuse the server's key derivation.
 */
import { Readable } from "node:stream";
import { Sha256 } from "@aws-crypto/sha256-js";
import { SignatureV4 } from "@smithy/signature-v4";
import { createHash } from "node:crypto";
import { expect } from "vitest";
import type { Credentials, RequestHead } from "../../../src/storage-server/auth/index.js";
import { S3Error } from "../../../src/storage-server/errors.js";

export const HOST = "127.0.0.1:9000";

/** The example keys of AWS's SigV4 documentation. */
export const AWS_EXAMPLE_CREDENTIALS: Credentials = {
  accessKeyId: "AKIAIOSFODNN7EXAMPLE",
  secretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
};

/**
 * The request of AWS's "Signature Calculations for the Authorization Header: Transferring Payload in
 * Multiple Chunks" example (STREAMING-AWS4-HMAC-SHA256-PAYLOAD, 64 KiB + 1 KiB of 'a').
 */
export const AWS_STREAMING_EXAMPLE: RequestHead = {
  method: "PUT",
  rawUrl: "/examplebucket/chunkObject.txt",
  headers: {
    host: "s3.amazonaws.com",
    "x-amz-date": "20130524T000000Z",
    "x-amz-storage-class": "REDUCED_REDUNDANCY",
    authorization:
      "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,SignedHeaders=content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-storage-class,Signature=4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9",
    "x-amz-content-sha256": "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
    "content-encoding": "aws-chunked",
    "x-amz-decoded-content-length": "66560",
    "content-length": "66824",
  },
};
export const EMPTY_SHA256 = createHash("sha256").update("").digest("hex");

export function lookupFor(...creds: Credentials[]): (id: string) => Credentials | undefined {
  return (id) => creds.find((c) => c.accessKeyId === id);
}

export function signer(creds: Credentials, region = "us-east-1"): SignatureV4 {
  // uriEscapePath: false is what the S3 client uses: S3 keys are encoded once, not twice.
  return new SignatureV4({ credentials: creds, region, service: "s3", sha256: Sha256, uriEscapePath: false });
}

/** Encodes a key the way the JS SDK puts it on the wire (RFC 3986, `/` kept). */
export function encodeKey(key: string): string {
  return key
    .split("/")
    .map((s) =>
      encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`),
    )
    .join("/");
}

export interface SignInput {
  readonly method?: string;
  /** Already-encoded path, as sent on the wire. */
  readonly path: string;
  /** Already-encoded query string without `?`, as sent on the wire. */
  readonly query?: string;
  readonly headers?: Record<string, string>;
  readonly payloadHash?: string;
  readonly region?: string;
  readonly date?: Date;
  /** Host header (host:port) to sign; defaults to HOST. */
  readonly host?: string;
}

function queryBag(query: string): Record<string, string | string[]> {
  const bag: Record<string, string | string[]> = {};
  for (const pair of query.split("&").filter(Boolean)) {
    const eq = pair.indexOf("=");
    const name = decodeURIComponent(eq === -1 ? pair : pair.slice(0, eq));
    const value = eq === -1 ? "" : decodeURIComponent(pair.slice(eq + 1));
    const prev = bag[name];
    bag[name] = prev === undefined ? value : Array.isArray(prev) ? [...prev, value] : [prev, value];
  }
  return bag;
}

/** Signs a request with smithy's SignatureV4 and returns it as the server would receive it. */
export async function signHead(creds: Credentials, input: SignInput): Promise<RequestHead> {
  const query = input.query ?? "";
  const headers: Record<string, string> = {
    host: input.host ?? HOST,
    "x-amz-content-sha256": input.payloadHash ?? EMPTY_SHA256,
    ...input.headers,
  };
  const signed = await signer(creds, input.region).sign(
    {
      method: input.method ?? "GET",
      protocol: "http:",
      hostname: "127.0.0.1",
      port: 9000,
      path: input.path,
      query: queryBag(query),
      headers,
    },
    input.date !== undefined ? { signingDate: input.date } : {},
  );
  const lower: Record<string, string> = {};
  for (const [k, v] of Object.entries(signed.headers)) lower[k.toLowerCase()] = v;
  return {
    method: signed.method,
    rawUrl: query === "" ? input.path : `${input.path}?${query}`,
    headers: lower,
  };
}

/** HMAC(kSigning, stringToSign) via smithy (its own key derivation). */
export async function smithyHmac(
  creds: Credentials,
  region: string,
  date: Date,
  toSign: string,
): Promise<string> {
  return signer(creds, region).sign(toSign, {
    signingDate: date,
    signingRegion: region,
    signingService: "s3",
  });
}

export function amzDate(d: Date): string {
  return d
    .toISOString()
    .replace(/[-:]/g, "")
    .replace(/\.\d{3}/, "");
}

export interface ChunkSigning {
  readonly creds: Credentials;
  readonly region: string;
  readonly date: Date;
  readonly seed: string;
}

/**
 * Frames `data` as aws-chunked with the given chunk sizes; signs chunks (and the trailer) when
 * `signing` is given. `trailers` are `[name, value]` lines after the zero chunk.
 */
export async function encodeChunked(
  data: Buffer,
  sizes: readonly number[],
  options: { signing?: ChunkSigning; trailers?: ReadonlyArray<readonly [string, string]> } = {},
): Promise<Buffer> {
  const parts: Buffer[] = [];
  const { signing, trailers } = options;
  let previous = signing?.seed ?? "";
  const scope = signing ? `${amzDate(signing.date).slice(0, 8)}/${signing.region}/s3/aws4_request` : "";
  const sign = async (chunk: Buffer): Promise<string> => {
    if (!signing) return "";
    const toSign = [
      "AWS4-HMAC-SHA256-PAYLOAD",
      amzDate(signing.date),
      scope,
      previous,
      EMPTY_SHA256,
      createHash("sha256").update(chunk).digest("hex"),
    ].join("\n");
    previous = await smithyHmac(signing.creds, signing.region, signing.date, toSign);
    return `;chunk-signature=${previous}`;
  };
  let offset = 0;
  for (const size of [...sizes.filter((s) => s > 0), 0]) {
    const chunk = data.subarray(offset, offset + size);
    offset += size;
    parts.push(Buffer.from(`${size.toString(16)}${await sign(chunk)}\r\n`), chunk);
    if (size > 0) parts.push(Buffer.from("\r\n"));
  }
  if (offset !== data.length) throw new Error(`chunk sizes cover ${offset} of ${data.length} bytes`);
  if (trailers !== undefined) {
    for (const [name, value] of trailers) parts.push(Buffer.from(`${name}:${value}\r\n`));
    if (signing) {
      const canonical = trailers.map(([n, v]) => `${n}:${v}\n`).join("");
      const toSign = [
        "AWS4-HMAC-SHA256-TRAILER",
        amzDate(signing.date),
        scope,
        previous,
        createHash("sha256").update(canonical).digest("hex"),
      ].join("\n");
      const sig = await smithyHmac(signing.creds, signing.region, signing.date, toSign);
      parts.push(Buffer.from(`x-amz-trailer-signature:${sig}\r\n`));
    }
  }
  parts.push(Buffer.from("\r\n"));
  return Buffer.concat(parts);
}

/** Random chunk sizes (1 byte to `max`) covering `total` bytes. */
export function randomSizes(total: number, max: number): number[] {
  const sizes: number[] = [];
  let left = total;
  while (left > 0) {
    const n = Math.min(left, 1 + Math.floor(Math.random() * max));
    sizes.push(n);
    left -= n;
  }
  return sizes;
}

/** A readable that delivers `buf` in random slices, to exercise split framing. */
export function slicedStream(buf: Buffer, maxSlice = 997): Readable {
  const slices: Buffer[] = [];
  for (let i = 0; i < buf.length;) {
    const n = 1 + Math.floor(Math.random() * maxSlice);
    slices.push(buf.subarray(i, i + n));
    i += n;
  }
  return Readable.from(slices, { objectMode: false });
}

export async function readAll(stream: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const part of stream) parts.push(part as Buffer);
  return Buffer.concat(parts);
}

/** Asserts `fn` throws (or rejects with) an S3Error with this code and status. */
export async function expectS3Error(
  fn: () => unknown,
  code: string,
  status?: number,
  message?: RegExp,
): Promise<S3Error> {
  let caught: unknown;
  try {
    await fn();
  } catch (error) {
    caught = error;
  }
  expect(caught, `expected S3Error ${code}`).toBeInstanceOf(S3Error);
  const err = caught as S3Error;
  expect(err.code).toBe(code);
  if (status !== undefined) expect(err.status).toBe(status);
  if (message !== undefined) expect(err.message).toMatch(message);
  return err;
}

export function b64(buf: Buffer | Uint8Array): string {
  return Buffer.from(buf).toString("base64");
}
