/**
 * @module testing/suites/local
 * Conformance suite for local-state providers: the shared lifecycle, with data as files in the directory
 * the app is given (`FORKSTACK_LOCAL_PATH`), plus trees: nested directories, modes, symlinks.
 */
import { lstat, mkdir, readFile, readdir, readlink, rm, symlink, writeFile } from "node:fs/promises";
import { isAbsolute, join } from "node:path";
import { expect } from "../vitest-api.js";
import type { LocalStateProvider } from "../../providers/types.js";
import { appVars } from "../project.js";
import { setupSuite, type DataAccess, type Occupy, type SuiteContext, type SuiteOptions } from "./harness.js";
import { lifecycleTests } from "./lifecycle.js";

export type LocalSuiteContext = SuiteContext<LocalStateProvider>;
export type LocalSuiteOptions = SuiteOptions<LocalStateProvider>;

export function localSuite(options: LocalSuiteOptions): void {
  const { ctx, test } = setupSuite(options);
  const pathOf = async (env: string) => {
    const info = await ctx.core.describe(env);
    if (!info) throw new Error(`env ${env} has no local state`);
    return appVars(info).FORKSTACK_LOCAL_PATH!;
  };
  const data: DataAccess = {
    async put(env, key, value) {
      await writeFile(join(await pathOf(env), key), value);
    },
    async read(env) {
      const dir = await pathOf(env);
      const out: Record<string, string> = {};
      for (const name of await readdir(dir)) out[name] = await readFile(join(dir, name), "utf8");
      return out;
    },
  };

  // The user's own directory where a changed path template puts the env, and its record does not.
  const occupy: Occupy<LocalStateProvider> = async (changed, env, recorded) => {
    const path = changed.target?.(ctx.core.env(env)).path;
    if (typeof path !== "string" || path === appVars(recorded).FORKSTACK_LOCAL_PATH) return undefined;
    await mkdir(path, { recursive: true });
    await writeFile(join(path, "mine.txt"), "the user's own");
    return {
      async check() {
        expect(await readFile(join(path, "mine.txt"), "utf8")).toBe("the user's own");
      },
      remove: () => rm(path, { recursive: true, force: true }),
    };
  };

  lifecycleTests(ctx, test, data, occupy);

  test("vars give the app an absolute FORKSTACK_LOCAL_PATH", async () => {
    const info = await ctx.core.create("dev");
    expect(Object.keys(info.vars)).toEqual(["FORKSTACK_LOCAL_PATH"]);
    expect(isAbsolute(info.vars.FORKSTACK_LOCAL_PATH!)).toBe(true);
    expect((await lstat(info.vars.FORKSTACK_LOCAL_PATH!)).isDirectory()).toBe(true);
  });

  test("fork clones a whole tree: nested files, modes and symlinks", async () => {
    await ctx.core.create("dev");
    const dev = await pathOf("dev");
    await mkdir(join(dev, "a/b/c"), { recursive: true });
    await writeFile(join(dev, "a/b/c/deep.txt"), "deep");
    await writeFile(join(dev, "run.sh"), "#!/bin/sh\n", { mode: 0o750 });
    await symlink("a/b/c/deep.txt", join(dev, "link"));
    await symlink("/nonexistent/target", join(dev, "dangling"));
    await mkdir(join(dev, "empty"));
    await ctx.core.fork("dev", "alice");
    const alice = await pathOf("alice");
    expect(await readFile(join(alice, "a/b/c/deep.txt"), "utf8")).toBe("deep");
    // The owner's bits are kept (a script stays executable); group and others get nothing (docs/architecture.md).
    expect((await lstat(join(alice, "run.sh"))).mode & 0o777).toBe(0o700);
    expect(await readlink(join(alice, "link"))).toBe("a/b/c/deep.txt");
    expect(await readFile(join(alice, "link"), "utf8")).toBe("deep");
    expect(await readlink(join(alice, "dangling"))).toBe("/nonexistent/target");
    expect((await lstat(join(alice, "empty"))).isDirectory()).toBe(true);
    await writeFile(join(alice, "a/b/c/deep.txt"), "changed");
    expect(await readFile(join(dev, "a/b/c/deep.txt"), "utf8")).toBe("deep");
  });

  options.additionalTests?.(ctx);
}
