/**
 * The `doppler` secrets provider against the Doppler emulator (test/emulators/doppler.ts) through the
 * same HTTP client and code path as production, and against the real API when DOPPLER_TOKEN and
 * DOPPLER_PROJECT are set and FORKSTACK_DOPPLER_API_URL is not (test/helpers/live.ts).
 */
import { mkdir } from "node:fs/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import doppler, { configName } from "../../../src/providers/secrets/doppler.js";
import { optionsSchema } from "../../../src/providers/secrets/doppler.options.js";
import type { DopplerOptions } from "../../../src/providers/secrets/doppler.options.js";
import { checkEnvName } from "../../../src/core/names.js";
import { ProviderError } from "../../../src/errors.js";
import {
  coreDriver,
  envRef,
  expectProviderError,
  secretsSuite,
  tempProject,
  uniqueProjectName,
} from "../../../src/testing/index.js";
import type { TestProject } from "../../../src/testing/index.js";
import { DEFAULT_TOKEN, start, type DopplerEmulator } from "../../emulators/doppler.js";
import { describeLive, liveGuard } from "../../helpers/live.js";

let emulator: DopplerEmulator;
const saved = { token: process.env.DOPPLER_TOKEN };

beforeAll(async () => {
  emulator = await start();
});
afterAll(async () => {
  await emulator?.close();
});

const options = (extra: Partial<DopplerOptions> = {}): DopplerOptions =>
  optionsSchema.parse({
    project: "acme",
    baseUrl: emulator.url.replace(/\/v3$/, ""),
    environment: "ci",
    ...extra,
  });

/** A provider on the emulator with the token in a variable of the test's own (never the user's). */
const onEmulator = (project: TestProject, extra: Partial<DopplerOptions> = {}) => {
  process.env.FORKSTACK_TEST_DOPPLER_TOKEN = DEFAULT_TOKEN;
  return doppler(options({ token: { env: "FORKSTACK_TEST_DOPPLER_TOKEN" }, ...extra }), project.context);
};

/** A per-test project with its envs' directories, and the driver the core would be. */
async function setup(extra: Partial<DopplerOptions> = {}, name?: string) {
  const project = await tempProject(name ? { project: name } : {});
  const provider = onEmulator(project, extra);
  const core = coreDriver(provider, project);
  const env = (n: string) => envRef(project, n);
  const dir = (n: string) => mkdir(project.context.envDir(n), { recursive: true });
  return { project, provider, core, env, dir, [Symbol.asyncDispose]: () => project.cleanup() };
}

describe("providers: secrets/doppler (emulator)", () => {
  secretsSuite({ provider: (project) => onEmulator(project) });

  it("a fork is a branch config of the parent's environment holding every value, so the root's later writes do not reach it", async () => {
    await using t = await setup();
    await t.dir("dev");
    const dev = await t.provider.adopt!(t.env("dev"), { environment: "dev", config: "dev" }, t.project.op);
    expect(dev).toMatchObject({ location: "doppler:acme/dev", data: { config: "dev", adopted: true } });
    const alice = await t.core.fork("dev", "alice");
    const name = configName("dev", t.env("alice"));
    expect(alice).toMatchObject({ method: "native", data: { environment: "dev", config: name } });
    const acme = emulator.state.projects.get("acme")!;
    const branch = acme.configs.get(name)!;
    expect(branch).toMatchObject({ root: false, environment: "dev" });
    // Every inherited value is the branch's own now.
    expect(Object.fromEntries(branch.secrets)).toEqual(Object.fromEntries(acme.configs.get("dev")!.secrets));

    const root = acme.configs.get("dev")!.secrets;
    const before = root.get("STRIPE_KEY")!;
    root.set("STRIPE_KEY", "sk_test_rotated");
    try {
      const read = await t.provider.read(t.env("alice"), t.project.op);
      expect(read.STRIPE_KEY).toBe(before);
      expect(read).not.toHaveProperty("DOPPLER_CONFIG");
    } finally {
      root.set("STRIPE_KEY", before);
    }
    // A branch config cannot drop what its root has: refused, naming the key, changing nothing.
    const { STRIPE_KEY: _dropped, ...rest } = await t.provider.read(t.env("alice"), t.project.op);
    const error = await expectProviderError(
      t.provider.write!(t.env("alice"), rest, t.project.op),
      t.provider,
      "E_USAGE",
    );
    expect(error.message).toContain("STRIPE_KEY");
    expect(error.message).not.toContain(before);
    expect(branch.secrets.get("STRIPE_KEY")).toBe(before);

    await t.core.remove("alice");
    expect(acme.configs.has(name)).toBe(false);
    expect(emulator.violations).toEqual([]);
  });

  it("roots adopt an existing config (by ref, by name, prod → prd) and are never deleted", async () => {
    await using t = await setup();
    for (const name of ["dev", "prod", "staging"]) await t.dir(name);
    const byName = await t.provider.adopt!(t.env("dev"), undefined, t.project.op);
    expect(byName?.data).toMatchObject({ config: "dev", adopted: true });
    const prod = await t.provider.adopt!(t.env("prod"), undefined, t.project.op);
    expect(prod?.data).toMatchObject({ config: "prd", environment: "prd" });
    expect(await t.provider.read(t.env("prod"), t.project.op)).toMatchObject({ STRIPE_KEY: "sk_live_prd" });
    // Nothing to adopt: null, and the core then calls create.
    await t.dir("qa");
    expect(await t.provider.adopt!(t.env("qa"), undefined, t.project.op)).toBeNull();
    // A ref whose config is in another environment is a config error.
    await expectProviderError(
      t.provider.adopt!(t.env("staging"), { environment: "dev", config: "stg" }, t.project.op),
      t.provider,
      "E_CONFIG_INVALID",
    );
    const deletes = () => emulator.exchanges.filter((e) => e.method === "DELETE").length;
    const before = deletes();
    await t.provider.remove(t.env("dev"), t.project.op, byName!);
    await t.provider.remove(t.env("prod"), t.project.op, prod!);
    expect(deletes()).toBe(before);
    expect(emulator.state.projects.get("acme")!.configs.has("prd")).toBe(true);
  });

  it("a root that adopts nothing is refused without the environment option, before any request", async () => {
    await using t = await setup({ environment: undefined });
    await t.dir("qa");
    const sent = emulator.exchanges.length;
    const error = await expectProviderError(t.core.create("qa"), t.provider, "E_CONFIG_INVALID");
    expect(error.hint).toContain("roots.qa.secrets");
    expect(emulator.exchanges.length).toBe(sent);
  });

  it("makes a service token per env, hands it to the app as a secret, and revokes it on delete", async () => {
    await using t = await setup({ serviceTokens: { access: "read", variable: "DOPPLER_TOKEN" } });
    await t.core.create("dev");
    await t.provider.write!(t.env("dev"), { A: "1" }, t.project.op);
    const expiresAt = new Date(Date.now() + 3_600_000);
    await t.dir("alice");
    const alice = await t.provider.fork(t.env("dev"), t.env("alice"), t.project.op, {
      parent: t.core.recorded("dev")!,
      expiresAt,
    });
    const key = alice.secretVars?.DOPPLER_TOKEN;
    expect(key).toMatch(/^dp\.st\./);
    expect(alice.vars).toEqual({});
    expect(JSON.stringify(alice.data)).not.toContain(key);
    const token = [...emulator.state.tokens.values()].find((x) => x.key === key)!;
    expect(token).toMatchObject({ access: "read", config: configName("ci", t.env("alice")) });
    expect(Math.abs(Date.parse(token.expiresAt!) - expiresAt.getTime())).toBeLessThan(1000);
    // The token reads its own config…
    const res = await fetch(`${emulator.url}/configs/config/secrets/download?format=json`, {
      headers: { authorization: `Bearer ${key}` },
    });
    expect(await res.json()).toMatchObject({ A: "1" });
    // …until the env is deleted.
    await t.provider.remove(t.env("alice"), t.project.op, alice);
    expect(
      emulator.exchanges.some((e) => e.method === "DELETE" && e.path === "/configs/config/tokens/token"),
    ).toBe(true);
    const after = await fetch(`${emulator.url}/configs/config/secrets/download?format=json`, {
      headers: { authorization: `Bearer ${key}` },
    });
    expect(after.status).toBe(401);
    expect(t.project.logs.map((l) => l.message).join("\n")).not.toContain(key!);
  });

  it("refuses a config name Doppler would not take, before any POST", async () => {
    // The env name alone passes the core's rules; with a long project the config name is too long.
    const long = `p${"x".repeat(39)}`;
    await using t = await setup({}, long);
    const env = "a-rather-long-env-name-for-a-doppler-config";
    const problems = t.provider.checkName!(t.env(env));
    expect(problems.join()).toMatch(/over forkstack's limit of 64/);
    expect(() => checkEnvName(env, long, [t.provider])).toThrow(/Doppler config name/);
    // And at fork time, where the parent's environment is known.
    await t.core.create("dev");
    const posts = emulator.exchanges.filter((e) => e.method === "POST").length;
    await expectProviderError(t.core.fork("dev", env), t.provider, "E_INVALID_ENV_NAME");
    expect(emulator.exchanges.filter((e) => e.method === "POST").length).toBe(posts);
  });

  it("names the token's variable when it is missing, and E_PROVIDER_AUTH when it is wrong", async () => {
    await using t = await setup({ token: { env: "FORKSTACK_TEST_DOPPLER_UNSET" } });
    delete process.env.FORKSTACK_TEST_DOPPLER_UNSET;
    const missing = await expectProviderError(t.provider.list(t.project.op), t.provider, "E_PROVIDER_AUTH");
    expect(missing.message).toContain("FORKSTACK_TEST_DOPPLER_UNSET is not set");
    const [finding] = await t.provider.doctor!(t.project.op);
    expect(finding).toMatchObject({ level: "error" });
    expect(finding!.message).toContain("FORKSTACK_TEST_DOPPLER_UNSET");

    process.env.FORKSTACK_TEST_DOPPLER_WRONG = "dp.pt.wrong-token-value";
    const wrong = doppler(options({ token: { env: "FORKSTACK_TEST_DOPPLER_WRONG" } }), t.project.context);
    const error = await expectProviderError(wrong.list(t.project.op), wrong, "E_PROVIDER_AUTH");
    expect(error.message).toContain("FORKSTACK_TEST_DOPPLER_WRONG was rejected");
    expect(error.message).toMatch(/request id req_/);
    expect(error.message).not.toContain("dp.pt.wrong-token-value");
    expect(
      await t.provider.doctor!(t.project.op).then(() => onEmulator(t.project).doctor!(t.project.op)),
    ).toEqual([
      { level: "ok", message: "Doppler project acme is reachable with FORKSTACK_TEST_DOPPLER_TOKEN" },
    ]);
  });

  it("retries a 429 after its Retry-After, and shows Doppler's message with the request id", async () => {
    await using t = await setup();
    await t.core.create("dev");
    emulator.fault({
      match: /^GET \/configs\/config\/secrets\/download/,
      status: 429,
      headers: { "retry-after": "0" },
      body: { messages: ["Too many requests"], success: false },
    });
    const before = emulator.exchanges.length;
    expect(await t.provider.read(t.env("dev"), t.project.op)).toEqual({});
    expect(emulator.exchanges.slice(before).map((e) => e.status)).toEqual([429, 200]);

    emulator.fault({
      match: /^POST \/configs$/,
      status: 422,
      body: { messages: ["Config quota reached for this plan"], success: false },
    });
    await t.dir("alice");
    const error = await expectProviderError(t.core.fork("dev", "alice"), t.provider, "E_PROVIDER_API");
    expect(error.message).toMatch(/Config quota reached for this plan \(request id req_\w+\)/);
  });

  it("a failed fork leaves no config behind", async () => {
    await using t = await setup({ serviceTokens: true });
    await t.core.create("dev");
    await t.provider.write!(t.env("dev"), { A: "1" }, t.project.op);
    emulator.fault({
      match: /^POST \/configs\/config\/tokens$/,
      status: 500,
      body: { messages: ["boom"], success: false },
    });
    await t.dir("alice");
    await expect(t.core.fork("dev", "alice")).rejects.toBeInstanceOf(ProviderError);
    expect(emulator.state.projects.get("acme")!.configs.has(configName("ci", t.env("alice")))).toBe(false);
    expect(await t.core.list()).toEqual(["dev"]);
  });

  it("checks its options", () => {
    expect(() => optionsSchema.parse({ token: "dp.st.secret" })).toThrow(/environment variable/);
    expect(() => optionsSchema.parse({ environment: "Dev_1" })).toThrow(/slug/);
    expect(() => optionsSchema.parse({ token: "dp.pt.x" })).toThrow();
    expect(optionsSchema.parse({})).toMatchObject({ token: { env: "DOPPLER_TOKEN" }, serviceTokens: false });
  });

  it("left no spec violations", () => {
    expect(emulator.violations).toEqual([]);
  });
});

const guard = liveGuard({
  vendor: "Doppler",
  provider: "doppler",
  credentials: ["DOPPLER_TOKEN", "DOPPLER_PROJECT"],
});
describeLive(guard, "providers: secrets/doppler (live API: DOPPLER_TOKEN + DOPPLER_PROJECT)", () => {
  // A throwaway environment with an empty root config, made by the test and deleted in the end.
  const slug = `fs-${uniqueProjectName().slice(3)}`;
  const api = (method: string, path: string, body?: unknown) =>
    fetch(`https://api.doppler.com${path}`, {
      method,
      headers: { authorization: `Bearer ${saved.token}`, "content-type": "application/json" },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  const project = process.env.DOPPLER_PROJECT!;
  beforeAll(async () => {
    const res = await api("POST", `/v3/environments?project=${encodeURIComponent(project)}`, {
      name: slug,
      slug,
    });
    if (!res.ok) throw new Error(`could not make environment ${slug}: ${res.status} ${await res.text()}`);
  });
  afterAll(async () => {
    await api(
      "DELETE",
      `/v3/environments/environment?project=${encodeURIComponent(project)}&environment=${slug}`,
    );
  });
  secretsSuite({
    provider: (p) => doppler(optionsSchema.parse({ project, environment: slug }), p.context),
    timeout: 300_000,
  });
});
