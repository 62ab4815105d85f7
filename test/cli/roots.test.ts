/**
 * Roots, as the README's Concepts say: the default env and every env the config marks `production` or
 * names under `roots` have no parent. `new prod` makes prod empty (adopting what its backends have), as
 * `init` makes dev; `new prod --from dev` is an explicit fork, which asks first since production then
 * starts as a copy of dev's data.
 */
import { describe, expect, it } from "vitest";
import { EMBEDDED_CONFIG, cli, runCli, tempProject } from "../helpers/project.js";

interface Listed {
  name: string;
  parent: string | null;
}

async function envs(cwd: string): Promise<Listed[]> {
  const listed = JSON.parse(await cli(["list", "--json"], { cwd })) as { envs: Listed[] } | Listed[];
  return Array.isArray(listed) ? listed : listed.envs;
}

const secretsOf = async (cwd: string, env: string) =>
  JSON.parse(await cli(["env", env, "--format", "json", "--reveal"], { cwd })) as Record<string, string>;

describe("cli: roots", () => {
  it("`new prod` makes prod a root, empty: not a fork of dev", async () => {
    const cwd = await tempProject();
    await cli(["secrets", "set", "DEV_ONLY=from-dev"], { cwd });
    const made = await runCli(["new", "prod", "--no-switch"], { cwd });
    expect(made.code, made.stderr).toBe(0);
    expect(made.stderr).toMatch(/Created prod as a root env/);
    expect((await envs(cwd)).find((e) => e.name === "prod")).toMatchObject({ parent: null });
    expect((await secretsOf(cwd, "prod")).DEV_ONLY).toBeUndefined();
    expect((await secretsOf(cwd, "dev")).DEV_ONLY).toBe("from-dev");

    // deleted and made again: a root again
    await cli(["delete", "prod", "--force", "--yes"], { cwd });
    await cli(["new", "prod", "--no-switch"], { cwd });
    expect((await envs(cwd)).find((e) => e.name === "prod")).toMatchObject({ parent: null });
  });

  it("`new prod --from dev` is a fork that needs confirmation, and changes nothing without it", async () => {
    const cwd = await tempProject();
    await cli(["secrets", "set", "DEV_ONLY=from-dev"], { cwd });
    const refused = await runCli(["new", "prod", "--from", "dev"], { cwd });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/Making the production env "prod" a fork of "dev" needs confirmation/);
    expect(refused.stderr).toMatch(/--yes/);
    expect((await envs(cwd)).map((e) => e.name)).toEqual(["dev"]);

    await cli(["new", "prod", "--from", "dev", "--yes", "--no-switch"], { cwd });
    expect((await envs(cwd)).find((e) => e.name === "prod")).toMatchObject({ parent: "dev" });
    expect((await secretsOf(cwd, "prod")).DEV_ONLY).toBe("from-dev");
  });

  it("any env the config marks production or names under roots is a root; other names are forks", async () => {
    const cwd = await tempProject({
      ...EMBEDDED_CONFIG,
      production: ["live"],
      roots: { staging: {} },
    });
    await cli(["secrets", "set", "DEV_ONLY=from-dev"], { cwd });
    for (const name of ["live", "staging", "alice"]) await cli(["new", name, "--no-switch"], { cwd });
    const parents = Object.fromEntries((await envs(cwd)).map((e) => [e.name, e.parent]));
    expect(parents).toEqual({ dev: null, live: null, staging: null, alice: "dev" });
    // an env named like an Object.prototype member is no root because of it
    await cli(["new", "constructor", "--no-switch"], { cwd });
    expect((await envs(cwd)).find((e) => e.name === "constructor")).toMatchObject({ parent: "dev" });
  });
});
