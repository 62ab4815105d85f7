/**
 * @module storage-server/auth/checksums
 * Streaming hashers for every checksum S3 accepts, and the rules for which ones a request asks for
 * (`x-amz-checksum-*` header, `x-amz-trailer`, `x-amz-sdk-checksum-algorithm`, `Content-MD5`).
 * CRC32 is zlib's (Node ≥ 20.15); CRC32C and CRC64NVME come from the AWS SDK's own packages so
 * our values agree with what the SDK computes and validates.
 */
import { createHash } from "node:crypto";
import { crc32 } from "node:zlib";
import { Crc32c } from "@aws-crypto/crc32c";
import { Crc64Nvme } from "@aws-sdk/crc64-nvme";
import type { ChecksumAlgorithm } from "./types.js";
import { S3Error } from "../errors.js";

export const CHECKSUM_ALGORITHMS: readonly ChecksumAlgorithm[] = [
  "crc32",
  "crc32c",
  "crc64nvme",
  "sha1",
  "sha256",
];

/** Digest sizes in bytes: a base64 value of another length is malformed, not merely wrong. */
const DIGEST_BYTES: Readonly<Record<ChecksumAlgorithm, number>> = {
  crc32: 4,
  crc32c: 4,
  crc64nvme: 8,
  sha1: 20,
  sha256: 32,
};

export interface Hasher {
  update(data: Uint8Array): void;
  /** Raw digest bytes. Async because the CRC64NVME implementation is. */
  digest(): Promise<Buffer>;
}

function uint32(value: number): Buffer {
  const out = Buffer.alloc(4);
  out.writeUInt32BE(value >>> 0);
  return out;
}

export function createHasher(algorithm: ChecksumAlgorithm | "md5"): Hasher {
  switch (algorithm) {
    case "crc32": {
      let state = 0;
      return {
        update: (data) => void (state = crc32(data, state)),
        digest: async () => uint32(state),
      };
    }
    case "crc32c": {
      const c = new Crc32c();
      return { update: (data) => void c.update(data), digest: async () => uint32(c.digest()) };
    }
    case "crc64nvme": {
      const c = new Crc64Nvme();
      return { update: (data) => c.update(data), digest: async () => Buffer.from(await c.digest()) };
    }
    case "md5":
    case "sha1":
    case "sha256": {
      const h = createHash(algorithm);
      return { update: (data) => void h.update(data), digest: async () => h.digest() };
    }
  }
}

/** `x-amz-checksum-crc32` → `crc32`; anything else → undefined. */
export function algorithmFromHeader(name: string): ChecksumAlgorithm | undefined {
  const m = /^x-amz-checksum-([a-z0-9]+)$/.exec(name.toLowerCase());
  return m !== null && (CHECKSUM_ALGORITHMS as readonly string[]).includes(m[1] ?? "")
    ? (m[1] as ChecksumAlgorithm)
    : undefined;
}

export function checksumHeaderName(algorithm: ChecksumAlgorithm): string {
  return `x-amz-checksum-${algorithm}`;
}

/**
 * Decodes a base64 digest, or throws InvalidRequest/InvalidDigest when it cannot be one (not base64,
 * or not the algorithm's digest length). Unused low bits in the last character are not checked: like
 * S3's decoder we accept `AAAAAB==` for `AAAAAA==`, so a value altered there is a wrong checksum
 * (BadDigest once compared), not a malformed one — whichever position of the value was altered.
 */
export function decodeDigest(algorithm: ChecksumAlgorithm | "md5", value: string): Buffer {
  const bytes = algorithm === "md5" ? 16 : DIGEST_BYTES[algorithm];
  const wellFormed = /^[A-Za-z0-9+/]*={0,2}$/.test(value) && value.length === 4 * Math.ceil(bytes / 3);
  const decoded = wellFormed ? Buffer.from(value, "base64") : undefined;
  if (decoded === undefined || decoded.length !== bytes) {
    if (algorithm === "md5")
      throw new S3Error("InvalidDigest", "The Content-MD5 you specified was invalid.", 400);
    throw new S3Error("InvalidRequest", `Value for ${checksumHeaderName(algorithm)} header is invalid.`, 400);
  }
  return decoded;
}

export function mismatch(algorithm: ChecksumAlgorithm | "md5"): S3Error {
  if (algorithm === "md5") {
    return new S3Error("BadDigest", "The Content-MD5 you specified did not match what we received.", 400);
  }
  return new S3Error(
    "BadDigest",
    `The ${algorithm.toUpperCase()} you specified did not match the calculated checksum.`,
    400,
  );
}

/** What a request's headers (and presigned query) say about checksums, validated up front. */
export interface ChecksumPlan {
  /** Expected values given as headers, raw digests. */
  readonly expected: ReadonlyMap<ChecksumAlgorithm, Buffer>;
  readonly contentMd5?: Buffer;
  /** Checksums announced in `x-amz-trailer`, to be read from the aws-chunked trailer. */
  readonly trailers: readonly ChecksumAlgorithm[];
  /** Every algorithm to compute while the body streams. */
  readonly compute: ReadonlySet<ChecksumAlgorithm>;
}

function parseAlgorithmName(value: string, what: string): ChecksumAlgorithm {
  const lower = value.trim().toLowerCase();
  if (!(CHECKSUM_ALGORITHMS as readonly string[]).includes(lower)) {
    throw new S3Error(
      "InvalidRequest",
      `${what}: checksum algorithm provided is unsupported. Please try again with any of the valid types: ` +
        "[CRC32, CRC32C, CRC64NVME, SHA1, SHA256]",
      400,
    );
  }
  return lower as ChecksumAlgorithm;
}

/**
 * Reads the integrity headers of a request. `fields` are lowercase names (headers, plus `x-amz-*`
 * parameters hoisted into a presigned query). `extra` are algorithms the caller wants computed
 * anyway (e.g. the one a multipart upload was created with).
 */
export function planChecksums(
  fields: Readonly<Record<string, string | undefined>>,
  extra: readonly ChecksumAlgorithm[] = [],
): ChecksumPlan {
  const expected = new Map<ChecksumAlgorithm, Buffer>();
  for (const [name, value] of Object.entries(fields)) {
    const algorithm = algorithmFromHeader(name);
    if (algorithm === undefined || value === undefined) continue;
    expected.set(algorithm, decodeDigest(algorithm, value.trim()));
  }
  if (expected.size > 1) {
    throw new S3Error(
      "InvalidRequest",
      "Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.",
      400,
    );
  }
  const trailerHeader = fields["x-amz-trailer"];
  const trailers =
    trailerHeader === undefined || trailerHeader.trim() === ""
      ? []
      : trailerHeader.split(",").map((t) => {
          const algorithm = algorithmFromHeader(t.trim());
          if (algorithm === undefined) {
            throw new S3Error(
              "InvalidRequest",
              `The value specified in the x-amz-trailer header is not supported: ${t.trim()}`,
              400,
            );
          }
          return algorithm;
        });
  // A checksum is either sent up front or trailed, never both (S3, versitygw PR #1664).
  if (trailers.length > 1 || (trailers.length > 0 && expected.size > 0)) {
    throw new S3Error(
      "InvalidRequest",
      "Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.",
      400,
    );
  }
  const sdkAlgorithm = fields["x-amz-sdk-checksum-algorithm"];
  const compute = new Set<ChecksumAlgorithm>([...expected.keys(), ...trailers, ...extra]);
  if (sdkAlgorithm !== undefined && sdkAlgorithm.trim() !== "") {
    const algorithm = parseAlgorithmName(sdkAlgorithm, "x-amz-sdk-checksum-algorithm");
    const given = [...expected.keys(), ...trailers];
    if (given.length > 0 && !given.includes(algorithm)) {
      throw new S3Error("InvalidRequest", "Value for x-amz-sdk-checksum-algorithm header is invalid.", 400);
    }
    compute.add(algorithm);
  }
  const md5 = fields["content-md5"];
  return {
    expected,
    ...(md5 !== undefined ? { contentMd5: decodeDigest("md5", md5.trim()) } : {}),
    trailers,
    compute,
  };
}
