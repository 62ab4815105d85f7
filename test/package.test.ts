/**
 * The package as a user gets it: `npm pack` output installed into an empty app directory, then the CLI
 * through `npx` and the library through bare `forkstack` / `forkstack/api` imports.
 */
import { execFileSync } from "node:child_process";
import { cp, mkdtemp, readdir, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it, onTestFinished } from "vitest";
import { REPO, runProcess } from "./helpers/project.js";

describe("package: npm pack output installs and works", () => {
  it("init, new and the library from a fresh app directory", { timeout: 240_000 }, async () => {
    const dir = await mkdtemp(join(tmpdir(), "fs-pack-"));
    onTestFinished(() => rm(dir, { recursive: true, force: true }));
    // dist/ is built (`npm test` builds first): --ignore-scripts keeps prepack from rebuilding it under
    // the test files that run it at the same time.
    execFileSync("npm", ["pack", "--ignore-scripts", "--pack-destination", dir], {
      cwd: REPO,
      stdio: "ignore",
      timeout: 120_000,
    });
    const tarball = (await readdir(dir)).find((f) => f.endsWith(".tgz"))!;
    const app = join(dir, "app");
    execFileSync("mkdir", [app]);
    await writeFile(
      join(app, "package.json"),
      JSON.stringify({ name: "shop", private: true, type: "module" }),
    );
    // Synchronous, so vitest's own timeout cannot stop it: give npm one of its own.
    execFileSync("npm", ["install", "--no-audit", "--no-fund", "--prefer-offline", join(dir, tarball)], {
      cwd: app,
      stdio: "ignore",
      timeout: 180_000,
    });

    const npx = (args: string[]) => runProcess("npx", ["--no-install", "forkstack", ...args], { cwd: app });
    const init = await npx(["init", "--yes"]);
    expect(init.code, init.stderr).toBe(0);
    const created = await npx(["new", "alice"]);
    expect(created.code, created.stderr).toBe(0);
    expect((await npx(["current"])).stdout.trim()).toBe("alice");

    await writeFile(
      join(app, "app.mjs"),
      `import { currentEnv, databaseUrl, localPath } from "forkstack";
       import { listEnvs } from "forkstack/api";
       const envs = await listEnvs();
       console.log(JSON.stringify({ env: currentEnv(), url: databaseUrl(), local: localPath(), envs: envs.map((e) => e.name) }));`,
    );
    const run = await runProcess(process.execPath, ["app.mjs"], { cwd: app });
    expect(run.code, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout)).toEqual({
      env: "alice",
      url: `file:${join(app, ".forkstack/envs/alice/db.sqlite")}`,
      local: join(app, "shop.alice.db"),
      envs: ["alice", "dev"],
    });
  });
});

describe("package: a fresh clone packs what it builds", () => {
  it(
    "`npm pack` in a checkout without dist/ builds it first (prepack) and ships it",
    { timeout: 240_000 },
    async () => {
      // The repository's files as a clone has them: tracked files only, so no dist/; its node_modules
      // (as after `npm install`) linked in.
      const clone = await mkdtemp(join(tmpdir(), "fs-clone-"));
      onTestFinished(() => rm(clone, { recursive: true, force: true }));
      const tracked = execFileSync("git", ["ls-files", "-z"], { cwd: REPO, encoding: "utf8" }).split("\0");
      for (const file of tracked.filter(Boolean)) {
        await cp(join(REPO, file), join(clone, file), { recursive: true }).catch(
          (error: NodeJS.ErrnoException) => {
            if (error.code !== "ENOENT") throw error; // deleted in the work tree, not yet committed
          },
        );
      }
      await symlink(join(REPO, "node_modules"), join(clone, "node_modules"));
      expect(tracked).not.toContain("dist/index.js");

      const packed = JSON.parse(
        execFileSync("npm", ["pack", "--dry-run", "--json"], {
          cwd: clone,
          encoding: "utf8",
          stdio: ["ignore", "pipe", "ignore"],
          timeout: 180_000,
        }),
      ) as Array<{ files: Array<{ path: string }> }>;
      const files = packed[0]!.files.map((f) => f.path);
      for (const path of [
        "dist/index.js",
        "dist/api.js",
        "dist/cli/main.js",
        "dist/storage-server/daemon.js",
        "dist/index.d.ts",
      ]) {
        expect(files, path).toContain(path);
      }
      expect(files).toContain("bin/forkstack.mjs");
    },
  );
});
