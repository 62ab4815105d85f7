/**
 * Under the usual umask 022 everything the file providers make is private to its owner: directories
 * 0700, files 0600, SQLite's `-wal`/`-shm` included, and copies of a wider parent narrowed (issue 7 §4:
 * "other local users can read the app's data").
 */
import { chmod, lstat, mkdir, readdir, stat, writeFile } from "node:fs/promises";
import { join, relative } from "node:path";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createEnv, createRootEnv } from "../../src/core/lifecycle.js";
import { openProject } from "../../src/core/project.js";
import sqlite from "../../src/providers/database/sqlite.js";
import directory from "../../src/providers/local/directory.js";
import dotenv from "../../src/providers/secrets/dotenv.js";
import { tempProject as tempProjectDir } from "../helpers/project.js";
import { coreDriver, tempProject, type TestProject } from "./_helpers.js";

const modeOf = async (path: string) => (await stat(path)).mode & 0o777;

describe("providers make private files under umask 022", () => {
  let umask: number;
  let project: TestProject;
  beforeAll(() => {
    umask = process.umask(0o022);
  });
  afterAll(() => void process.umask(umask));
  beforeEach(async () => {
    project = await tempProject();
  });
  afterEach(() => project.cleanup());

  it("sqlite: the db file 0600, and so the -wal and -shm SQLite makes next to it; forks too", async () => {
    const core = coreDriver(sqlite({}, project.context), project);
    const { default: Database } = await import("libsql");
    const dev = (await core.create("dev")).location;
    expect(await modeOf(dev)).toBe(0o600);
    // The core makes env dirs with the default mode (until it asks for 0700): the provider tightens.
    expect(await modeOf(project.context.envDir("dev"))).toBe(0o700);
    const app = new Database(dev);
    try {
      app.exec("CREATE TABLE t (x); INSERT INTO t VALUES (1)");
      for (const path of [dev, `${dev}-wal`, `${dev}-shm`]) expect(await modeOf(path), path).toBe(0o600);
      const alice = (await core.fork("dev", "alice")).location;
      expect(await modeOf(alice)).toBe(0o600);
      expect(await modeOf(project.context.envDir("alice"))).toBe(0o700);
      // A parent made by an older forkstack (0644): its fork is narrowed, by copy or reflink alike.
      await chmod(dev, 0o644);
      const bob = (await core.fork("dev", "bob")).location;
      expect(await modeOf(bob)).toBe(0o600);
      const child = new Database(bob);
      try {
        child.exec("INSERT INTO t VALUES (2)");
        for (const path of [bob, `${bob}-wal`, `${bob}-shm`]) expect(await modeOf(path), path).toBe(0o600);
      } finally {
        child.close();
      }
    } finally {
      app.close();
    }
  });

  it("dotenv: secrets files 0600 in a 0700 env dir", async () => {
    const provider = dotenv({}, project.context);
    const core = coreDriver(provider, project);
    const dev = (await core.create("dev")).location;
    await provider.write!(core.env("dev"), { K: "v" }, project.op);
    const alice = (await core.fork("dev", "alice")).location;
    for (const path of [dev, alice]) expect(await modeOf(path), path).toBe(0o600);
    expect(await modeOf(project.context.envDir("alice"))).toBe(0o700);
  });

  it("directory: the env's directory 0700, what a fork copies narrowed, the user's directories untouched", async () => {
    const core = coreDriver(directory({ path: "state/{env}" }, project.context), project);
    const rootMode = await modeOf(project.root);
    const dev = (await core.create("dev")).location;
    expect(await modeOf(dev)).toBe(0o700);
    expect(await modeOf(join(project.root, "state"))).toBe(0o700);
    expect(await modeOf(project.root)).toBe(rootMode);
    expect(await modeOf(join(project.context.envDir("dev"), "local.path"))).toBe(0o600);
    // What the app writes under umask 022 is 0644/0755; the fork's copies are the owner's only.
    await mkdir(join(dev, "uploads"));
    await writeFile(join(dev, "uploads", "a.png"), "png");
    await writeFile(join(dev, "run.sh"), "#!/bin/sh\n", { mode: 0o755 });
    expect(await modeOf(join(dev, "uploads"))).toBe(0o755);
    const alice = (await core.fork("dev", "alice")).location;
    expect(await modeOf(alice)).toBe(0o700);
    expect(await modeOf(join(alice, "uploads"))).toBe(0o700);
    expect(await modeOf(join(alice, "uploads", "a.png"))).toBe(0o600);
    expect(await modeOf(join(alice, "run.sh"))).toBe(0o700);
  });
});

/**
 * The whole of a project made through the API: `.forkstack/` and everything in it, and each env's
 * local state directory. Needs the core to make its own directories and `state.db` private too
 * (`mkdirPrivate`/`ensurePrivateDir`/`ensurePrivateFile` in project.ts, state.ts, lifecycle.ts and the
 * config loader's cache).
 */
describe("a project made through the API under umask 022", () => {
  let umask: number;
  beforeAll(() => {
    umask = process.umask(0o022);
  });
  afterAll(() => void process.umask(umask));

  /** Every path under `dir` that group or others may use, with its mode. */
  async function exposed(dir: string): Promise<string[]> {
    const found: string[] = [];
    const walk = async (path: string): Promise<void> => {
      const st = await lstat(path);
      if (st.isSymbolicLink()) return;
      if (st.mode & 0o077) found.push(`${(st.mode & 0o777).toString(8)} ${relative(dir, path) || "."}`);
      if (st.isDirectory()) for (const name of await readdir(path)) await walk(join(path, name));
    };
    await walk(dir);
    return found;
  }

  it("is 0700/0600 throughout .forkstack/ and the local state directories, while the app runs", async () => {
    const dir = await tempProjectDir();
    const project = await openProject({ cwd: dir });
    try {
      await createRootEnv(project, "dev");
      const alice = await createEnv(project, "alice", { from: "dev", switchTo: false });
      const { default: Database } = await import("libsql");
      const app = new Database(alice.resources.database!.location);
      try {
        app.exec("CREATE TABLE t (x); INSERT INTO t VALUES (1)");
        const dataDir = project.layout.dataDir;
        expect(await exposed(dataDir)).toEqual([]);
        for (const env of ["dev", "alice"]) expect(await exposed(join(dir, `myapp.${env}.db`))).toEqual([]);
        expect((await lstat(dataDir)).mode & 0o777).toBe(0o700);
      } finally {
        app.close();
      }
    } finally {
      await project.close();
    }
  });

  it("tightens the .forkstack/ and state.db of a project made by an older version", async () => {
    const dir = await tempProjectDir();
    await mkdir(join(dir, ".forkstack"), { mode: 0o755 });
    await writeFile(join(dir, ".forkstack", "state.db"), "", { mode: 0o644 });
    const project = await openProject({ cwd: dir });
    try {
      expect(await modeOf(project.layout.dataDir)).toBe(0o700);
      expect(await modeOf(project.layout.stateDb)).toBe(0o600);
    } finally {
      await project.close();
    }
  });
});
