/**
 * @module process-alive
 * The one answer to "is the process that wrote this pid still running?", for every record that names a
 * process: journal entries and env locks (`core/state.ts`), the storage server's record (`providers/
 * storage/_local-server.ts`) and its store's lock (`storage-server/store/index.ts`). A leaf: it imports
 * nothing of ours, so any layer may use it.
 *
 * `kill(pid, 0)` alone is not enough: a process killed with SIGKILL stays a zombie — still in the process
 * table, still answering `kill(pid, 0)` — until its parent reaps it, and a parent that never does (a
 * container's init that does not reap, a supervisor that is busy, a shell that exec'd into something
 * else) keeps it so for good. A zombie runs no code and holds no file, lock or port: it is dead. On
 * Linux `/proc/<pid>/stat` says so (state `Z`, or `X` while it is being reaped); without procfs
 * (macOS) `kill(pid, 0)` is all there is.
 */
import { existsSync, readFileSync } from "node:fs";

export function processAlive(pid: number): boolean {
  // 0 and negative numbers name process groups to kill(), never one process.
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
  } catch (error) {
    // EPERM: it exists but is another user's (still possibly a zombie); ESRCH: gone.
    if ((error as NodeJS.ErrnoException).code !== "EPERM") return false;
  }
  return !isZombie(pid);
}

/** Linux: the state field of `/proc/<pid>/stat`, which follows the command name in parentheses. */
function isZombie(pid: number): boolean {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    // Reaped between the two calls (procfs is there, its entry is not), or no procfs at all (macOS).
    return existsSync("/proc/self/stat");
  }
  // The name may itself hold spaces and parentheses: the state is the field after the last `)`.
  const state = stat.slice(stat.lastIndexOf(")") + 1).trimStart()[0];
  return state === "Z" || state === "X";
}
