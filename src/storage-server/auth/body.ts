/**
 * @module storage-server/auth/body
 * Turns a request body into the object's bytes while checking everything the request promised about
 * them: aws-chunked framing and chunk/trailer signatures, `x-amz-content-sha256`, `Content-MD5`,
 * `x-amz-checksum-*` (header or trailer), and the declared lengths. One pass, bounded memory.
 */
import type { Readable } from "node:stream";
import { Transform, type TransformCallback } from "node:stream";
import type { AuthResult, BodyChecksums, ChecksumAlgorithm, DecodedBody, RequestHead } from "./types.js";
import { S3Error } from "../errors.js";
import { AwsChunkedParser } from "./chunked.js";
import {
  algorithmFromHeader,
  createHasher,
  decodeDigest,
  mismatch,
  planChecksums,
  type ChecksumPlan,
  type Hasher,
} from "./checksums.js";
import { createDigests } from "./digests.js";
import type { Digests } from "./digests.js";
import { isSigningState } from "./sigv4.js";

export interface DecodeOptions {
  /** Checksums to compute even if the request does not mention them (e.g. the multipart upload's). */
  readonly algorithms?: readonly ChecksumAlgorithm[];
}

/** Lowercase single-string header view, plus `x-amz-*` parameters hoisted into a presigned query. */
export function integrityFields(head: RequestHead, auth?: AuthResult): Record<string, string | undefined> {
  const fields: Record<string, string | undefined> = {};
  for (const [name, value] of Object.entries(head.headers)) {
    fields[name.toLowerCase()] = Array.isArray(value) ? value.join(",") : value;
  }
  if (auth !== undefined && isSigningState(auth.signing)) {
    for (const [name, value] of Object.entries(auth.signing.hoisted)) fields[name] ??= value;
  }
  return fields;
}

function incomplete(): S3Error {
  return new S3Error(
    "IncompleteBody",
    "You did not provide the number of bytes specified by the Content-Length HTTP header.",
    400,
  );
}

function parseLength(value: string | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d{1,15}$/.test(value.trim()))
    throw new S3Error("InvalidArgument", `Invalid ${name}: ${value}`, 400);
  return Number(value.trim());
}

class BodyDecoder extends Transform {
  private rawBytes = 0;
  private size = 0;
  /** MD5 + SHA-256, off the event loop for large bodies (digests.ts). */
  private readonly digests: Digests;
  private readonly hashers = new Map<ChecksumAlgorithm, Hasher>();
  private outcome: (BodyChecksums & { readonly size: number }) | undefined;
  private readonly deliver = (data: Buffer): void => {
    this.size += data.length;
    if (this.decodedLength !== undefined && this.size > this.decodedLength) {
      throw new S3Error(
        "InvalidRequest",
        "The aws-chunked body is longer than x-amz-decoded-content-length.",
        400,
      );
    }
    this.digests.update(data);
    for (const h of this.hashers.values()) h.update(data);
    this.push(data);
  };

  constructor(
    private readonly auth: AuthResult,
    private readonly plan: ChecksumPlan,
    private readonly parser: AwsChunkedParser | undefined,
    private readonly contentLength: number | undefined,
    private readonly decodedLength: number | undefined,
  ) {
    super();
    this.digests = createDigests(decodedLength ?? contentLength, auth.payload.kind === "sha256");
    for (const algorithm of plan.compute) this.hashers.set(algorithm, createHasher(algorithm));
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    try {
      this.rawBytes += chunk.length;
      if (this.contentLength !== undefined && this.rawBytes > this.contentLength) {
        throw new S3Error("InvalidRequest", "The request body is longer than Content-Length.", 400);
      }
      if (this.parser !== undefined) this.parser.push(chunk, this.deliver);
      else this.deliver(chunk);
    } catch (error) {
      callback(error as Error);
      return;
    }
    // Backpressure from the hashing thread: don't take the next chunk while it is far behind.
    const drained = this.digests.drained();
    if (drained === undefined) callback();
    else
      drained.then(
        () => callback(),
        (error: unknown) => callback(error as Error),
      );
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.digests.abort();
    callback(error);
  }

  override _flush(callback: TransformCallback): void {
    this.finish().then(
      () => callback(),
      (error: unknown) => callback(error as Error),
    );
  }

  private async finish(): Promise<void> {
    if (this.contentLength !== undefined && this.rawBytes < this.contentLength) throw incomplete();
    this.parser?.finish();
    if (this.decodedLength !== undefined && this.size !== this.decodedLength) {
      throw new S3Error(
        "IncompleteBody",
        "The decoded body is shorter than x-amz-decoded-content-length.",
        400,
      );
    }
    const { sha256, md5 } = await this.digests.digest();
    const computed = new Map<ChecksumAlgorithm, Buffer>();
    for (const [algorithm, h] of this.hashers) computed.set(algorithm, await h.digest());

    if (this.auth.payload.kind === "sha256" && sha256?.toString("hex") !== this.auth.payload.hex) {
      throw new S3Error(
        "XAmzContentSHA256Mismatch",
        "The provided 'x-amz-content-sha256' header does not match what was computed.",
        400,
        {
          ClientComputedContentSHA256: this.auth.payload.hex,
          S3ComputedContentSHA256: sha256?.toString("hex") ?? "",
        },
      );
    }
    if (this.plan.contentMd5 !== undefined && !this.plan.contentMd5.equals(md5)) throw mismatch("md5");
    for (const [algorithm, expected] of this.plan.expected) {
      if (!expected.equals(computed.get(algorithm) ?? Buffer.alloc(0))) throw mismatch(algorithm);
    }
    this.checkTrailers(computed);

    const checksums: Partial<Record<ChecksumAlgorithm, string>> = {};
    for (const [algorithm, digest] of computed) checksums[algorithm] = digest.toString("base64");
    this.outcome = {
      md5Hex: md5.toString("hex"),
      sha256Hex: sha256?.toString("hex"),
      checksums,
      size: this.size,
    };
  }

  private checkTrailers(computed: ReadonlyMap<ChecksumAlgorithm, Buffer>): void {
    if (this.parser === undefined) return;
    for (const algorithm of this.plan.trailers) {
      if (!this.parser.trailers.has(`x-amz-checksum-${algorithm}`)) {
        throw new S3Error(
          "MalformedTrailerError",
          `The declared trailer x-amz-checksum-${algorithm} is missing.`,
          400,
        );
      }
    }
    for (const [name, value] of this.parser.trailers) {
      const algorithm = algorithmFromHeader(name);
      if (algorithm === undefined) continue;
      const digest = computed.get(algorithm);
      // A checksum trailer that x-amz-trailer did not announce was not computed: refuse, don't skip.
      if (digest === undefined) {
        throw new S3Error(
          "MalformedTrailerError",
          `The trailer ${name} was not declared in x-amz-trailer.`,
          400,
        );
      }
      if (!decodeDigest(algorithm, value).equals(digest)) throw mismatch(algorithm);
    }
  }

  result(): BodyChecksums & { readonly size: number } {
    if (this.outcome === undefined)
      throw new Error("decodeBody: result() called before the body ended cleanly");
    return this.outcome;
  }
}

/**
 * Streams `req` through the decoder. On any failure the returned stream errors with an S3Error and
 * `req` is left unpiped (the router should answer with `Connection: close`); nothing must be stored
 * unless the stream ended cleanly.
 */
export function decodeBody(
  req: Readable,
  head: RequestHead,
  auth: AuthResult,
  options: DecodeOptions = {},
): DecodedBody {
  let decoder: BodyDecoder;
  try {
    const fields = integrityFields(head, auth);
    const plan = planChecksums(fields, options.algorithms);
    const payload = auth.payload;
    const chunked = payload.kind === "aws-chunked";
    if (plan.trailers.length > 0 && !(chunked && payload.trailer)) {
      throw new S3Error(
        "InvalidRequest",
        "x-amz-trailer requires a STREAMING-*-TRAILER x-amz-content-sha256.",
        400,
      );
    }
    let parser: AwsChunkedParser | undefined;
    if (chunked) {
      const signing = payload.signed ? auth.signing : undefined;
      if (payload.signed && !isSigningState(signing))
        throw new Error("decodeBody: signed aws-chunked without signing state");
      parser = new AwsChunkedParser({
        trailer: payload.trailer,
        ...(isSigningState(signing) ? { signing } : {}),
      });
    }
    decoder = new BodyDecoder(
      auth,
      plan,
      parser,
      parseLength(fields["content-length"], "Content-Length"),
      chunked
        ? parseLength(fields["x-amz-decoded-content-length"], "x-amz-decoded-content-length")
        : undefined,
    );
  } catch (error) {
    const failed = new BodyDecoder(auth, planChecksums({}), undefined, undefined, undefined);
    failed.destroy(error as Error);
    return { stream: failed, result: () => failed.result() };
  }

  // A client that disconnects mid-body must not leave a truncated object behind.
  const abort = (): void => {
    if (!req.readableEnded) decoder.destroy(incomplete());
  };
  req.once("aborted", abort);
  req.once("error", abort);
  req.once("close", abort);
  decoder.once("close", () => {
    req.off("aborted", abort);
    req.off("error", abort);
    req.off("close", abort);
  });
  req.pipe(decoder);
  return { stream: decoder, result: () => decoder.result() };
}

/**
 * DeleteObjects must carry an integrity check; current SDKs send a CRC (`x-amz-checksum-*`) and no
 * Content-MD5, older clients only Content-MD5, so either is accepted and verified against `body`.
 */
export async function verifyDeleteObjectsBody(
  head: RequestHead,
  body: Buffer,
  auth?: AuthResult,
): Promise<void> {
  const plan = planChecksums(integrityFields(head, auth));
  if (plan.contentMd5 === undefined && plan.expected.size === 0) {
    throw new S3Error(
      "InvalidRequest",
      "Missing required header for this request: Content-MD5 or an x-amz-checksum-* header.",
      400,
    );
  }
  if (plan.contentMd5 !== undefined) {
    const md5 = createHasher("md5");
    md5.update(body);
    if (!plan.contentMd5.equals(await md5.digest())) throw mismatch("md5");
  }
  for (const [algorithm, expected] of plan.expected) {
    const h = createHasher(algorithm);
    h.update(body);
    if (!expected.equals(await h.digest())) throw mismatch(algorithm);
  }
}
