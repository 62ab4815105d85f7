/**
 * The README's front door stays true: its first block is exactly the two set-up commands, and the demo
 * it promises runs (smaller, to keep the suite quick) and prints what the README says it prints: a
 * fork, writes to it, an unchanged parent, and how long the fork took and what it added on disk.
 * (`npm test` is this suite itself; the Quick start's commands run in test/package.test.ts.)
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { REPO, runProcess } from "./helpers/project.js";

describe("README", () => {
  it("starts with exactly two commands: the demo, then the tests", () => {
    const readme = readFileSync(join(REPO, "README.md"), "utf8");
    const block = /```sh\n([\s\S]*?)```/.exec(readme)?.[1] ?? "";
    const commands = block
      .split("\n")
      .map((line) => line.replace(/#.*$/, "").trim())
      .filter(Boolean);
    expect(commands).toEqual(["npm install && npm run demo", "npm test"]);
    const pkg = JSON.parse(readFileSync(join(REPO, "package.json"), "utf8")) as {
      scripts: Record<string, string>;
    };
    expect(pkg.scripts.demo).toBe("npm run build && node scripts/demo.mjs");
  });

  it(
    "the demo forks, writes to the fork, shows the parent unchanged, and says what the fork cost",
    { timeout: 180_000 },
    async () => {
      // The build ran before the tests (`pretest`); the demo's own script, with a 5 MB database.
      const demo = await runProcess(process.execPath, [join(REPO, "scripts/demo.mjs"), "--mb", "5"], {
        cwd: REPO,
        env: { NO_COLOR: "1" },
      });
      expect(demo.code, demo.stderr).toBe(0);
      const out = demo.stdout;
      expect(out).toContain("$ forkstack new alice --json");
      expect(out).toMatch(/alice: deleted every other row and added one: [\d,]+ rows/);
      expect(out).toMatch(/dev: ([\d,]+) rows \(was \1\), rows from alice: 0/);
      expect(out).toMatch(/photos\/0001\.jpg is still "photo 1 from dev", photos\/0002\.jpg still there/);
      const headline =
        /`forkstack new` was ready in (\d+) ms \(the forks ran side by side, the slowest, (\w+), in (\d+) ms\); the whole process, Node's start included, took (\d+) ms\./.exec(
          out,
        );
      expect(headline, out).not.toBeNull();
      const [, ready, , slowest, whole] = headline!.map(Number);
      // The numbers nest as the words say: a resource's fork within `new`, `new` within its process.
      expect(slowest).toBeLessThanOrEqual(ready!);
      expect(ready).toBeLessThanOrEqual(whole!);
      expect(out).toMatch(
        /Bytes added on disk by the fork: [\d,]+ \(database: (reflink|copy), storage: metadata/,
      );
      expect(demo.stderr).not.toMatch(/NodeVersionSupport|AWS SDK for JavaScript/);
    },
  );
});
