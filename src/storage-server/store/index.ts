/**
 * @module storage-server/store
 * The object store behind the HTTP API: blobs on disk + metadata in SQLite, under one root directory
 * that a single process owns at a time (a pid lock file guards against two servers on one root).
 */
import { readFileSync, unlinkSync, writeFileSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { processAlive } from "../../process-alive.js";
import { BlobStore } from "./blobs.js";
import { openDb } from "./db.js";
import { collectGarbage, reclaimReleased } from "./gc.js";
import type { GcReport } from "./gc.js";
import { Metadata } from "./metadata.js";

export type { GcReport } from "./gc.js";
export { LATEST } from "./metadata.js";

/**
 * How long after an overwrite or delete its blob is freed. A short wait gathers a burst of deletes
 * (DeleteObjects, a cleanup loop) into one pass, and by then the writes that released them have
 * usually been synced already, so the pass rarely has to wait for the disk.
 */
const RECLAIM_DELAY_MS = 25;

export class Store {
  readonly root: string;
  readonly meta: Metadata;
  readonly blobs: BlobStore;
  private readonly lockFile: string;
  private gcRunning: Promise<GcReport> | undefined;
  private reclaimTimer: NodeJS.Timeout | undefined;
  private closed = false;

  private constructor(root: string, meta: Metadata, blobs: BlobStore, lockFile: string) {
    this.root = root;
    this.meta = meta;
    this.blobs = blobs;
    this.lockFile = lockFile;
    // Deleted and overwritten objects give their disk space back within moments, not at the next
    // full GC pass (minutes away, or never for a server nobody asks to collect).
    meta.onRelease = () => {
      if (this.reclaimTimer !== undefined || this.closed) return;
      this.reclaimTimer = setTimeout(() => this.reclaim(), RECLAIM_DELAY_MS);
      this.reclaimTimer.unref();
    };
  }

  static async open(root: string): Promise<Store> {
    await mkdir(root, { recursive: true, mode: 0o700 });
    const lockFile = join(root, "server.pid");
    takeLock(lockFile);
    try {
      const blobs = new BlobStore(root);
      await blobs.init();
      const dbFile = join(root, "meta.sqlite");
      const meta = new Metadata(openDb(dbFile), `${dbFile}-wal`);
      return new Store(root, meta, blobs, lockFile);
    } catch (error) {
      releaseLock(lockFile);
      throw error;
    }
  }

  /** Runs one GC pass (concurrent calls share it). */
  gc(): Promise<GcReport> {
    this.gcRunning ??= collectGarbage(this.meta, this.blobs).finally(() => {
      this.gcRunning = undefined;
    });
    return this.gcRunning;
  }

  /** Frees what writes released since the last pass (gc.ts `reclaimReleased`). */
  private reclaim(): void {
    this.reclaimTimer = undefined;
    if (this.closed) return;
    try {
      reclaimReleased(this.meta, this.blobs, this.meta.takeReleased());
    } catch {
      // Nothing is lost by failing here (a full disk, a broken WAL): the next full GC pass frees them.
    }
  }

  /** Waits for a running GC pass, then closes the database and releases the root. */
  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.reclaimTimer);
    await this.gcRunning?.catch(() => undefined);
    await this.meta.close();
    await this.blobs.close();
    releaseLock(this.lockFile);
  }
}

/**
 * One process per root: a second server on the same data would break the single-writer assumptions
 * (pending blobs, in-memory seq). A lock left by a killed process (dead pid) is taken over.
 */
function takeLock(file: string): void {
  try {
    writeFileSync(file, String(process.pid), { flag: "wx", mode: 0o600 });
    return;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
  }
  const pid = Number(readFileSync(file, "utf8").trim());
  if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && processAlive(pid)) {
    throw new Error(`The storage root ${file} is in use by process ${pid}.`);
  }
  if (pid === process.pid) throw new Error(`The storage root of ${file} is already open in this process.`);
  writeFileSync(file, String(process.pid), { mode: 0o600 });
}

function releaseLock(file: string): void {
  try {
    if (readFileSync(file, "utf8").trim() === String(process.pid)) unlinkSync(file);
  } catch {
    // already gone
  }
}
