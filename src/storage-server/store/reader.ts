/**
 * @module storage-server/store/reader
 * Reading an object's bytes, whether it is one blob or a multipart manifest (a list of part blobs).
 *
 * Must be called in the same tick as the metadata lookup that found the version: a single blob is
 * opened right away (an open fd keeps the bytes readable even if GC unlinks the file a moment later);
 * the part blobs of a manifest are held as pending instead (GC never touches pending blobs) and opened
 * one after another as the stream reaches them, so a 10,000-part object never needs 10,000 fds.
 */
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
  for (const p of pieces) blobs.hold(p.blob);
  let released = false;
  const release = (): void => {
    if (released) return;
    released = true;
    for (const p of pieces) blobs.release(p.blob);
  };
  async function* concatenated(): AsyncGenerator<Uint8Array> {
    for (const p of pieces) {
      const { fd } = blobs.openSync(p.blob);
      // The inner stream owns its fd; returning early from this generator destroys it (closing the fd).
      yield* blobs.streamFd(fd, p.from, p.to) as AsyncIterable<Uint8Array>;
    }
  }
  const stream = Readable.from(concatenated(), { objectMode: false, highWaterMark: 256 * 1024 });
  // 'close' comes after the end and after a destroy alike: the holds go exactly once either way.
  stream.once("close", release);
  return stream;
}
