/**
 * @module testing/suites/lifecycle
 * The lifecycle half of every conformance suite, whatever the resource kind. Each kind's suite supplies
 * a `DataAccess` (how to put and read key/value pairs in an env's resource: SQL for a database,
 * `read`/`write` for secrets, objects for buckets, files for local state) and adds its own checks.
 */
import { expect } from "../vitest-api.js";
import type { Provider } from "../../providers/types.js";
import { throughJson } from "../core-driver.js";
import { appVars, envRef } from "../project.js";
import {
  expectInfo,
  expectProviderError,
  type DataAccess,
  type Occupy,
  type SuiteContext,
  type SuiteTest,
} from "./harness.js";

/** Methods a fork may report; `empty` is only for `create`. */
const FORK_METHODS = ["reflink", "copy", "metadata", "native"];

export function lifecycleTests<P extends Provider>(
  ctx: SuiteContext<P>,
  test: SuiteTest<P>,
  data: DataAccess,
  occupy?: Occupy<P>,
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

  test("change the config between `new` and `delete`/`reset`: nothing that was not recorded is touched", async () => {
    await ctx.core.create("dev");
    await data.put("dev", "k", "dev");
    await ctx.core.fork("dev", "alice");
    await data.put("alice", "mine", "alice");
    await ctx.core.fork("dev", "bob");
    await data.put("bob", "mine", "bob");
    const env = (name: string) => envRef(ctx.project, name);
    const recorded = { alice: ctx.core.recorded("alice")!, bob: ctx.core.recorded("bob")! };
    // Today's provider, under the changed config, handed what the old one recorded (as the core does).
    const changed = ctx.core.withProvider(await ctx.reconfigured());
    const theirs = {
      alice: await occupy?.(changed.provider as P, "alice", recorded.alice),
      bob: await occupy?.(changed.provider as P, "bob", recorded.bob),
    };
    try {
      // delete: exactly what alice's record names goes.
      await changed.remove("alice");
      expect(await ctx.provider.describe(env("alice"), ctx.project.op, recorded.alice)).toBeNull();
      await theirs.alice?.check();
      // reset: bob's recorded resource goes, and the fork again makes what today's config names; where
      // that is the user's own, it refuses (E_ENV_EXISTS) and leaves it as it was.
      await changed.remove("bob");
      expect(await ctx.provider.describe(env("bob"), ctx.project.op, recorded.bob)).toBeNull();
      if (theirs.bob) {
        await expectProviderError(changed.fork("dev", "bob"), changed.provider, "E_ENV_EXISTS");
        await theirs.bob.check();
      } else {
        await changed.fork("dev", "bob");
        expect(await data.read("bob")).toEqual({ k: "dev" });
      }
      expect(await data.read("dev")).toEqual({ k: "dev" });
    } finally {
      await theirs.alice?.remove();
      await theirs.bob?.remove();
    }
  });

  test(
    "rollback of a step that crashed while making removes the recorded target",
    async () => {
      await ctx.core.create("dev");
      await data.put("dev", "k", "v");
      const env = (name: string) => envRef(ctx.project, name);
      // What the core records before it calls `fork`; then the fork runs, and the process dies before
      // the core records what it returned.
      const target = ctx.core.target("alice", "dev")!;
      expect(throughJson(target)).toEqual(target);
      const made = await ctx.core.fork("dev", "alice");
      ctx.core.forget("alice");
      // The next command rolls it back, under a config changed meanwhile: by the target alone.
      const changed = await ctx.reconfigured();
      const theirs = await occupy?.(changed, "alice", made);
      try {
        await changed.remove(env("alice"), ctx.project.op, throughJson(target));
        expect(await ctx.provider.describe(env("alice"), ctx.project.op, made)).toBeNull();
        expect(await ctx.core.list()).toEqual(["dev"]);
        expect(await data.read("dev")).toEqual({ k: "v" });
        await theirs?.check();
      } finally {
        await theirs?.remove();
      }
      // A crash before anything was made: the target names nothing that exists, and removing it is a no-op.
      await ctx.provider.remove(env("bob"), ctx.project.op, ctx.core.target("bob", "dev"));
      expect(await ctx.core.list()).toEqual(["dev"]);
    },
    (p) => (p.target ? undefined : "no `target` (the provider does not say what it is about to make)"),
  );

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
