/**
 * @module testing/suites/harness
 * What every conformance suite shares around its tests, shaped after unstorage's `testDriver`
 * (docs/providers.md, "Testing one with `forkstack/testing`") with reasoned skips:
 * - a provider's test file may skip tests by name, with a reason that shows in the test title;
 * - tests that need a capability skip themselves from the provider's `flags` (`pointInTime`,
 *   `forksPinParent`, `copyOnWrite`), so the same suite runs unchanged against every backend;
 * - every test gets a fresh project with a unique name, and every env it made is removed through the
 *   provider afterwards, passed or failed: a run against a shared cloud backend leaves nothing behind.
 */
import { afterEach, beforeEach, expect, it } from "../vitest-api.js";
import type { ProviderError } from "../../errors.js";
import type { Provider, ResourceInfo } from "../../providers/types.js";
import { coreDriver, throughJson, type CoreDriver } from "../core-driver.js";
import { appVars, tempProject, type TestProject } from "../project.js";

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
  /**
   * A provider for the same project and backend under a changed config (another bucket list, path
   * template, branch prefix…), given the test's first provider (to share a server with it). The test
   * "change the config between `new` and `delete`/`reset`" removes and re-forks through it what the
   * first one made, by the record. Without it that test runs with a second provider from `provider`.
   */
  readonly reconfigured?: (project: TestProject, first: P) => P | Promise<P>;
  /** Provider-specific tests, sharing the suite's per-test context. */
  readonly additionalTests?: (ctx: SuiteContext<P>) => void;
}

export interface SuiteContext<P extends Provider> {
  readonly provider: P;
  readonly project: TestProject;
  /** The lifecycle calls as the core makes them. */
  readonly core: CoreDriver;
  /** A provider under a changed config (`reconfigured`, else another from `provider`), disposed after the test. */
  reconfigured(): Promise<P>;
}

/**
 * Something of the user's own where a changed config would put env `env`'s resource but its record
 * does not (a bucket the new bucket list names, a directory the new template names), made as a user
 * would. `check` asserts it is untouched; `remove` takes it away after the test. Undefined when the two
 * configs name nothing different for the kind.
 */
export type Occupy<P extends Provider> = (
  changed: P,
  env: string,
  recorded: ResourceInfo,
) => Promise<{ check(): Promise<void>; remove(): Promise<void> } | undefined>;

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

/** Set up the per-test context and cleanup, and return a `test` that honours skips. */
export function setupSuite<P extends Provider>(options: SuiteOptions<P>) {
  const timeout = options.timeout ?? DEFAULT_TIMEOUT_MS;
  let state: { provider?: P; project?: TestProject; core?: CoreDriver; others?: P[] } = {};
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
    async reconfigured() {
      const other = await (options.reconfigured ?? options.provider)(state.project!, state.provider!);
      (state.others ??= []).push(other);
      return other;
    },
  };
  beforeEach(async () => {
    state.project = await tempProject();
    state.provider = await options.provider(state.project);
    state.core = coreDriver(state.provider, state.project);
  }, timeout);
  afterEach(async () => {
    const { provider, project, core, others = [] } = state;
    state = {};
    const problems = provider && project && core ? await removeEverything(provider, project, core) : [];
    for (const other of others) await other.dispose?.();
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
    // Several passes: with forksPinParent a parent goes only once its forks are gone. No record holds
    // these, so each is removed by what the provider's `target` names for it.
    for (const name of left) {
      await core.remove(name).catch((error: unknown) => {
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
