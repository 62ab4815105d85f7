/**
 * Custom providers named by module path in the config (docs/providers.md), driven through the built
 * CLI: a small database provider (`_fixtures/copy-sqlite.mjs`: a SQLite file per env, forked by copy)
 * serves `new`, `env` and `delete`, gets back what it recorded, and passes `databaseSuite` imported
 * from the built `forkstack/testing`. Each wrong module fails with an error naming the config key.
 */
import { existsSync } from "node:fs";
import { copyFile, mkdir, readFile, realpath, symlink, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { parseProviderSpec } from "../../src/config/provider-module.js";
import type * as Testing from "../../src/testing/index.js";
import { sql } from "../helpers/sql.js";
import { REPO, cli, runCli, tempProject } from "../helpers/project.js";
import { createClient } from "@libsql/client";
import copySqlite from "./_fixtures/copy-sqlite.mjs";

const FIXTURE = join(dirname(fileURLToPath(import.meta.url)), "_fixtures/copy-sqlite.mjs");

// The suites as a provider author gets them: the package's `forkstack/testing` export, built.
// (A variable specifier, so typechecking does not need the build.)
const TESTING = "forkstack/testing";
const testing = (await import(TESTING)) as typeof Testing;

/**
 * A project whose config names a provider module, with forkstack (this checkout) and zod installed in
 * its node_modules as a user's project would have them.
 */
async function customProject(database: Record<string, unknown>, files: Record<string, string> = {}) {
  const dir = await tempProject({ project: "shop", database, secrets: false, local: false });
  await mkdir(join(dir, "node_modules"));
  await symlink(REPO, join(dir, "node_modules/forkstack"));
  await symlink(await realpath(join(REPO, "node_modules/zod")), join(dir, "node_modules/zod"));
  await mkdir(join(dir, "providers"));
  await copyFile(FIXTURE, join(dir, "providers/copy-sqlite.mjs"));
  for (const [path, text] of Object.entries(files)) {
    await mkdir(dirname(join(dir, path)), { recursive: true });
    await writeFile(join(dir, path), text);
  }
  return dir;
}

/** The suite's hook: SQL through @libsql/client at the URL the app gets (a local file: no token). */
async function query(url: string, _authToken: string | undefined, statement: string) {
  const client = createClient({ url });
  try {
    const result = await client.execute(statement);
    return result.rows.map((row) => Object.fromEntries(result.columns.map((c, i) => [c, row[i]])));
  } finally {
    client.close();
  }
}

const envJson = async (cwd: string, env: string) =>
  JSON.parse(await cli(["env", env, "--format", "json"], { cwd })) as Record<string, string>;

const traceOf = async (cwd: string) =>
  (await readFile(join(cwd, "trace.jsonl"), "utf8"))
    .trim()
    .split("\n")
    .map((line) => JSON.parse(line) as Record<string, unknown>);

describe("config: custom providers by module path", () => {
  it("reads `provider` one way only: a path, a package or a built-in name", () => {
    const dir = "/app";
    expect(parseProviderSpec("./providers/db.ts", dir)).toEqual({
      type: "file",
      path: "/app/providers/db.ts",
    });
    expect(parseProviderSpec("../shared/db.mjs", dir)).toEqual({ type: "file", path: "/shared/db.mjs" });
    expect(parseProviderSpec("/opt/db.mjs", dir)).toEqual({ type: "file", path: "/opt/db.mjs" });
    expect(parseProviderSpec("npm:forkstack-neon", dir)).toEqual({ type: "package", name: "forkstack-neon" });
    expect(parseProviderSpec("npm:@acme/db", dir)).toEqual({ type: "package", name: "@acme/db" });
    expect(parseProviderSpec("@acme/db", dir)).toEqual({ type: "package", name: "@acme/db" });
    expect(parseProviderSpec("acme-providers/db", dir)).toEqual({
      type: "package",
      name: "acme-providers/db",
    });
    expect(parseProviderSpec("sqlite", dir)).toEqual({ type: "builtin", name: "sqlite" });
    expect(parseProviderSpec("forkstack-neon", dir)).toEqual({ type: "builtin", name: "forkstack-neon" });
  });

  it("new, env and delete go through a provider file named in the config", async () => {
    const cwd = await customProject({ provider: "./providers/copy-sqlite.mjs", trace: "trace.jsonl" });
    // The first `new` makes the root, dev, as well (created empty through the provider).
    await cli(["new", "bob"], { cwd });
    const dev = await envJson(cwd, "dev");
    expect(dev.DATABASE_URL).toBe(`file:${join(cwd, ".forkstack/copy-sqlite/dev.sqlite")}`);
    await sql(dev.DATABASE_URL!, "CREATE TABLE notes (body TEXT)");
    await sql(dev.DATABASE_URL!, "INSERT INTO notes VALUES ('from dev')");

    await cli(["new", "alice", "--from", "dev"], { cwd });
    const alice = await envJson(cwd, "alice");
    expect(alice.DATABASE_URL).toBe(`file:${join(cwd, ".forkstack/copy-sqlite/alice.sqlite")}`);
    expect(await sql(alice.DATABASE_URL!, "SELECT body FROM notes")).toEqual([{ body: "from dev" }]);
    const list = JSON.parse(await cli(["list", "--json"], { cwd })) as Array<Record<string, unknown>>;
    expect(list.find((e) => e.name === "alice")).toMatchObject({
      parent: "dev",
      status: "ready",
      resources: { database: { provider: "copy-sqlite", status: "ok" } },
    });

    await cli(["delete", "alice", "--yes"], { cwd });
    expect(existsSync(join(cwd, ".forkstack/copy-sqlite/alice.sqlite"))).toBe(false);
    expect(existsSync(join(cwd, ".forkstack/copy-sqlite/dev.sqlite"))).toBe(true);

    // The core handed back what the provider recorded: the parent's to fork, alice's own to remove.
    const trace = await traceOf(cwd);
    expect(trace.find((t) => t.op === "fork" && t.env === "alice")).toMatchObject({
      env: "alice",
      parent: {
        data: { file: join(cwd, ".forkstack/copy-sqlite/dev.sqlite") },
        location: join(cwd, ".forkstack/copy-sqlite/dev.sqlite"),
      },
    });
    expect(trace.find((t) => t.op === "remove" && t.env === "alice")).toMatchObject({
      env: "alice",
      recorded: { data: { file: join(cwd, ".forkstack/copy-sqlite/alice.sqlite") }, method: "copy" },
    });
  });

  it("a TypeScript provider file and a package provider load too", async () => {
    const pkg = { name: "@acme/copy-sqlite", type: "module", exports: { ".": { import: "./index.mjs" } } };
    const cwd = await customProject(
      { provider: "./providers/wrapped.ts" },
      {
        "providers/wrapped.ts": `import copySqlite, { optionsSchema } from "./copy-sqlite.mjs";
          import type { ProviderFactory, DatabaseProvider } from "forkstack";
          const factory: ProviderFactory<never, DatabaseProvider> = (options, context) => copySqlite(options, context);
          export { optionsSchema };
          export default factory;`,
        "node_modules/@acme/copy-sqlite/package.json": JSON.stringify(pkg),
      },
    );
    await copyFile(FIXTURE, join(cwd, "node_modules/@acme/copy-sqlite/index.mjs"));
    await cli(["new", "bob"], { cwd });
    expect((await envJson(cwd, "dev")).DATABASE_URL).toContain("/copy-sqlite/dev.sqlite");

    for (const provider of ["@acme/copy-sqlite", "npm:@acme/copy-sqlite"]) {
      const other = await customProject(
        { provider },
        { [`node_modules/@acme/copy-sqlite/package.json`]: JSON.stringify(pkg) },
      );
      await copyFile(FIXTURE, join(other, "node_modules/@acme/copy-sqlite/index.mjs"));
      await cli(["new", "bob"], { cwd: other });
      expect((await envJson(other, "dev")).DATABASE_URL).toContain("/copy-sqlite/dev.sqlite");
    }
  });

  it("each wrong module is a config error naming `database.provider`", async () => {
    const cases: Array<[provider: string, files: Record<string, string>, message: RegExp]> = [
      [
        "./providers/missing.mjs",
        {},
        /`database\.provider` is "\.\/providers\/missing\.mjs": .*missing\.mjs does not exist/,
      ],
      [
        "npm:@acme/absent",
        {},
        /`database\.provider` is "npm:@acme\/absent": the package "@acme\/absent" is not installed/,
      ],
      [
        "./providers/no-default.mjs",
        { "providers/no-default.mjs": "export const x = 1;" },
        /`database\.provider` .*no default export/,
      ],
      [
        "./providers/storage.mjs",
        {
          "providers/storage.mjs": `export default () => ({ kind: "storage", name: "s", flags: {}, create() {}, fork() {}, remove() {}, describe() {}, list() {} });`,
        },
        /`database\.provider` is "\.\/providers\/storage\.mjs": it makes a provider of kind "storage", but `database` needs kind "database"/,
      ],
      [
        "./providers/half.mjs",
        {
          "providers/half.mjs": `export default () => ({ kind: "database", name: "half", flags: {}, create() {} });`,
        },
        /`database\.provider` .*lacks fork, remove, describe, list/,
      ],
      [
        "./providers/broken.mjs",
        { "providers/broken.mjs": "export default (" },
        /`database\.provider` .*does not compile/,
      ],
      [
        "mysql",
        {},
        /`database\.provider` is "mysql": not a database provider; expected one of: sqlite(, [a-z]+)*, or a module/,
      ],
      [
        "./providers/copy-sqlite.mjs",
        {},
        /x-unknown/, // its own zod schema rejects an unknown option, named with its full key
      ],
    ];
    for (const [provider, files, message] of cases) {
      const options = provider.endsWith("copy-sqlite.mjs") ? { "x-unknown": 1 } : {};
      const cwd = await customProject({ provider, ...options }, files);
      const result = await runCli(["list"], { cwd });
      expect(result.code, `${provider}: ${result.stderr}`).toBe(1);
      expect(result.stderr, provider).toMatch(message);
      expect(result.stderr, provider).not.toMatch(/bug in forkstack/i);
    }
  });
});

describe("config: failures inside a custom provider", () => {
  it("are the provider's errors, not bugs in forkstack, and keep their codes", async () => {
    const cwd = await customProject(
      { provider: "./providers/flaky.mjs" },
      {
        "providers/flaky.mjs": `import copySqlite from "./copy-sqlite.mjs";
          export default (options, context) => ({
            ...copySqlite({ dir: ".forkstack/copy-sqlite" }, context),
            name: "flaky",
            async fork() { throw new Error("the backend is down"); },
          });`,
      },
    );
    const result = await runCli(["new", "alice"], { cwd });
    expect(result.code, result.stderr).toBe(1);
    expect(result.stderr).toContain("[flaky] the backend is down");
    expect(result.stderr).not.toMatch(/bug in forkstack/i);
    // Rolled back: dev (made by this command) stays, alice has nothing.
    expect(JSON.parse(await cli(["list", "--json"], { cwd })).map((e: { name: string }) => e.name)).toEqual([
      "dev",
    ]);
  });
});

describe("config: the custom provider passes databaseSuite from forkstack/testing", () => {
  it("is the example docs/providers.md shows, verbatim", async () => {
    const doc = await readFile(join(REPO, "docs/providers.md"), "utf8");
    expect(doc).toContain("```js\n" + (await readFile(FIXTURE, "utf8")).trimEnd() + "\n```");
  });

  testing.databaseSuite({
    provider: (project) => copySqlite({ dir: ".forkstack/copy-sqlite" }, project.context),
    dialect: "sqlite",
    query,
    timeout: 30_000,
  });
});
