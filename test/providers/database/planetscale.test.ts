/**
 * The `planetscale` provider against the PlanetScale emulator (test/emulators/planetscale.ts), whose
 * branches hold real data: Vitess branches on a local MariaDB, Postgres branches on a local
 * PostgreSQL. The shared conformance suite runs unchanged on both kinds (forks restore a fresh backup,
 * `data: "backup"`, so they hold the parent's rows as of the fork); then what only this provider has:
 * a credential per env that goes with it, the honest message when a fork gets the schema only, seeding
 * from the last backup, polling, retries, and bad input. Every request the provider sends and every
 * answer the emulator gives is checked against PlanetScale's OpenAPI description (afterAll).
 *
 * Live tests run against PlanetScale itself when PLANETSCALE_SERVICE_TOKEN_ID, PLANETSCALE_SERVICE_TOKEN,
 * PLANETSCALE_ORG and PLANETSCALE_DATABASE are set and FORKSTACK_PLANETSCALE_API_URL is not, and clean up
 * what they made even when they fail.
 */
import mysql from "mysql2/promise";
import { pgQuery } from "../../helpers/pg-query.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import provider from "../../../src/providers/database/planetscale.js";
import { optionsSchema } from "../../../src/providers/database/planetscale.options.js";
import { branchNameProblems } from "../../../src/providers/database/_planetscale-api.js";
import type { DatabaseProvider, ResourceInfo } from "../../../src/providers/types.js";
import {
  coreDriver,
  databaseSuite,
  envRef,
  expectProviderError,
  tempProject,
} from "../../../src/testing/index.js";
import type { Row, TestProject } from "../../../src/testing/index.js";
import { start, type PlanetScaleEmulator } from "../../emulators/planetscale.js";
import { testClock } from "../../helpers/clock.js";
import { describeLive, liveGuard } from "../../helpers/live.js";
import { startMariaDb, type MariaDbServer } from "../../helpers/mariadb-server.js";
import { freePort, startPostgres, type PgServer } from "../../helpers/postgres-server.js";

// Variable names of their own, so that live credentials in the environment are never touched.
const ID_ENV = "FS_TEST_PSCALE_TOKEN_ID";
const TOKEN_ENV = "FS_TEST_PSCALE_TOKEN";
const LIMITED = { id: "limited-token-id", token: "pscale_tkn_limited_to_shop_pg", databases: ["shop-pg"] };

const READY_AFTER_MS = 300_000;
const BACKUP_AFTER_MS = 120_000;
const POLL_INTERVAL_MS = 30_000;
const clock = testClock();

let maria: MariaDbServer;
let pg: PgServer;
let emu: PlanetScaleEmulator;
beforeAll(async () => {
  [maria, pg] = await Promise.all([startMariaDb(), startPostgres({ settings: { fsync: "off" } })]);
  emu = await start({
    mariadb: maria.url,
    postgres: pg.url,
    // PlanetScale-like waits, on the clock the provider sleeps on: skipped, never waited for. The
    // provider polls every 30 s of it, so a branch is ready after 10 polls, a backup after 4.
    clock,
    readyAfterMs: READY_AFTER_MS,
    backupAfterMs: BACKUP_AFTER_MS,
    tokens: [{ id: "emu-token-id", token: "pscale_tkn_emulator" }, LIMITED],
  });
  process.env[ID_ENV] = emu.variables.PLANETSCALE_SERVICE_TOKEN_ID;
  process.env[TOKEN_ENV] = emu.variables.PLANETSCALE_SERVICE_TOKEN;
}, 180_000);
afterAll(async () => {
  const violations = emu ? [...emu.violations] : [];
  await emu?.close();
  await Promise.all([maria?.stop(), pg?.stop()]);
  expect(violations).toEqual([]);
});

const make = (project: TestProject, extra: Record<string, unknown> = {}): DatabaseProvider =>
  provider(
    optionsSchema.parse({
      organization: "acme",
      database: "shop",
      serviceTokenId: { env: ID_ENV },
      serviceToken: { env: TOKEN_ENV },
      baseUrl: emu.url,
      // The local servers speak no TLS.
      urlQuery: "",
      pollIntervalMs: POLL_INTERVAL_MS,
      ...extra,
    }),
    { ...project.context, clock },
  );

/** SQL as an app runs it: its own connection to the env's DATABASE_URL. */
async function mysqlQuery(url: string, _token: string | undefined, statement: string): Promise<Row[]> {
  const connection = await mysql.createConnection({ uri: url });
  try {
    const [rows] = await connection.query(statement);
    return Array.isArray(rows) ? (rows as Row[]) : [];
  } finally {
    await connection.end();
  }
}

const branchOf = (database: string, name: string) => emu.database("acme", database)?.branches.get(name);
const exchangesSince = (mark: number) => emu.exchanges.slice(mark);

describe("planetscale provider, Vitess branches (MariaDB)", () => {
  databaseSuite({
    provider: (project) => make(project, { data: "backup" }),
    dialect: "mysql",
    query: mysqlQuery,
    timeout: 60_000,
  });
});

describe("planetscale provider, Postgres branches (PostgreSQL)", () => {
  databaseSuite({
    provider: (project) => make(project, { database: "shop-pg", data: "backup" }),
    dialect: "postgres",
    query: pgQuery,
    timeout: 60_000,
  });
});

/** A project with its provider and core driver, removed (with every env made) afterwards. */
async function setup(extra: Record<string, unknown> = {}) {
  const project = await tempProject();
  const p = make(project, extra);
  const core = coreDriver(p, project);
  const cleanup = async () => {
    for (const name of core.made().reverse()) await core.remove(name).catch(() => undefined);
    await project.cleanup();
  };
  return { project, p, core, cleanup };
}

describe("planetscale provider: credentials", () => {
  it("each env has its own Vitess password, with the env's ttl, deleted with the env", async () => {
    const { project, p, core, cleanup } = await setup({ data: "backup" });
    try {
      const dev = await core.create("dev");
      await mysqlQuery(dev.secretVars!.DATABASE_URL!, undefined, "CREATE TABLE t (v VARCHAR(20))");
      await mysqlQuery(dev.secretVars!.DATABASE_URL!, undefined, "INSERT INTO t VALUES ('dev')");
      const expiresAt = new Date(Date.now() + 2 * 3600_000);
      const alice = await p.fork(core.env("dev"), core.env("alice"), project.op, {
        parent: core.recorded("dev")!,
        expiresAt,
      });
      const url = new URL(alice.secretVars!.DATABASE_URL!);
      expect(url.protocol).toBe("mysql:");
      expect(url.pathname).toBe("/shop");
      expect(alice.vars).toEqual({});
      const branch = branchOf("shop", `${project.context.project}-alice`)!;
      const [password] = [...branch.passwords.values()];
      expect(branch.passwords.size).toBe(1);
      expect(password!.username).toBe(decodeURIComponent(url.username));
      expect(password!.role).toBe("admin");
      expect(password!.ttl).toBeGreaterThan(7100);
      expect(password!.ttl).toBeLessThanOrEqual(7200);
      expect(alice.data).toMatchObject({
        credential: { type: "password", id: password!.id },
        copied: "data",
      });
      expect(await mysqlQuery(alice.secretVars!.DATABASE_URL!, undefined, "SELECT v FROM t")).toEqual([
        { v: "dev" },
      ]);
      // Another env's password reaches only its own branch.
      expect(dev.secretVars!.DATABASE_URL).not.toBe(alice.secretVars!.DATABASE_URL);

      const mark = emu.exchanges.length;
      await p.remove(core.env("alice"), project.op, alice);
      // The branch is looked up before it goes: only the very one alice recorded (by its id) is deleted.
      expect(exchangesSince(mark).map((e) => `${e.method} ${e.operation} ${e.status}`)).toEqual([
        "DELETE delete_password 204",
        "GET get_branch 200",
        "DELETE delete_branch 204",
      ]);
      await expect(mysqlQuery(alice.secretVars!.DATABASE_URL!, undefined, "SELECT 1")).rejects.toThrow();
      await p.remove(core.env("alice"), project.op, alice); // idempotent
    } finally {
      await cleanup();
    }
  });

  it("each env has its own Postgres role, deleted with the env", async () => {
    const { project, p, core, cleanup } = await setup({ database: "shop-pg", data: "backup" });
    try {
      await core.create("dev");
      const alice = await core.fork("dev", "alice");
      const url = new URL(alice.secretVars!.DATABASE_URL!);
      expect(url.protocol).toBe("postgresql:");
      const user = decodeURIComponent(url.username);
      const role = [...branchOf("shop-pg", `${project.context.project}-alice`)!.roles.values()][0]!;
      expect(role.username).toBe(user);
      expect(role.inherited).toEqual(["postgres"]);
      expect(
        await pgQuery(pg.url, undefined, `SELECT 1 FROM pg_roles WHERE rolname = '${user}'`),
      ).toHaveLength(1);
      await core.remove("alice");
      expect(await pgQuery(pg.url, undefined, `SELECT 1 FROM pg_roles WHERE rolname = '${user}'`)).toEqual(
        [],
      );
      expect(p.flags).toEqual({ copyOnWrite: false, private: false });
    } finally {
      await cleanup();
    }
  });

  it("adopts an existing branch as a root with a password of its own, and never deletes the branch", async () => {
    const { project, p, cleanup } = await setup();
    try {
      const dev = envRef(project, "dev");
      const adopted = (await p.adopt!(dev, { branch: "main" }, project.op))!;
      expect(adopted.location).toBe("planetscale:acme/shop/main");
      expect(adopted.method).toBeUndefined();
      expect(await mysqlQuery(adopted.secretVars!.DATABASE_URL!, undefined, "SELECT 1 AS one")).toEqual([
        { one: 1 },
      ]);
      // Adopted again on this machine: the same, still valid, password.
      expect((await p.adopt!(dev, { branch: "main" }, project.op))?.secretVars).toEqual(adopted.secretVars);
      // Once PlanetScale has expired it, adopting again makes a new one.
      const id0 = (adopted.data as { credential: { id: string } }).credential.id;
      branchOf("shop", "main")!.passwords.get(id0)!.expired = true;
      const renewed = (await p.adopt!(dev, { branch: "main" }, project.op))!;
      expect(renewed.secretVars).not.toEqual(adopted.secretVars);
      branchOf("shop", "main")!.passwords.get(id0)!.expired = false;
      await p.remove(dev, project.op, renewed);
      expect(await p.adopt!(envRef(project, "prod"), undefined, project.op)).toBeNull();
      expect(await p.adopt!(dev, { branch: "no-such-branch" }, project.op)).toBeNull();
      await expectProviderError(p.adopt!(dev, { database: "x" }, project.op), p, "E_CONFIG_INVALID");
      await p.remove(dev, project.op, adopted);
      expect(branchOf("shop", "main")).toBeDefined();
      const id = (adopted.data as { credential: { id: string } }).credential.id;
      expect(branchOf("shop", "main")!.passwords.get(id)?.deleted).toBe(true);
      expect(await p.list(project.op)).toEqual([]);
    } finally {
      await cleanup();
    }
  });

  it("describe by name alone gives the same DATABASE_URL on this machine, from the 0600 record", async () => {
    const { project, p, core, cleanup } = await setup();
    try {
      const dev = await core.create("dev");
      const found = await p.describe(core.env("dev"), project.op);
      expect(found?.secretVars).toEqual(dev.secretVars);
      const { stat } = await import("node:fs/promises");
      const { join } = await import("node:path");
      const mode = (await stat(join(project.context.envDir("dev"), "planetscale.json"))).mode & 0o777;
      expect(mode).toBe(0o600);
      expect(project.logs.map((l) => l.message).join("\n")).not.toContain(
        new URL(dev.secretVars!.DATABASE_URL!).password,
      );
    } finally {
      await cleanup();
    }
  });
});

describe("planetscale provider: what a fork copies, said honestly", () => {
  it("without Data Branching a Vitess fork has the schema only, and says so", async () => {
    const { project, core, cleanup } = await setup();
    try {
      const dev = await core.create("dev");
      await mysqlQuery(dev.secretVars!.DATABASE_URL!, undefined, "CREATE TABLE t (v VARCHAR(20))");
      await mysqlQuery(dev.secretVars!.DATABASE_URL!, undefined, "INSERT INTO t VALUES ('dev')");
      const alice = await core.fork("dev", "alice");
      expect(alice.method).toBe("native");
      expect(alice.data).toMatchObject({ copied: "schema", via: "schema" });
      const warning = project.logs.find((l) => l.level === "warn")?.message;
      expect(warning).toContain('"alice" has the schema of "dev" but none of its data');
      expect(warning).toContain("Data Branching® is off for acme/shop");
      expect(await mysqlQuery(alice.secretVars!.DATABASE_URL!, undefined, "SELECT v FROM t")).toEqual([]);
    } finally {
      await cleanup();
    }
  });

  it("a Postgres fork without a backup is empty, and says so", async () => {
    const { project, core, cleanup } = await setup({ database: "shop-pg" });
    try {
      await core.create("dev");
      const alice = await core.fork("dev", "alice");
      expect(alice.data).toMatchObject({ copied: "nothing", kind: "postgres" });
      expect(project.logs.find((l) => l.level === "warn")?.message).toContain(
        '"alice" is an empty Postgres branch',
      );
    } finally {
      await cleanup();
    }
  });

  it("with Data Branching a fork is seeded from the parent's last backup: data as of then, said so", async () => {
    const { project, p, core, cleanup } = await setup();
    const db = emu.database("acme", "shop")!;
    db.allowDataBranching = true;
    try {
      const dev = await core.create("dev");
      const devUrl = dev.secretVars!.DATABASE_URL!;
      await mysqlQuery(devUrl, undefined, "CREATE TABLE t (v VARCHAR(20))");
      await mysqlQuery(devUrl, undefined, "INSERT INTO t VALUES ('before')");
      // No backup yet: PlanetScale's refusal is shown with its message and the request id.
      const refused = await expectProviderError(core.fork("dev", "alice"), p, "E_PROVIDER_API");
      expect(refused.message).toContain("has no successful backup to seed from");
      expect(refused.message).toMatch(/\(request id req_[a-z0-9]+\)/);
      expect(refused.message).toContain("422");
      const branch = `${project.context.project}-dev`;
      const backup = await fetch(`${emu.url}/organizations/acme/databases/shop/branches/${branch}/backups`, {
        method: "POST",
        headers: { authorization: emu.authorization, "content-type": "application/json" },
        body: "{}",
      });
      expect(backup.status).toBe(201);
      clock.advance(BACKUP_AFTER_MS); // the backup finishes
      await mysqlQuery(devUrl, undefined, "INSERT INTO t VALUES ('after')");
      const alice = await core.fork("dev", "alice");
      expect(alice.data).toMatchObject({ copied: "data", via: "seed" });
      expect((alice.data as { asOf?: string }).asOf).toMatch(/^\d{4}-/);
      expect(await mysqlQuery(alice.secretVars!.DATABASE_URL!, undefined, "SELECT v FROM t")).toEqual([
        { v: "before" },
      ]);
      expect(project.logs.find((l) => l.level === "warn")?.message).toContain(
        'has the data of "dev" as of its last backup',
      );
    } finally {
      db.allowDataBranching = false;
      await cleanup();
    }
  });

  it("waits for the branch to be ready before making its password, polling", async () => {
    const { project, core, cleanup } = await setup();
    try {
      await core.create("dev");
      const mark = emu.exchanges.length;
      const slept = clock.sleeps.length;
      await core.fork("dev", "alice");
      const seen = exchangesSince(mark);
      const branch = `/organizations/acme/databases/shop/branches/${project.context.project}-alice`;
      const created = seen.findIndex((e) => e.operation === "create_branch");
      const password = seen.findIndex((e) => e.operation === "create_password");
      expect(created).toBeGreaterThan(-1);
      expect(password).toBeGreaterThan(created);
      // Between the create and the password only polls of the branch, one interval of the provider's
      // clock apart, until READY_AFTER_MS of it had passed (about 10; the first answers were not ready).
      const polls = seen.slice(created + 1, password);
      expect(polls.every((e) => e.method === "GET" && e.path === branch)).toBe(true);
      expect(polls.length).toBeGreaterThanOrEqual(2);
      const waits = clock.sleeps.slice(slept);
      expect(waits).toEqual(polls.slice(1).map(() => POLL_INTERVAL_MS));
      expect(waits.length * POLL_INTERVAL_MS).toBeLessThanOrEqual(READY_AFTER_MS);
      expect(project.logs.some((l) => l.message.includes("pending after"))).toBe(true);
    } finally {
      await cleanup();
    }
  });

  it("reads the database, the parent and the child's name at once, and polls no branch born ready", async () => {
    // Metadata only, branches ready as soon as made: what the create answer says is enough.
    const quick = await start({ readyAfterMs: 0, mariadb: undefined, postgres: undefined });
    const project = await tempProject();
    try {
      const p = provider(
        optionsSchema.parse({
          organization: "acme",
          database: "shop",
          serviceTokenId: { env: ID_ENV },
          serviceToken: { env: TOKEN_ENV },
          baseUrl: quick.url,
        }),
        project.context,
      );
      const core = coreDriver(p, project);
      await core.create("dev");
      const mark = quick.exchanges.length;
      await p.fork(core.env("dev"), core.env("alice"), project.op, { parent: core.recorded("dev")! });
      const seen = quick.exchanges.slice(mark).map((e) => e.operation);
      expect(seen.slice(0, 3).sort()).toEqual(["get_branch", "get_branch", "get_database"]);
      expect(seen.slice(3)).toEqual(["create_branch", "create_password"]);
      await core.remove("alice");
      await core.remove("dev");
      expect(quick.violations).toEqual([]);
    } finally {
      await project.cleanup();
      await quick.close();
    }
  });
});

describe("planetscale provider: the API misbehaving, and bad input", () => {
  it("a 429 with Retry-After is retried, and the fork goes on", async () => {
    const { project, core, cleanup } = await setup();
    try {
      await core.create("dev");
      const mark = emu.exchanges.length;
      emu.fault({
        match: /^POST \/organizations\/acme\/databases\/shop\/branches$/,
        status: 429,
        headers: { "retry-after": "0" },
        body: { code: "rate_limited", message: "API rate limit exceeded" },
        times: 2,
      });
      const alice = await core.fork("dev", "alice");
      expect(alice.method).toBe("native");
      const posts = exchangesSince(mark)
        .filter((e) => e.operation === "create_branch")
        .map((e) => e.status);
      expect(posts).toEqual([429, 429, 201]);
      expect(project.logs.some((l) => l.message.includes("429, retry 2/5"))).toBe(true);
    } finally {
      await cleanup();
    }
  });

  it("a missing service token names its variable, before any request", async () => {
    const project = await tempProject();
    try {
      const mark = emu.exchanges.length;
      const p = make(project, {
        serviceTokenId: { env: "FS_TEST_UNSET_ID" },
        serviceToken: { env: "FS_TEST_UNSET_TOKEN" },
      });
      const both = await expectProviderError(
        p.create(envRef(project, "dev"), project.op),
        p,
        "E_PROVIDER_AUTH",
      );
      expect(both.message).toContain("FS_TEST_UNSET_ID and FS_TEST_UNSET_TOKEN are not set");
      const one = make(project, { serviceToken: { env: "FS_TEST_UNSET_TOKEN" } });
      const error = await expectProviderError(one.list(project.op), one, "E_PROVIDER_AUTH");
      expect(error.message).toBe("[planetscale] FS_TEST_UNSET_TOKEN is not set.");
      expect(error.hint).toContain("Service tokens");
      expect(await p.doctor!(project.op)).toEqual([
        { level: "error", message: expect.stringContaining("FS_TEST_UNSET_ID and FS_TEST_UNSET_TOKEN") },
      ]);
      expect(exchangesSince(mark)).toEqual([]);
    } finally {
      await project.cleanup();
    }
  });

  it("a wrong service token is E_PROVIDER_AUTH naming both variables, never the token", async () => {
    const project = await tempProject();
    process.env.FS_TEST_WRONG_ID = "emu-token-id";
    process.env.FS_TEST_WRONG_TOKEN = "pscale_tkn_not_the_right_one";
    try {
      const p = make(project, {
        serviceTokenId: { env: "FS_TEST_WRONG_ID" },
        serviceToken: { env: "FS_TEST_WRONG_TOKEN" },
      });
      const error = await expectProviderError(p.list(project.op), p, "E_PROVIDER_AUTH");
      expect(error.message).toContain("FS_TEST_WRONG_ID + FS_TEST_WRONG_TOKEN was rejected (401");
      expect(error.message).toContain("The access token is invalid or has expired");
      expect(error.message).not.toContain("pscale_tkn_not_the_right_one");
      const [finding] = await p.doctor!(project.op);
      expect(finding).toMatchObject({ level: "error", message: expect.stringContaining("FS_TEST_WRONG_ID") });
    } finally {
      delete process.env.FS_TEST_WRONG_ID;
      delete process.env.FS_TEST_WRONG_TOKEN;
      await project.cleanup();
    }
  });

  it("a token without access to the database is E_PROVIDER_AUTH (403) with PlanetScale's message", async () => {
    const project = await tempProject();
    process.env.FS_TEST_LIMITED_ID = LIMITED.id;
    process.env.FS_TEST_LIMITED_TOKEN = LIMITED.token;
    try {
      const p = make(project, {
        serviceTokenId: { env: "FS_TEST_LIMITED_ID" },
        serviceToken: { env: "FS_TEST_LIMITED_TOKEN" },
      });
      const error = await expectProviderError(
        p.create(envRef(project, "dev"), project.op),
        p,
        "E_PROVIDER_AUTH",
      );
      expect(error.message).toContain("is not allowed to do this (403");
      expect(error.message).toContain("has no access to the database shop");
      const [finding] = await p.doctor!(project.op);
      expect(finding).toMatchObject({
        level: "error",
        message: expect.stringContaining(
          "FS_TEST_LIMITED_ID + FS_TEST_LIMITED_TOKEN is not allowed to do this (403",
        ),
      });
      // The same token on the database it may use works.
      const ok = make(project, {
        database: "shop-pg",
        serviceTokenId: { env: "FS_TEST_LIMITED_ID" },
        serviceToken: { env: "FS_TEST_LIMITED_TOKEN" },
      });
      expect(await ok.list(project.op)).toEqual([]);
    } finally {
      delete process.env.FS_TEST_LIMITED_ID;
      delete process.env.FS_TEST_LIMITED_TOKEN;
      await project.cleanup();
    }
  });

  it("an unreachable API names its URL and where it came from", async () => {
    const project = await tempProject();
    const port = await freePort();
    try {
      const p = make(project, { baseUrl: `http://127.0.0.1:${port}/v1` });
      const error = await expectProviderError(p.list(project.op), p, "E_SERVER");
      expect(error.message).toContain(`could not reach 127.0.0.1:${port} (ECONNREFUSED)`);
      expect(error.hint).toContain(`http://127.0.0.1:${port}/v1`);
      // FORKSTACK_PLANETSCALE_API_URL is the other way to point the provider somewhere.
      process.env.FORKSTACK_PLANETSCALE_API_URL = emu.url;
      const viaEnv = make(project, { baseUrl: undefined });
      expect(await viaEnv.list(project.op)).toEqual([]);
    } finally {
      delete process.env.FORKSTACK_PLANETSCALE_API_URL;
      await project.cleanup();
    }
  });

  it("a database that does not exist (or that the token cannot see) is named, with a hint", async () => {
    const { project, p, cleanup } = await setup({ database: "nope" });
    try {
      const [finding] = await p.doctor!(project.op);
      expect(finding?.level).toBe("error");
      expect(finding?.message).toContain("Database acme/nope was not found, or the service token");
      await expectProviderError(
        p.fork(envRef(project, "dev"), envRef(project, "alice"), project.op),
        p,
        "E_PROVIDER_API",
      );
    } finally {
      await cleanup();
    }
  });

  it("doctor checks the token and the database with one call, and says what forks copy", async () => {
    const { project, p, cleanup } = await setup();
    try {
      const mark = emu.exchanges.length;
      const findings = await p.doctor!(project.op);
      expect(exchangesSince(mark).map((e) => e.operation)).toEqual(["get_database"]);
      expect(findings[0]).toMatchObject({
        level: "ok",
        message: expect.stringContaining("acme/shop: a vitess database"),
      });
      expect(findings[1]).toMatchObject({
        level: "warn",
        message: expect.stringContaining("the schema only"),
      });
      const mismatch = await make(project, { kind: "postgres", data: "backup" }).doctor!(project.op);
      expect(mismatch.map((f) => f.level)).toEqual(["ok", "error", "ok"]);
    } finally {
      await cleanup();
    }
  });

  it("a credential written into the config is refused: it must name a variable", () => {
    const parsed = optionsSchema.safeParse({
      organization: "acme",
      database: "shop",
      serviceToken: "pscale_tkn_pasted_here",
    });
    expect(parsed.success).toBe(false);
    expect(parsed.error?.issues[0]).toMatchObject({
      path: ["serviceToken"],
      message: expect.stringContaining('not hold it: env("PLANETSCALE_SERVICE_TOKEN")'),
    });
    const defaults = optionsSchema.parse({ organization: "acme", database: "shop" });
    expect(defaults).toMatchObject({
      serviceTokenId: { env: "PLANETSCALE_SERVICE_TOKEN_ID" },
      serviceToken: { env: "PLANETSCALE_SERVICE_TOKEN" },
      data: "auto",
      passwordRole: "admin",
    });
  });

  it("organization and database come from PLANETSCALE_ORG / PLANETSCALE_DATABASE when the config leaves them out", async () => {
    const saved = { org: process.env.PLANETSCALE_ORG, db: process.env.PLANETSCALE_DATABASE };
    const project = await tempProject();
    const unset = { organization: undefined, database: undefined };
    try {
      delete process.env.PLANETSCALE_ORG;
      delete process.env.PLANETSCALE_DATABASE;
      const mark = emu.exchanges.length;
      const p = make(project, unset);
      const missing = await expectProviderError(p.list(project.op), p, "E_CONFIG_INVALID");
      expect(missing.message).toBe("[planetscale] No PlanetScale organization: PLANETSCALE_ORG is not set.");
      expect(missing.hint).toContain("`database.organization`");
      process.env.PLANETSCALE_ORG = "acme";
      process.env.PLANETSCALE_DATABASE = "Shop!";
      const bad = make(project, unset);
      const invalid = await expectProviderError(bad.list(project.op), bad, "E_CONFIG_INVALID");
      expect(invalid.message).toBe("[planetscale] PLANETSCALE_DATABASE is not a PlanetScale database name.");
      expect(emu.exchanges.length).toBe(mark);
      process.env.PLANETSCALE_DATABASE = "shop";
      const [finding] = await make(project, unset).doctor!(project.op);
      expect(finding).toMatchObject({
        level: "ok",
        message: expect.stringContaining("acme/shop: a vitess database"),
      });
    } finally {
      for (const [name, value] of [
        ["PLANETSCALE_ORG", saved.org],
        ["PLANETSCALE_DATABASE", saved.db],
      ] as const) {
        if (value === undefined) delete process.env[name];
        else process.env[name] = value;
      }
      await project.cleanup();
    }
  });

  it("refuses a name PlanetScale would refuse, before anything is made", async () => {
    const project = await tempProject();
    try {
      const p = make(project);
      expect(p.checkName!({ project: "a".repeat(40), name: "b".repeat(22) })).toEqual([]);
      const [problem] = p.checkName!({ project: "a".repeat(40), name: "b".repeat(23) });
      expect(problem).toContain("would be 64 characters");
      expect(branchNameProblems("Shop_dev")[0]).toContain("only lowercase letters, digits and hyphens");
    } finally {
      await project.cleanup();
    }
  });

  it("fork of a missing parent, and into a taken name, are refused before anything is made", async () => {
    const { project, p, core, cleanup } = await setup({ data: "backup" });
    try {
      await core.create("dev");
      const mark = emu.exchanges.length;
      const missing = await expectProviderError(core.fork("nope", "alice"), p, "E_ENV_NOT_FOUND");
      expect(missing.message).toContain(`acme/shop/${project.context.project}-nope does not exist`);
      await core.fork("dev", "alice");
      const second = emu.exchanges.length;
      await expectProviderError(core.fork("dev", "alice"), p, "E_ENV_EXISTS");
      expect(exchangesSince(second).filter((e) => e.method === "POST")).toEqual([]);
      expect(exchangesSince(mark).filter((e) => e.operation === "create_backup")).toHaveLength(1);
    } finally {
      await cleanup();
    }
  });
});

const LIVE = [
  "PLANETSCALE_SERVICE_TOKEN_ID",
  "PLANETSCALE_SERVICE_TOKEN",
  "PLANETSCALE_ORG",
  "PLANETSCALE_DATABASE",
];
const guard = liveGuard({ vendor: "PlanetScale", provider: "planetscale", credentials: LIVE });

describeLive(guard, `planetscale provider, live (needs ${LIVE.join(", ")})`, () => {
  it("forks the default branch, connects with the env's credential, removes it", async () => {
    const project = await tempProject();
    const p = provider(
      optionsSchema.parse({
        organization: process.env.PLANETSCALE_ORG,
        database: process.env.PLANETSCALE_DATABASE,
      }),
      project.context,
    );
    let dev: ResourceInfo | null = null;
    try {
      const [finding] = await p.doctor!(project.op);
      expect(finding?.level, finding?.message).toBe("ok");
      dev = await p.adopt!(envRef(project, "dev"), { branch: "main" }, project.op);
      const alice = await p.fork(envRef(project, "dev"), envRef(project, "alice"), project.op, {
        parent: dev!,
        expiresAt: new Date(Date.now() + 3600_000),
      });
      const url = alice.secretVars!.DATABASE_URL!;
      const rows = url.startsWith("mysql:")
        ? await mysqlQuery(url, undefined, "SELECT 1 AS one")
        : await pgQuery(url, undefined, "SELECT 1 AS one");
      expect(rows).toEqual([{ one: 1 }]);
      await p.remove(envRef(project, "alice"), project.op, alice);
      expect(await p.describe(envRef(project, "alice"), project.op, alice)).toBeNull();
    } finally {
      // Whatever happened above, nothing of this run stays on PlanetScale: its branches, and the
      // password made on the adopted main (the branch itself is never deleted).
      for (const name of await p.list(project.op).catch(() => [] as string[])) {
        await coreDriver(p, project)
          .remove(name)
          .catch(() => undefined);
      }
      if (dev) await p.remove(envRef(project, "dev"), project.op, dev).catch(() => undefined);
      await project.cleanup();
    }
  }, 900_000);
});
