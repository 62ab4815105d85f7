/**
 * @module storage-server/handlers/mpu-checksums
 * Checksums of multipart objects, as S3 defines them (User Guide, "Checking object integrity"):
 *
 * - COMPOSITE (CRC32, CRC32C, SHA1, SHA256; the default for them): the checksum of the concatenated
 *   raw part checksums, base64, suffixed with `-<part count>`. SDKs skip validating such values.
 * - FULL_OBJECT (CRC32, CRC32C, CRC64NVME; the only type for CRC64NVME): the CRC of the whole
 *   object. We never read the bytes again for it: a CRC of A‖B follows from CRC(A), CRC(B) and |B|
 *   (zlib's crc32_combine, generalised to 64 bits), so Complete stays a metadata-only operation.
 */
import { createHash } from "node:crypto";
import { crc32 } from "node:zlib";
import { crc32c } from "@aws-crypto/crc32c";
import type { ChecksumAlgorithm } from "../auth/index.js";
import { S3Error } from "../errors.js";
import type { Checksums } from "../store/types.js";

export type ChecksumType = "COMPOSITE" | "FULL_OBJECT";

/** Reflected generator polynomials and widths of the CRCs S3 can combine. All three use init = xorout = all ones. */
const CRCS: Partial<Record<ChecksumAlgorithm, { width: number; poly: bigint }>> = {
  crc32: { width: 32, poly: 0xedb88320n },
  crc32c: { width: 32, poly: 0x82f63b78n },
  crc64nvme: { width: 64, poly: 0x9a6c9329ac4bc9b5n },
};

const FULL_OBJECT_ALGORITHMS: readonly ChecksumAlgorithm[] = ["crc32", "crc32c", "crc64nvme"];
const COMPOSITE_ALGORITHMS: readonly ChecksumAlgorithm[] = ["crc32", "crc32c", "sha1", "sha256"];

/**
 * The type of an upload from CreateMultipartUpload's headers, refusing the combinations S3 refuses.
 * Without an algorithm there is no type (and none may be given).
 */
export function uploadChecksumType(
  algorithm: ChecksumAlgorithm | undefined,
  typeHeader: string | undefined,
): ChecksumType | null {
  const type = typeHeader?.trim().toUpperCase();
  if (type !== undefined && type !== "COMPOSITE" && type !== "FULL_OBJECT") {
    throw new S3Error("InvalidRequest", `Value for x-amz-checksum-type header is invalid.`, 400);
  }
  if (algorithm === undefined) {
    if (type !== undefined) {
      throw new S3Error(
        "InvalidRequest",
        "The x-amz-checksum-type header can only be used with the x-amz-checksum-algorithm header.",
        400,
      );
    }
    return null;
  }
  const chosen: ChecksumType = type ?? (algorithm === "crc64nvme" ? "FULL_OBJECT" : "COMPOSITE");
  const allowed = chosen === "FULL_OBJECT" ? FULL_OBJECT_ALGORITHMS : COMPOSITE_ALGORITHMS;
  if (!allowed.includes(algorithm)) {
    throw new S3Error(
      "InvalidRequest",
      `The ${chosen} checksum type cannot be used with the ${algorithm} checksum algorithm.`,
      400,
    );
  }
  return chosen;
}

/** COMPOSITE values carry a `-N` part count; everything else describes the full object. */
export function checksumTypeOf(value: string): ChecksumType {
  return /-\d+$/.test(value) ? "COMPOSITE" : "FULL_OBJECT";
}

/** `x-amz-checksum-type` for a stored set of checksums (undefined when there are none). */
export function checksumTypeHeader(checksums: Checksums): Record<string, string> {
  const value = Object.values(checksums).find((v) => v);
  return value ? { "x-amz-checksum-type": checksumTypeOf(value) } : {};
}

export interface PartChecksum {
  readonly size: number;
  readonly checksums: Checksums;
}

function raw(alg: ChecksumAlgorithm, parts: readonly PartChecksum[]): Buffer[] | undefined {
  const out: Buffer[] = [];
  for (const p of parts) {
    const v = p.checksums[alg];
    if (!v) return undefined;
    out.push(Buffer.from(v, "base64"));
  }
  return out;
}

/** The COMPOSITE checksum of the parts, or undefined if a part lacks one. */
export function compositeChecksum(
  alg: ChecksumAlgorithm,
  parts: readonly PartChecksum[],
): string | undefined {
  const digests = raw(alg, parts);
  if (!digests) return undefined;
  const all = Buffer.concat(digests);
  let digest: Buffer;
  switch (alg) {
    case "crc32":
      digest = Buffer.alloc(4);
      digest.writeUInt32BE(crc32(all) >>> 0);
      break;
    case "crc32c":
      digest = Buffer.alloc(4);
      digest.writeUInt32BE(crc32c(all) >>> 0);
      break;
    case "sha1":
    case "sha256":
      digest = createHash(alg).update(all).digest();
      break;
    default:
      return undefined;
  }
  return `${digest.toString("base64")}-${parts.length}`;
}

/** The FULL_OBJECT CRC of the parts' concatenation, or undefined if a part lacks one. */
export function fullObjectChecksum(
  alg: ChecksumAlgorithm,
  parts: readonly PartChecksum[],
): string | undefined {
  const crc = CRCS[alg];
  const digests = raw(alg, parts);
  if (!crc || !digests) return undefined;
  const combiner = new CrcCombiner(crc.width, crc.poly);
  let acc: bigint | undefined;
  parts.forEach((p, i) => {
    const value = BigInt(`0x${digests[i]!.toString("hex")}`);
    acc = acc === undefined ? value : combiner.combine(acc, value, p.size);
  });
  return Buffer.from((acc ?? 0n).toString(16).padStart(crc.width / 4, "0"), "hex").toString("base64");
}

/**
 * crc(A‖B) = crc(A)·x^(8|B|) mod P ⊕ crc(B) for CRCs whose init and final xor are equal (all ones
 * here). Polynomials are in the reflected bit order these CRCs use, as in zlib's crc32_combine.
 */
export class CrcCombiner {
  private readonly one: bigint;
  /** x^(2^k) mod P for k = 0…63. */
  private readonly x2n: bigint[] = [];
  /** x^(8n) mod P by n: multipart parts mostly share one size, so this is computed once per size. */
  private readonly byLength = new Map<number, bigint>();

  constructor(
    width: number,
    private readonly poly: bigint,
  ) {
    this.one = 1n << BigInt(width - 1);
    let p = this.one >> 1n; // x^1
    for (let k = 0; k < 64; k++) {
      this.x2n.push(p);
      p = this.multiply(p, p);
    }
  }

  combine(crcA: bigint, crcB: bigint, lengthB: number): bigint {
    let shift = this.byLength.get(lengthB);
    if (shift === undefined) {
      shift = this.xPow8n(lengthB);
      this.byLength.set(lengthB, shift);
    }
    return this.multiply(shift, crcA) ^ crcB;
  }

  /** a·b mod P (reflected). */
  private multiply(a: bigint, b: bigint): bigint {
    let m = this.one;
    let p = 0n;
    for (;;) {
      if (a & m) {
        p ^= b;
        if ((a & (m - 1n)) === 0n) break;
      }
      m >>= 1n;
      b = b & 1n ? (b >> 1n) ^ this.poly : b >> 1n;
    }
    return p;
  }

  /** x^(8n) mod P: square-and-multiply over the bits of n, starting at x^(2^3) = x^8. */
  private xPow8n(n: number): bigint {
    let p = this.one;
    let k = 3;
    let rest = BigInt(n);
    while (rest > 0n) {
      if (rest & 1n) p = this.multiply(this.x2n[k]!, p);
      rest >>= 1n;
      k++;
    }
    return p;
  }
}
