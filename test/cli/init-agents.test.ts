/**
 * `forkstack init --agents`: the block for coding agents in AGENTS.md (and CLAUDE.md where the project
 * has one). Tested for what it claims: its commands run, in order, as written (`npx forkstack` in a
 * project that installed forkstack), the env they make is current, expires in 4 hours and is gone at
 * the end; the user's files are merged into, never overwritten.
 */
import { existsSync } from "node:fs";
import { readFile, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { AGENTS_BLOCK, AGENTS_MARKERS } from "../../src/init/agents.js";
import { cli, installForkstack, runCli, runProcess, tempProject } from "../helpers/project.js";

const BLOCK = `${AGENTS_MARKERS.begin}\n${AGENTS_BLOCK}${AGENTS_MARKERS.end}\n`;

/** The shell commands of the block's `sh` code block, comments off. */
function commandsIn(block: string): string[] {
  const code = /```sh\n([\s\S]*?)```/.exec(block)![1]!;
  return code
    .split("\n")
    .map((line) => line.replace(/\s+#.*$/, "").trim())
    .filter(Boolean);
}

describe("init --agents", () => {
  it("writes AGENTS.md with the block when there is none", async () => {
    const cwd = await tempProject(null);
    await cli(["init", "--yes", "--agents"], { cwd });
    expect(await readFile(join(cwd, "AGENTS.md"), "utf8")).toBe(BLOCK);
    expect(existsSync(join(cwd, "CLAUDE.md"))).toBe(false);
    await cli(["down"], { cwd });
  });

  it("every command in the block runs as written, and does what the block says", async () => {
    const cwd = await tempProject(null);
    await installForkstack(cwd);
    await cli(["init", "--yes", "--agents"], { cwd });
    const block = await readFile(join(cwd, "AGENTS.md"), "utf8");
    const commands = commandsIn(block);
    expect(commands).toHaveLength(5);
    const outputs: string[] = [];
    for (const command of commands) {
      const line = command
        .replaceAll("<task>", "fix-login")
        .replace("<command>", `sh -c 'test "$FORKSTACK_ENV" = agent-fix-login'`);
      const result = await runProcess("sh", ["-c", line], { cwd });
      expect(result.code, `${line}\n${result.stderr}`).toBe(0);
      outputs.push(result.stdout);
      if (line.includes(" new ")) {
        const env = (
          JSON.parse(await cli(["list", "--json"], { cwd })) as {
            name: string;
            createdAt: string;
            expiresAt: string;
          }[]
        ).find((e) => e.name === "agent-fix-login")!;
        expect(Date.parse(env.expiresAt) - Date.parse(env.createdAt)).toBe(4 * 3_600_000);
      }
    }
    expect(outputs[1]!.trim()).toBe("agent-fix-login");
    expect((await cli(["current"], { cwd })).trim()).toBe("dev");
    expect((await cli(["list", "--json"], { cwd })).includes("agent-fix-login")).toBe(false);
    await cli(["down"], { cwd });
  });

  it("merges into the user's AGENTS.md and CLAUDE.md, keeping their lines; a second run changes nothing", async () => {
    const cwd = await tempProject();
    const agents = "# Rules\n\n- Run `npm test` before you commit.\n";
    const claude = "# Claude\r\nBe brief.\r\n";
    await writeFile(join(cwd, "AGENTS.md"), agents);
    await writeFile(join(cwd, "CLAUDE.md"), claude);
    await cli(["init", "--agents"], { cwd });
    expect(await readFile(join(cwd, "AGENTS.md"), "utf8")).toBe(`${agents}\n${BLOCK}`);
    // CLAUDE.md keeps its CRLF line endings, the block included.
    expect(await readFile(join(cwd, "CLAUDE.md"), "utf8")).toBe(
      `${claude}\r\n${BLOCK.replaceAll("\n", "\r\n")}`,
    );
    const again = await runCli(["init", "--agents"], { cwd });
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toContain("AGENTS.md is up to date");
    expect(await readFile(join(cwd, "AGENTS.md"), "utf8")).toBe(`${agents}\n${BLOCK}`);
  });

  it("a CLAUDE.md that links to AGENTS.md gets the block once", async () => {
    const cwd = await tempProject();
    await writeFile(join(cwd, "AGENTS.md"), "# Rules\n");
    await symlink("AGENTS.md", join(cwd, "CLAUDE.md"));
    await cli(["init", "--agents"], { cwd });
    const text = await readFile(join(cwd, "AGENTS.md"), "utf8");
    expect(text.split(AGENTS_MARKERS.begin)).toHaveLength(2);
  });

  it("refuses broken markers and leaves the file as it is", async () => {
    const cwd = await tempProject();
    const broken = `# Rules\n${AGENTS_MARKERS.end}\n${AGENTS_MARKERS.begin}\n`;
    await writeFile(join(cwd, "AGENTS.md"), broken);
    const result = await runCli(["init", "--agents"], { cwd });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("1 forkstack begin marker(s) and 1 end marker(s)");
    expect(await readFile(join(cwd, "AGENTS.md"), "utf8")).toBe(broken);
  });
});
