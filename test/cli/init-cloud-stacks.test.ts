/**
 * The cloud stacks of `forkstack init --stack` as a user runs them, through the built CLI (`npm test`
 * builds first), each against stand-ins for its vendors: the Turso, Neon, PlanetScale and Doppler
 * emulators (Neon's branches real PostgreSQL databases, PlanetScale's Vitess branches real MariaDB
 * ones, Turso's real libSQL files over Hrana) and the embedded storage server as Tigris, S3 and R2
 * (each reached the way a user points the provider elsewhere: TIGRIS_STORAGE_ENDPOINT,
 * AWS_ENDPOINT_URL_S3, FORKSTACK_R2_ENDPOINT). Every server starts once, here.
 *
 * For each stack: without its variables, `init` writes the config, prints the variables to set and
 * makes nothing (and once they are set, `new` makes dev and the env, as it says); with them, `init` makes dev (adopting what the account has, per each provider's rules
 * for roots), `new alice` forks it, the revealed values work (SQL through the URL, objects through the
 * key), `run` hands them to the app, and `delete alice` removes alice's resources on every backend and
 * leaves dev's. The emulators check every exchange against the vendors' API descriptions.
 */
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import mysql from "mysql2/promise";
import postgres from "postgres";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { STACKS } from "../../src/init/stacks.js";
import type { ResourceInfo } from "../../src/providers/types.js";
import { putObject, readBucket } from "../../src/testing/index.js";
import { start as startDoppler, type DopplerEmulator } from "../emulators/doppler.js";
import { start as startNeon, type NeonEmulator } from "../emulators/neon.js";
import { start as startPlanetScale, type PlanetScaleEmulator } from "../emulators/planetscale.js";
import { start as startTurso, type TursoEmulator } from "../emulators/turso.js";
import { startMariaDb, type MariaDbServer } from "../helpers/mariadb-server.js";
import { startPostgres, type PgServer } from "../helpers/postgres-server.js";
import { cli, runCli, tempProject } from "../helpers/project.js";
import { libsqlQuery } from "../providers/database/_turso.js";
import { KEY, cloudServer } from "../providers/storage/_cloud.js";

const storage = cloudServer();
let pg: PgServer;
let maria: MariaDbServer;
let turso: TursoEmulator;
let neon: NeonEmulator;
let planetscale: PlanetScaleEmulator;
let doppler: DopplerEmulator;

const PROJECT = {
  "turso-tigris-doppler": `ttd${process.pid}`,
  "neon-s3": `ns${process.pid}`,
  "planetscale-r2": `psr${process.pid}`,
} as const;
type CloudStack = keyof typeof PROJECT;
const DOPPLER_DEV = { STRIPE_KEY: "sk_test_dev", LOG_LEVEL: "debug" };

beforeAll(async () => {
  [pg, maria] = await Promise.all([startPostgres({ settings: { fsync: "off" } }), startMariaDb()]);
  [turso, neon, planetscale, doppler] = await Promise.all([
    startTurso(),
    startNeon({ pgUrl: pg.url, operationDelayMs: 20 }),
    startPlanetScale({ mariadb: maria.url, readyAfterMs: 20 }),
    // A Doppler project as Doppler makes one: dev, stg and prd environments, each with its root config.
    startDoppler({ projects: { [PROJECT["turso-tigris-doppler"]]: { dev: DOPPLER_DEV, stg: {}, prd: {} } } }),
  ]);
}, 180_000);
afterAll(async () => {
  const emulators = [turso, neon, planetscale, doppler].filter(Boolean);
  const violations = emulators.flatMap((e) => [...e.violations]);
  await Promise.all(emulators.map((e) => e.close()));
  await Promise.all([pg?.stop(), maria?.stop()]);
  expect(violations).toEqual([]);
});

const R2_ACCOUNT = "0123456789abcdef0123456789abcdef";

/** The variables a user would export for each stack, pointed at the stand-ins. */
function variablesOf(stack: CloudStack): Record<string, string> {
  const url = storage().url;
  switch (stack) {
    case "turso-tigris-doppler":
      return {
        ...turso.variables,
        TIGRIS_STORAGE_ENDPOINT: url,
        TIGRIS_STORAGE_ACCESS_KEY_ID: KEY.accessKeyId,
        TIGRIS_STORAGE_SECRET_ACCESS_KEY: KEY.secretAccessKey,
        ...doppler.variables,
      };
    case "neon-s3":
      return {
        ...neon.variables,
        AWS_ENDPOINT_URL_S3: url,
        AWS_REGION: "eu-west-1",
        AWS_ACCESS_KEY_ID: KEY.accessKeyId,
        AWS_SECRET_ACCESS_KEY: KEY.secretAccessKey,
      };
    case "planetscale-r2":
      return {
        ...(planetscale.variables as Record<string, string>),
        PLANETSCALE_ORG: "acme",
        PLANETSCALE_DATABASE: "shop",
        CLOUDFLARE_ACCOUNT_ID: R2_ACCOUNT,
        FORKSTACK_R2_ENDPOINT: url,
        R2_ACCESS_KEY_ID: KEY.accessKeyId,
        R2_SECRET_ACCESS_KEY: KEY.secretAccessKey,
      };
  }
}

const stackOf = (name: CloudStack) => STACKS.find((s) => s.name === name)!;
const exchanges = () => [turso, neon, planetscale, doppler].map((e) => e.exchanges.length);

async function sql(stack: CloudStack, vars: Record<string, string>, statement: string): Promise<unknown[]> {
  const url = vars.DATABASE_URL!;
  if (stack === "turso-tigris-doppler") return libsqlQuery(url, vars.DATABASE_AUTH_TOKEN, statement);
  if (stack === "neon-s3") {
    const client = postgres(url, { max: 1, onnotice: () => undefined, fetch_types: false });
    try {
      return [...(await client.unsafe(statement))];
    } finally {
      await client.end({ timeout: 5 });
    }
  }
  // PlanetScale's URL asks for TLS (its default query), which the local MariaDB does not speak: the
  // same credentials without it.
  const connection = await mysql.createConnection({ uri: url.replace(/\?.*$/, "") });
  try {
    const [rows] = await connection.query(statement);
    return Array.isArray(rows) ? rows : [];
  } finally {
    await connection.end();
  }
}

const asInfo = (vars: Record<string, string>) => ({ vars, secretVars: {} }) as unknown as ResourceInfo;

/** Whether each backend holds the project's env `name`: [database, secrets (Doppler)]. */
function backendHas(stack: CloudStack, name: string): boolean[] {
  const project = PROJECT[stack];
  if (stack === "turso-tigris-doppler") {
    const configs = doppler.state.projects.get(project)!.configs;
    return [
      turso.databases.has(`acme/${project}-${name}`),
      name === "dev" ? configs.has("dev") : configs.has(`dev_${project}_${name}`),
    ];
  }
  if (stack === "neon-s3") return [neon.branches().some((b) => b.name === `${project}/${name}`)];
  return [planetscale.database("acme", "shop")!.branches.has(`${project}-${name}`)];
}

const CLOUD = ["turso-tigris-doppler", "neon-s3", "planetscale-r2"] as const;

describe.each(CLOUD)("init --stack %s", (stack) => {
  const project = PROJECT[stack];

  it("without its variables: writes the config, prints them to set, makes no env; once set, new makes dev", async () => {
    const cwd = await tempProject(null);
    const names = stackOf(stack).variables.map((v) => v.name);
    const before = exchanges();
    const unset = Object.fromEntries(names.map((name) => [name, ""]));
    const result = await runCli(["init", "--yes", "--project", project, "--stack", stack], {
      cwd,
      env: unset,
    });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toContain("Not created the dev env yet. Set these");
    for (const { name, what } of stackOf(stack).variables) {
      const line = `export ${name}=`.padEnd(names.reduce((n, v) => Math.max(n, v.length), 0) + 8);
      expect(result.stderr.split("\n")).toContain(`    ${line}   # ${what}`);
    }
    const config = await readFile(join(cwd, "forkstack.config.ts"), "utf8");
    expect(config).toContain(`// forkstack init --stack ${stack}:`);
    expect(config).toContain(`import { defineConfig, env } from "forkstack";`);
    for (const name of names) expect(config).toContain(name);
    expect(existsSync(join(cwd, ".forkstack/envs/dev"))).toBe(false);
    expect(exchanges()).toEqual(before);

    // As the message says: once they are set, `new <your-name>` makes dev and then the env.
    const env = variablesOf(stack);
    const created = await runCli(["new", "bob"], { cwd, env });
    expect(created.code, created.stderr).toBe(0);
    expect([...backendHas(stack, "dev"), ...backendHas(stack, "bob")]).not.toContain(false);
    await cli(["delete", "bob", "--yes"], { cwd, env });
    await cli(["delete", "dev", "--yes", "--force"], { cwd, env });
    expect(backendHas(stack, "dev")[0]).toBe(false);
  }, 60_000);

  it("with them: init makes dev, new forks it, the values work, run has them, delete removes alice's", async () => {
    const cwd = await tempProject(null);
    const env = variablesOf(stack);
    const init = await runCli(["init", "--yes", "--project", project, "--stack", stack], { cwd, env });
    expect(init.code, init.stderr).toBe(0);
    expect(init.stderr).toContain("Created the dev env.");
    expect(init.stderr).not.toContain("Not created");
    expect(backendHas(stack, "dev")).not.toContain(false);
    expect(backendHas(stack, "alice")).not.toContain(true);
    if (stack === "turso-tigris-doppler") {
      // Doppler's root config dev is adopted, never copied: no config was made for dev.
      expect([...doppler.state.projects.get(project)!.configs.keys()].sort()).toEqual(["dev", "prd", "stg"]);
    }
    if (stack === "neon-s3") {
      // No root named in the config: dev is a branch of its own, the default branch's schema and no rows.
      expect(neon.branches().find((b) => b.name === `${project}/dev`)).toMatchObject({
        initSource: "schema-only",
      });
    }

    const reveal = async (name: string) =>
      JSON.parse(await cli(["env", name, "--format", "json", "--reveal"], { cwd, env })) as Record<
        string,
        string
      >;
    const dev = await reveal("dev");
    await sql(stack, dev, "CREATE TABLE notes (v VARCHAR(20))");
    await sql(stack, dev, "INSERT INTO notes VALUES ('from dev')");
    await putObject(asInfo(dev), dev.BUCKET_NAME!, "hello.txt", "from dev");
    if (stack !== "turso-tigris-doppler")
      await cli(["secrets", "set", "GREETING=hi", "--env", "dev"], { cwd, env });

    const created = await runCli(["new", "alice"], { cwd, env });
    expect(created.code, created.stderr).toBe(0);
    const alice = await reveal("alice");
    expect(alice.FORKSTACK_ENV).toBe("alice");
    expect(alice.DATABASE_URL).not.toBe(dev.DATABASE_URL);
    // Bucket names are global on Tigris and S3 (init wrote a suffix), per account on R2.
    const suffix = stack === "planetscale-r2" ? "" : "-[a-z0-9]{4}";
    expect(alice.BUCKET_NAME).toMatch(new RegExp(`^${project}${suffix}-bucket-alice$`));
    expect(alice.BUCKET_NAME).not.toBe(dev.BUCKET_NAME);

    // The database: a fork of dev's (PlanetScale without Data Branching®: dev's schema, none of its rows).
    if (stack === "planetscale-r2") {
      expect(created.stderr).toContain(`"alice" has the schema of "dev" but none of its data`);
      expect(await sql(stack, alice, "SELECT v FROM notes")).toEqual([]);
    } else {
      expect(await sql(stack, alice, "SELECT v FROM notes")).toEqual([{ v: "from dev" }]);
    }
    await sql(stack, alice, "INSERT INTO notes VALUES ('from alice')");
    expect(await sql(stack, dev, "SELECT v FROM notes")).toEqual([{ v: "from dev" }]);
    // The bucket: dev's objects, and alice's writes stay hers.
    expect(await readBucket(asInfo(alice), alice.BUCKET_NAME!)).toEqual({ "hello.txt": "from dev" });
    await putObject(asInfo(alice), alice.BUCKET_NAME!, "hello.txt", "from alice");
    expect(await readBucket(asInfo(dev), dev.BUCKET_NAME!)).toEqual({ "hello.txt": "from dev" });
    // The secrets: dev's, forked.
    const secret = stack === "turso-tigris-doppler" ? "STRIPE_KEY" : "GREETING";
    expect(alice[secret]).toBe(stack === "turso-tigris-doppler" ? DOPPLER_DEV.STRIPE_KEY : "hi");

    // The app under `run` (alice is current since `new`) sees exactly alice's values.
    const keys = [
      "FORKSTACK_ENV",
      "DATABASE_URL",
      "BUCKET_NAME",
      "AWS_ENDPOINT_URL_S3",
      "AWS_SECRET_ACCESS_KEY",
      secret,
    ];
    const script = `console.log(JSON.stringify(Object.fromEntries(${JSON.stringify(keys)}.map((k) => [k, process.env[k]]))))`;
    const seen = JSON.parse(await cli(["run", "--", process.execPath, "-e", script], { cwd, env })) as object;
    expect(seen).toEqual(Object.fromEntries(keys.map((k) => [k, alice[k]])));
    expect(alice.AWS_ENDPOINT_URL_S3).toBe(storage().url);

    const deleted = await runCli(["delete", "alice", "--yes"], { cwd, env });
    expect(deleted.code, deleted.stderr).toBe(0);
    expect(backendHas(stack, "alice")).not.toContain(true);
    expect(backendHas(stack, "dev")).not.toContain(false);
    const buckets = await storage().client().listBuckets(`${project}-`);
    expect(buckets).toEqual([dev.BUCKET_NAME]);
    expect(await sql(stack, dev, "SELECT v FROM notes")).toEqual([{ v: "from dev" }]);

    await cli(["delete", "dev", "--yes", "--force"], { cwd, env });
    expect(await storage().client().listBuckets(`${project}-`)).toEqual([]);
    // dev's own database goes; what it adopted stays (Doppler's root config).
    expect(backendHas(stack, "dev")).toEqual(stack === "turso-tigris-doppler" ? [false, true] : [false]);
  }, 60_000);
});
