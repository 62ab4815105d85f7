/**
 * @module providers/_internal/clone
 * File and directory clones for the file-backed providers (sqlite, directory).
 *
 * A clone is a reflink (copy-on-write, O(1) in data size) where the filesystem supports it, otherwise a
 * kernel-side copy: `fs.copyFile` ends in libuv's `copy_file_range`/`sendfile`, so file data never passes
 * through JS memory either way. We ask for the reflink with `COPYFILE_FICLONE_FORCE` rather than
 * `COPYFILE_FICLONE` because the latter falls back silently and we must report which one happened.
 *
 * Disk cost (`bytesAdded`): a reflinked file's `st_blocks` counts its shared extents, so file sizes would
 * report a full copy that did not happen. The honest number for a reflink is the drop in the
 * filesystem's free space across the operation (`statfs` `bavail * bsize`); it includes the clone's
 * metadata and anything that broke sharing (e.g. a checkpoint in the new copy), and, on a busy shared
 * filesystem, other writers' activity, so it is an upper bound there. A plain copy writes every byte,
 * so for `copy` we report the bytes copied, which is exact and not disturbed by neighbours.
 */
import { constants, copyFileSync, mkdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import {
  chmod,
  copyFile,
  lstat,
  mkdir,
  open,
  readFile,
  readdir,
  readlink,
  stat,
  statfs,
  symlink,
} from "node:fs/promises";
import { randomBytes } from "node:crypto";
import { dirname, join } from "node:path";
import { errnoCode } from "../../errors.js";

export type CloneMethod = "reflink" | "copy";

export interface CloneResult {
  readonly method: CloneMethod;
  /** Logical bytes cloned (sum of file sizes). */
  readonly bytes: number;
}

export interface CloneDirResult extends CloneResult {
  /** Regular files cloned. */
  readonly files: number;
}

/**
 * Reflink support by (source device, destination device). A failed FICLONE costs a syscall and an
 * open/unlink of the destination, so we pay it once per filesystem pair, not once per file. Keyed by the
 * pair rather than one device because btrfs subvolumes have distinct `st_dev` yet clone between them.
 */
const reflinkSupport = new Map<string, boolean>();

/** errno values meaning "this filesystem (pair) cannot reflink", as opposed to a real I/O failure. */
const NO_REFLINK = new Set(["ENOTSUP", "EOPNOTSUPP", "EXDEV", "EINVAL", "ENOSYS", "ENOTTY"]);

const FICLONE_FORCE = constants.COPYFILE_FICLONE_FORCE;
const EXCL = constants.COPYFILE_EXCL;

/**
 * A clone is private to its owner: the source's owner bits, no group/other bits (a 0644 database made
 * by an older forkstack, or a file an app wrote under umask 022, becomes 0600). libuv gives the copy the
 * source's mode and offers no way to ask for less, so we narrow it right after; callers clone into a
 * 0700 directory, so nobody else can open the file in between.
 */
const privateMode = (mode: number) => mode & 0o700;

/** Clone one regular file. Never overwrites: fails with EEXIST if `dst` exists. See `privateMode`. */
export async function cloneFile(src: string, dst: string): Promise<CloneResult> {
  const [source, target] = await Promise.all([stat(src), stat(dirname(dst))]);
  const key = `${source.dev}:${target.dev}`;
  let method: CloneMethod = "copy";
  if (reflinkSupport.get(key) !== false) {
    try {
      await copyFile(src, dst, EXCL | FICLONE_FORCE);
      reflinkSupport.set(key, true);
      method = "reflink";
    } catch (error) {
      if (!NO_REFLINK.has(errnoCode(error) ?? "")) throw error;
      reflinkSupport.set(key, false);
    }
  }
  if (method === "copy") await copyFile(src, dst, EXCL);
  if (source.mode & 0o077) await chmod(dst, privateMode(source.mode));
  return { method, bytes: source.size };
}

/**
 * When a flush before a reflink counts as slow enough to tell the user why. A seam for tests, which set
 * it to 0 ("always tell") so that what they check does not depend on how fast this machine's disk is.
 */
export const flushNotice = { afterMs: 250 };

/**
 * Write the files' pending (dirty) pages to disk before they are reflinked, and tell `onSlow` if that
 * takes long. A reflink must share extents that exist on disk, so XFS and btrfs first write back the
 * file's dirty range: cloning a 1 GB database seconds after it was filled took 0.8–4 s on XFS, not the
 * ~15 ms it takes once written. Doing it here, before the caller takes the parent's write lock, keeps
 * the parent writable for that time and lets `new` say why it waits ("writing … of pending data to disk
 * first") instead of looking hung. Files that will be copied, not reflinked, are left alone: a copy
 * reads the page cache. Best effort: a file it cannot open is skipped (the clone will report it).
 */
export async function flushBeforeReflink(
  paths: readonly string[],
  targetDir: string,
  onSlow: (pendingBytes: number | undefined) => void,
): Promise<{ ms: number; slow: boolean }> {
  const start = performance.now();
  const first = paths[0];
  if (first === undefined) return { ms: 0, slow: false };
  const [source, target] = await Promise.all([stat(first), stat(targetDir)]);
  if (reflinkSupport.get(`${source.dev}:${target.dev}`) === false) return { ms: 0, slow: false };
  let notice: Promise<void> | undefined;
  const tell = () => void (notice = pendingBytesEstimate(paths).then(onSlow));
  // 0 (tests only) tells before flushing at all, so the notice does not depend on the disk's speed.
  if (flushNotice.afterMs <= 0) tell();
  const timer = setTimeout(() => notice ?? tell(), Math.max(1, flushNotice.afterMs));
  try {
    await Promise.all(
      paths.map(async (path) => {
        const handle = await open(path, "r").catch(() => undefined);
        if (!handle) return;
        try {
          await handle.datasync();
        } finally {
          await handle.close();
        }
      }),
    );
  } finally {
    clearTimeout(timer);
  }
  await notice;
  return { ms: performance.now() - start, slow: notice !== undefined };
}

/**
 * An upper bound on the files' unwritten bytes: Linux counts dirty pages per machine, not per file
 * (`/proc/meminfo` Dirty + Writeback), so the smaller of that and the files' sizes. Undefined elsewhere.
 */
async function pendingBytesEstimate(paths: readonly string[]): Promise<number | undefined> {
  try {
    const meminfo = await readFile("/proc/meminfo", "utf8");
    const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(meminfo)?.[1] ?? 0);
    const sizes = await Promise.all(
      paths.map((p) =>
        stat(p).then(
          (st) => st.size,
          () => 0,
        ),
      ),
    );
    return Math.min(
      (kb("Dirty") + kb("Writeback")) * 1024,
      sizes.reduce((a, b) => a + b, 0),
    );
  } catch {
    return undefined;
  }
}

export interface CloneDirOptions {
  /** Files cloned at once. Reflinks are metadata operations and copies are kernel-side, so a handful suffices. */
  readonly concurrency?: number;
}

/**
 * Clone a directory tree into `dst`, which must not exist. Regular files are cloned with `cloneFile`,
 * symlinks are recreated as they are (not followed), directories get their source's owner bits (0700 for
 * the usual 0755: see `privateMode`). Sockets, FIFOs and
 * devices are skipped: they are runtime artefacts of a process, not state that can be copied.
 * Not atomic: callers clone into a temporary name and rename.
 */
export async function cloneDir(
  src: string,
  dst: string,
  options: CloneDirOptions = {},
): Promise<CloneDirResult> {
  const files: Array<[string, string]> = [];
  const dirs: Array<[string, number]> = [];

  // Walk and create the directory skeleton first (cheap, sequential), then clone files in parallel.
  const walk = async (from: string, to: string): Promise<void> => {
    const st = await stat(from);
    await mkdir(to, { mode: 0o700 });
    dirs.push([to, privateMode(st.mode)]);
    for (const entry of await readdir(from, { withFileTypes: true })) {
      const a = join(from, entry.name);
      const b = join(to, entry.name);
      if (entry.isDirectory()) await walk(a, b);
      else if (entry.isFile()) files.push([a, b]);
      else if (entry.isSymbolicLink()) await symlink(await readlink(a), b);
    }
  };
  await walk(src, dst);

  let copied = 0;
  let bytes = 0;
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < files.length) {
      const [a, b] = files[next++]!;
      const result = await cloneFile(a, b);
      bytes += result.bytes;
      if (result.method === "copy") copied++;
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, options.concurrency ?? 8) }, worker));

  // Modes last, deepest first: a read-only source directory must not stop us filling its copy.
  for (const [dir, mode] of dirs.reverse()) await chmod(dir, mode);

  // An empty tree says nothing about the filesystem; ask it, so `new` does not claim a reflink on ext4.
  const method: CloneMethod =
    copied > 0 ? "copy" : files.length > 0 || (await probeReflink(dst)) ? "reflink" : "copy";
  return { method, bytes, files: files.length };
}

/**
 * Whether the filesystem under `dir` (or its nearest existing ancestor) can reflink, by cloning a small
 * scratch file there. Cached per device. Returns false if the directory is not writable.
 */
export async function probeReflink(dir: string): Promise<boolean> {
  const at = await existingAncestor(dir);
  const { dev } = await stat(at);
  const key = `${dev}:${dev}`;
  const known = reflinkSupport.get(key);
  if (known !== undefined) return known;
  return probeAt(at, key);
}

/**
 * Synchronous `probeReflink`, for `flags.copyOnWrite`, which the contract makes a plain property; providers
 * call it lazily from a getter so that constructing a provider still does no I/O.
 */
export function probeReflinkSync(dir: string): boolean {
  let at = dir;
  for (;;) {
    try {
      statSync(at);
      break;
    } catch {
      const up = dirname(at);
      if (up === at) return false;
      at = up;
    }
  }
  const dev = statSync(at).dev;
  const key = `${dev}:${dev}`;
  const known = reflinkSupport.get(key);
  if (known !== undefined) return known;
  return probeAt(at, key);
}

function probeAt(dir: string, key: string): boolean {
  const base = join(dir, `.forkstack-reflink-probe-${randomBytes(6).toString("hex")}`);
  let supported = false;
  try {
    mkdirSync(base, { mode: 0o700 });
    // One full block: some filesystems short-circuit clones of empty files.
    writeFileSync(join(base, "a"), Buffer.alloc(4096, 1));
    copyFileSync(join(base, "a"), join(base, "b"), EXCL | FICLONE_FORCE);
    supported = true;
  } catch (error) {
    // An unwritable directory tells us nothing about the filesystem: do not cache that answer.
    if (!NO_REFLINK.has(errnoCode(error) ?? "")) {
      rmSync(base, { recursive: true, force: true });
      return false;
    }
  }
  rmSync(base, { recursive: true, force: true });
  reflinkSupport.set(key, supported);
  return supported;
}

async function existingAncestor(dir: string): Promise<string> {
  let at = dir;
  for (;;) {
    try {
      await lstat(at);
      return at;
    } catch (error) {
      const up = dirname(at);
      if (errnoCode(error) !== "ENOENT" || up === at) throw error;
      at = up;
    }
  }
}

/** Free bytes available to us on the filesystem holding `dir`. */
export async function freeBytes(dir: string): Promise<number> {
  const s = await statfs(dir);
  return s.bavail * s.bsize;
}

/**
 * What a clone cost on disk, per the rule in this module's header: the free-space drop for reflinks,
 * the bytes written for copies.
 */
export function bytesAdded(
  method: CloneMethod,
  copiedBytes: number,
  freeBefore: number,
  freeAfter: number,
): number {
  return method === "copy" ? copiedBytes : Math.max(0, freeBefore - freeAfter);
}
