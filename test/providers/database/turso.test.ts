/**
 * The `turso` provider against the Turso emulator (test/emulators/turso.ts), on the production code
 * path: the API URL and the database URL are overridden by FORKSTACK_TURSO_API_URL and
 * FORKSTACK_TURSO_DB_URL, nothing else. Every request the provider sends and every answer the
 * emulator gives is checked against Turso's OpenAPI description. The emulator's databases are real
 * SQLite files served over Hrana, so the suite's data checks run through `@libsql/client` as an app's
 * would. Then what only this backend has: tokens, groups, adoption, encrypted parents, bad input.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { ProviderError } from "../../../src/errors.js";
import provider from "../../../src/providers/database/turso.js";
import { optionsSchema } from "../../../src/providers/database/turso.options.js";
import type { DatabaseProvider } from "../../../src/providers/types.js";
import { checkEnvName } from "../../../src/core/names.js";
import {
  coreDriver,
  databaseSuite,
  envRef,
  expectProviderError,
  tempProject,
  type TestProject,
} from "../../../src/testing/index.js";
import { start, type TursoEmulator } from "../../emulators/turso.js";
import { testClock } from "../../helpers/clock.js";
import { libsqlQuery } from "./_turso.js";

// The emulator's clock: a token's expiry is seen by moving it on, never by waiting.
const clock = testClock();
let emulator: TursoEmulator;
const saved = { ...process.env };
beforeAll(async () => {
  emulator = await start({ clock });
  Object.assign(process.env, emulator.variables);
});
afterAll(async () => {
  process.env = saved;
  await emulator?.close();
  expect(emulator?.violations ?? []).toEqual([]);
});

const make = (project: TestProject, extra: Record<string, unknown> = {}): DatabaseProvider =>
  provider(optionsSchema.parse(extra), project.context);

describe("turso provider", () => {
  databaseSuite({
    provider: (project) => make(project),
    dialect: "sqlite",
    query: libsqlQuery,
    timeout: 60_000,
  });
});

describe("turso provider: tokens, groups, adoption", () => {
  const projects: TestProject[] = [];
  const fresh = async (extra: Record<string, unknown> = {}) => {
    const project = await tempProject();
    projects.push(project);
    const p = make(project, extra);
    return { project, p, core: coreDriver(p, project), env: (name: string) => envRef(project, name) };
  };
  afterEach(async () => {
    for (const project of projects.splice(0)) {
      const p = make(project);
      for (const name of await p.list(project.op)) await coreDriver(p, project).remove(name);
      await project.cleanup();
    }
  });

  it("mints one token per env with an expiry, and the token is dead once the env is deleted", async () => {
    const { project, core } = await fresh();
    const dev = await core.create("dev");
    const expiresAt = new Date(Date.now() + 2 * 86_400_000);
    const alice = await make(project).fork(envRef(project, "dev"), envRef(project, "alice"), project.op, {
      parent: dev,
      expiresAt,
    });
    const minted = emulator.tokens.filter((t) => t.database.startsWith(`${project.context.project}-`));
    expect(minted.map((t) => [t.database, t.authorization])).toEqual([
      [`${project.context.project}-dev`, "full-access"],
      [`${project.context.project}-alice`, "full-access"],
    ]);
    // No --ttl: the env's token lives as long as the database. With one: an hour beyond the env.
    expect(minted[0]!.expiration).toBe("never");
    expect(minted[1]!.expiration).toMatch(/^2d1h(1m)?$/);
    expect(alice.data?.tokenExpiresAt).toEqual(expect.any(String));
    const token = alice.secretVars!.DATABASE_AUTH_TOKEN!;
    expect(alice.vars).not.toHaveProperty("DATABASE_AUTH_TOKEN");
    expect(token).not.toBe(dev.secretVars!.DATABASE_AUTH_TOKEN);
    expect(emulator.tokenWorks(token)).toBe(true);
    await libsqlQuery(alice.vars.DATABASE_URL!, token, "CREATE TABLE t (v TEXT)");

    const before = emulator.exchanges.length;
    await make(project).remove(envRef(project, "alice"), project.op, alice);
    // The database is looked up first: only the very one alice recorded (by its id) is deleted.
    expect(emulator.exchanges.slice(before).map((e) => `${e.method} ${e.operation} ${e.status}`)).toEqual([
      "GET getDatabase 200",
      "POST invalidateDatabaseTokens 200",
      "DELETE deleteDatabase 200",
    ]);
    expect(emulator.tokenWorks(token)).toBe(false);
    await expect(libsqlQuery(alice.vars.DATABASE_URL!, token, "SELECT 1")).rejects.toThrow();
    // The parent's token still works.
    expect(emulator.tokenWorks(dev.secretVars!.DATABASE_AUTH_TOKEN!)).toBe(true);
  });

  it("honours tokenExpiration, and the emulator refuses an expired token", async () => {
    const { core } = await fresh({ tokenExpiration: "1s" });
    const dev = await core.create("dev");
    expect(emulator.tokens.at(-1)!.expiration).toBe("1s");
    // Two seconds later on the emulator's clock, then back: the file's other tests compare the
    // emulator's times with the wall clock (point-in-time forks).
    clock.advance(2_000);
    try {
      expect(emulator.tokenWorks(dev.secretVars!.DATABASE_AUTH_TOKEN!)).toBe(false);
      await expect(
        libsqlQuery(dev.vars.DATABASE_URL!, dev.secretVars!.DATABASE_AUTH_TOKEN, "SELECT 1"),
      ).rejects.toThrow(/401|nauthori/);
    } finally {
      clock.advance(-2_000);
    }
  });

  it("forks into the parent's group whatever the configured group", async () => {
    const made = await fetch(`${emulator.url}/v1/organizations/acme/groups`, {
      method: "POST",
      headers: {
        authorization: `Bearer ${emulator.variables.TURSO_API_TOKEN}`,
        "content-type": "application/json",
      },
      body: JSON.stringify({ name: "staging", location: "aws-us-east-1" }),
    });
    expect(made.status).toBe(200);
    const { project, core } = await fresh({ group: "staging" });
    const dev = await core.create("dev");
    expect(dev.data?.group).toBe("staging");
    const other = coreDriver(make(project, { group: "default" }), project);
    // A driver with no record of dev: the provider finds its group from the API.
    const alice = await other.fork("dev", "alice");
    expect(alice.data?.group).toBe("staging");
    expect(emulator.databases.get(`acme/${project.context.project}-alice`)?.group).toBe("staging");
  });

  it("adopts an existing database as a root, never rotates nor deletes it", async () => {
    const { project, p, env } = await fresh();
    const existing = emulator.addDatabase(`${project.context.project}x-main`);
    expect(await p.adopt!(env("dev"), { database: "nope-nope" }, project.op)).toBeNull();
    await expectProviderError(p.adopt!(env("dev"), { branch: "main" }, project.op), p, "E_CONFIG_INVALID");
    const dev = await p.adopt!(env("dev"), { database: existing.name }, project.op);
    expect(dev?.location).toBe(`libsql://${existing.hostname}`);
    expect(dev?.data).toMatchObject({ database: existing.name, adopted: true });
    await libsqlQuery(
      dev!.vars.DATABASE_URL!,
      dev!.secretVars!.DATABASE_AUTH_TOKEN,
      "CREATE TABLE t (v TEXT)",
    );
    await libsqlQuery(
      dev!.vars.DATABASE_URL!,
      dev!.secretVars!.DATABASE_AUTH_TOKEN,
      "INSERT INTO t VALUES ('main')",
    );
    const alice = await p.fork(env("dev"), env("alice"), project.op, { parent: dev! });
    expect(
      await libsqlQuery(alice.vars.DATABASE_URL!, alice.secretVars!.DATABASE_AUTH_TOKEN, "SELECT v FROM t"),
    ).toEqual([{ v: "main" }]);
    const before = emulator.exchanges.length;
    await p.remove(env("dev"), project.op, dev!);
    expect(emulator.exchanges.length).toBe(before);
    expect(emulator.databases.has(`acme/${existing.name}`)).toBe(true);
    expect(emulator.tokenWorks(dev!.secretVars!.DATABASE_AUTH_TOKEN!)).toBe(true);
    // Not this project's by name: list never reports it.
    expect(await p.list(project.op)).toEqual(["alice"]);
    await fetch(`${emulator.url}/v1/organizations/acme/databases/${existing.name}`, {
      method: "DELETE",
      headers: { authorization: `Bearer ${emulator.variables.TURSO_API_TOKEN}` },
    });
  });

  it("refuses clearly to fork an encrypted parent, and makes nothing", async () => {
    const { project, p, env } = await fresh();
    const secret = emulator.addDatabase(`${project.context.project}-vault`, { encrypted: true });
    const dev = await p.adopt!(env("dev"), { database: secret.name }, project.op);
    const error = await expectProviderError(
      p.fork(env("dev"), env("alice"), project.op, { parent: dev! }),
      p,
      "E_UNSUPPORTED",
    );
    expect(error.message).toContain("encrypted");
    expect(error.hint).toContain("roots.<env>.database");
    expect(await p.describe(env("alice"), project.op)).toBeNull();
    await fetch(`${emulator.url}/v1/organizations/acme/databases/${secret.name}`, {
      method: "DELETE",
      headers: { authorization: `Bearer ${emulator.variables.TURSO_API_TOKEN}` },
    });
  });

  it("describes by name alone with the token this machine minted, and without it elsewhere", async () => {
    const { project, core } = await fresh();
    const dev = await core.create("dev");
    const again = await make(project).describe(envRef(project, "dev"), project.op);
    expect(again?.secretVars).toEqual(dev.secretVars);
    const elsewhere = await tempProject({ project: project.context.project });
    try {
      const seen = await make(elsewhere).describe(envRef(elsewhere, "dev"), elsewhere.op);
      expect(seen?.vars).toEqual(dev.vars);
      expect(seen?.secretVars).toBeUndefined();
    } finally {
      await elsewhere.cleanup();
    }
  });

  it("list reports only this project's databases, and describeMany answers in one request", async () => {
    const { project, p, core } = await fresh();
    await core.create("dev");
    await core.fork("dev", "alice");
    const prefix = project.context.project;
    const strays = [emulator.addDatabase(`${prefix}x-dev`), emulator.addDatabase(`other-${prefix}-dev`)];
    try {
      expect(await p.list(project.op)).toEqual(["alice", "dev"]);
      const before = emulator.exchanges.length;
      const many = await p.describeMany!(
        ["dev", "alice", "ghost"].map((n) => envRef(project, n)),
        project.op,
      );
      expect(emulator.exchanges.length).toBe(before + 1);
      expect(many.map((i) => i?.data?.database ?? null)).toEqual([`${prefix}-dev`, `${prefix}-alice`, null]);
      expect(many[0]?.secretVars?.DATABASE_AUTH_TOKEN).toEqual(expect.any(String));
    } finally {
      for (const s of strays) emulator.databases.delete(`acme/${s.name}`);
    }
  });
});

describe("turso provider: bad input and failures", () => {
  let project: TestProject;
  beforeAll(async () => {
    project = await tempProject();
  });
  afterAll(async () => {
    const p = make(project);
    for (const name of await p.list(project.op)) await coreDriver(p, project).remove(name);
    await project.cleanup();
  });
  const env = (name: string) => envRef(project, name);
  const withEnv = async <T>(vars: Record<string, string | undefined>, fn: () => Promise<T>) => {
    const before = { ...process.env };
    for (const [k, v] of Object.entries(vars)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
    try {
      return await fn();
    } finally {
      process.env = before;
    }
  };

  it("a missing TURSO_API_TOKEN is named, before any request", async () => {
    const before = emulator.exchanges.length;
    const error = await withEnv({ TURSO_API_TOKEN: undefined }, () =>
      expectProviderError(make(project).create(env("dev"), project.op), make(project), "E_PROVIDER_AUTH"),
    );
    expect(error.message).toContain("TURSO_API_TOKEN is not set");
    expect(emulator.exchanges.length).toBe(before);
  });

  it("a wrong token is E_PROVIDER_AUTH naming the provider and the variable, never the value", async () => {
    const error = await withEnv({ TURSO_API_TOKEN: "wrong-token-123456" }, () =>
      expectProviderError(make(project).create(env("dev"), project.op), make(project), "E_PROVIDER_AUTH"),
    );
    expect(error.message).toMatch(/^\[turso\] .*TURSO_API_TOKEN was rejected \(401/);
    expect(error.message).toContain("token is invalid or expired");
    expect(error.message).not.toContain("wrong-token-123456");
    // A custom variable is named too.
    const custom = await withEnv({ MY_TURSO: "nope-nope-nope" }, () =>
      expectProviderError(
        make(project, { apiToken: { env: "MY_TURSO" } }).list(project.op),
        make(project),
        "E_PROVIDER_AUTH",
      ),
    );
    expect(custom.message).toContain("MY_TURSO");
  });

  it("doctor checks the token and the organization in one call", async () => {
    const before = emulator.exchanges.length;
    const ok = await make(project).doctor!(project.op);
    expect(emulator.exchanges.slice(before).map((e) => e.operation)).toEqual(["getOrganization"]);
    expect(ok[0]).toMatchObject({
      level: "ok",
      message: expect.stringContaining("organization acme (plan developer)"),
    });
    const bad = await withEnv({ TURSO_API_TOKEN: "wrong-token-123456" }, () =>
      make(project).doctor!(project.op),
    );
    expect(bad).toEqual([
      { level: "error", message: expect.stringContaining("TURSO_API_TOKEN was rejected") },
    ]);
    const noOrg = await make(project, { organization: "nobody" }).doctor!(project.op);
    expect(noOrg[0]!.message).toContain("organization nobody not found");
  });

  it("a missing organization is a config error naming TURSO_ORG", async () => {
    await withEnv({ TURSO_ORG: undefined }, async () => {
      const error = await expectProviderError(
        make(project).list(project.op),
        make(project),
        "E_CONFIG_INVALID",
      );
      expect(error.message).toContain("TURSO_ORG");
    });
  });

  it("an unreachable API names the URL and where it came from", async () => {
    const { createServer } = await import("node:net");
    const server = createServer();
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const port = (server.address() as { port: number }).port;
    await new Promise<void>((r) => server.close(() => r()));
    const error = await withEnv({ FORKSTACK_TURSO_API_URL: `http://127.0.0.1:${port}` }, () =>
      expectProviderError(make(project).list(project.op), make(project), "E_SERVER"),
    );
    expect(error.message).toContain(`127.0.0.1:${port}`);
    expect(error.message).toContain("ECONNREFUSED");
    expect(error.hint).toContain("FORKSTACK_TURSO_API_URL");
  });

  it("a vendor error is shown with its message and request id", async () => {
    emulator.fault({
      match: /^POST .*\/databases$/,
      status: 400,
      body: { error: "size_limit is above your plan" },
    });
    const error = await expectProviderError(
      make(project).create(env("dev"), project.op),
      make(project),
      "E_PROVIDER_API",
    );
    expect(error.message).toMatch(/size_limit is above your plan \(request id req_[a-z0-9]+\)/);
    expect(error.message).toContain(`create database ${project.context.project}-dev`);
  });

  it("a 429 with Retry-After is waited out and retried", async () => {
    emulator.fault({
      match: /^POST .*\/databases$/,
      status: 429,
      headers: { "retry-after": "0" },
      body: { error: "rate limited" },
    });
    const before = emulator.exchanges.length;
    const dev = await make(project).create(env("dev"), project.op);
    expect(emulator.exchanges.slice(before, before + 2).map((e) => e.status)).toEqual([429, 200]);
    expect(project.logs.some((l) => /429, retry 2\/5 in 0 s \(Retry-After\)/.test(l.message))).toBe(true);
    await make(project).remove(env("dev"), project.op, dev);
  });

  it("a 409 or a 422 'not available' is E_ENV_EXISTS", async () => {
    emulator.fault({
      match: /^POST .*\/databases$/,
      status: 422,
      body: { error: "database name is not available" },
    });
    await expectProviderError(make(project).create(env("dev"), project.op), make(project), "E_ENV_EXISTS");
    const dev = await make(project).create(env("dev"), project.op);
    await expectProviderError(make(project).create(env("dev"), project.op), make(project), "E_ENV_EXISTS");
    await make(project).remove(env("dev"), project.op, dev);
  });

  it("a name Turso would refuse is refused before any request", async () => {
    // A long project name (the config allows 40) and a long env name (48) exceed Turso's 64.
    const long = await tempProject({ project: "p".repeat(30) });
    try {
      const p = make(long);
      const before = emulator.exchanges.length;
      const name = "a".repeat(40);
      expect(p.checkName!(envRef(long, name))).toEqual([expect.stringContaining("Turso allows 64")]);
      expect(p.checkName!(envRef(long, "alice"))).toEqual([]);
      expect(() => checkEnvName(name, long.context.project, [p])).toThrow(
        /would be 71 characters; Turso allows 64/,
      );
      // The hostname's first label, `<database>-<org>`, must fit in 63.
      const org = "o".repeat(20);
      expect(make(long, { organization: org }).checkName!(envRef(long, "a".repeat(20)))).toEqual([
        expect.stringContaining("DNS label holds 63"),
      ]);
      expect(emulator.exchanges.length).toBe(before);
    } finally {
      await long.cleanup();
    }
  });

  it("a token that may not rotate credentials still deletes, with a warning", async () => {
    const dev = await make(project).create(env("dev"), project.op);
    emulator.fault({
      match: /^POST .*\/auth\/rotate$/,
      status: 403,
      body: { error: "missing scope db:rotate-creds" },
    });
    await make(project).remove(env("dev"), project.op, dev);
    expect(emulator.databases.has(`acme/${project.context.project}-dev`)).toBe(false);
    const warning = project.logs.find((l) => l.level === "warn" && l.message.includes("db:rotate-creds"));
    expect(warning?.message).toContain("Deleting the database ends its tokens anyway");
    // Any other failure of the rotation stops the delete (nothing is half done).
    const again = await make(project).create(env("dev"), project.op);
    emulator.fault({ match: /^POST .*\/auth\/rotate$/, status: 400, body: { error: "bad request" } });
    await expectProviderError(
      make(project).remove(env("dev"), project.op, again),
      make(project),
      "E_PROVIDER_API",
    );
    expect(emulator.databases.has(`acme/${project.context.project}-dev`)).toBe(true);
    await make(project).remove(env("dev"), project.op, again);
  });

  it("remove deletes only the database the record names: not one made again under its name, nor in another org", async () => {
    const old = await make(project).create(env("dev"), project.op);
    await make(project).remove(env("dev"), project.op, old);
    // Made again since under the same name (another machine, another tool): not the recorded one.
    const again = await make(project).create(env("dev"), project.op);
    await make(project).remove(env("dev"), project.op, old);
    expect(emulator.databases.has(`acme/${project.context.project}-dev`)).toBe(true);
    expect(project.logs.some((l) => l.level === "warn" && l.message.includes("not the one"))).toBe(true);
    // A record from another organization than the config names now: refused, nothing removed.
    const elsewhere = { ...again, data: { ...again.data, organization: "other-org" } };
    const error = await expectProviderError(
      make(project).remove(env("dev"), project.op, elsewhere),
      make(project),
      "E_CONFIG_INVALID",
    );
    expect(error.message).toContain("other-org");
    expect(emulator.databases.has(`acme/${project.context.project}-dev`)).toBe(true);
    await make(project).remove(env("dev"), project.op, again);
    expect(emulator.databases.has(`acme/${project.context.project}-dev`)).toBe(false);
  });

  it("forks from the parent's record without reading the parent, and names a parent deleted since", async () => {
    const dev = await make(project).create(env("dev"), project.op);
    const before = emulator.exchanges.length;
    const alice = await make(project).fork(env("dev"), env("alice"), project.op, { parent: dev });
    expect(emulator.exchanges.slice(before).map((e) => `${e.method} ${e.operation} ${e.status}`)).toEqual([
      "POST createDatabase 200",
      "POST createDatabaseToken 200",
    ]);
    await make(project).remove(env("alice"), project.op, alice);
    await make(project).remove(env("dev"), project.op, dev);
    const error = await expectProviderError(
      make(project).fork(env("dev"), env("bob"), project.op, { parent: dev }),
      make(project),
      "E_ENV_NOT_FOUND",
    );
    expect(error.message).toContain(`"${project.context.project}-dev" does not exist`);
    expect(await make(project).describe(env("bob"), project.op)).toBeNull();
  });

  it("a point in time outside Turso's window is the vendor's refusal", async () => {
    const dev = await make(project).create(env("dev"), project.op);
    const at = new Date(Date.now() - 2 * 86_400_000);
    const error = await expectProviderError(
      make(project).fork(env("dev"), env("old"), project.op, { parent: dev, at }),
      make(project),
      "E_PROVIDER_API",
    );
    expect(error.message).toContain("point-in-time recovery window");
    expect(await make(project).describe(env("old"), project.op)).toBeNull();
    await make(project).remove(env("dev"), project.op, dev);
  });

  it("a fork of a missing parent is E_ENV_NOT_FOUND and an invalid FORKSTACK_TURSO_DB_URL is refused", async () => {
    await expectProviderError(
      make(project).fork(env("ghost"), env("x"), project.op),
      make(project),
      "E_ENV_NOT_FOUND",
    );
    const dev = await make(project).create(env("dev"), project.op);
    const error = await withEnv({ FORKSTACK_TURSO_DB_URL: "ftp://x" }, () =>
      make(project)
        .describe(env("dev"), project.op)
        .then(
          () => undefined,
          (e: unknown) => e,
        ),
    );
    expect(error).toMatchObject({
      code: "E_CONFIG_INVALID",
      message: expect.stringContaining("FORKSTACK_TURSO_DB_URL"),
    });
    expect(error).not.toBeInstanceOf(ProviderError);
    await make(project).remove(env("dev"), project.op, dev);
  });
});
