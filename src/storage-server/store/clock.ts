/**
 * @module storage-server/store/clock
 * The store-wide sequence: microseconds since the Unix epoch, strictly increasing. Tying seq to wall
 * time makes Tigris snapshot versions (Unix *nanosecond* strings) a plain unit conversion, so any ns
 * timestamp a client sends maps to "everything written at or before it".
 */
import { S3Error } from "../errors.js";

export class SeqClock {
  private last: number;
  // Date.now() only has millisecond resolution; anchor hrtime to it once for microseconds.
  private readonly baseUs = Date.now() * 1000 - Number(process.hrtime.bigint() / 1000n);

  constructor(lastUsed: number) {
    this.last = lastUsed;
  }

  /** A seq larger than every seq handed out before, also across restarts (lastUsed comes from the db). */
  next(): number {
    const now = this.baseUs + Number(process.hrtime.bigint() / 1000n);
    this.last = Math.max(this.last + 1, now);
    return this.last;
  }

  /** The newest seq handed out so far (reads "now" see everything up to it). */
  current(): number {
    return this.last;
  }
}

/** seq → Tigris snapshot version (Unix ns as a decimal string). */
export function versionOfSeq(seq: number): string {
  return `${seq}000`;
}

/** Tigris snapshot version (any Unix ns timestamp) → the largest seq it covers. */
export function seqOfVersion(version: string): number {
  const v = version.trim();
  if (!/^\d{1,20}$/.test(v)) {
    throw new S3Error(
      "InvalidArgument",
      `Invalid snapshot version "${version}": expected Unix nanoseconds.`,
      400,
    );
  }
  // Far-future versions just mean "everything so far"; keep the number exact (≤ 2^53).
  const seq = BigInt(v) / 1000n;
  return seq > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(seq);
}

/** seq (µs) → milliseconds, for dates shown to clients. */
export function msOfSeq(seq: number): number {
  return Math.floor(seq / 1000);
}
