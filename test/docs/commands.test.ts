/**
 * Every code block in the docs that is marked `<!-- doc-test -->` runs, in order, in a fresh project per
 * doc on the embedded default, as a user would type it: `sh` blocks as scripts (`npx forkstack` is the
 * installed CLI of this checkout), `js` blocks written to the file their first line names. CI
 * workflows (`<!-- doc-test: github -->`, `<!-- doc-test: gitlab -->`) run each of their steps that
 * calls forkstack, for a pull request that opens and then closes, with `gh` replaced by a recorder.
 * A marked block that fails, or a doc whose blocks say something the run does not show, fails here.
 * Each `npx forkstack` costs npx's own start (~1 s), hence the long timeouts.
 */
import { chmod, mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { REPO, cli, installForkstack, runProcess, tempProject } from "../helpers/project.js";

interface Block {
  readonly kind: string; // "" for a plain doc-test, else the CI system
  readonly lang: string;
  readonly code: string;
}

function markedBlocks(markdown: string): Block[] {
  const found = markdown.matchAll(/<!-- doc-test(?::\s*(\w+))? -->\s*\n```(\w+)\n([\s\S]*?)```/g);
  return [...found].map((m) => ({ kind: m[1] ?? "", lang: m[2]!, code: m[3]! }));
}

/** A project that installed forkstack (and the SDKs the docs' snippets import), and a fake `gh`. */
async function docProject(scripts: Record<string, string> = {}) {
  const dir = await tempProject(null);
  await installForkstack(dir, ["@libsql/client", "@aws-sdk/client-s3"]);
  const pkg = JSON.parse(await readFile(join(dir, "package.json"), "utf8")) as object;
  await writeFile(join(dir, "package.json"), JSON.stringify({ ...pkg, scripts }));
  const bin = join(dir, ".fake-bin");
  await mkdir(bin);
  // `gh pr comment <n> --body-file <file>`: keep the body where the test can read it.
  await writeFile(join(bin, "gh"), `#!/bin/sh\nfor a; do last="$a"; done\ncp "$last" "${dir}/.gh-comment"\n`);
  await chmod(join(bin, "gh"), 0o755);
  const path = `${bin}:${process.env.PATH}`;
  const sh = async (script: string, env: Record<string, string> = {}) => {
    const result = await runProcess("sh", ["-ec", script], { cwd: dir, env: { PATH: path, ...env } });
    expect(result.code, `${script}\n--- stdout\n${result.stdout}\n--- stderr\n${result.stderr}`).toBe(0);
    return result.stdout;
  };
  return { dir, sh };
}

/** Run the doc's plain blocks in order, after `setup` (what the doc says is already done). */
async function runDoc(path: string, options: { scripts?: Record<string, string>; setup?: string } = {}) {
  const blocks = markedBlocks(await readFile(join(REPO, path), "utf8"));
  expect(blocks.length, `${path} has no doc-test blocks`).toBeGreaterThan(0);
  const project = await docProject(options.scripts);
  if (options.setup) await project.sh(options.setup);
  let output = "";
  for (const block of blocks.filter((b) => b.kind === "")) {
    if (block.lang === "sh") output += await project.sh(block.code);
    else if (block.lang === "js") {
      const file = /^\/\/ (\S+)\n/.exec(block.code)![1]!;
      await writeFile(join(project.dir, file), block.code);
    } else throw new Error(`${path}: a doc-test block of ${block.lang}`);
  }
  return { ...project, blocks, output };
}

/** `run: |` scripts and `if:` conditions of a GitHub Actions job's steps (the docs' YAML subset). */
function githubSteps(yaml: string): { if?: string; run: string }[] {
  const steps = yaml.split(/\n\s{6}- /).slice(1);
  return steps.flatMap((step) => {
    const condition = /^\s*if: (.+)$/m.exec(step)?.[1];
    const block = /run: \|\n((?:\s{10}.*\n?)+)/.exec(step);
    const inline = /run: (?!\|)(.+)$/m.exec(step);
    const run = block ? block[1]!.replace(/^ {10}/gm, "") : inline?.[1];
    return run ? [{ ...(condition ? { if: condition } : {}), run }] : [];
  });
}

/** Each job's `script:` lines, by job name (the docs' GitLab YAML subset). */
function gitlabScripts(yaml: string): Record<string, string[]> {
  const jobs: Record<string, string[]> = {};
  for (const [, name, body] of yaml.matchAll(/^([\w.-]+):\n((?: {2}.*\n?)+)/gm)) {
    const script = /^ {2}script:\n((?: {4}- .*\n?)+)/m.exec(body!);
    if (script)
      jobs[name!] = script[1]!
        .split("\n")
        .filter(Boolean)
        .map((l) => l.replace(/^ {4}- /, ""));
  }
  return jobs;
}

const callsForkstack = (script: string) => script.includes("forkstack");

describe("docs: every command marked as tested runs", () => {
  it("getting-started.md", { timeout: 180_000 }, async () => {
    const { output, dir } = await runDoc("docs/getting-started.md");
    expect(output).toMatch(/^alice$/m);
    expect(output).toMatch(
      /^alice: 1 visit\(s\); bucket shop-bucket-alice; local state in .*shop\.alice\.db$/m,
    );
    expect(output).toMatch(/^alice: 2 visit\(s\)/m);
    expect(output).toMatch(/^dev: 1 visit\(s\)/m);
    expect(output).toMatch(/^bob$/m);
    const envs = JSON.parse(await cli(["list", "--json"], { cwd: dir })) as { name: string }[];
    expect(envs.map((e) => e.name)).toEqual(["dev"]);
    expect(await readFile(join(dir, "AGENTS.md"), "utf8")).toContain("npx forkstack new agent-<task>");
  });

  it("storage.md", { timeout: 180_000 }, async () => {
    const { output, dir } = await runDoc("docs/storage.md");
    expect(output).toMatch(/^alice: 1 object\(s\) in shop-bucket-alice$/m);
    expect(output).toMatch(/^dev: 0 object\(s\) in shop-bucket-dev$/m);
    expect(output).toMatch(/^alice: 0 object\(s\) in shop-bucket-alice$/m);
    await cli(["down"], { cwd: dir });
  });

  it(
    "ci.md: the GitHub workflow, the GitLab pipeline and the test template",
    { timeout: 180_000 },
    async () => {
      const scripts = {
        test: `node -e "process.exit(/^(pr|mr)-\\d+$/.test(process.env.FORKSTACK_ENV) ? 0 : 1)"`,
        migrate: `node -e "process.exit(process.env.FORKSTACK_ENV === 'test-template' ? 0 : 1)"`,
      };
      // The project is set up before CI runs (its config is committed).
      const { blocks, dir, sh } = await runDoc("docs/ci.md", { scripts, setup: "npx forkstack init --yes" });
      const names = async () =>
        (JSON.parse(await cli(["list", "--json"], { cwd: dir })) as { name: string }[]).map((e) => e.name);

      const github = blocks.find((b) => b.kind === "github")!.code;
      const steps = githubSteps(github).filter((s) => callsForkstack(s.run));
      expect(steps.map((s) => s.if)).toEqual([
        "github.event.action != 'closed'",
        "github.event.action == 'opened' || github.event.action == 'reopened'",
        "github.event.action != 'closed'",
        "github.event.action == 'closed'",
      ]);
      for (const action of ["opened", "synchronize", "closed"]) {
        for (const step of steps) {
          const applies = new Function("github", `return ${step.if}`)({ event: { action } }) as boolean;
          if (applies) await sh(step.run, { PR: "12", PREVIEW_FROM: "dev" });
        }
        if (action === "opened") {
          expect(await names()).toContain("pr-12");
          const comment = await readFile(join(dir, ".gh-comment"), "utf8");
          expect(comment).toContain("Preview env `pr-12`, forked from `dev`, provides:");
          expect(comment).toContain("- `DATABASE_URL`");
          expect(comment).toContain("- `AWS_SECRET_ACCESS_KEY`");
          const secrets = JSON.parse(await cli(["env", "pr-12", "--json", "--reveal"], { cwd: dir })) as {
            variables: Record<string, string>;
          };
          expect(comment).not.toContain(secrets.variables.AWS_SECRET_ACCESS_KEY);
        }
      }
      expect(await names()).not.toContain("pr-12");
      expect(await names()).toContain("test-template");

      const gitlab = gitlabScripts(blocks.find((b) => b.kind === "gitlab")!.code);
      expect(Object.keys(gitlab)).toEqual(["preview", "preview-stop"]);
      const env = { CI_MERGE_REQUEST_IID: "7", PREVIEW_FROM: "dev" };
      for (const line of gitlab.preview!.filter(callsForkstack)) await sh(line, env);
      await sh(gitlab.preview!.filter(callsForkstack).join("\n"), env); // a second pipeline of the same MR
      expect(await names()).toContain("mr-7");
      for (const line of gitlab["preview-stop"]!.filter(callsForkstack)) await sh(line, env);
      expect(await names()).not.toContain("mr-7");
      await cli(["down"], { cwd: dir });
    },
  );
});
