/**
 * @module providers/_internal/holders
 * Which local processes hold files open, for `Provider.holders`: `reset`/`delete` of an env refuse while
 * an app has its database or state directory open, because the app would go on writing to unlinked
 * files whose data nobody can see again.
 *
 * - Linux: every process's `/proc/<pid>/fd/*` symlinks and `/proc/<pid>/cwd`, read once per call. The
 *   links show the path the kernel resolved at open time, so targets are compared after `realpath`.
 *   Processes of other users are unreadable (EACCES) unless we are root; that is fine: other users cannot
 *   open an env's files anyway (they are 0600 in 0700 directories).
 * - macOS (and anything with `lsof` when asked): `lsof -F pcn`, if installed. Its command names are
 *   short (the kernel's `p_comm`), which is still enough to recognise the process.
 * - Elsewhere (Windows): no cheap way to know, so the answer is []. Windows refuses to delete open files
 *   anyway, so `delete` fails there instead of losing writes.
 *
 * The scan uses synchronous calls on purpose: it is thousands of tiny syscalls on `/proc`, where a thread
 * pool round trip per call costs more than the call. On a desktop with ~500 processes it takes
 * milliseconds. Processes vanishing mid-scan (ENOENT, ESRCH) are skipped, not errors.
 */
import { execFile } from "node:child_process";
import { readFileSync, readdirSync, readlinkSync } from "node:fs";
import { realpath } from "node:fs/promises";
import { basename, sep } from "node:path";
import { errnoCode } from "../../errors.js";
import type { Holder } from "../types.js";

/**
 * Paths, or a promise of them: a provider that must first read which paths are its own (the directory
 * provider's record) passes the promise, so that its scan still starts in the same turn as the others'.
 */
type Paths = readonly string[] | PromiseLike<readonly string[]>;

export interface HolderQuery {
  /** A process with any of these files open holds them. Missing files are ignored. */
  readonly files?: Paths;
  /** A process with a file under one of these directories open, or its cwd inside one, holds it. */
  readonly dirs?: Paths;
}

export interface HolderOptions {
  /** How to look: by platform unless given (tests use it to exercise `lsof` on Linux). */
  readonly via?: "proc" | "lsof" | "none";
}

/** Commands are for messages: long ones (a JSON argument, a minified script) are cut. */
const MAX_COMMAND = 120;

export async function findHolders(query: HolderQuery, options: HolderOptions = {}): Promise<Holder[]> {
  const via =
    options.via ?? (process.platform === "linux" ? "proc" : process.platform === "darwin" ? "lsof" : "none");
  if (via === "none") return [];
  // Asked for before the targets are known, so that callers in the same turn share one scan.
  const snapshot = via === "proc" ? procSnapshot() : undefined;
  const [files, dirs] = await Promise.all([
    resolveExisting(query.files ?? []),
    resolveExisting(query.dirs ?? []),
  ]);
  if (files.length === 0 && dirs.length === 0) return [];
  return snapshot ? matchProc(await snapshot, files, dirs) : lsofHolders(files, dirs);
}

/** Canonical paths (as `/proc` and `lsof` report them) of the targets that exist. */
async function resolveExisting(targets: Paths): Promise<string[]> {
  const resolved = await Promise.all(
    (await targets).map((path) =>
      realpath(path).catch((error: unknown) => {
        if (errnoCode(error) === "ENOENT" || errnoCode(error) === "ENOTDIR") return undefined;
        throw error;
      }),
    ),
  );
  return resolved.filter((path): path is string => path !== undefined);
}

const inside = (path: string, dirs: readonly string[]) =>
  dirs.some((dir) => path === dir || path.startsWith(dir.endsWith(sep) ? dir : dir + sep));

// ---------------------------------------------------------------------------------------------------
// Linux: /proc

interface ProcEntry {
  readonly pid: number;
  /** Absolute paths of open files (sockets, pipes and anonymous inodes left out). */
  readonly open: readonly string[];
  readonly cwd: string | undefined;
}

let pending: Promise<ProcEntry[]> | undefined;

/** How many times `/proc` was read, for the test that callers share a scan. */
export const procStats = { scans: 0 };

/**
 * One read of `/proc`, shared by every caller that asks within the same turn of the event loop: the core
 * asks all providers at once, and each would otherwise walk every process again.
 */
function procSnapshot(): Promise<ProcEntry[]> {
  pending ??= new Promise((resolve, reject) => {
    setImmediate(() => {
      pending = undefined;
      try {
        resolve(readProc());
      } catch (error) {
        reject(error);
      }
    });
  });
  return pending;
}

function readProc(): ProcEntry[] {
  procStats.scans++;
  let names: string[];
  try {
    names = readdirSync("/proc");
  } catch {
    return []; // no procfs mounted (some containers): nothing we can know
  }
  const entries: ProcEntry[] = [];
  for (const name of names) {
    const pid = Number(name);
    if (!Number.isInteger(pid) || pid <= 0 || pid === process.pid) continue;
    const open: string[] = [];
    let fds: string[] = [];
    try {
      fds = readdirSync(`/proc/${pid}/fd`);
    } catch {
      // EACCES: another user's process; ENOENT: it exited. Its cwd may still be readable.
    }
    for (const fd of fds) {
      const target = readlinkOrUndefined(`/proc/${pid}/fd/${fd}`);
      if (target?.startsWith("/")) open.push(target);
    }
    const cwd = readlinkOrUndefined(`/proc/${pid}/cwd`);
    if (open.length > 0 || cwd !== undefined) entries.push({ pid, open, cwd });
  }
  return entries;
}

function readlinkOrUndefined(path: string): string | undefined {
  try {
    return readlinkSync(path);
  } catch {
    return undefined;
  }
}

function matchProc(
  entries: readonly ProcEntry[],
  files: readonly string[],
  dirs: readonly string[],
): Holder[] {
  const wanted = new Set(files);
  const holders: Holder[] = [];
  for (const entry of entries) {
    let path = entry.open.find((p) => wanted.has(p) || inside(p, dirs));
    if (path === undefined && entry.cwd !== undefined && inside(entry.cwd, dirs)) path = entry.cwd;
    if (path === undefined) continue;
    const command = procCommand(entry.pid);
    // Gone between the scan and now: it holds nothing any more.
    if (command !== undefined) holders.push({ pid: entry.pid, command, path });
  }
  return holders;
}

/** `node server.js` from `/proc/<pid>/cmdline` (program by its base name), or `comm` for kernel threads. */
function procCommand(pid: number): string | undefined {
  try {
    const argv = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
    while (argv.length > 0 && argv[argv.length - 1] === "") argv.pop();
    if (argv.length > 0) return shorten([basename(argv[0]!), ...argv.slice(1)].join(" "));
    return shorten(readFileSync(`/proc/${pid}/comm`, "utf8").trim());
  } catch {
    return undefined;
  }
}

function shorten(command: string): string {
  return command.length > MAX_COMMAND ? `${command.slice(0, MAX_COMMAND - 1)}…` : command;
}

// ---------------------------------------------------------------------------------------------------
// lsof (macOS; available on many Linux machines too)

const LSOF_TIMEOUT_MS = 10_000;

function lsofHolders(files: readonly string[], dirs: readonly string[]): Promise<Holder[]> {
  // -w: no warnings; -n -P: no DNS or port names (slow); -F pcn: machine-readable pid, command, name.
  // `+D dir` walks the tree; names after `--` are files. lsof ORs the selections.
  const args = ["-w", "-n", "-P", "-F", "pcn", ...dirs.flatMap((dir) => ["+D", dir])];
  if (files.length > 0) args.push("--", ...files);
  return new Promise((resolve) => {
    execFile("lsof", args, { timeout: LSOF_TIMEOUT_MS, maxBuffer: 16 << 20 }, (error, stdout) => {
      // lsof exits 1 when nothing matched; missing lsof (ENOENT) or a timeout leave us knowing nothing.
      if (error && !stdout) return resolve([]);
      resolve(parseLsof(stdout, files, dirs));
    });
  });
}

/** Parse `lsof -F pcn` output: `p<pid>`, `c<command>`, then `f<fd>`/`n<name>` lines per open file. */
export function parseLsof(output: string, files: readonly string[], dirs: readonly string[]): Holder[] {
  const wanted = new Set(files);
  const byPid = new Map<number, { command: string; path?: string }>();
  let pid = 0;
  for (const line of output.split("\n")) {
    const field = line[0];
    const value = line.slice(1);
    if (field === "p") {
      pid = Number(value);
      if (!byPid.has(pid)) byPid.set(pid, { command: "" });
    } else if (field === "c" && byPid.has(pid)) {
      byPid.get(pid)!.command = shorten(value);
    } else if (field === "n" && byPid.has(pid)) {
      const entry = byPid.get(pid)!;
      if (entry.path === undefined && (wanted.has(value) || inside(value, dirs))) entry.path = value;
    }
  }
  const holders: Holder[] = [];
  for (const [holder, entry] of byPid) {
    if (holder === process.pid || entry.path === undefined) continue;
    holders.push({ pid: holder, command: entry.command || `pid ${holder}`, path: entry.path });
  }
  return holders;
}
