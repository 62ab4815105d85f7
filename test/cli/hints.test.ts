/**
 * Hints that lead the right way, and output that is safe to use (issue 11), through the built CLI.
 */
import { spawn } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { waitFor } from "../helpers/wait.js";
import {
  BIN,
  EMBEDDED_CONFIG,
  cleanEnv,
  cli,
  removeProject,
  runCli,
  runProcess,
  tempProject,
} from "../helpers/project.js";

describe("cli hints and safe output", () => {
  let cwd: string;
  afterAll(() => removeProject(cwd));
  beforeAll(async () => {
    cwd = await tempProject(undefined, { suite: true });
    await cli(["new", "alice"], { cwd });
    await cli(["secrets", "set", "STRIPE_KEY=sk_live_123"], { cwd });
  });

  it.each([
    [["lsit"], /Unknown command "lsit"[\s\S]*Did you mean `forkstack list`/],
    [["new", "x", "--form", "dev"], /Unknown option '--form'[\s\S]*Did you mean --from\?/],
    [["run", "node", "-e", "1"], /Unknown option '-e'[\s\S]*Put `--` before the command/],
    [["run", "node", "app.js"], /Unexpected argument "node"[\s\S]*Put `--` before the command/],
    [["new", "x", "--from", "prod"], /Environment "prod" not found/],
  ])("%j: a usage error whose hint names what works", async (args, message) => {
    const result = await runCli(args, { cwd });
    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(message);
    expect(result.stderr).not.toMatch(/--yes/);
  });

  it("list says each resource's size and how it was made, in words that read as such", async () => {
    const out = await cli(["list"], { cwd });
    expect(out).toMatch(
      /alice .*database \d+(\.\d+)? [KMG]?B copied fork|alice .*database \d+(\.\d+)? [KMG]?B reflink fork/,
    );
    expect(out).toMatch(/dev .*database \d+(\.\d+)? [KMG]?B root/);
    expect(out).not.toMatch(/ok\(empty\)/);
  });

  it("init says it left the storage server running and how to stop it, as the user will type it", async () => {
    for (const [env, prefix] of [
      [{ npm_command: "" }, "forkstack"],
      [{ npm_command: "exec" }, "npx forkstack"],
    ] as const) {
      const dir = await tempProject(null);
      const init = await runCli(["init", "--yes"], { cwd: dir, env });
      try {
        expect(init.code, init.stderr).toBe(0);
        expect(init.stderr).toContain(
          `Started the storage server in the background; it keeps running for your app (stop it with \`${prefix} down\`)`,
        );
        expect(init.stderr).toContain(`Next: \`${prefix} new <your-name>\``);
      } finally {
        await runCli(["down"], { cwd: dir });
      }
    }
  });

  it("new shows a backend's start as its own step, so the step times add up", async () => {
    const dir = await tempProject({ ...EMBEDDED_CONFIG, storage: { provider: "local" } });
    try {
      const result = await runCli(["new", "alice"], { cwd: dir });
      expect(result.code, result.stderr).toBe(0);
      expect(result.stderr).toMatch(/✓ storage \(local\) +backend ready, [\d.]+ m?s/);
      expect(result.stderr).toMatch(/✓ storage \(local\) +metadata,/);
    } finally {
      await runCli(["down"], { cwd: dir });
    }
  });

  it("read-only commands do not start the storage server after `down`: they say it is down", async () => {
    const dir = await tempProject({ ...EMBEDDED_CONFIG, storage: { provider: "local" } });
    try {
      await cli(["new", "alice"], { cwd: dir });
      await cli(["down"], { cwd: dir });
      const list = await runCli(["list"], { cwd: dir });
      expect(list.code).toBe(0);
      expect(list.stdout).toMatch(
        /storage error: \[local\] The storage server is not running \(`forkstack up` starts it/,
      );
      const doctor = await runCli(["doctor"], { cwd: dir });
      expect(doctor.stdout).toMatch(/The storage server is not running/);
      await cli(["gc"], { cwd: dir });
      // none of them started it
      expect((await runCli(["down"], { cwd: dir })).stderr).toContain("The storage server is not running.");
    } finally {
      await runCli(["down"], { cwd: dir });
    }
  });

  it("`help <command>` prints that command's help", async () => {
    const help = await runCli(["help", "new"], { cwd });
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^Usage: forkstack new/);
    expect(help.stdout).toBe((await runCli(["new", "--help"], { cwd })).stdout);
  });

  it("env in dotenv and shell formats leaves secrets out unless --reveal, and says so", async () => {
    for (const format of ["shell", "dotenv"]) {
      const out = await cli(["env", "--format", format], { cwd });
      expect(out).not.toContain("********");
      expect(out).not.toMatch(/STRIPE_KEY=/);
      expect(out).toMatch(/# 1 secret value left out \(STRIPE_KEY\): pass --reveal/);
      // what is printed evaluates to exactly the plain variables
      const evaluated = await runProcess(
        "sh",
        ["-c", `${format === "shell" ? "" : "set -a; "}eval "$(cat)"; echo "$STRIPE_KEY|$FORKSTACK_ENV"`],
        {
          cwd,
          input: out,
        },
      );
      expect(evaluated.stdout.trim()).toBe("|alice");
      expect(await cli(["env", "--format", format, "--reveal"], { cwd })).toContain("sk_live_123");
    }
  });

  it("secrets set refuses an empty value from stdin unless --allow-empty", async () => {
    const refused = await runCli(["secrets", "set", "EMPTY"], { cwd }); // stdin is empty
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/No value for EMPTY on stdin[\s\S]*--allow-empty/);
    const vars = JSON.parse(await cli(["env", "--format", "json", "--reveal"], { cwd }));
    expect(vars).not.toHaveProperty("EMPTY");
    await cli(["secrets", "set", "EMPTY", "--allow-empty"], { cwd });
    expect(JSON.parse(await cli(["env", "--format", "json", "--reveal"], { cwd })).EMPTY).toBe("");
  });

  it("run ends its command when its own parent dies without forwarding a signal (as npx does)", async () => {
    // A parent that starts `forkstack run` and is then SIGKILLed, like npx on `kill -TERM`.
    const marker = `fs-orphan-${process.pid}-${Date.now()}`;
    const wrapper = spawn(
      process.execPath,
      [
        "-e",
        `require("node:child_process").spawn(process.execPath, [${JSON.stringify(BIN)}, "run", "--", "sh", "-c", "exec sleep 300 # ${marker}"], { stdio: "ignore" }); setInterval(() => {}, 1000);`,
      ],
      { cwd, env: cleanEnv(), stdio: "ignore" },
    );
    const running = () => listProcesses().some((cmd) => cmd.includes(marker));
    await waitFor(running);
    wrapper.kill("SIGKILL");
    await waitFor(() => !running());
    expect(running()).toBe(false);
  });
});

function listProcesses(): string[] {
  return readdirSync("/proc")
    .filter((p) => /^\d+$/.test(p))
    .flatMap((pid) => {
      try {
        return [readFileSync(`/proc/${pid}/cmdline`, "utf8").replace(/\0/g, " ")];
      } catch {
        return [];
      }
    });
}
