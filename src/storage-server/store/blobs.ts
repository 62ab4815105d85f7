/**
 * @module storage-server/store/blobs
 * Object bytes, one immutable file per blob: `<root>/blobs/ab/<name>` (see blob-layout), where the
 * name is the bytes' SHA-256 when the upload signed it (it was computed to check it anyway) and 256
 * random bits otherwise. A blob is immutable once renamed into place, so forks, copies and snapshots
 * share it freely by name, and object keys never become file paths.
 *
 * Write protocol (crash safety): stream to `<root>/tmp/<random>` while hashing → fsync the file →
 * hold the name as "pending" (GC must not touch it) → rename into place → fsync the directory → the
 * caller commits metadata → release. A kill -9 before the metadata commit leaves at worst an
 * unreferenced blob (GC sweeps it) or a temp file (removed at startup); never a visible partial object.
 */
import { createHash, randomBytes } from "node:crypto";
import { closeSync, createReadStream, fstatSync, openSync, unlinkSync } from "node:fs";
import type { ReadStream } from "node:fs";
import { mkdir, open, readdir, rename, rm, unlink } from "node:fs/promises";
import type { FileHandle } from "node:fs/promises";
import { dirname, join } from "node:path";
import type { Readable } from "node:stream";
import { blobPath, PREFIXES, prepareLayout, SHA_RE } from "./blob-layout.js";
import { CoalescingWriter } from "./writer.js";

/** A fsynced temp file and the name its blob will have, ready for `commit`. */
export interface TempFile {
  readonly tempPath: string;
  readonly name: string;
  readonly size: number;
}

export interface TempBlob extends TempFile {
  readonly md5: Buffer;
}

/**
 * A blob's name when the server did not compute the bytes' SHA-256: 256 random bits, shaped like one
 * (the folder layout and the orphan sweep only need 64 hex digits). Hashing a body only to name it
 * cost a quarter of an upload's hashing; names need only be unique, and forks and copies share a
 * blob by its name, never by content.
 */
export function randomName(): string {
  return randomBytes(32).toString("hex");
}

export class BlobStore {
  readonly blobDir: string;
  readonly tmpDir: string;
  /** sha → number of in-flight writers/readers that need the file to stay (GC skips these). */
  private readonly pending = new Map<string, number>();
  /**
   * One open handle per blob folder, kept for the store's lifetime: the fsync after each rename then
   * costs one call instead of open + fsync + close. `null` where folders cannot be opened (Windows).
   */
  private readonly dirHandles = new Map<string, Promise<FileHandle | null>>();

  constructor(root: string) {
    this.blobDir = join(root, "blobs");
    this.tmpDir = join(root, "tmp");
  }

  /** Creates the folders and drops temp files a previous process left behind (never visible objects). */
  async init(): Promise<void> {
    await prepareLayout(this.blobDir);
    await rm(this.tmpDir, { recursive: true, force: true });
    await mkdir(this.tmpDir, { recursive: true });
  }

  /** Closes the cached folder handles (the store is closing). */
  async close(): Promise<void> {
    const handles = [...this.dirHandles.values()];
    this.dirHandles.clear();
    for (const h of handles) await (await h.catch(() => null))?.close().catch(() => undefined);
  }

  pathOf(sha: string): string {
    return blobPath(this.blobDir, sha);
  }

  /**
   * Streams `source` into a fsynced temp file, computing its MD5 (the ETag) as it goes. Removes the
   * temp file on failure. `digests` lets a caller whose stream already hashed exactly these bytes (the
   * request body decoder) supply the MD5, and the SHA-256 when it computed one (it then names the blob).
   */
  async writeTemp(
    source: AsyncIterable<Uint8Array> | Readable,
    digests?: () => { sha256Hex: string | undefined; md5Hex: string },
  ): Promise<TempBlob> {
    if (digests) {
      const temp = await this.stream(source);
      try {
        const d = digests();
        return { ...temp, name: d.sha256Hex ?? temp.name, md5: Buffer.from(d.md5Hex, "hex") };
      } catch (error) {
        await this.discard(temp);
        throw error;
      }
    }
    const md5 = createHash("md5");
    const temp = await this.stream(source, (chunk) => md5.update(chunk));
    return { ...temp, md5: md5.digest() };
  }

  /** Streams into a fsynced temp file under a random blob name, removing it on failure. */
  private async stream(
    source: AsyncIterable<Uint8Array> | Readable,
    onChunk?: (chunk: Uint8Array) => void,
  ): Promise<TempFile> {
    const tempPath = join(this.tmpDir, `${randomBytes(12).toString("hex")}.part`);
    let size = 0;
    const fh = await open(tempPath, "wx", 0o600);
    const writer = new CoalescingWriter(fh);
    try {
      for await (const chunk of source as AsyncIterable<Uint8Array>) {
        onChunk?.(chunk);
        size += chunk.byteLength;
        // Awaited only when the writer is full: that is the backpressure, bounded memory per upload.
        await writer.push(chunk);
      }
      await writer.finish();
      await fh.sync();
      await fh.close();
      return { tempPath, name: randomName(), size };
    } catch (error) {
      await writer.finish().catch(() => undefined);
      await fh.close().catch(() => undefined);
      await unlink(tempPath).catch(() => undefined);
      throw error;
    }
  }

  async discard(temp: TempFile): Promise<void> {
    await unlink(temp.tempPath).catch(() => undefined);
  }

  /**
   * Moves a temp blob into place durably and holds it as pending. The caller must `release(name)` after
   * its metadata commit (or failure). Renaming over an existing blob of the same name
   * is harmless: only a verified SHA-256 names two uploads alike, and then their bytes are equal.
   */
  async commit(temp: TempFile): Promise<void> {
    this.hold(temp.name);
    try {
      // The folder exists since init (blob-layout): rename, then make the new entry durable.
      const target = this.pathOf(temp.name);
      await rename(temp.tempPath, target);
      await this.fsyncFolder(dirname(target));
    } catch (error) {
      this.release(temp.name);
      await unlink(temp.tempPath).catch(() => undefined);
      throw error;
    }
  }

  hold(sha: string): void {
    this.pending.set(sha, (this.pending.get(sha) ?? 0) + 1);
  }

  release(sha: string): void {
    const n = (this.pending.get(sha) ?? 0) - 1;
    if (n <= 0) this.pending.delete(sha);
    else this.pending.set(sha, n);
  }

  isPending(sha: string): boolean {
    return this.pending.has(sha);
  }

  /**
   * Opens a blob synchronously, in the same tick as the metadata lookup that found it: an open fd keeps
   * the bytes readable even if GC unlinks the file a moment later.
   */
  openSync(sha: string): { fd: number; size: number } {
    const fd = openSync(this.pathOf(sha), "r");
    return { fd, size: fstatSync(fd).size };
  }

  /**
   * A stream over [start, end] (inclusive) of an fd from `openSync`; it closes the fd when done.
   * 1 MB reads: each read is a thread-pool round trip and a stream hop, and at 256 KB those cost
   * about a fifth of a large GET's throughput (measured with bench/storage-multipart.mjs).
   */
  streamFd(fd: number, start?: number, end?: number): ReadStream {
    return createReadStream("", { fd, start, end, autoClose: true, highWaterMark: 1024 * 1024 });
  }

  closeFd(fd: number): void {
    try {
      closeSync(fd);
    } catch {
      // already closed by a stream
    }
  }

  /** Synchronous on purpose: GC decides and unlinks in one tick so no writer can interleave. */
  unlinkSync(sha: string): void {
    try {
      unlinkSync(this.pathOf(sha));
    } catch {
      // already gone
    }
  }

  /** Every blob file on disk (for the orphan sweep). */
  async *listAll(): AsyncGenerator<string> {
    for (const prefix of PREFIXES) {
      for (const name of await readdirSafe(join(this.blobDir, prefix))) {
        if (SHA_RE.test(name)) yield name;
      }
    }
  }

  private async fsyncFolder(dir: string): Promise<void> {
    let handle = this.dirHandles.get(dir);
    if (handle === undefined) {
      handle = open(dir, "r").catch(() => null);
      this.dirHandles.set(dir, handle);
    }
    const fh = await handle;
    // Folders that cannot be opened (Windows) cannot be fsynced either; the file itself was.
    await fh?.sync().catch((error: NodeJS.ErrnoException) => {
      if (error.code !== "EINVAL" && error.code !== "EPERM" && error.code !== "EISDIR") throw error;
    });
  }
}

async function readdirSafe(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch {
    return [];
  }
}
