/**
 * @module testing/suites/lifecycle
 * The lifecycle half of every conformance suite, whatever the resource kind. Each kind's suite supplies
 * a `DataAccess` (how to put and read key/value pairs in an env's resource: SQL for a database,
 * `read`/`write` for secrets, objects for buckets, files for local state) and adds its own checks.
 *
 * Shaped after unstorage's `testDriver` (reference/aesthetics.md §1) with reasoned skips:
 * - a provider's test file may skip tests by name, with a reason that shows in the test title;
 * - tests that need a capability skip themselves from the provider's `flags` (`pointInTime`,
 *   `forksPinParent`, `copyOnWrite`), so the same suite runs unchanged against every backend;
 * - every test gets a fresh project with a unique name, and every env it made is removed through the
 *   provider afterwards, passed or failed: a run against a shared cloud backend leaves nothing behind.
 */
import { afterEach, beforeEach, expect, it } from "vitest";
import type { ProviderError } from "../../errors.js";
import type { Provider, ResourceInfo } from "../../providers/types.js";
import { coreDriver, throughJson, type CoreDriver } from "../core-driver.js";
import { appVars, envRef, tempProject, type TestProject } from "../project.js";

export interface SuiteSkip {
  readonly reason: string;
  readonly tests: readonly string[];
}

export interface SuiteOptions<P extends Provider> {
  /** A fresh provider for a fresh project (each test gets both). Providers that keep no files may ignore it. */
  readonly provider: (project: TestProject) => P | Promise<P>;
  /** Tests to skip by name, each group with the reason shown in the report. */
  readonly skip?: readonly SuiteSkip[];
  /**
   * Milliseconds each test (and each setup and cleanup) may take. Cloud backends make branches and
   * buckets over the network, several per test. @default 120000
   */
  readonly timeout?: number;
  /** Provider-specific tests, sharing the suite's per-test context. */
  readonly additionalTests?: (ctx: SuiteContext<P>) => void;
}

export interface SuiteContext<P extends Provider> {
  readonly provider: P;
  readonly project: TestProject;
  /** The lifecycle calls as the core makes them. */
  readonly core: CoreDriver;
}

/** Put and read key/value data in one env's resource. */
export interface DataAccess {
  put(env: string, key: string, value: string): Promise<void>;
  read(env: string): Promise<Record<string, string>>;
}

/** A suite's test: `unless` returns why this provider cannot run it (from its flags), or undefined. */
export type SuiteTest<P extends Provider> = (
  name: string,
  fn: () => void | Promise<void>,
  unless?: (provider: P) => string | undefined,
) => void;

export const DEFAULT_TIMEOUT_MS = 120_000;

/** Methods a fork may report; `empty` is only for `create`. */
const FORK_METHODS = ["reflink", "copy", "metadata", "native"];

/** Set up the per-test context and cleanup, and return a `test` that honours skips. */
export function setupSuite<P extends Provider>(options: SuiteOptions<P>) {
  const timeout = options.timeout ?? DEFAULT_TIMEOUT_MS;
  let state: { provider?: P; project?: TestProject; core?: CoreDriver } = {};
  const ctx: SuiteContext<P> = {
    get provider() {
      return state.provider!;
    },
    get project() {
      return state.project!;
    },
    get core() {
      return state.core!;
    },
  };
  beforeEach(async () => {
    state.project = await tempProject();
    state.provider = await options.provider(state.project);
    state.core = coreDriver(state.provider, state.project);
  }, timeout);
  afterEach(async () => {
    const { provider, project, core } = state;
    state = {};
    const problems = provider && project && core ? await removeEverything(provider, project, core) : [];
    await provider?.dispose?.();
    await project?.cleanup();
    if (problems.length > 0) {
      throw new Error(
        `Cleanup through the provider failed; resources may be left:\n- ${problems.join("\n- ")}`,
      );
    }
  }, timeout);
  const test: SuiteTest<P> = (name, fn, unless) => {
    const skipped = options.skip?.find((s) => s.tests.includes(name));
    if (skipped) {
      it.skip(`${name} (skipped: ${skipped.reason})`, fn);
      return;
    }
    it(
      name,
      async (t) => {
        const reason = unless?.(state.provider!);
        if (reason) t.skip(reason);
        await fn();
      },
      timeout,
    );
  };
  return { ctx, test };
}

/**
 * Remove every env of the test's project: first the ones the driver made, newest first (forks before
 * their parents, which providers with `forksPinParent` need), with their recorded info; then anything
 * else `list()` still reports (made by a test through the provider directly). The project name is
 * unique to the test, so everything listed is the test's own. Returns what could not be removed.
 */
async function removeEverything(
  provider: Provider,
  project: TestProject,
  core: CoreDriver,
): Promise<string[]> {
  const problems: string[] = [];
  for (const name of core.made().reverse()) {
    await core.remove(name).catch((error: unknown) => problems.push(`remove ${name}: ${messageOf(error)}`));
  }
  for (let pass = 0; pass < 3; pass++) {
    let left: string[];
    try {
      left = await provider.list(project.op);
    } catch (error) {
      problems.push(`list: ${messageOf(error)}`);
      break;
    }
    if (left.length === 0) break;
    // Several passes: with forksPinParent a parent goes only once its forks are gone.
    for (const name of left) {
      await provider.remove(envRef(project, name), project.op).catch((error: unknown) => {
        if (pass === 2) problems.push(`remove ${name}: ${messageOf(error)}`);
      });
    }
  }
  return problems;
}

const messageOf = (error: unknown) => (error instanceof Error ? error.message : String(error));

/**
 * Assert that `promise` rejects with a `ProviderError` (from `forkstack`) of this provider, with `code`.
 * Checked by shape, not `instanceof`: the provider may import a different copy of forkstack than the
 * suite (a provider package with its own dependency).
 */
export async function expectProviderError(
  promise: Promise<unknown>,
  provider: Provider,
  code: string,
): Promise<ProviderError> {
  const error = await promise.then(
    () => expect.fail(`expected a ProviderError with code ${code}, but the call succeeded`),
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(Error);
  expect(error).toMatchObject({ name: "ProviderError", provider: provider.name, code });
  expect((error as Error).message).toContain(`[${provider.name}]`);
  return error as ProviderError;
}

/** Sanity of any ResourceInfo: a location for people, UPPER_CASE variables, JSON-safe throughout. */
export function expectInfo(info: ResourceInfo): void {
  expect(info.location).toEqual(expect.any(String));
  expect(info.location.length).toBeGreaterThan(0);
  for (const [key, value] of Object.entries(appVars(info))) {
    expect(key).toMatch(/^[A-Z][A-Z0-9_]*$/);
    expect(value).toEqual(expect.any(String));
  }
  // A variable is either plain or secret, never both (`forkstack env` would show one and mask the other).
  for (const key of Object.keys(info.secretVars ?? {})) expect(info.vars).not.toHaveProperty(key);
  // The manifest stores it as JSON: `data` must come back unchanged.
  expect(throughJson(info)).toEqual(info);
}

export function lifecycleTests<P extends Provider>(
  ctx: SuiteContext<P>,
  test: SuiteTest<P>,
  data: DataAccess,
): void {
  test("create makes an empty root that describe and list report", async () => {
    expect(await ctx.core.list()).toEqual([]);
    const info = await ctx.core.create("dev");
    expectInfo(info);
    expect(info.method).toBe("empty");
    const described = await ctx.core.describe("dev");
    expect(described?.location).toBe(info.location);
    expect(appVars(described!)).toEqual(appVars(info));
    expect(await ctx.core.list()).toEqual(["dev"]);
    expect(await data.read("dev")).toEqual({});
  });

  test("create refuses an env that exists and changes nothing", async () => {
    await ctx.core.create("dev");
    await data.put("dev", "greeting", "hello");
    await expectProviderError(ctx.core.create("dev"), ctx.provider, "E_ENV_EXISTS");
    expect(await data.read("dev")).toEqual({ greeting: "hello" });
  });

  test("fork gives the child the parent's data as of the fork", async () => {
    await ctx.core.create("dev");
    await data.put("dev", "greeting", "hello");
    const info = await ctx.core.fork("dev", "alice");
    expectInfo(info);
    expect(FORK_METHODS).toContain(info.method);
    if (info.bytesAdded !== undefined) expect(info.bytesAdded).toBeGreaterThanOrEqual(0);
    expect(info.location).not.toBe((await ctx.core.describe("dev"))?.location);
    expect((await ctx.core.describe("alice"))?.location).toBe(info.location);
    expect(await ctx.core.list()).toEqual(["alice", "dev"]);
    expect(await data.read("alice")).toEqual({ greeting: "hello" });
  });

  test("writes on either side of a fork do not reach the other", async () => {
    await ctx.core.create("dev");
    await data.put("dev", "shared", "before");
    await ctx.core.fork("dev", "alice");
    await data.put("alice", "shared", "alice's");
    await data.put("alice", "mine", "alice");
    await data.put("dev", "theirs", "dev");
    expect(await data.read("dev")).toEqual({ shared: "before", theirs: "dev" });
    expect(await data.read("alice")).toEqual({ shared: "alice's", mine: "alice" });
  });

  test("fork into an existing env is refused and changes nothing", async () => {
    await ctx.core.create("dev");
    await data.put("dev", "v", "1");
    await ctx.core.fork("dev", "alice");
    await data.put("alice", "mine", "alice");
    await data.put("dev", "v", "2");
    const before = await ctx.core.describe("alice");
    await expectProviderError(ctx.core.fork("dev", "alice"), ctx.provider, "E_ENV_EXISTS");
    expect(await data.read("alice")).toEqual({ v: "1", mine: "alice" });
    expect(await data.read("dev")).toEqual({ v: "2" });
    expect((await ctx.core.describe("alice"))?.location).toBe(before?.location);
    expect(await ctx.core.list()).toEqual(["alice", "dev"]);
  });

  test("fork of a fork sees both generations' data", async () => {
    await ctx.core.create("dev");
    await data.put("dev", "root", "r");
    await ctx.core.fork("dev", "alice");
    await data.put("alice", "middle", "m");
    await ctx.core.fork("alice", "alice-2");
    await data.put("alice-2", "leaf", "l");
    expect(await data.read("alice-2")).toEqual({ root: "r", middle: "m", leaf: "l" });
    expect(await data.read("alice")).toEqual({ root: "r", middle: "m" });
    expect(await data.read("dev")).toEqual({ root: "r" });
  });

  test("fork of a missing parent is refused and creates nothing", async () => {
    await ctx.core.create("dev");
    await expectProviderError(ctx.core.fork("nope", "alice"), ctx.provider, "E_ENV_NOT_FOUND");
    expect(await ctx.core.describe("alice")).toBeNull();
    expect(await ctx.core.list()).toEqual(["dev"]);
  });

  test("remove is idempotent and leaves the parent and siblings alone", async () => {
    await ctx.core.create("dev");
    await data.put("dev", "k", "v");
    await ctx.core.fork("dev", "alice");
    await ctx.core.fork("dev", "bob");
    await ctx.core.remove("alice");
    expect(await ctx.core.describe("alice")).toBeNull();
    expect(await ctx.core.list()).toEqual(["bob", "dev"]);
    await ctx.core.remove("alice");
    await ctx.core.remove("never-made");
    expect(await data.read("bob")).toEqual({ k: "v" });
    expect(await data.read("dev")).toEqual({ k: "v" });
  });

  test(
    "removing a parent leaves its forks whole",
    async () => {
      await ctx.core.create("dev");
      await data.put("dev", "k", "v");
      await ctx.core.fork("dev", "bob");
      await ctx.core.remove("dev");
      expect(await ctx.core.list()).toEqual(["bob"]);
      expect(await data.read("bob")).toEqual({ k: "v" });
    },
    (p) => (p.flags.forksPinParent ? "forks pin their parent (flags.forksPinParent)" : undefined),
  );

  test(
    "forks pin their parent: removing the forks, then the parent, leaves nothing",
    async () => {
      await ctx.core.create("dev");
      await data.put("dev", "k", "v");
      await ctx.core.fork("dev", "alice");
      await ctx.core.fork("alice", "alice-2");
      await ctx.core.remove("alice-2");
      await ctx.core.remove("alice");
      expect(await data.read("dev")).toEqual({ k: "v" });
      await ctx.core.remove("dev");
      expect(await ctx.core.list()).toEqual([]);
    },
    (p) => (p.flags.forksPinParent ? undefined : "forks are independent (no flags.forksPinParent)"),
  );

  test("describe of a missing env is null", async () => {
    expect(await ctx.core.describe("ghost")).toBeNull();
    await ctx.core.create("dev");
    expect(await ctx.core.describe("ghost")).toBeNull();
  });

  test("a removed name can be forked again", async () => {
    await ctx.core.create("dev");
    await data.put("dev", "k", "1");
    await ctx.core.fork("dev", "alice");
    await data.put("alice", "stale", "x");
    await ctx.core.remove("alice");
    await ctx.core.fork("dev", "alice");
    expect(await data.read("alice")).toEqual({ k: "1" });
  });

  test("describe, fork and remove work from the recorded info, and describe also by name alone", async () => {
    const dev = await ctx.core.create("dev");
    await data.put("dev", "k", "v");
    // What the manifest gives back; the driver passes it as `options.parent` to fork.
    const recordedDev = ctx.core.recorded("dev")!;
    expect(recordedDev).toEqual(throughJson(dev));
    const alice = await ctx.core.fork("dev", "alice");
    expect(await data.read("alice")).toEqual({ k: "v" });
    const recordedAlice = ctx.core.recorded("alice")!;
    const env = (name: string) => envRef(ctx.project, name);
    // With the record (as `doctor` and `env` call it) and without (as the core checks before making one).
    for (const recorded of [recordedAlice, undefined]) {
      const found = await ctx.provider.describe(env("alice"), ctx.project.op, recorded);
      expect(found?.location).toBe(alice.location);
      expect(appVars(found!)).toEqual(appVars(alice));
    }
    await ctx.provider.remove(env("alice"), ctx.project.op, recordedAlice);
    expect(await ctx.provider.describe(env("alice"), ctx.project.op, recordedAlice)).toBeNull();
    expect(await ctx.provider.describe(env("alice"), ctx.project.op)).toBeNull();
    expect(await ctx.core.list()).toEqual(["dev"]);
  });

  test(
    "a point-in-time fork sees the parent as it was at that moment",
    async () => {
      await ctx.core.create("dev");
      await data.put("dev", "early", "1");
      await sleep(POINT_IN_TIME_GAP_MS);
      const at = new Date();
      await sleep(POINT_IN_TIME_GAP_MS);
      await data.put("dev", "late", "2");
      await ctx.core.fork("dev", "alice", { at });
      expect(await data.read("alice")).toEqual({ early: "1" });
      expect(await data.read("dev")).toEqual({ early: "1", late: "2" });
    },
    (p) => (p.flags.pointInTime ? undefined : "no point-in-time forks (flags.pointInTime)"),
  );
}

/** Time on either side of the point-in-time mark, to absorb clock skew between us and the backend. */
const POINT_IN_TIME_GAP_MS = 2_000;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
