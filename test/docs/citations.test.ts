/**
 * What the source and the docs cite must be there for a reader of this repository: every `*.md` a
 * comment in src/ (or a page of the docs) names exists in the repository, and a section sign (`§`) in a
 * comment belongs to a standard (an RFC) or a URL, not to a design note kept somewhere else. Design
 * notes the code relies on live in docs/ (docs/architecture.md and the provider pages).
 */
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { describe, expect, it } from "vitest";
import { REPO } from "../helpers/project.js";

/** Files of the user's project that forkstack writes into (init --agents): named, not cited. */
const USER_FILES = new Set(["AGENTS.md", "CLAUDE.md"]);

function filesUnder(dir: string, ext: RegExp): string[] {
  return readdirSync(join(REPO, dir), { recursive: true, encoding: "utf8" })
    .filter((f) => ext.test(f))
    .map((f) => join(dir, f));
}

/** The comment text of a TypeScript file: `//` lines and `/* … *\/` blocks, with their line numbers. */
function comments(text: string): Array<{ line: number; text: string }> {
  const out: Array<{ line: number; text: string }> = [];
  const lineOf = (at: number) => text.slice(0, at).split("\n").length;
  for (const m of text.matchAll(/\/\*[\s\S]*?\*\/|\/\/[^\n]*/g)) {
    m[0].split("\n").forEach((t, i) => out.push({ line: lineOf(m.index) + i, text: t }));
  }
  return out;
}

/** A cited `*.md` exists: from the repository's root, docs/, or the citing file's own directory. */
function exists(cited: string, from: string): boolean {
  const name = cited.replace(/^\.\//, "");
  return (
    USER_FILES.has(name) ||
    [REPO, join(REPO, "docs"), join(REPO, dirname(from))].some((base) => existsSync(join(base, name)))
  );
}

const MD = /(?<![\w/.-])((?:\.{0,2}\/)?(?:[\w.-]+\/)*[\w-]+\.md)\b/g;

describe("docs: citations", () => {
  it("every *.md a comment in src/ names exists, and § only cites RFCs and URLs", () => {
    const problems: string[] = [];
    for (const file of filesUnder("src", /\.ts$/)) {
      const lines = comments(readFileSync(join(REPO, file), "utf8"));
      lines.forEach(({ line, text }, i) => {
        for (const m of text.matchAll(MD)) {
          if (!exists(m[1]!, file)) problems.push(`${file}:${line}: cites ${m[1]}, not in the repository`);
        }
        const context = `${lines[i - 1]?.text ?? ""} ${text}`;
        if (text.includes("§") && !/RFC \d+|https?:\/\/|\.(html|txt)\b/.test(context)) {
          problems.push(`${file}:${line}: a section sign that cites no RFC or URL: ${text.trim()}`);
        }
      });
    }
    expect(problems).toEqual([]);
  });

  it("every page the docs and the README link to exists, and none cites a design note kept elsewhere", () => {
    const problems: string[] = [];
    for (const file of ["README.md", ...filesUnder("docs", /\.md$/)]) {
      const text = readFileSync(join(REPO, file), "utf8");
      for (const m of text.matchAll(/\]\(([^)#\s]+\.md)(?:#[^)]*)?\)/g)) {
        if (!/^https?:/.test(m[1]!) && !existsSync(join(REPO, dirname(file), m[1]!))) {
          problems.push(`${file}: links to ${m[1]}, not in the repository`);
        }
      }
      if (/reference\/\w+\.md|DESIGN\.md/.test(text))
        problems.push(`${file}: cites a design note outside docs/`);
    }
    expect(problems).toEqual([]);
  });
});
