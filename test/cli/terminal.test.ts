/**
 * On a terminal: the live step display with timings, and the confirmation prompt before forking
 * production data. `script` (util-linux) gives the CLI a real pseudo-terminal.
 */
import { spawn } from "node:child_process";
import { describe, expect, it } from "vitest";
import { BIN, EMBEDDED_CONFIG, cleanEnv, cli, tempProject } from "../helpers/project.js";

/** A key to type once the screen (ANSI stripped) shows `when`: the prompt is there to read it. */
interface Keystroke {
  readonly when: RegExp;
  readonly key: string;
}

/**
 * Run the CLI on a pty, typing each key once its prompt is on the screen (never after a delay: on a
 * busy machine a prompt can take seconds to appear, and a key typed before it is lost or misread).
 * Returns the screen output once the CLI has exited.
 */
function onTerminal(
  cwd: string,
  args: string[],
  keys: Keystroke[] = [],
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
    let sinceLastKey = ""; // a key's prompt must show up after the previous key was typed
    const pending = [...keys];
    child.stdout.on("data", (d: Buffer) => {
      output += d.toString();
      sinceLastKey += d.toString();
      if (pending.length > 0 && pending[0]!.when.test(strip(sinceLastKey))) {
        child.stdin.write(pending.shift()!.key);
        sinceLastKey = "";
      }
    });
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
    const question = /"dev" holds production data\. Fork it into "alice"\?/;
    const declined = await onTerminal(cwd, ["new", "alice"], [{ when: question, key: "n" }]);
    expect(strip(declined.output)).toMatch(/"dev" holds production data\. Fork it into "alice"\?/);
    expect(declined.code).toBe(1);
    expect(JSON.parse(await cli(["list", "--json"], { cwd }))).toEqual([]);
    const accepted = await onTerminal(cwd, ["new", "alice"], [{ when: question, key: "y" }]);
    expect(accepted.code, strip(accepted.output)).toBe(0);
    const names = (JSON.parse(await cli(["list", "--json"], { cwd })) as { name: string }[]).map(
      (e) => e.name,
    );
    expect(names).toEqual(["alice", "dev"]);
  });
});
