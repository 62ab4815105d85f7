import { mkdir, readFile, readdir, rm, writeFile } from "node:fs/promises";
import { basename, join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import directory from "../../../src/providers/local/directory.js";
import { optionsSchema } from "../../../src/providers/local/directory.options.js";
import { coreDriver, makeReadOnly, mountReflinkFs, tempProject } from "../_helpers.js";
import type { TestProject } from "../_helpers.js";
import { expectProviderError, localSuite } from "../../../src/testing/index.js";

describe("providers: local/directory", () => {
  localSuite({
    provider: (project) => directory({}, project.context),
    reconfigured: (project) => directory({ path: "state/{env}" }, project.context),
    additionalTests(ctx) {
      it("puts each env at {project}.{env}.db in the project root by default", async () => {
        const info = await ctx.core.create("dev");
        expect(info.location).toBe(join(ctx.project.root, `${ctx.project.context.project}.dev.db`));
        expect(info.vars.FORKSTACK_LOCAL_PATH).toBe(info.location);
      });

      it("reports how the fork was made", async () => {
        await ctx.core.create("dev");
        await writeFile(
          join(ctx.project.root, `${ctx.project.context.project}.dev.db`, "state.json"),
          "x".repeat(10_000),
        );
        const info = await ctx.core.fork("dev", "alice");
        expect(info.method).toBe(ctx.provider.flags.copyOnWrite ? "reflink" : "copy");
        expect(info.bytes).toBe(10_000);
        if (info.method === "copy") expect(info.bytesAdded).toBe(10_000);
      });
    },
  });

  describe("path templates", () => {
    let project: TestProject;
    beforeEach(async () => {
      project = await tempProject();
    });
    afterEach(() => project.cleanup());
    const env = (name: string) => ({ name, project: "myapp" });

    it("optionsSchema accepts templates with {env} once and rejects the rest", () => {
      for (const path of ["{project}.{env}.db", "state/{env}", ".state/{project}-{env}/data"]) {
        expect(optionsSchema.safeParse({ path }).success, path).toBe(true);
      }
      for (const path of ["state", "{env}/{env}", "/abs/{env}", "{env}-{user}", ""]) {
        expect(optionsSchema.safeParse({ path }).success, path).toBe(false);
      }
      expect(optionsSchema.safeParse({ dir: "x" }).success).toBe(false);
    });

    it("checkName rejects templates that leave the project or land in forkstack's or git's directories", () => {
      const problems = (path: string) => directory({ path }, project.context).checkName!(env("alice"));
      expect(problems("{project}.{env}.db")).toEqual([]);
      expect(problems("nested/dirs/{env}")).toEqual([]);
      expect(problems("../{env}")[0]).toMatch(/not inside the project root/);
      expect(problems("a/../../{env}")[0]).toMatch(/not inside the project root/);
      expect(problems(".forkstack/{env}")[0]).toMatch(/inside \.forkstack\//);
      expect(problems(".git/{env}")[0]).toMatch(/inside \.git\//);
      expect(problems("state")[0]).toMatch(/\{env\} exactly once/);
    });

    it("refuses to write through a template that escapes the project, and deletes nothing there", async () => {
      const outside = `../${basename(project.root)}-outside-{env}`;
      const provider = directory({ path: outside }, project.context);
      await expectProviderError(provider.create(env("dev"), project.op), provider, "E_CONFIG_INVALID");
      const victim = join(project.root, "..", `${basename(project.root)}-outside-dev`);
      await mkdir(victim);
      await writeFile(join(victim, "keep.txt"), "someone's");
      try {
        // Without a record nothing is removed; with the target the rollback has, the directory it names
        // was never claimed, so it is left alone.
        await expectProviderError(provider.remove(env("dev"), project.op), provider, "E_NO_RECORD");
        await coreDriver(provider, project).remove("dev");
        expect(await readdir(victim)).toEqual(["keep.txt"]);
      } finally {
        await rm(victim, { recursive: true, force: true });
      }
    });

    it("creates nested template directories", async () => {
      const provider = directory({ path: "state/{project}/{env}" }, project.context);
      const core = coreDriver(provider, project);
      expect((await core.create("dev")).location).toBe(join(project.root, "state/myapp/dev"));
      await core.fork("dev", "alice");
      expect(await core.list()).toEqual(["alice", "dev"]);
    });

    it("never takes over or deletes a directory it did not make", async () => {
      // Template `{env}` and an env named like a source folder: a collision, not a state directory.
      const provider = directory({ path: "{env}" }, project.context);
      const core = coreDriver(provider, project);
      await mkdir(join(project.root, "src"));
      await writeFile(join(project.root, "src", "index.ts"), "precious");
      await expectProviderError(core.create("src"), provider, "E_ENV_EXISTS");
      expect(await core.describe("src")).toBeNull();
      expect(await core.list()).toEqual([]);
      // The core rolls back a failed env by removing every resource: this one must survive that.
      await core.remove("src");
      expect(await readFile(join(project.root, "src", "index.ts"), "utf8")).toBe("precious");
      expect(project.logs.some((l) => l.level === "warn" && l.message.includes("did not create"))).toBe(true);
      await core.create("dev");
      await expectProviderError(core.fork("dev", "src"), provider, "E_ENV_EXISTS");
      expect(await readdir(join(project.root, "src"))).toEqual(["index.ts"]);
    });

    it("remove deletes the directory it made even after the template changed, and no other", async () => {
      const core = coreDriver(directory({ path: "old/{env}" }, project.context), project);
      await core.create("dev");
      await mkdir(join(project.root, "new/dev"), { recursive: true });
      await writeFile(join(project.root, "new/dev/notes.txt"), "the user's own");
      const renamed = core.withProvider(directory({ path: "new/{env}" }, project.context));
      await renamed.remove("dev");
      expect(await readdir(join(project.root, "old"))).toEqual([]);
      expect(await readFile(join(project.root, "new/dev/notes.txt"), "utf8")).toBe("the user's own");
    });

    it("a fork into an unwritable location fails clearly and leaves nothing", async (test) => {
      const provider = directory({ path: "state/{env}" }, project.context);
      const core = coreDriver(provider, project);
      await core.create("dev");
      await writeFile(join(project.root, "state/dev/file"), "data");
      const restore = await makeReadOnly(join(project.root, "state"));
      if (!restore) return test.skip("cannot make a directory read-only here");
      try {
        const error = await expectProviderError(core.fork("dev", "alice"), provider, "E_PROVIDER");
        expect(error.message).toMatch(
          /Could not create the local state directory of "alice": .*(permission|read-only)/,
        );
      } finally {
        await restore();
      }
      expect(await readdir(join(project.root, "state"))).toEqual(["dev"]);
      expect(await core.describe("alice")).toBeNull();
      expect(await core.list()).toEqual(["dev"]);
    });

    it("a fork that fails midway removes its partial copy", async (test) => {
      const provider = directory({}, project.context);
      const core = coreDriver(provider, project);
      await core.create("dev");
      const dev = join(project.root, "myapp.dev.db");
      await mkdir(join(dev, "sub"));
      await writeFile(join(dev, "sub", "a"), "a");
      // A file we cannot read stops the clone after it has started (root reads anything: skip there).
      await writeFile(join(dev, "sub", "secret"), "x", { mode: 0o000 });
      if (process.getuid?.() === 0) return test.skip("root can read a mode-000 file");
      await expectProviderError(core.fork("dev", "alice"), provider, "E_PROVIDER");
      expect((await readdir(project.root)).filter((n) => n.includes("alice"))).toEqual([]);
      expect(await core.describe("alice")).toBeNull();
    });
  });

  describe("on a filesystem with reflinks", () => {
    it("clones files by reflink and adds almost no disk", async (test) => {
      const fs = await mountReflinkFs();
      if (!("dir" in fs)) return test.skip(fs.skip);
      try {
        const project = await tempProject("myapp", fs.dir);
        const provider = directory({}, project.context);
        const core = coreDriver(provider, project);
        await core.create("dev");
        const big = Buffer.alloc(32 * 1024 * 1024, 7);
        await writeFile(join(project.root, "myapp.dev.db", "big.bin"), big);
        const info = await core.fork("dev", "alice");
        expect(provider.flags.copyOnWrite).toBe(true);
        expect(info.method).toBe("reflink");
        expect(info.bytes).toBe(big.length);
        expect(info.bytesAdded).toBeLessThan(1024 * 1024);
        expect((await readFile(join(project.root, "myapp.alice.db", "big.bin"))).equals(big)).toBe(true);
      } finally {
        await fs.unmount();
      }
    });
  });
});
