/**
 * The `neon` provider against the Neon emulator (test/emulators/neon.ts), whose branches are real
 * databases on a local PostgreSQL: the shared conformance suite unchanged (a fork sees its parent's
 * rows, writes do not cross), then what only Neon has — adopted roots, `parent_timestamp` and
 * `expires_at`, operations, 423/429, and bad input. Every request the provider sends and every answer
 * the emulator gives is checked against Neon's OpenAPI description; `afterAll` asserts no violation.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import provider from "../../../src/providers/database/neon.js";
import { optionsSchema } from "../../../src/providers/database/neon.options.js";
import type { DatabaseProvider } from "../../../src/providers/types.js";
import { coreDriver, databaseSuite, expectProviderError, tempProject } from "../../../src/testing/index.js";
import type { TestProject } from "../../../src/testing/index.js";
import { start, type NeonEmulator } from "../../emulators/neon.js";
import { testClock } from "../../helpers/clock.js";
import { pgQuery as query } from "../../helpers/pg-query.js";
import { freePort, startPostgres, type PgServer } from "../../helpers/postgres-server.js";

// The provider's polls and backoffs sleep on this clock, the emulator's operations run on it: an
// operation "of 10 s" is polled as Neon's would be, without anyone waiting for it.
const clock = testClock();
let server: PgServer;
let emulator: NeonEmulator;
const saved = { ...process.env };
beforeAll(async () => {
  server = await startPostgres({ settings: { fsync: "off" } });
  emulator = await start({ pgUrl: server.url, clock });
  // The production code path: the API URL from FORKSTACK_NEON_API_URL, the key from NEON_API_KEY.
  Object.assign(process.env, emulator.variables);
}, 120_000);
afterAll(async () => {
  for (const key of Object.keys(emulator?.variables ?? {})) {
    if (saved[key] === undefined) delete process.env[key];
    else process.env[key] = saved[key];
  }
  const violations = emulator?.violations.splice(0) ?? [];
  await emulator?.close();
  await server?.stop();
  expect(violations).toEqual([]);
});

const make = (project: TestProject, extra: Record<string, unknown> = {}): DatabaseProvider =>
  provider(optionsSchema.parse(extra), { ...project.context, clock });

/** What the emulator holds for a name, or undefined. */
const held = (name: string) => emulator.branches().find((b) => b.name === name);
const since = (mark: number) => emulator.exchanges.slice(mark);

describe("neon provider", () => {
  databaseSuite({
    provider: (project) => make(project),
    // Another branch prefix, as after an edit of `database.branchPrefix`.
    reconfigured: (project) => make(project, { branchPrefix: "renamed/" }),
    dialect: "postgres",
    query,
    timeout: 60_000,
    skip: [
      {
        reason:
          "the emulator accepts parent_timestamp but copies the parent's current data (it keeps no history); the live test runs it",
        tests: ["a point-in-time fork sees the parent as it was at that moment"],
      },
    ],
  });
});

describe("neon provider: roots, history, expiry, operations", () => {
  it("adopts an existing branch as a root and never deletes it; a root without one is schema-only", async () => {
    const project = await tempProject();
    const p = make(project);
    const core = coreDriver(p, project);
    const main = await p.adopt!(core.env("dev"), { branch: "main" }, project.op);
    expect(main?.data).toMatchObject({ branch: "main", databaseName: "neondb", roleName: "neondb_owner" });
    const mainUrl = main!.secretVars!.DATABASE_URL!;
    await query(mainUrl, undefined, "CREATE TABLE seeded (v text)");
    await query(mainUrl, undefined, "INSERT INTO seeded VALUES ('main row')");
    try {
      // By id too; a ref that names nothing is null (the core then says the config is wrong).
      const byId = await p.adopt!(core.env("dev"), { branch: held("main")!.id }, project.op);
      expect(byId?.location).toBe(main!.location);
      expect(await p.adopt!(core.env("dev"), { branch: "no-such-branch" }, project.op)).toBeNull();
      expect(await p.adopt!(core.env("prod"), undefined, project.op)).toBeNull();
      await expectProviderError(
        p.adopt!(core.env("dev"), { database: "main" }, project.op),
        p,
        "E_CONFIG_INVALID",
      );

      // A fork of the adopted root sees its rows; deleting everything leaves main in place.
      const alice = await p.fork(core.env("dev"), core.env("alice"), project.op, { parent: main! });
      expect(held(`${project.context.project}/alice`)?.parentId).toBe(held("main")!.id);
      expect(await query(alice.secretVars!.DATABASE_URL!, undefined, "SELECT v FROM seeded")).toEqual([
        { v: "main row" },
      ]);
      await p.remove(core.env("alice"), project.op, alice);
      await p.remove(core.env("dev"), project.op, main!);
      // Without a record nothing is removed; by what the target names (dev's own branch), main neither.
      await expectProviderError(p.remove(core.env("dev"), project.op), p, "E_NO_RECORD");
      await p.remove(core.env("dev"), project.op, core.target("dev"));
      expect(held("main")).toMatchObject({ isDefault: true });
      expect(await p.list(project.op)).toEqual([]);

      // A root with no ref: its own branch with main's schema and none of its rows.
      const dev = await coreDriver(p, project).create("dev");
      expect(dev.method).toBe("empty");
      expect(held(`${project.context.project}/dev`)).toMatchObject({ initSource: "schema-only" });
      expect(held(`${project.context.project}/dev`)?.parentId).toBeUndefined();
      expect(
        await query(dev.secretVars!.DATABASE_URL!, undefined, "SELECT count(*)::int AS n FROM seeded"),
      ).toEqual([{ n: 0 }]);
      await p.remove(core.env("dev"), project.op, dev);
      expect(held(`${project.context.project}/dev`)).toBeUndefined();
    } finally {
      await query(mainUrl, undefined, "DROP TABLE IF EXISTS seeded");
      await project.cleanup();
    }
  });

  it("--at sends parent_timestamp, --ttl sends expires_at, and operations are polled until finished", async () => {
    const project = await tempProject();
    const p = make(project);
    const core = coreDriver(p, project);
    try {
      await core.create("dev");
      // A moment on the clock the emulator keeps (it is ahead of the wall clock by every skipped wait).
      const at = new Date(clock.now());
      emulator.setOperationDelay(10_000); // Neon's operations take seconds: they are polled
      const expiresAt = new Date(Date.now() + 2 * 3600_000);
      const mark = emulator.exchanges.length;
      const info = await p.fork(core.env("dev"), core.env("pr-1"), project.op, {
        parent: core.recorded("dev")!,
        at,
        expiresAt,
      });
      expect(info.method).toBe("native");
      const body = emulator.createRequests.at(-1) as {
        branch: Record<string, unknown>;
        endpoints: unknown[];
      };
      expect(body.branch).toMatchObject({
        name: `${project.context.project}/pr-1`,
        parent_id: core.recorded("dev")!.data!.branchId,
        parent_timestamp: at.toISOString().replace(/\.\d{3}Z$/, "Z"),
        expires_at: expiresAt.toISOString().replace(/\.\d{3}Z$/, "Z"),
      });
      expect(body.endpoints).toEqual([{ type: "read_write" }]);
      emulator.setOperationDelay(100);
      // Both operations (create_branch, start_compute) were read until they finished, before the return:
      // more than once each, the provider's clock moving on by its growing interval in between.
      const polls = since(mark).filter((e) => e.operation === "getProjectOperation");
      expect(polls.length).toBeGreaterThanOrEqual(4);
      // Before the POST: the parent read and the child's name looked up (at once); the URI comes
      // with the create answer, so no connection_uri request.
      const first = since(mark).findIndex((e) => e.operation === "createProjectBranch");
      expect(
        since(mark)
          .slice(0, first)
          .map((e) => e.operation)
          .sort(),
      ).toEqual(["getProjectBranch", "listProjectBranches"]);
      expect(since(mark).filter((e) => e.operation === "getConnectionURI")).toEqual([]);
      expect(info.secretVars?.DATABASE_URL).toMatch(/^postgres(ql)?:\/\//);
      expect(info.data?.expiresAt).toBe(expiresAt.toISOString().replace(/\.\d{3}Z$/, "Z"));
      const after = await fetch(
        `${emulator.url}/projects/${emulator.projectId}/branches/${String(info.data!.branchId)}`,
        {
          headers: { authorization: `Bearer ${emulator.apiKey}` },
        },
      );
      expect(((await after.json()) as { branch: { current_state: string } }).branch.current_state).toBe(
        "ready",
      );

      // Neon does not branch from an expiring branch: refused before any POST.
      const before = emulator.createRequests.length;
      await expectProviderError(core.fork("pr-1", "pr-1-child"), p, "E_UNSUPPORTED");
      expect(emulator.createRequests.length).toBe(before);
    } finally {
      await project.cleanup();
    }
  });

  it("a --ttl past Neon's 30 days sets no expires_at and says gc will delete it", async () => {
    const project = await tempProject();
    const p = make(project);
    const core = coreDriver(p, project);
    try {
      await core.create("dev");
      await p.fork(core.env("dev"), core.env("long"), project.op, {
        parent: core.recorded("dev")!,
        expiresAt: new Date(Date.now() + 40 * 86_400_000),
      });
      expect((emulator.createRequests.at(-1) as { branch: object }).branch).not.toHaveProperty("expires_at");
      expect(project.logs.some((l) => l.level === "warn" && l.message.includes("at most 30 days"))).toBe(
        true,
      );
    } finally {
      await core.remove("long");
      await core.remove("dev");
      await project.cleanup();
    }
  });

  it("a 423 Locked and a 429 with Retry-After are retried, then the fork succeeds", async () => {
    const project = await tempProject();
    const p = make(project);
    const core = coreDriver(p, project);
    try {
      await core.create("dev");
      const mark = emulator.exchanges.length;
      emulator.fault({
        match: /^POST \/projects\/[^/]+\/branches$/,
        status: 423,
        body: { code: "", message: "project already has running operations" },
      });
      emulator.fault({
        match: /^GET \/projects\/[^/]+\/operations\//,
        status: 429,
        headers: { "retry-after": "0" },
        body: { code: "", message: "rate limit exceeded" },
      });
      const info = await core.fork("dev", "alice");
      expect(info.method).toBe("native");
      const posts = since(mark).filter((e) => e.method === "POST");
      expect(posts.map((e) => e.status)).toEqual([423, 201]);
      expect(since(mark).some((e) => e.status === 429)).toBe(true);
    } finally {
      await project.cleanup();
    }
  });

  it("the emulator itself answers 423 while an operation runs in the project", async () => {
    const project = await tempProject();
    const p = make(project);
    try {
      const dev = await coreDriver(p, project).create("dev");
      const post = (name: string) =>
        fetch(`${emulator.url}/projects/${emulator.projectId}/branches`, {
          method: "POST",
          headers: { authorization: `Bearer ${emulator.apiKey}`, "content-type": "application/json" },
          body: JSON.stringify({ branch: { name, parent_id: dev.data!.branchId } }),
        });
      emulator.setOperationDelay(60_000);
      const first = await post(`${project.context.project}/a`);
      emulator.setOperationDelay(100);
      expect(first.status).toBe(201);
      const second = await post(`${project.context.project}/b`);
      expect(second.status).toBe(423);
      const body = (await second.json()) as { code: string; message: string; request_id: string };
      expect(body.message).toMatch(/running create_branch operation/);
      expect(second.headers.get("x-request-id")).toBe(body.request_id);
      clock.advance(60_000); // the first operation has finished
      expect((await post(`${project.context.project}/b`)).status).toBe(201);
      expect((await post(`${project.context.project}/b`)).status).toBe(409);
    } finally {
      // Through the provider, by what its target names for each (no record holds them).
      const core = coreDriver(p, project);
      for (const name of ["a", "b"]) {
        clock.advance(100); // b's operation has finished
        await core.remove(name);
      }
      await core.remove("dev");
      await project.cleanup();
    }
  });
});

describe("neon provider: bad input", () => {
  it("a missing NEON_API_KEY names the variable; a wrong one is E_PROVIDER_AUTH without the key", async () => {
    const project = await tempProject();
    try {
      delete process.env.NEON_API_KEY;
      const unset = make(project);
      const missing = await expectProviderError(unset.list(project.op), unset, "E_PROVIDER_AUTH");
      expect(missing.message).toContain("NEON_API_KEY is not set");
      process.env.NEON_API_KEY = "napi_wrong-key-value";
      const wrong = make(project);
      const error = await expectProviderError(wrong.list(project.op), wrong, "E_PROVIDER_AUTH");
      expect(error.message).toContain("NEON_API_KEY was rejected");
      expect(error.message).not.toContain("napi_wrong-key-value");
      const doctor = await wrong.doctor!(project.op);
      expect(doctor).toEqual([expect.objectContaining({ level: "error" })]);
      expect(doctor[0]!.message).toContain("NEON_API_KEY");
      // Another variable, named in the config.
      process.env.FS_TEST_NEON = "also-wrong";
      const other = make(project, { apiKey: { env: "FS_TEST_NEON" } });
      expect((await expectProviderError(other.list(project.op), other, "E_PROVIDER_AUTH")).message).toContain(
        "FS_TEST_NEON",
      );
    } finally {
      process.env.NEON_API_KEY = emulator.apiKey;
      delete process.env.FS_TEST_NEON;
      await project.cleanup();
    }
  });

  it("the config refuses a key written into it, and a missing project id names NEON_PROJECT_ID", async () => {
    const parsed = optionsSchema.safeParse({ apiKey: "napi_secret" });
    expect(parsed.success).toBe(false);
    expect(parsed.error?.issues[0]?.message).toContain('env("NEON_API_KEY")');
    expect(JSON.stringify(parsed.error?.issues)).not.toContain("napi_secret");
    const project = await tempProject();
    try {
      delete process.env.NEON_PROJECT_ID;
      const p = make(project);
      const error = await expectProviderError(p.list(project.op), p, "E_CONFIG_INVALID");
      expect(error.message).toContain("NEON_PROJECT_ID");
    } finally {
      process.env.NEON_PROJECT_ID = emulator.projectId;
      await project.cleanup();
    }
  });

  it("an unreachable API names its URL; an unknown project is reported by doctor with the scope hint", async () => {
    const project = await tempProject();
    try {
      const port = await freePort();
      const p = make(project, { baseUrl: `http://127.0.0.1:${port}/api/v2` });
      const error = await expectProviderError(p.list(project.op), p, "E_SERVER");
      expect(error.message).toContain(`127.0.0.1:${port}`);

      const ok = await make(project).doctor!(project.op);
      expect(ok.map((f) => f.level)).toEqual(["ok", "ok"]);
      expect(ok[0]!.message).toContain("NEON_API_KEY");
      expect(ok[1]!.message).toContain("24 h");
      const lost = await make(project, { projectId: "no-such-project" }).doctor!(project.op);
      expect(lost[0]!.level).toBe("error");
      expect(lost[0]!.message).toMatch(/no-such-project was not found .*project-scoped key/);
    } finally {
      await project.cleanup();
    }
  });

  it("a vendor error shows Neon's message and request id", async () => {
    const project = await tempProject();
    const p = make(project);
    const core = coreDriver(p, project);
    try {
      await core.create("dev");
      // Older than the history window: Neon's 400, made E_UNSUPPORTED with its message and request id.
      const error = await expectProviderError(
        core.fork("dev", "old", { at: new Date(Date.now() - 3 * 86_400_000) }),
        p,
        "E_UNSUPPORTED",
      );
      expect(error.message).toContain("outside the history window");
      expect(error.message).toMatch(/request id [0-9a-f-]{36}/);
      emulator.fault({
        match: /^POST /,
        status: 402,
        headers: { "x-request-id": "req-from-body" },
        body: {
          code: "BRANCHES_LIMIT_EXCEEDED",
          message: "branches limit exceeded",
          request_id: "req-from-body",
        },
      });
      const limit = await expectProviderError(core.fork("dev", "over"), p, "E_PROVIDER_API");
      expect(limit.message).toContain("branches limit exceeded");
      expect(limit.message).toContain("req-from-body");
      expect(await core.list()).toEqual(["dev"]);
    } finally {
      await project.cleanup();
    }
  });

  it("a branch name Neon would refuse is refused by checkName, before anything is sent", async () => {
    const project = await tempProject();
    const p = make(project, { branchPrefix: `${"x".repeat(220)}/` });
    expect(p.checkName!({ project: "shop", name: "a".repeat(30) })).toEqual([]);
    const problems = p.checkName!({ project: "shop", name: "a".repeat(31) });
    expect(problems[0]).toContain("257 characters; Neon allows 256");
    expect(optionsSchema.safeParse({ branchPrefix: "/leading" }).success).toBe(false);
    await project.cleanup();
  });
});
