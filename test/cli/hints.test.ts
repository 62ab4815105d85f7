/**
 * Hints that lead the right way, and output that is safe to use (issue 11), through the built CLI.
 */
import { spawn } from "node:child_process";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
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
    [["delete", "dev"], /"dev" is a protected env[\s\S]*`forkstack delete dev --force`/],
  ])("%j: a usage error whose hint names what works", async (args, message) => {
    const result = await runCli(args, { cwd });
    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(message);
    expect(result.stderr).not.toMatch(/--yes/);
  });

  /**
   * Follow a failure's hint the way a user would: run every `forkstack …` command it names, in order
   * (a `delete` gets --yes: it would ask in a terminal, and these runs have none). Each must succeed.
   */
  async function followHint(dir: string, args: string[]): Promise<string[]> {
    const failed = await runCli(args, { cwd: dir });
    expect(failed.code, failed.stderr).not.toBe(0);
    const hint = failed.stderr.split("\n").slice(1).join("\n");
    const commands = [...hint.matchAll(/`forkstack ([^`]+)`/g)].map((m) => m[1]!.split(" "));
    expect(commands.length, `no command in the hint: ${failed.stderr}`).toBeGreaterThan(0);
    for (const command of commands) {
      const argv = command[0] === "delete" ? [...command, "--yes"] : command;
      const result = await runCli(argv, { cwd: dir });
      expect(
        result.code,
        `forkstack ${argv.join(" ")} (from the hint of ${args.join(" ")}): ${result.stderr}`,
      ).toBe(0);
    }
    return commands.map((c) => c.join(" "));
  }

  it("every command a hint names works: roots, protected envs, broken and corrupt envs", async () => {
    const dir = await tempProject(undefined);
    await cli(["new", "alice", "--no-switch"], { cwd: dir });
    // A root has nothing to reset from: the hint starts it over with delete + new.
    expect(await followHint(dir, ["reset", "dev"])).toEqual(["delete dev --force", "new dev"]);
    await cli(["env", "dev"], { cwd: dir });
    // A protected env: the hint says the --force that deleting it needs (asked before any question).
    await cli(["new", "dev2", "--no-switch"], { cwd: dir });
    await followHint(dir, ["new", "dev", "--no-switch"]); // exists: `switch dev`
    // A broken fork is forked again; a broken root is made again; a corrupt record is removed.
    const setStatus = (env: string, status: string) => {
      const file = join(dir, ".forkstack/envs", env, "manifest.json");
      writeFileSync(file, JSON.stringify({ ...JSON.parse(readFileSync(file, "utf8")), status }));
    };
    setStatus("dev2", "broken");
    expect(await followHint(dir, ["env", "dev2"])).toEqual(["reset dev2", "list"]);
    expect((await runCli(["env", "dev2"], { cwd: dir })).code).toBe(0);
    setStatus("dev", "broken");
    await followHint(dir, ["env", "dev"]);
    expect((await runCli(["env", "dev"], { cwd: dir })).code).toBe(0);
    writeFileSync(join(dir, ".forkstack/envs/dev2/manifest.json"), "{not json");
    expect(await followHint(dir, ["env", "dev2"])).toEqual(["delete dev2 --force"]);
    await cli(["down"], { cwd: dir });
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

  it("read-only commands do not start the storage server after `down`: they say it is stopped, not an error", async () => {
    const dir = await tempProject({ ...EMBEDDED_CONFIG, storage: { provider: "local" } });
    try {
      await cli(["new", "alice"], { cwd: dir });
      await cli(["down"], { cwd: dir });
      const list = await runCli(["list"], { cwd: dir });
      expect(list.code).toBe(0);
      const aliceRow = list.stdout.split("\n").find((l) => /^\* alice /.test(l))!;
      expect(aliceRow).toMatch(/ ready +database .*, storage stopped \(starts on next use\), secrets /);
      expect(list.stdout).not.toMatch(/degraded|error|\.,/);
      const json = JSON.parse((await runCli(["list", "--json"], { cwd: dir })).stdout) as Array<{
        name: string;
        status: string;
        resources: { storage: { status: string; detail: string; location: string } };
      }>;
      for (const env of json) {
        expect(env.status).toBe("ready");
        expect(env.resources.storage).toMatchObject({
          status: "stopped",
          detail: expect.stringMatching(/stopped; it starts on next use/),
          location: expect.stringContaining(`-bucket-${env.name}`),
        });
      }
      const doctor = await runCli(["doctor"], { cwd: dir });
      expect(doctor.code, doctor.stdout).toBe(0);
      expect(doctor.stdout).not.toMatch(/^✗/m);
      expect(doctor.stdout).toMatch(
        /storage \(local\): resources not compared with the envs: the server is stopped/,
      );
      expect(doctor.stdout).toMatch(/envs: 2 env\(s\), all ready/);
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
