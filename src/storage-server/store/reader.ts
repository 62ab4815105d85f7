/**
 * @module storage-server/store/reader
 * Reading an object's bytes, whether it is one blob or a multipart manifest (a list of part blobs).
 *
 * Must be called in the same tick as the metadata lookup that found the version: a single blob is
 * opened right away (an open fd keeps the bytes readable even if GC unlinks the file a moment later);
 * the part blobs of a manifest are held as pending instead (GC never touches pending blobs) and opened
 * one after another as the stream reaches them, so a 10,000-part object never needs 10,000 fds.
 */
import { read } from "node:fs";
import { Readable } from "node:stream";
import type { BlobStore } from "./blobs.js";
import { isManifest, manifestParts } from "./manifests.js";
import type { Metadata } from "./metadata.js";

export interface StoredBytes {
  readonly blob: string | null;
  readonly size: number;
}

/** A stream over bytes [start, end] (inclusive) of `v`; an empty stream for empty ranges/objects. */
export function openObjectStream(
  meta: Metadata,
  blobs: BlobStore,
  v: StoredBytes,
  start = 0,
  end = v.size - 1,
): Readable {
  if (v.blob === null || v.size === 0 || end < start) return Readable.from([]);
  if (!isManifest(v.blob)) {
    const { fd } = blobs.openSync(v.blob);
    return blobs.streamFd(fd, start, end);
  }
  const pieces = manifestParts(meta, v.blob, start, end)
    .filter((p) => p.size > 0)
    .map((p) => ({
      blob: p.blob,
      from: Math.max(start, p.offset) - p.offset,
      to: Math.min(end, p.offset + p.size - 1) - p.offset,
    }));
  return new PartsStream(blobs, pieces);
}

interface Piece {
  readonly blob: string;
  /** Inclusive byte offsets inside the part's blob. */
  readonly from: number;
  readonly to: number;
}

const CHUNK = 1024 * 1024;

/**
 * Reads the pieces one after another straight from their files, in 1 MB reads like single blobs
 * (blobs.streamFd). A generator over per-part fs streams cost an extra hop per chunk, which
 * measurably slowed large GETs (bench/storage-multipart.mjs).
 * Holds every part blob from construction until the stream closes, so GC leaves them alone.
 */
class PartsStream extends Readable {
  private index = 0;
  private fd: number | undefined;
  private pos = 0;
  private released = false;

  constructor(
    private readonly blobs: BlobStore,
    private readonly pieces: readonly Piece[],
  ) {
    super({ highWaterMark: CHUNK });
    for (const p of pieces) blobs.hold(p.blob);
  }

  override _read(): void {
    const piece = this.pieces[this.index];
    if (!piece) {
      this.push(null);
      return;
    }
    if (this.fd === undefined) {
      try {
        this.fd = this.blobs.openSync(piece.blob).fd;
      } catch (error) {
        this.destroy(error as Error);
        return;
      }
      this.pos = piece.from;
    }
    const fd = this.fd;
    const n = Math.min(CHUNK, piece.to - this.pos + 1);
    const buf = Buffer.allocUnsafe(n);
    read(fd, buf, 0, n, this.pos, (error, bytes) => {
      if (this.destroyed) return;
      if (error) return void this.destroy(error);
      if (bytes === 0) return void this.destroy(new Error(`blob ${piece.blob} is shorter than recorded`));
      this.pos += bytes;
      if (this.pos > piece.to) {
        this.blobs.closeFd(fd);
        this.fd = undefined;
        this.index++;
      }
      this.push(bytes < n ? buf.subarray(0, bytes) : buf);
    });
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    if (this.fd !== undefined) this.blobs.closeFd(this.fd);
    this.fd = undefined;
    if (!this.released) {
      this.released = true;
      for (const p of this.pieces) this.blobs.release(p.blob);
    }
    callback(error);
  }
}
