/**
 * The lifecycle half of every provider conformance suite, whatever the resource kind. Each kind's suite
 * supplies a `DataAccess` (how to put and read a few key/value pairs in an env's resource: SQL for a
 * database, `read`/`write` for secrets, files for local state) and adds its own checks.
 *
 * Shape after unstorage's `testDriver` plus hono's reasoned skips: tests are named, and a provider's test
 * file may skip some by name with a reason that shows up in the test title.
 */
import { afterEach, beforeEach, expect, it } from "vitest";
import { ForkstackError, ProviderError } from "../../../src/errors.js";
import type { Provider, ResourceInfo } from "../../../src/providers/types.js";
import { coreDriver, tempProject } from "../_helpers.js";
import type { CoreDriver, TestProject } from "../_helpers.js";

export interface SuiteSkip {
  readonly reason: string;
  readonly tests: readonly string[];
}

export interface SuiteOptions<P extends Provider> {
  /** A fresh provider for a fresh project (each test gets both). Providers that keep no files may ignore it. */
  provider: (project: TestProject) => P | Promise<P>;
  skip?: readonly SuiteSkip[];
  additionalTests?: (ctx: SuiteContext<P>) => void;
}

export interface SuiteContext<P extends Provider> {
  readonly provider: P;
  readonly project: TestProject;
  /** The lifecycle calls as the core makes them. */
  readonly core: CoreDriver;
}

/** Put and read key/value data in one env's resource, given what the provider reported about it. */
export interface DataAccess<P extends Provider> {
  put(ctx: SuiteContext<P>, env: string, key: string, value: string): Promise<void>;
  read(ctx: SuiteContext<P>, env: string): Promise<Record<string, string>>;
}

/** Methods a fork may report; `empty` is only for `create`. */
const FORK_METHODS = ["reflink", "copy", "metadata", "native"];

/** Set up per-test context and return a `test` that honours the skip list. */
export function setupSuite<P extends Provider>(options: SuiteOptions<P>) {
  const state = {} as { provider: P; project: TestProject; core: CoreDriver };
  const ctx: SuiteContext<P> = {
    get provider() {
      return state.provider;
    },
    get project() {
      return state.project;
    },
    get core() {
      return state.core;
    },
  };
  beforeEach(async () => {
    state.project = await tempProject();
    state.provider = await options.provider(state.project);
    state.core = coreDriver(state.provider, state.project);
  });
  afterEach(async () => {
    await state.provider?.dispose?.();
    await state.project?.cleanup();
  });
  const test = (name: string, fn: () => void | Promise<void>) => {
    const skipped = options.skip?.find((s) => s.tests.includes(name));
    if (skipped) it.skip(`${name} (skipped: ${skipped.reason})`, fn);
    else it(name, fn);
  };
  return { ctx, test };
}

/** Assert that `promise` rejects with a ProviderError from this provider, with `code`. */
export async function expectProviderError(
  promise: Promise<unknown>,
  provider: Provider,
  code: string,
): Promise<ProviderError> {
  const error = await promise.then(
    () => expect.fail("expected a ProviderError, but the call succeeded"),
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ProviderError);
  expect(error).toBeInstanceOf(ForkstackError);
  expect((error as ProviderError).provider).toBe(provider.name);
  expect((error as ProviderError).code).toBe(code);
  expect((error as ProviderError).message).toContain(`[${provider.name}]`);
  return error as ProviderError;
}

export function lifecycleTests<P extends Provider>(
  ctx: SuiteContext<P>,
  test: (name: string, fn: () => void | Promise<void>) => void,
  data: DataAccess<P>,
): void {
  const expectInfo = (info: ResourceInfo) => {
    expect(info.location).toEqual(expect.any(String));
    expect(info.location.length).toBeGreaterThan(0);
    for (const [key, value] of Object.entries(info.vars)) {
      expect(key).toMatch(/^[A-Z][A-Z0-9_]*$/);
      expect(value).toEqual(expect.any(String));
    }
    expect(() => JSON.stringify(info)).not.toThrow();
  };

  test("create makes an empty root that describe and list report", async () => {
    expect(await ctx.core.list()).toEqual([]);
    const info = await ctx.core.create("dev");
    expectInfo(info);
    expect(info.method).toBe("empty");
    const described = await ctx.core.describe("dev");
    expect(described?.location).toBe(info.location);
    expect(described?.vars).toEqual(info.vars);
    expect(await ctx.core.list()).toEqual(["dev"]);
    expect(await data.read(ctx, "dev")).toEqual({});
  });

  test("create refuses an env that exists and changes nothing", async () => {
    await ctx.core.create("dev");
    await data.put(ctx, "dev", "greeting", "hello");
    await expectProviderError(ctx.core.create("dev"), ctx.provider, "E_ENV_EXISTS");
    expect(await data.read(ctx, "dev")).toEqual({ greeting: "hello" });
  });

  test("fork gives the child the parent's data as of the fork", async () => {
    await ctx.core.create("dev");
    await data.put(ctx, "dev", "greeting", "hello");
    const info = await ctx.core.fork("dev", "alice");
    expectInfo(info);
    expect(FORK_METHODS).toContain(info.method);
    if (info.bytesAdded !== undefined) expect(info.bytesAdded).toBeGreaterThanOrEqual(0);
    expect(info.location).not.toBe((await ctx.core.describe("dev"))?.location);
    expect((await ctx.core.describe("alice"))?.location).toBe(info.location);
    expect(await ctx.core.list()).toEqual(["alice", "dev"]);
    expect(await data.read(ctx, "alice")).toEqual({ greeting: "hello" });
  });

  test("writes on either side of a fork do not reach the other", async () => {
    await ctx.core.create("dev");
    await data.put(ctx, "dev", "shared", "before");
    await ctx.core.fork("dev", "alice");
    await data.put(ctx, "alice", "shared", "alice's");
    await data.put(ctx, "alice", "mine", "alice");
    await data.put(ctx, "dev", "theirs", "dev");
    expect(await data.read(ctx, "dev")).toEqual({ shared: "before", theirs: "dev" });
    expect(await data.read(ctx, "alice")).toEqual({ shared: "alice's", mine: "alice" });
  });

  test("fork into an existing env is refused and changes nothing", async () => {
    await ctx.core.create("dev");
    await data.put(ctx, "dev", "v", "1");
    await ctx.core.fork("dev", "alice");
    await data.put(ctx, "alice", "mine", "alice");
    await data.put(ctx, "dev", "v", "2");
    const before = await ctx.core.describe("alice");
    await expectProviderError(ctx.core.fork("dev", "alice"), ctx.provider, "E_ENV_EXISTS");
    expect(await data.read(ctx, "alice")).toEqual({ v: "1", mine: "alice" });
    expect(await data.read(ctx, "dev")).toEqual({ v: "2" });
    expect((await ctx.core.describe("alice"))?.location).toBe(before?.location);
    expect(await ctx.core.list()).toEqual(["alice", "dev"]);
  });

  test("fork of a fork sees both generations' data", async () => {
    await ctx.core.create("dev");
    await data.put(ctx, "dev", "root", "r");
    await ctx.core.fork("dev", "alice");
    await data.put(ctx, "alice", "middle", "m");
    await ctx.core.fork("alice", "alice-2");
    await data.put(ctx, "alice-2", "leaf", "l");
    expect(await data.read(ctx, "alice-2")).toEqual({ root: "r", middle: "m", leaf: "l" });
    expect(await data.read(ctx, "alice")).toEqual({ root: "r", middle: "m" });
    expect(await data.read(ctx, "dev")).toEqual({ root: "r" });
  });

  test("fork of a missing parent is refused and creates nothing", async () => {
    await ctx.core.create("dev");
    await expectProviderError(ctx.core.fork("nope", "alice"), ctx.provider, "E_ENV_NOT_FOUND");
    expect(await ctx.core.describe("alice")).toBeNull();
    expect(await ctx.core.list()).toEqual(["dev"]);
  });

  test("remove is idempotent and leaves parent and children alone", async () => {
    await ctx.core.create("dev");
    await data.put(ctx, "dev", "k", "v");
    await ctx.core.fork("dev", "alice");
    await ctx.core.fork("dev", "bob");
    await ctx.core.remove("alice");
    expect(await ctx.core.describe("alice")).toBeNull();
    expect(await ctx.core.list()).toEqual(["bob", "dev"]);
    await ctx.core.remove("alice");
    await ctx.core.remove("never-made");
    await ctx.core.remove("dev");
    expect(await ctx.core.list()).toEqual(["bob"]);
    expect(await data.read(ctx, "bob")).toEqual({ k: "v" });
  });

  test("describe of a missing env is null", async () => {
    expect(await ctx.core.describe("ghost")).toBeNull();
    await ctx.core.create("dev");
    expect(await ctx.core.describe("ghost")).toBeNull();
  });

  test("a removed name can be forked again", async () => {
    await ctx.core.create("dev");
    await data.put(ctx, "dev", "k", "1");
    await ctx.core.fork("dev", "alice");
    await data.put(ctx, "alice", "stale", "x");
    await ctx.core.remove("alice");
    await ctx.core.fork("dev", "alice");
    expect(await data.read(ctx, "alice")).toEqual({ k: "1" });
  });
}
