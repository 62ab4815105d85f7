import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { mkdir, mkdtemp, open, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it, onTestFinished } from "vitest";
import { findHolders, parseLsof, procStats } from "../../../src/providers/_internal/holders.js";

const hasLsof = (() => {
  try {
    execFileSync("lsof", ["-v"], { stdio: "ignore" });
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code !== "ENOENT";
  }
})();

/** A node process that opens `file` (if given) and idles in `cwd`; killed when the test ends. */
async function holder(options: { file?: string; cwd?: string }): Promise<ChildProcess> {
  const script = `const fs = require("node:fs"); ${options.file ? `fs.openSync(${JSON.stringify(options.file)}, "r");` : ""} process.stdout.write("ready\\n"); setInterval(() => {}, 60000);`;
  const child = spawn(process.execPath, ["-e", script], {
    cwd: options.cwd,
    stdio: ["ignore", "pipe", "inherit"],
  });
  onTestFinished(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = once(child, "exit");
      child.kill("SIGKILL");
      await exited;
    }
  });
  await once(child.stdout!, "data");
  return child;
}

describe("findHolders", () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "fs-holders-"));
    await mkdir(join(dir, "state", "sub"), { recursive: true });
    await writeFile(join(dir, "db.sqlite"), "x");
    await writeFile(join(dir, "state", "sub", "f"), "x");
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  describe.runIf(process.platform === "linux")("through /proc", () => {
    it("finds a process holding a file, with its command, and not others", async () => {
      const child = await holder({ file: join(dir, "db.sqlite") });
      const found = await findHolders({ files: [join(dir, "db.sqlite"), join(dir, "db.sqlite-wal")] });
      expect(found).toEqual([
        { pid: child.pid, command: expect.stringMatching(/^node -e const fs/), path: join(dir, "db.sqlite") },
      ]);
      expect(found[0]!.command.length).toBeLessThanOrEqual(120);
      expect(await findHolders({ files: [join(dir, "state", "sub", "f")] })).toEqual([]);
    });

    it("finds a process with a file open under a directory, or its cwd inside it", async () => {
      const reader = await holder({ file: join(dir, "state", "sub", "f") });
      const shell = await holder({ cwd: join(dir, "state", "sub") });
      const found = await findHolders({ dirs: [join(dir, "state")] });
      expect(found.map((h) => h.pid).sort()).toEqual([reader.pid, shell.pid].sort());
      // A sibling whose name merely starts the same is not inside.
      await mkdir(join(dir, "state2"));
      expect(await findHolders({ dirs: [join(dir, "stat")] })).toEqual([]);
    });

    it("compares canonical paths, as the kernel reports them", async () => {
      await symlink(dir, join(dir, "..", `${dir.split("/").pop()}-link`));
      onTestFinished(() => rm(`${dir}-link`, { force: true }));
      const child = await holder({ file: join(dir, "db.sqlite") });
      expect((await findHolders({ files: [`${dir}-link/db.sqlite`] })).map((h) => h.pid)).toEqual([
        child.pid,
      ]);
    });

    it("never names this process", async () => {
      const handle = await open(join(dir, "db.sqlite"), "r");
      try {
        expect(await findHolders({ files: [join(dir, "db.sqlite")], dirs: [dir] })).toEqual([]);
      } finally {
        await handle.close();
      }
    });

    it("shares one read of /proc between callers in the same turn", async () => {
      const child = await holder({ file: join(dir, "db.sqlite") });
      const before = procStats.scans;
      const [a, b] = await Promise.all([
        findHolders({ files: [join(dir, "db.sqlite")] }),
        findHolders({ dirs: [dir] }),
      ]);
      expect(a.map((h) => h.pid)).toEqual([child.pid]);
      expect(b.map((h) => h.pid)).toEqual([child.pid]);
      expect(procStats.scans - before).toBe(1);
    });
  });

  it.runIf(hasLsof)("through lsof (macOS), found the same way", async () => {
    const reader = await holder({ file: join(dir, "db.sqlite") });
    const shell = await holder({ cwd: join(dir, "state") });
    const files = await findHolders({ files: [join(dir, "db.sqlite")] }, { via: "lsof" });
    expect(files).toEqual([{ pid: reader.pid, command: "node", path: join(dir, "db.sqlite") }]);
    const dirs = await findHolders({ dirs: [join(dir, "state")] }, { via: "lsof" });
    expect(dirs.map((h) => h.pid)).toEqual([shell.pid]);
  });

  it("parses lsof's -F output, skipping files it was not asked about and this process", () => {
    const output = [
      "p100",
      "cnode",
      "fcwd",
      "n/home/u",
      "f12",
      "n/p/.forkstack/envs/a/db.sqlite-wal",
      `p${process.pid}`,
      "cnode",
      "f3",
      "n/p/.forkstack/envs/a/db.sqlite",
      "p200",
      "cvim",
      "f4",
      "n/elsewhere",
      "",
    ].join("\n");
    expect(
      parseLsof(output, ["/p/.forkstack/envs/a/db.sqlite", "/p/.forkstack/envs/a/db.sqlite-wal"], []),
    ).toEqual([{ pid: 100, command: "node", path: "/p/.forkstack/envs/a/db.sqlite-wal" }]);
  });

  it("answers [] where it cannot know, and for targets that do not exist", async () => {
    expect(await findHolders({ files: [join(dir, "db.sqlite")] }, { via: "none" })).toEqual([]);
    expect(await findHolders({ files: [join(dir, "missing")], dirs: [join(dir, "nope")] })).toEqual([]);
  });
});
