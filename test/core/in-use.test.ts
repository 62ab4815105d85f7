/**
 * `reset`/`delete` of an env whose data a running process holds open must refuse, naming the process
 * (issue 7 §4): otherwise the app keeps writing to unlinked files and those writes vanish. Real
 * processes, a real project opened through the API, envs made by the lifecycle functions.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it, onTestFinished } from "vitest";
import { findEnvHolders, refuseInUse } from "../../src/core/in-use.js";
import { createEnv, createRootEnv } from "../../src/core/lifecycle.js";
import { openProject, type Project } from "../../src/core/project.js";
import { isForkstackError } from "../../src/errors.js";
import { procStats } from "../../src/providers/_internal/holders.js";
import { REPO, tempProject } from "../helpers/project.js";

const APP = join(REPO, "test/core/_fixtures/app.mjs");
const onLinux = process.platform === "linux";

/** Start a process and wait for its "ready" line; it is killed when the test ends. */
async function start(args: string[], options: { cwd?: string } = {}): Promise<ChildProcess> {
  const child = spawn(process.execPath, args, { cwd: options.cwd, stdio: ["ignore", "pipe", "inherit"] });
  onTestFinished(() => stop(child));
  let out = "";
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on("data", (d: Buffer) => {
      out += d.toString();
      if (out.includes("ready")) resolve();
    });
    child.on("exit", (code) => reject(new Error(`${args.join(" ")} exited ${code} before it was ready`)));
  });
  return child;
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, "exit");
  child.kill("SIGKILL");
  await exited;
}

async function refusal(promise: Promise<unknown>): Promise<Error & { code: string; hint?: string }> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!isForkstackError(error)) throw new Error(`expected a ForkstackError, got ${String(error)}`);
  return error;
}

describe.runIf(onLinux)("refuseInUse", () => {
  let project: Project;
  let warnings: string[];
  let dbPath: string;
  let localPath: string;

  beforeEach(async () => {
    const dir = await tempProject();
    warnings = [];
    project = await openProject({
      cwd: dir,
      log: { debug() {}, info() {}, warn: (m) => void warnings.push(m) },
    });
    await createRootEnv(project, "dev");
    const alice = await createEnv(project, "alice", { from: "dev", switchTo: false });
    dbPath = alice.resources.database!.location;
    localPath = alice.resources.local!.location;
  });
  afterEach(() => project.close());

  it("refuses while an app holds the env's database open, naming its pid and command", async () => {
    const app = await start([APP, dbPath]);
    const error = await refusal(refuseInUse(project, "alice", "reset"));
    expect(error.code).toBe("E_ENV_BUSY");
    expect(error.message).toContain(`"alice" cannot be reset while a process uses its data`);
    expect(error.message).toContain(`pid ${app.pid} node ${APP}`);
    expect(error.message).toContain(join(".forkstack", "envs", "alice"));
    expect(error.hint).toContain(`Stop it (\`kill ${app.pid}\`)`);
    expect(error.hint).toContain("--force");
    // The same for delete, and nothing for an env the app does not use.
    expect((await refusal(refuseInUse(project, "alice", "deleted"))).message).toContain("cannot be deleted");
    await refuseInUse(project, "dev", "reset");
  });

  it("with force, warns and lets the caller go on", async () => {
    const app = await start([APP, dbPath]);
    await refuseInUse(project, "alice", "reset", true);
    expect(warnings.join("\n")).toContain(`pid ${app.pid} node`);
  });

  it("passes once the app has exited", async () => {
    const app = await start([APP, dbPath]);
    await refusal(refuseInUse(project, "alice", "deleted"));
    await stop(app);
    await refuseInUse(project, "alice", "deleted");
  });

  it("refuses while a process works inside the env's local state directory", async () => {
    const shell = await start(["-e", "process.stdout.write('ready\\n'); setInterval(() => {}, 60000)"], {
      cwd: localPath,
    });
    const holders = await findEnvHolders(project, "alice");
    expect(holders).toEqual([expect.objectContaining({ pid: shell.pid, kinds: ["local"] })]);
    const error = await refusal(refuseInUse(project, "alice", "reset"));
    expect(error.message).toContain(`pid ${shell.pid} node -e`);
  });

  it("names a process once, with every kind of resource it holds", async () => {
    const app = await start([APP, dbPath], { cwd: localPath });
    const scans = procStats.scans;
    const holders = await findEnvHolders(project, "alice");
    expect(holders).toEqual([expect.objectContaining({ pid: app.pid, kinds: ["database", "local"] })]);
    // Both providers were answered from one read of /proc.
    expect(procStats.scans - scans).toBe(1);
  });

  it("does not name this process, which may hold the database itself", async () => {
    const { default: Database } = await import("libsql");
    const db = new Database(dbPath);
    try {
      db.exec("SELECT count(*) FROM sqlite_schema");
      await refuseInUse(project, "alice", "reset");
    } finally {
      db.close();
    }
  });

  it("scans /proc once per question, whatever the number of providers asking", async () => {
    // Work, not time (a duration bound fails on a busy machine): each question is one walk of /proc,
    // shared by the providers, never one per provider or per resource, nor a shell-out in its place.
    const scans = procStats.scans;
    for (let i = 0; i < 10; i++) await findEnvHolders(project, "alice");
    expect(procStats.scans - scans).toBe(10);
  });
});
