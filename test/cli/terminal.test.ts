/**
 * On a terminal: the live step display with timings, and the confirmation prompt before forking
 * production data. `script` (util-linux) gives the CLI a real pseudo-terminal.
 */
import { spawn } from "node:child_process";
import { describe, expect, it } from "vitest";
import { BIN, EMBEDDED_CONFIG, cleanEnv, cli, tempProject } from "../helpers/project.js";

/** Run the CLI on a pty, typing `keys` (each after a pause), and return the screen output. */
function onTerminal(
  cwd: string,
  args: string[],
  keys: string[] = [],
): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const env = cleanEnv();
    delete env.CI;
    delete env.NO_COLOR;
    // A pty made by `script` from a pipe has no size; give it one, as a real terminal has.
    const command = `stty cols 120 rows 40; ${[process.execPath, BIN, ...args].join(" ")}`;
    const child = spawn("script", ["-qec", command, "/dev/null"], {
      cwd,
      env: { ...env, TERM: "xterm-256color" },
    });
    let output = "";
    child.stdout.on("data", (d: Buffer) => (output += d.toString()));
    let delay = 1500;
    for (const key of keys) {
      setTimeout(() => child.stdin.write(key), delay);
      delay += 400;
    }
    setTimeout(() => child.stdin.end(), delay + 200);
    child.on("close", (code) => resolve({ code, output }));
  });
}

// eslint-disable-next-line no-control-regex -- ANSI escape sequences are what we strip
const strip = (text: string) => text.replace(/\x1b\[[0-9;]*[A-Za-z]/g, "");

describe("cli: on a terminal", () => {
  it("shows each resource's step with its method and timing", async () => {
    const cwd = await tempProject();
    await cli(["new", "alice", "--no-switch"], { cwd });
    const { code, output } = await onTerminal(cwd, ["new", "bob"]);
    expect(code).toBe(0);
    const screen = strip(output);
    for (const kind of ["database (sqlite)", "secrets (dotenv)", "local (directory)"]) {
      expect(screen).toMatch(new RegExp(`✓ ${kind.replace(/[()]/g, "\\$&")}\\s+(reflink|copy), \\d+ ms`));
    }
    expect(screen).toMatch(/Created bob from dev in \d+ ms/);
    expect(output).toContain("\x1b[32m"); // colour on a terminal
  });

  it("asks before forking a production env, and forks on yes", async () => {
    const cwd = await tempProject({ ...EMBEDDED_CONFIG, production: ["dev"] });
    await cli(["list"], { cwd });
    const declined = await onTerminal(cwd, ["new", "alice"], ["n", "\r"]);
    expect(strip(declined.output)).toMatch(/"dev" holds production data\. Fork it into "alice"\?/);
    expect(declined.code).toBe(1);
    expect(JSON.parse(await cli(["list", "--json"], { cwd }))).toEqual([]);
    const accepted = await onTerminal(cwd, ["new", "alice"], ["y", "\r"]);
    expect(accepted.code, strip(accepted.output)).toBe(0);
    const names = (JSON.parse(await cli(["list", "--json"], { cwd })) as { name: string }[]).map(
      (e) => e.name,
    );
    expect(names).toEqual(["alice", "dev"]);
  });
});
