// A reflink-capable filesystem for the demo and the benchmarks: a sparse image file formatted as XFS
// with reflink=1 (Debian's xfsprogs) and loop-mounted. Needs root and mkfs.xfs; when either is missing
// it says why and returns null, so callers fall back to the working filesystem.
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, closeSync, openSync, ftruncateSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** @returns {{ dir: string, cleanup(): void } | { dir: null, reason: string }} */
export function mountReflinkFs({ sizeGb = 8, base = tmpdir() } = {}) {
  if (process.getuid?.() !== 0) return { dir: null, reason: "mounting needs root" };
  if (spawnSync("sh", ["-c", "command -v mkfs.xfs"]).status !== 0) {
    return { dir: null, reason: "mkfs.xfs not found (apt-get install xfsprogs)" };
  }
  const work = mkdtempSync(join(base, "forkstack-xfs-"));
  const image = join(work, "xfs.img");
  const dir = join(work, "mnt");
  try {
    const fd = openSync(image, "w");
    ftruncateSync(fd, sizeGb * 1024 ** 3); // sparse: costs only what is written
    closeSync(fd);
    execFileSync("mkfs.xfs", ["-q", "-m", "reflink=1", image]);
    execFileSync("mkdir", [dir]);
    execFileSync("mount", ["-o", "loop", image, dir]);
  } catch (error) {
    rmSync(work, { recursive: true, force: true });
    return {
      dir: null,
      reason: `could not mount an XFS image: ${String(error.stderr ?? error.message).trim()}`,
    };
  }
  return {
    dir,
    cleanup() {
      // A lazy unmount if the kernel still counts a user (a just-closed file, a loop device settling).
      if (spawnSync("umount", [dir]).status !== 0) spawnSync("umount", ["-l", dir]);
      rmSync(work, { recursive: true, force: true });
    },
  };
}
