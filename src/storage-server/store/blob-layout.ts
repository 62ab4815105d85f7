/**
 * @module storage-server/store/blob-layout
 * The on-disk layout of blob files, and the one-time migration from the old one.
 *
 * Layout v2 (current): `blobs/<sha[0..2]>/<sha>`: 256 folders, all created (and fsynced) once when a
 * store opens, so a PUT never has to create a folder. v1 was `blobs/<sha[0..2]>/<sha[2..4]>/<sha>`
 * (65,536 folders): in a young store almost every PUT created one, which cost a `mkdir` plus two
 * directory fsyncs on top of the blob's own. 256 folders still keep each one small (a million blobs
 * is ~4,000 entries per folder, which ext4/xfs/apfs index by name).
 *
 * A `LAYOUT` file containing "2" marks a store as migrated. It is written last, after every v1 file
 * has been renamed into its v2 folder and those folders fsynced, so a crash mid-migration simply
 * redoes the remaining moves on the next open (a rename is atomic and blobs are immutable, so moving
 * a file twice, or finding it already moved, is harmless).
 */
import { mkdir, open, readFile, readdir, rename, rmdir, writeFile } from "node:fs/promises";
import { join } from "node:path";

export const SHA_RE = /^[0-9a-f]{64}$/;
const HEX2_RE = /^[0-9a-f]{2}$/;
const LAYOUT_FILE = "LAYOUT";
const LAYOUT_VERSION = "2";

/** The 256 folder names `00` … `ff`. */
export const PREFIXES: readonly string[] = Array.from({ length: 256 }, (_, i) =>
  i.toString(16).padStart(2, "0"),
);

export function blobPath(blobDir: string, sha: string): string {
  return join(blobDir, sha.slice(0, 2), sha);
}

/**
 * Makes `blobDir` a durable v2 layout: creates the 256 folders, moves any v1 files into them, then
 * writes the marker. Cheap when already done (one small read).
 */
export async function prepareLayout(blobDir: string): Promise<{ migrated: number }> {
  await mkdir(blobDir, { recursive: true });
  const marker = join(blobDir, LAYOUT_FILE);
  const current = await readFile(marker, "utf8").catch(() => undefined);
  if (current?.trim() === LAYOUT_VERSION) return { migrated: 0 };

  let migrated = 0;
  for (const prefix of PREFIXES) {
    const dir = join(blobDir, prefix);
    await mkdir(dir, { recursive: true });
    migrated += await migrateV1Folder(dir);
    // Durable before the marker claims the layout: the folder itself and the files moved into it.
    await fsyncDir(dir);
  }
  await fsyncDir(blobDir);
  await writeFile(marker, `${LAYOUT_VERSION}\n`, { mode: 0o600, flush: true });
  await fsyncDir(blobDir);
  return { migrated };
}

/** Moves `<dir>/<cd>/<sha>` (v1) up to `<dir>/<sha>` and removes the emptied `<cd>` folders. */
async function migrateV1Folder(dir: string): Promise<number> {
  let moved = 0;
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    if (!entry.isDirectory() || !HEX2_RE.test(entry.name)) continue;
    const sub = join(dir, entry.name);
    for (const name of await readdir(sub)) {
      if (!SHA_RE.test(name)) continue;
      await rename(join(sub, name), join(dir, name));
      moved++;
    }
    // Only after the moves are durable may the old folder go (rmdir fails, harmlessly, if not empty).
    await fsyncDir(dir);
    await rmdir(sub).catch(() => undefined);
  }
  return moved;
}

/** fsync a directory so a rename/creation in it survives power loss (a no-op where unsupported). */
export async function fsyncDir(dir: string): Promise<void> {
  let fh;
  try {
    fh = await open(dir, "r");
    await fh.sync();
  } catch {
    // Some platforms (Windows) cannot open/fsync directories; the file itself was already fsynced.
  } finally {
    await fh?.close().catch(() => undefined);
  }
}
