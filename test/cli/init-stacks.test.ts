/**
 * `forkstack init --stack <name>`: `--help` lists exactly the stacks whose providers this forkstack
 * has; each of those writes a config that works (the embedded one offline, postgres-local against a
 * real PostgreSQL server); a stack whose providers are not here yet is refused, naming them, and
 * changes nothing. The cloud stacks run end to end against their vendors' emulators in
 * init-cloud-stacks.test.ts.
 */
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { STACKS, availableStacks, missingProviders } from "../../src/init/stacks.js";
import { builtinProviders } from "../../src/providers/registry.js";
import { cli, runCli, tempProject } from "../helpers/project.js";
import { postgresBin, startPostgres, type PgServer } from "../helpers/postgres-server.js";

const available = availableStacks().map((s) => s.name);
// CI installs PostgreSQL (.ci/run): there a missing server fails the test instead of skipping it.
const HAVE_PG = !!(await postgresBin()) || !!process.env.CI;

describe("init --stack", () => {
  it("--help lists the stacks that work here, embedded first", async () => {
    const cwd = await tempProject(null);
    const help = await cli(["init", "--help"], { cwd });
    expect(available[0]).toBe("embedded");
    expect(help).toContain(`--stack <name>    Providers to configure: ${available.join(", ")}`);
    for (const stack of STACKS.filter((s) => !available.includes(s.name))) {
      expect(help).not.toContain(stack.name);
    }
  });

  it("every stack names one provider per kind, and is offered exactly when all of them exist", () => {
    for (const stack of STACKS) {
      const kinds = Object.keys(stack.blocks).sort();
      expect(kinds).toEqual(["database", "local", "secrets", "storage"]);
      const allHere = Object.entries(stack.blocks).every(
        ([kind, block]) => builtinProviders[kind as keyof typeof builtinProviders][block.provider],
      );
      expect(available.includes(stack.name), stack.name).toBe(allHere);
    }
  });

  it.each(STACKS.filter((s) => missingProviders(s).length > 0).map((s) => [s.name, s] as const))(
    "%s: refused while its providers are missing, and nothing is written",
    async (name, stack) => {
      const cwd = await tempProject(null);
      const result = await runCli(["init", "--yes", "--stack", name, "--make"], { cwd });
      expect(result.code).toBe(2);
      for (const missing of missingProviders(stack)) expect(result.stderr).toContain(missing);
      expect(result.stderr).toContain(`Stacks that work here: ${available.join(", ")}.`);
      expect(existsSync(join(cwd, "forkstack.config.ts"))).toBe(false);
      expect(existsSync(join(cwd, "Makefile"))).toBe(false);
    },
  );

  it("an unknown stack is a usage error listing the ones that work", async () => {
    const cwd = await tempProject(null);
    const result = await runCli(["init", "--yes", "--stack", "mongo"], { cwd });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(`Unknown stack "mongo".`);
    expect(result.stderr).toContain(`Stacks: ${available.join(", ")}.`);
  });

  it("embedded (the default): the config names its stack and the env works at once", async () => {
    const cwd = await tempProject(null);
    await cli(["init", "--yes", "--project", "shop", "--stack", "embedded"], { cwd });
    const config = await readFile(join(cwd, "forkstack.config.ts"), "utf8");
    expect(config).toContain("// forkstack init --stack embedded:");
    expect(config).toContain(`database: { provider: "sqlite" },`);
    expect(config).toContain(`local: { provider: "directory", path: "{project}.{env}.db" },`);
    await cli(["new", "alice"], { cwd });
    expect((await cli(["current"], { cwd })).trim()).toBe("alice");
    await cli(["down"], { cwd });
  });
});

describe.skipIf(!available.includes("postgres-local"))("init --stack postgres-local", () => {
  let pg: PgServer | undefined;
  beforeAll(async () => {
    if (HAVE_PG) pg = await startPostgres();
  }, 120_000);
  afterAll(() => pg?.stop());

  it("without FORKSTACK_POSTGRES_URL: writes the config, says which variable to set, makes no env", async () => {
    const cwd = await tempProject(null);
    const result = await runCli(["init", "--yes", "--project", "shop", "--stack", "postgres-local"], { cwd });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toContain("Not created the dev env yet. Set these");
    expect(result.stderr).toMatch(/^ {4}export FORKSTACK_POSTGRES_URL= {3}# a role on your server/m);
    const config = await readFile(join(cwd, "forkstack.config.ts"), "utf8");
    expect(config).toContain(`database: { provider: "postgres" }, // the server: FORKSTACK_POSTGRES_URL`);
    expect(existsSync(join(cwd, ".forkstack/envs/dev"))).toBe(false);
  });

  it.skipIf(!HAVE_PG)("with it set: makes dev on the server, and forks work", async () => {
    const cwd = await tempProject(null);
    const env = { FORKSTACK_POSTGRES_URL: pg!.url };
    const project = `shop${process.pid}`;
    await cli(["init", "--yes", "--project", project, "--stack", "postgres-local"], { cwd, env });
    await cli(["new", "alice"], { cwd, env });
    const vars = JSON.parse(await cli(["env", "alice", "--json", "--reveal"], { cwd, env })) as {
      variables: Record<string, string>;
    };
    expect(vars.variables.DATABASE_URL).toMatch(new RegExp(`/${project}_alice$`));
    await cli(["delete", "alice", "--yes"], { cwd, env });
    await cli(["delete", "dev", "--yes", "--force"], { cwd, env });
    await cli(["down"], { cwd, env });
  });
});
