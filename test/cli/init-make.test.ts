/**
 * `forkstack init --make`: Makefile.envs and an include block in the user's Makefile. Every target runs
 * with real `make` in a temp project; the user's Makefile is merged into, never overwritten; a clash
 * (a target of theirs, an edited Makefile.envs, broken markers) is refused and nothing is written.
 */
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { MAKE_MARKERS, MAKE_TARGETS } from "../../src/init/make.js";
import { BIN, cli, installForkstack, runCli, runProcess, tempProject } from "../helpers/project.js";

const HAVE_MAKE = (() => {
  try {
    execFileSync("make", ["--version"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
})();
if (!HAVE_MAKE && process.env.CI) throw new Error("make is not installed (.ci/run installs it)");

const USER_MAKEFILE = "# my build\nbuild:\n\tnpm run build\n\n.PHONY: build\n";

async function make(cwd: string, ...args: string[]) {
  return runProcess("make", ["--no-print-directory", ...args], { cwd });
}

describe.skipIf(!HAVE_MAKE)("init --make", () => {
  it("every target is a thin call of the CLI that works (make envs-new NAME=alice, …)", async () => {
    const cwd = await tempProject(null);
    await installForkstack(cwd);
    await cli(["init", "--yes", "--project", "shop", "--make"], { cwd });
    expect(await readFile(join(cwd, "Makefile"), "utf8")).toBe(
      `${MAKE_MARKERS.begin}\ninclude Makefile.envs\n${MAKE_MARKERS.end}\n`,
    );
    const ok = async (...args: string[]) => {
      const result = await make(cwd, ...args);
      expect(result.code, `make ${args.join(" ")}: ${result.stderr}`).toBe(0);
      return result.stdout;
    };
    await ok("envs-new", "NAME=alice", "TTL=4h");
    expect(await ok("envs-current")).toMatch(/^alice$/m);
    expect(await ok("envs-list")).toMatch(/\* alice\s+dev/);
    await ok("envs-new", "NAME=bob", "FROM=alice");
    await ok("envs-switch", "NAME=alice");
    expect(await ok("envs-current")).toMatch(/^alice$/m);
    await ok("envs-reset", "NAME=bob");
    await ok("envs-delete", "NAME=bob", "YES=1");
    await ok("down");
    await ok("up");
    await ok("down");
    expect((await cli(["list", "--json"], { cwd })).includes('"bob"')).toBe(false);
    // Every target the file defines was run above.
    expect(Object.keys(MAKE_TARGETS).sort()).toEqual(
      [
        "down",
        "envs-current",
        "envs-delete",
        "envs-list",
        "envs-new",
        "envs-reset",
        "envs-switch",
        "up",
      ].sort(),
    );
  });

  it("a target that needs NAME says so and runs nothing", async () => {
    const cwd = await tempProject(null);
    await cli(["init", "--yes", "--make"], { cwd });
    const result = await make(cwd, "envs-new", `FORKSTACK=${process.execPath} ${BIN}`);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain("usage: make envs-new NAME=<env>");
    expect(JSON.parse(await cli(["list", "--json"], { cwd }))).toHaveLength(1);
    await cli(["down"], { cwd });
  });

  it("merges into the user's Makefile, keeping every line, and a second run changes nothing", async () => {
    const cwd = await tempProject(null);
    await writeFile(join(cwd, "Makefile"), USER_MAKEFILE);
    await cli(["init", "--yes", "--make"], { cwd });
    const merged = await readFile(join(cwd, "Makefile"), "utf8");
    expect(merged).toBe(
      `${USER_MAKEFILE}\n${MAKE_MARKERS.begin}\ninclude Makefile.envs\n${MAKE_MARKERS.end}\n`,
    );
    const again = await runCli(["init", "--make"], { cwd });
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toContain("Makefile is up to date");
    expect(await readFile(join(cwd, "Makefile"), "utf8")).toBe(merged);
    // The user's own target still runs, and so do ours.
    const build = await make(cwd, "-n", "build");
    expect(build.stdout.trim()).toBe("npm run build");
    await cli(["down"], { cwd });
  });

  it("a block the user moved or edited is set again in place; lines around it stay", async () => {
    const cwd = await tempProject(null);
    const makefile = `${MAKE_MARKERS.begin}\ninclude old.mk\n${MAKE_MARKERS.end}\n${USER_MAKEFILE}`;
    await writeFile(join(cwd, "Makefile"), makefile);
    await cli(["init", "--yes", "--make"], { cwd });
    expect(await readFile(join(cwd, "Makefile"), "utf8")).toBe(
      `${MAKE_MARKERS.begin}\ninclude Makefile.envs\n${MAKE_MARKERS.end}\n${USER_MAKEFILE}`,
    );
    await cli(["down"], { cwd });
  });

  it("refuses a Makefile with a target of the same name, and writes nothing at all", async () => {
    const cwd = await tempProject(null);
    const mine = "up:\n\tdocker compose up -d\n\nVAR := up:down\n";
    await writeFile(join(cwd, "Makefile"), mine);
    const result = await runCli(["init", "--yes", "--make", "--agents"], { cwd });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("already has target(s) up, which Makefile.envs defines too");
    expect(result.stderr).toContain("Nothing was written.");
    expect(await readFile(join(cwd, "Makefile"), "utf8")).toBe(mine);
    for (const file of ["Makefile.envs", "forkstack.config.ts", "AGENTS.md", ".gitignore"]) {
      expect(existsSync(join(cwd, file)), file).toBe(false);
    }
    expect(JSON.parse((await runCli(["init", "--yes", "--make", "--json"], { cwd })).stdout)).toEqual({
      error: expect.objectContaining({ code: "E_FILE_CONFLICT" }),
    });
  });

  it("refuses an edited Makefile.envs with a diff, and leaves it as it is", async () => {
    const cwd = await tempProject(null);
    await cli(["init", "--yes", "--make"], { cwd });
    const file = join(cwd, "Makefile.envs");
    const edited = (await readFile(file, "utf8")).replace("$(FORKSTACK) list", "$(FORKSTACK) list --json");
    await writeFile(file, edited);
    const result = await runCli(["init", "--make"], { cwd });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("Makefile.envs exists and differs from the one forkstack writes");
    expect(result.stderr).toContain("-\t$(FORKSTACK) list --json");
    expect(result.stderr).toContain("+\t$(FORKSTACK) list");
    expect(await readFile(file, "utf8")).toBe(edited);
    await cli(["down"], { cwd });
  });

  it("refuses a Makefile whose markers are broken", async () => {
    const cwd = await tempProject(null);
    const broken = `${MAKE_MARKERS.begin}\ninclude Makefile.envs\n${USER_MAKEFILE}`;
    await writeFile(join(cwd, "Makefile"), broken);
    const result = await runCli(["init", "--yes", "--make"], { cwd });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("1 forkstack begin marker(s) and 0 end marker(s)");
    expect(await readFile(join(cwd, "Makefile"), "utf8")).toBe(broken);
    expect(existsSync(join(cwd, "forkstack.config.ts"))).toBe(false);
  });

  it("without --make or --agents, an initialized project is still refused", async () => {
    const cwd = await tempProject();
    const result = await runCli(["init"], { cwd });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("already exists");
  });
});
