/**
 * @module storage-server/auth/chunked
 * Incremental parser for `Content-Encoding: aws-chunked` bodies:
 *
 *   <hex-size>[;chunk-signature=<sig>]\r\n<data>\r\n … 0[;chunk-signature=<sig>]\r\n
 *   [<trailer>:<value>\r\n … [x-amz-trailer-signature:<sig>\r\n]]\r\n
 *
 * It is fed raw bytes as they arrive and hands out the decoded data as slices of its input, so memory
 * stays bounded by one header line whatever the chunk sizes. Signed chunks are verified as they end;
 * the caller must treat data as provisional until `finish()` returns (the store commits only then).
 */
import { createHash, type Hash } from "node:crypto";
import { S3Error } from "../errors.js";
import { EMPTY_SHA256, hmac, sha256Hex, signaturesEqual, type SigningState } from "./sigv4.js";

/** Longest chunk-header or trailer line we accept; real ones are < 100 bytes. */
const MAX_LINE = 4096;

type State = "size" | "data" | "data-crlf" | "trailer" | "done";

function malformed(why: string): S3Error {
  return new S3Error("InvalidRequest", `Malformed aws-chunked encoding: ${why}`, 400);
}

function chunkSignatureMismatch(what: string): S3Error {
  return new S3Error(
    "SignatureDoesNotMatch",
    `The ${what} signature we calculated does not match the signature you provided.`,
    403,
  );
}

export interface ChunkedParserOptions {
  /** STREAMING-AWS4-HMAC-SHA256-PAYLOAD(-TRAILER): chunk and trailer signatures are required. */
  readonly signing?: SigningState;
  /** *-TRAILER variants: trailer lines follow the zero-size chunk. */
  readonly trailer: boolean;
}

export class AwsChunkedParser {
  private state: State = "size";
  /** Bytes of the line being assembled (chunk header, CRLF after data, trailer line). */
  private line: Buffer[] = [];
  private lineLength = 0;
  private remaining = 0;
  private lastChunk = false;
  private chunkHash: Hash | undefined;
  private chunkSignature = "";
  private previousSignature: string;
  private readonly trailerLines: Array<[string, string]> = [];
  private trailerSignature: string | undefined;
  /** Trailer values by lowercase name, available after `finish()`. */
  readonly trailers = new Map<string, string>();

  constructor(private readonly options: ChunkedParserOptions) {
    this.previousSignature = options.signing?.seedSignature ?? "";
  }

  /** Parses `input`, calling `emit` with each run of decoded data. Throws S3Error on bad framing. */
  push(input: Buffer, emit: (data: Buffer) => void): void {
    let offset = 0;
    while (offset < input.length) {
      if (this.state === "data") {
        const n = Math.min(this.remaining, input.length - offset);
        const data = input.subarray(offset, offset + n);
        this.chunkHash?.update(data);
        emit(data);
        offset += n;
        this.remaining -= n;
        if (this.remaining === 0) {
          this.verifyChunk();
          this.state = "data-crlf";
        }
        continue;
      }
      if (this.state === "done") {
        // Some clients end with an extra CRLF; anything else after the body is an error.
        if (input[offset] !== 0x0d && input[offset] !== 0x0a) throw malformed("data after the final chunk");
        offset += 1;
        continue;
      }
      const nl = input.indexOf(0x0a, offset);
      const end = nl === -1 ? input.length : nl + 1;
      this.appendLine(input.subarray(offset, end));
      offset = end;
      if (nl !== -1) this.onLine(this.takeLine());
    }
  }

  /** Call at end of input: throws IncompleteBody if the body stopped early, verifies trailers. */
  finish(): void {
    // The final CRLF after the trailer block (or after the 0 chunk) is optional in practice.
    if (this.state === "trailer" && this.lineLength > 0) this.onLine(this.takeLine());
    if (this.state === "trailer" && this.lastChunk) this.endTrailers();
    if (this.state !== "done") {
      throw new S3Error(
        "IncompleteBody",
        "The request body terminated unexpectedly (aws-chunked body incomplete).",
        400,
      );
    }
  }

  private appendLine(part: Buffer): void {
    this.lineLength += part.length;
    if (this.lineLength > MAX_LINE) throw malformed("line too long");
    this.line.push(part);
  }

  private takeLine(): string {
    const text = Buffer.concat(this.line).toString("latin1");
    this.line = [];
    this.lineLength = 0;
    return text.replace(/\r?\n$/, "");
  }

  private onLine(line: string): void {
    switch (this.state) {
      case "size":
        return this.onChunkHeader(line);
      case "data-crlf":
        if (line !== "") throw malformed("chunk data longer than its declared size");
        this.state = "size";
        return;
      case "trailer":
        return this.onTrailerLine(line);
      default:
        throw malformed(`unexpected line in state ${this.state}`);
    }
  }

  private onChunkHeader(line: string): void {
    const [sizeText = "", ...extensions] = line.split(";");
    if (!/^[0-9a-fA-F]{1,15}$/.test(sizeText.trim()))
      throw malformed(`bad chunk size "${sizeText.slice(0, 40)}"`);
    const size = parseInt(sizeText.trim(), 16);
    const signature = extensions
      .map((e) => e.trim())
      .find((e) => e.startsWith("chunk-signature="))
      ?.slice("chunk-signature=".length);
    if (this.options.signing !== undefined) {
      if (signature === undefined || !/^[0-9a-fA-F]{64}$/.test(signature)) {
        throw new S3Error(
          "SignatureDoesNotMatch",
          "A signed aws-chunked chunk is missing its chunk-signature.",
          403,
        );
      }
      this.chunkSignature = signature.toLowerCase();
      this.chunkHash = createHash("sha256");
    }
    this.remaining = size;
    // AWS rejects non-final chunks under 8 KiB; we accept them on purpose: JS SDKs before 3.750
    // forward a stream's own small chunks as-is, and refusing them gains nothing locally.
    if (size > 0) {
      this.state = "data";
      return;
    }
    // The zero-size chunk ends the data: verify its signature now (its data hash is the empty hash).
    this.verifyChunk();
    this.lastChunk = true;
    this.state = "trailer";
  }

  /** Called when a chunk's data is complete (the CRLF that follows it is checked separately). */
  private verifyChunk(): void {
    const signing = this.options.signing;
    if (signing === undefined || this.chunkHash === undefined) return;
    const dataHash = this.chunkHash.digest("hex");
    this.chunkHash = undefined;
    const toSign = [
      "AWS4-HMAC-SHA256-PAYLOAD",
      signing.amzDate,
      signing.scope,
      this.previousSignature,
      EMPTY_SHA256,
      dataHash,
    ].join("\n");
    const expected = hmac(signing.key, toSign).toString("hex");
    if (!signaturesEqual(expected, this.chunkSignature)) throw chunkSignatureMismatch("chunk");
    this.previousSignature = this.chunkSignature;
  }

  private onTrailerLine(line: string): void {
    if (line === "") return this.endTrailers();
    const colon = line.indexOf(":");
    if (colon <= 0)
      throw new S3Error(
        "MalformedTrailerError",
        "The request contained trailing data that was not well-formed.",
        400,
      );
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    if (name === "x-amz-trailer-signature") {
      this.trailerSignature = value.toLowerCase();
    } else {
      this.trailerLines.push([name, value]);
      this.trailers.set(name, value);
    }
  }

  private endTrailers(): void {
    const signing = this.options.signing;
    if (signing !== undefined && this.options.trailer) {
      if (this.trailerSignature === undefined) {
        throw new S3Error(
          "SignatureDoesNotMatch",
          "The signed trailer is missing x-amz-trailer-signature.",
          403,
        );
      }
      const canonical = this.trailerLines.map(([name, value]) => `${name}:${value}\n`).join("");
      const toSign = [
        "AWS4-HMAC-SHA256-TRAILER",
        signing.amzDate,
        signing.scope,
        this.previousSignature,
        sha256Hex(canonical),
      ].join("\n");
      const expected = hmac(signing.key, toSign).toString("hex");
      if (!signaturesEqual(expected, this.trailerSignature)) throw chunkSignatureMismatch("trailer");
    } else if (!this.options.trailer && this.trailerLines.length > 0) {
      throw new S3Error(
        "MalformedTrailerError",
        "Trailing headers are not allowed for this payload type.",
        400,
      );
    }
    this.state = "done";
  }
}
