/**
 * Config snippets in the docs are copied into projects as they are: each vitest config the README or
 * docs/ show is type-checked against the vitest this repository installs (and forkstack's own typing of
 * `provide.forkstack`), so an option vitest does not have (vitest 4 has no `minWorkers`) fails here
 * instead of being silently ignored in a user's project.
 */
import { execFileSync } from "node:child_process";
import { mkdir, readFile, readdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it, onTestFinished } from "vitest";
import { REPO } from "../helpers/project.js";

async function vitestConfigBlocks(): Promise<Array<{ doc: string; code: string }>> {
  const docs = ["README.md", ...(await readdir(join(REPO, "docs"))).map((f) => `docs/${f}`)];
  const blocks: Array<{ doc: string; code: string }> = [];
  for (const doc of docs.filter((d) => d.endsWith(".md"))) {
    const markdown = await readFile(join(REPO, doc), "utf8");
    for (const m of markdown.matchAll(/```(?:js|ts|mjs)\n([\s\S]*?)```/g)) {
      if (m[1]!.includes('from "vitest/config"')) blocks.push({ doc, code: m[1]! });
    }
  }
  return blocks;
}

describe("docs: vitest configs", () => {
  it("type-check against the installed vitest", { timeout: 120_000 }, async () => {
    const blocks = await vitestConfigBlocks();
    expect(blocks.map((b) => b.doc)).toEqual(expect.arrayContaining(["README.md", "docs/testing.md"]));
    // Inside the repository, so that `vitest/config` and `forkstack/vitest` resolve as in an app.
    const dir = join(REPO, ".tmp", `doc-snippets-${process.pid}`);
    await mkdir(dir, { recursive: true });
    onTestFinished(() => rm(dir, { recursive: true, force: true }));
    const files = await Promise.all(
      blocks.map(async (block, i) => {
        const file = join(dir, `${block.doc.replace(/\W/g, "_")}_${i}.ts`);
        await writeFile(file, `import type {} from "forkstack/vitest";\n${block.code}`);
        return file;
      }),
    );
    const tsc = join(REPO, "node_modules/typescript/bin/tsc");
    const args = ["--ignoreConfig", "--noEmit", "--strict", "--skipLibCheck"];
    const options = ["--module", "nodenext", "--moduleResolution", "nodenext", "--types", "node"];
    let output = "";
    try {
      execFileSync(process.execPath, [tsc, ...args, ...options, ...files], { cwd: REPO, encoding: "utf8" });
    } catch (error) {
      output = String((error as { stdout?: string }).stdout ?? error);
    }
    expect(output).toBe("");
  });
});
