/**
 * The package as a user gets it: `npm pack` output installed into an empty app directory, then the CLI
 * through `npx` and the library through bare `forkstack` / `forkstack/api` imports.
 */
import { execFileSync } from "node:child_process";
import { mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it, onTestFinished } from "vitest";
import { REPO, runProcess } from "./helpers/project.js";

describe("package: npm pack output installs and works", () => {
  it("init, new and the library from a fresh app directory", { timeout: 240_000 }, async () => {
    const dir = await mkdtemp(join(tmpdir(), "fs-pack-"));
    onTestFinished(() => rm(dir, { recursive: true, force: true }));
    execFileSync("npm", ["pack", "--pack-destination", dir], {
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
