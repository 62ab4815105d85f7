import { execFile } from "node:child_process";
import { chmod, mkdir, readFile, readdir, readlink, stat, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { bytesAdded, cloneDir, cloneFile, probeReflink } from "../../../src/providers/_internal/clone.js";
import { makeReadOnly, mountReflinkFs, tempProject } from "../_helpers.js";
import type { ReflinkFs, TestProject } from "../_helpers.js";

const run = promisify(execFile);

describe("providers/_internal/clone", () => {
  let project: TestProject;
  beforeEach(async () => {
    project = await tempProject();
  });
  afterEach(() => project.cleanup());

  it("cloneFile copies content and the owner's mode bits, says how, and never overwrites", async () => {
    const src = join(project.root, "a.bin");
    await writeFile(src, Buffer.alloc(100_000, 3), { mode: 0o640 });
    await chmod(src, 0o640);
    const result = await cloneFile(src, join(project.root, "b.bin"));
    expect(result).toEqual({
      method: (await probeReflink(project.root)) ? "reflink" : "copy",
      bytes: 100_000,
    });
    expect(await readFile(join(project.root, "b.bin"))).toEqual(await readFile(src));
    // Private to the owner: a copy never gives group/other more than nothing (issue 7 §4).
    expect((await stat(join(project.root, "b.bin"))).mode & 0o777).toBe(0o600);
    const script = join(project.root, "run.sh");
    await writeFile(script, "#!/bin/sh\n", { mode: 0o755 });
    await cloneFile(script, join(project.root, "run2.sh"));
    expect((await stat(join(project.root, "run2.sh"))).mode & 0o777).toBe(0o700);
    await writeFile(join(project.root, "c.bin"), "keep");
    await expect(cloneFile(src, join(project.root, "c.bin"))).rejects.toMatchObject({ code: "EEXIST" });
    expect(await readFile(join(project.root, "c.bin"), "utf8")).toBe("keep");
    await expect(cloneFile(join(project.root, "missing"), join(project.root, "d"))).rejects.toMatchObject({
      code: "ENOENT",
    });
  });

  it("cloneDir copies a tree with owner modes and symlinks, skips FIFOs, and counts", async () => {
    const src = join(project.root, "src");
    await mkdir(join(src, "x/y"), { recursive: true });
    await writeFile(join(src, "x/y/f"), "12345");
    await writeFile(join(src, "g"), "123");
    await symlink("x/y/f", join(src, "link"));
    await run("mkfifo", [join(src, "pipe")]);
    await chmod(join(src, "x"), 0o555);
    const result = await cloneDir(src, join(project.root, "dst"));
    expect(result.files).toBe(2);
    expect(result.bytes).toBe(8);
    expect((await readdir(join(project.root, "dst"))).sort()).toEqual(["g", "link", "x"]);
    expect(await readlink(join(project.root, "dst/link"))).toBe("x/y/f");
    expect((await stat(join(project.root, "dst/x"))).mode & 0o777).toBe(0o500);
    for (const path of ["dst", "dst/x/y"]) {
      expect((await stat(join(project.root, path))).mode & 0o777, path).toBe(0o700);
    }
    for (const path of ["dst/g", "dst/x/y/f"]) {
      expect((await stat(join(project.root, path))).mode & 0o777, path).toBe(0o600);
    }
    await chmod(join(src, "x"), 0o755);
    await chmod(join(project.root, "dst/x"), 0o755);
    await expect(cloneDir(src, join(project.root, "dst"))).rejects.toMatchObject({ code: "EEXIST" });
  });

  it("an empty tree reports what the filesystem can do, not a vacuous reflink", async () => {
    await mkdir(join(project.root, "empty"));
    const result = await cloneDir(join(project.root, "empty"), join(project.root, "empty2"));
    expect(result).toEqual({
      method: (await probeReflink(project.root)) ? "reflink" : "copy",
      bytes: 0,
      files: 0,
    });
  });

  it("probeReflink looks at the nearest existing ancestor and leaves nothing behind", async () => {
    const before = await readdir(project.root);
    expect(typeof (await probeReflink(join(project.root, "not/yet/made")))).toBe("boolean");
    expect(await readdir(project.root)).toEqual(before);
  });

  it("probeReflink of a directory it cannot write neither throws nor writes", async (test) => {
    const dir = join(project.root, "ro");
    await mkdir(dir);
    const restore = await makeReadOnly(dir);
    if (!restore) return test.skip("cannot make a directory read-only here");
    try {
      // The answer may come from the per-device cache; what matters is that doctor never fails here.
      expect(typeof (await probeReflink(dir))).toBe("boolean");
      expect(await readdir(dir)).toEqual([]);
    } finally {
      await restore();
    }
  });

  it("bytesAdded counts copied bytes for copies and the free-space drop for reflinks", () => {
    expect(bytesAdded("copy", 1000, 10_000, 9_000)).toBe(1000);
    expect(bytesAdded("reflink", 1000, 10_000, 9_500)).toBe(500);
    // Someone else freed space meanwhile: never negative.
    expect(bytesAdded("reflink", 1000, 10_000, 12_000)).toBe(0);
  });

  describe("on a filesystem with reflinks", () => {
    let fs: ReflinkFs | { skip: string };
    beforeAll(async () => {
      fs = await mountReflinkFs();
    });
    afterAll(async () => {
      if ("dir" in fs) await fs.unmount();
    });

    it("reflinks within it and falls back to a copy across filesystems", async (test) => {
      if (!("dir" in fs)) return test.skip(fs.skip);
      expect(await probeReflink(fs.dir)).toBe(true);
      const src = join(fs.dir, "a.bin");
      await writeFile(src, Buffer.alloc(1 << 20, 1), { mode: 0o644 });
      expect(await cloneFile(src, join(fs.dir, "b.bin"))).toEqual({ method: "reflink", bytes: 1 << 20 });
      expect((await stat(join(fs.dir, "b.bin"))).mode & 0o777).toBe(0o600);
      // XFS -> the project's filesystem: FICLONE gives EXDEV, so a copy, twice (the answer is cached).
      expect((await cloneFile(src, join(project.root, "c.bin"))).method).toBe("copy");
      expect((await cloneFile(src, join(project.root, "d.bin"))).method).toBe("copy");
      expect(await readFile(join(project.root, "d.bin"))).toEqual(await readFile(src));
      const tree = join(fs.dir, "tree");
      await mkdir(tree);
      await writeFile(join(tree, "f"), "f");
      expect(await cloneDir(tree, join(fs.dir, "tree2"))).toEqual({ method: "reflink", bytes: 1, files: 1 });
    });
  });
});
