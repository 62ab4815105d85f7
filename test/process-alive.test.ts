/**
 * One "is this process alive" for the whole codebase (src/process-alive.ts): a zombie — killed, not yet
 * reaped by a parent that never reaps — answers kill(pid, 0) but is dead. First the helper against a
 * real zombie, then what a user saw: `forkstack up` failing after `kill -9` of the daemon while its
 * parent kept it a zombie (the store's lock named the zombie's pid and looked held).
 */
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { readFileSync } from "node:fs";
import { createInterface } from "node:readline";
import { join } from "node:path";
import { describe, expect, it, onTestFinished } from "vitest";
import { processAlive } from "../src/process-alive.js";
import { BIN, cleanEnv, runCli, tempProject } from "./helpers/project.js";
import { waitFor } from "./helpers/wait.js";

const linux = process.platform === "linux";

/** The state letter of /proc/<pid>/stat (after the command name, which may hold parentheses). */
function procState(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 1).trim()[0];
  } catch {
    return undefined;
  }
}

/** Lines a child writes on stdout, one at a time. */
function lines(child: ChildProcessWithoutNullStreams): () => Promise<string> {
  const queue: string[] = [];
  const waiting: Array<(line: string) => void> = [];
  createInterface({ input: child.stdout }).on("line", (line) => {
    const next = waiting.shift();
    if (next) next(line);
    else queue.push(line);
  });
  return () => {
    const line = queue.shift();
    return line !== undefined ? Promise.resolve(line) : new Promise((resolve) => waiting.push(resolve));
  };
}

/** `kill(pid, 0)` says yes: the process-table entry exists (alive or zombie). */
function inProcessTable(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe("processAlive", () => {
  it("is true for a running process, false for a reaped one, a group id, or garbage", async () => {
    expect(processAlive(process.pid)).toBe(true);
    const child = spawn(process.execPath, ["-e", "0"]);
    await new Promise((resolve) => child.once("exit", resolve));
    expect(processAlive(child.pid!)).toBe(false);
    for (const pid of [0, -1, -process.pid, 1.5, Number.NaN]) expect(processAlive(pid)).toBe(false);
  });

  it.runIf(linux)("is false for a zombie, which kill(pid, 0) still finds", async () => {
    // `sleep &` then `exec sleep`: the background sleep's parent becomes a program that never reaps.
    const parent = spawn("sh", ["-c", "sleep 600 & echo $!; exec sleep 600"]);
    onTestFinished(() => void parent.kill("SIGKILL"));
    const pid = Number(await lines(parent)());
    expect(processAlive(pid)).toBe(true);
    process.kill(pid, "SIGKILL");
    await waitFor(() => procState(pid) === "Z"); // the child becomes a zombie
    expect(inProcessTable(pid)).toBe(true);
    expect(processAlive(pid)).toBe(false);
  });
});

describe("forkstack up after kill -9 of the daemon, while its parent keeps it a zombie", () => {
  it.runIf(linux)("starts a new server", async () => {
    const cwd = await tempProject({
      project: "zombie",
      database: { provider: "sqlite" },
      storage: { provider: "local" },
      secrets: { provider: "dotenv" },
      local: { provider: "directory" },
    });
    // A supervisor that adopts orphans and never reaps them (PR_SET_CHILD_SUBREAPER = 36), as a
    // container's init may: it runs `forkstack up`, whose detached daemon it then adopts.
    const supervisor = spawn(
      "python3",
      [
        "-c",
        [
          "import ctypes, subprocess, sys",
          "ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)",
          "r = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)",
          "print(r.returncode, r.stderr.decode().replace('\\n', ' '), flush=True)",
          "sys.stdin.read()",
        ].join("\n"),
        process.execPath,
        BIN,
        "up",
      ],
      { cwd, env: cleanEnv() },
    );
    onTestFinished(async () => {
      await runCli(["down"], { cwd });
      supervisor.stdin.end();
      supervisor.kill("SIGKILL");
    });
    expect(await lines(supervisor)()).toMatch(/^0 /);
    const record = () =>
      JSON.parse(readFileSync(join(cwd, ".forkstack/storage/server.pid"), "utf8")) as { pid: number };
    const daemon = record().pid;
    expect(readFileSync(`/proc/${daemon}/status`, "utf8")).toMatch(
      new RegExp(`^PPid:\\s+${supervisor.pid}$`, "m"),
    );

    process.kill(daemon, "SIGKILL");
    await waitFor(() => procState(daemon) === "Z"); // the daemon becomes a zombie

    const up = await runCli(["up"], { cwd });
    expect(up.code, up.stderr).toBe(0);
    expect(up.stderr).not.toMatch(/in use by process|did not start/);
    expect(record().pid).not.toBe(daemon);
    expect(processAlive(record().pid)).toBe(true);
    expect(procState(daemon)).toBe("Z"); // still a zombie: it was never in the way
  });
});
