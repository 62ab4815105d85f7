/**
 * The runner-agnostic part of the per-worker helper (`src/testing/workers.ts`), in process: names,
 * what a leftover of a killed run becomes, what the process sees while it holds its env, and which
 * envs the leftover sweep may touch. The real multi-worker run is in `vitest-workers.test.ts`.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createEnv, envVars, listEnvs } from "../../src/api.js";
import { databaseUrl, refresh } from "../../src/index.js";
import {
  checkTemplateEnv,
  removeLeftoverWorkerEnvs,
  useWorkerEnv,
  workerEnvName,
  workerId,
} from "../../src/testing/workers.js";
import { tempProject } from "../helpers/project.js";

const RUNNER_VARS = ["VITEST_POOL_ID", "VITEST_WORKER_ID", "JEST_WORKER_ID", "TEST_PARALLEL_INDEX"];

describe("worker ids and env names", () => {
  it("takes the first id a runner sets, else the pid", () => {
    expect(workerId({ VITEST_POOL_ID: "3", VITEST_WORKER_ID: "17" })).toBe("3");
    expect(workerId({ VITEST_WORKER_ID: "17" })).toBe("17");
    expect(workerId({ JEST_WORKER_ID: "2" })).toBe("2");
    expect(workerId({ TEST_PARALLEL_INDEX: "0" })).toBe("0");
    expect(workerId({})).toBe(String(process.pid));
  });

  it("names envs <prefix>-<id>, reduced to a valid env name", () => {
    expect(workerEnvName({}, "3")).toBe("test-3");
    expect(workerEnvName({ prefix: "e2e" }, "3")).toBe("e2e-3");
    expect(workerEnvName({}, "Shard_A 1")).toBe("test-shard-a-1");
    expect(workerEnvName({ name: (id) => `w${id}` }, "3")).toBe("w3");
    expect(() => workerEnvName({ prefix: "Bad_" }, "1")).toThrow(/not a valid env name/);
    expect(() => workerEnvName({ prefix: "x".repeat(48) }, "1")).toThrow(/not a valid env name/);
  });
});

describe("useWorkerEnv", () => {
  let project: string;
  const saved = new Map<string, string | undefined>();
  const keep = [
    ...RUNNER_VARS,
    "FORKSTACK_ENV",
    "FORKSTACK_RUN_ENV",
    "FORKSTACK_RUN_VARS",
    "DATABASE_URL",
    "FORKSTACK_LOCAL_PATH",
  ];

  beforeEach(async () => {
    for (const key of keep) saved.set(key, process.env[key]);
    for (const key of keep) delete process.env[key];
    process.env.VITEST_POOL_ID = "7";
    project = await tempProject();
    await createEnv("tpl", { cwd: project, from: "dev" });
  });

  afterEach(() => {
    for (const [key, value] of saved) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
    refresh();
  });

  const names = async () => (await listEnvs({ cwd: project })).map((e) => e.name).sort();

  it("forks the template with a ttl, points the process at it, and deletes it on cleanup", async () => {
    const env = await useWorkerEnv({ from: "tpl", cwd: project });
    expect(env).toMatchObject({ name: "test-7", workerId: "7", reused: false });
    const listed = (await listEnvs({ cwd: project })).find((e) => e.name === "test-7")!;
    expect(listed.parent).toBe("tpl");
    expect(Date.parse(listed.expiresAt!) - Date.parse(listed.createdAt!)).toBe(60 * 60_000);
    expect(process.env.FORKSTACK_ENV).toBe("test-7");
    expect(process.env.DATABASE_URL).toBe(env.vars.DATABASE_URL);
    expect(env.vars.DATABASE_URL).toContain("/envs/test-7/");
    expect(databaseUrl()).toBe(env.vars.DATABASE_URL);

    await env.cleanup();
    await env.cleanup(); // twice is fine
    expect(await names()).toEqual(["dev", "tpl"]);
    expect(process.env.FORKSTACK_ENV).toBeUndefined();
    expect(process.env.DATABASE_URL).toBeUndefined();
  });

  it("under `forkstack run` for dev: dev's injected values give way, and come back on cleanup", async () => {
    const dev = await envVars("dev", { cwd: project });
    Object.assign(process.env, {
      FORKSTACK_ENV: "dev",
      DATABASE_URL: dev.vars.DATABASE_URL,
      ONLY_IN_DEV: "x",
      FORKSTACK_RUN_ENV: "dev",
      FORKSTACK_RUN_VARS: "FORKSTACK_ENV,DATABASE_URL,ONLY_IN_DEV",
    });
    const env = await useWorkerEnv({ from: "tpl", cwd: project });
    expect(process.env.DATABASE_URL).toBe(env.vars.DATABASE_URL);
    expect(process.env.DATABASE_URL).not.toBe(dev.vars.DATABASE_URL);
    expect(process.env.ONLY_IN_DEV).toBeUndefined();
    expect(process.env.FORKSTACK_RUN_ENV).toBe("test-7");
    expect(databaseUrl()).toBe(env.vars.DATABASE_URL);
    await env.cleanup();
    expect(process.env).toMatchObject({
      FORKSTACK_ENV: "dev",
      DATABASE_URL: dev.vars.DATABASE_URL,
      ONLY_IN_DEV: "x",
      FORKSTACK_RUN_ENV: "dev",
    });
  });

  it("replaces a leftover of the same name by default, reuses it when asked", async () => {
    await createEnv("test-7", { cwd: project, from: "tpl", ttlMs: 60_000 });
    const leftover = (await listEnvs({ cwd: project })).find((e) => e.name === "test-7")!;

    const reused = await useWorkerEnv({ from: "tpl", cwd: project, leftover: "reuse" });
    expect(reused.reused).toBe(true);
    const same = (await listEnvs({ cwd: project })).find((e) => e.name === "test-7")!;
    expect(same.createdAt).toBe(leftover.createdAt);
    // No cleanup, as in a killed run: the next worker in this slot meets it again.

    const replaced = await useWorkerEnv({ from: "tpl", cwd: project });
    expect(replaced.reused).toBe(false);
    const fresh = (await listEnvs({ cwd: project })).find((e) => e.name === "test-7")!;
    expect(fresh.createdAt).not.toBe(leftover.createdAt);
    await replaced.cleanup();
    expect(await names()).toEqual(["dev", "tpl"]);
  });

  it("an env of the worker's name that the helper did not make is left alone, with a clear error", async () => {
    await createEnv("test-7", { cwd: project, from: "tpl" }); // no ttl: someone's own env
    await expect(useWorkerEnv({ from: "tpl", cwd: project })).rejects.toThrow(
      /"test-7" already exists and is not a worker env \(it has no ttl\)/,
    );
    await createEnv("test-8", { cwd: project, from: "dev", ttlMs: 60_000 });
    process.env.VITEST_POOL_ID = "8";
    await expect(useWorkerEnv({ from: "tpl", cwd: project })).rejects.toThrow(/it was forked from "dev"/);
    expect(await names()).toEqual(["dev", "test-7", "test-8", "tpl"]);
    expect(process.env.FORKSTACK_ENV).toBeUndefined();
  });

  it("a missing template is reported by name before any worker starts", async () => {
    await expect(checkTemplateEnv({ from: "nope", cwd: project })).rejects.toThrow(
      /template env "nope" for test workers does not exist/,
    );
    await expect(checkTemplateEnv({ from: "tpl", cwd: project })).resolves.toBeUndefined();
  });

  it("the leftover sweep touches only worker-named envs with a ttl, forked from the template", async () => {
    const ttlMs = 60_000;
    await createEnv("test-1", { cwd: project, from: "tpl", ttlMs });
    await createEnv("test-2", { cwd: project, from: "tpl", ttlMs });
    await createEnv("test-login", { cwd: project, from: "tpl", ttlMs }); // a user's env: not a worker name
    await createEnv("test-3", { cwd: project, from: "tpl" }); // no ttl: not made by the helper
    await createEnv("test-4", { cwd: project, from: "dev", ttlMs }); // another template
    const result = await removeLeftoverWorkerEnvs({ from: "tpl", cwd: project });
    expect(result).toEqual({ deleted: ["test-1", "test-2"], skipped: [] });
    expect(await names()).toEqual(["dev", "test-3", "test-4", "test-login", "tpl"]);
    // Only envs made from `after` on (a global teardown's own run).
    await createEnv("test-5", { cwd: project, from: "tpl", ttlMs });
    expect(await removeLeftoverWorkerEnvs({ from: "tpl", cwd: project, after: new Date() })).toEqual({
      deleted: [],
      skipped: [],
    });
  });
});
