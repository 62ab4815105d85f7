/**
 * A project whose secrets live in Doppler, driven through the built CLI as a user would, against the
 * Doppler emulator: `new` forks a branch config, `run` and the runtime library's `secret()` see the
 * values, `env` masks them unless `--reveal`, and credential problems name the variable.
 */
import { readFileSync, statSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEFAULT_TOKEN, start, type DopplerEmulator } from "../emulators/doppler.js";
import { BIN, REPO, cli, removeProject, runCli, runProcess, tempProject } from "../helpers/project.js";

let emulator: DopplerEmulator;
let cwd: string;
let env: Record<string, string>;
const config = (project = "myapp") => ({
  project,
  database: false,
  local: false,
  secrets: { provider: "doppler", project: "acme" },
});

beforeAll(async () => {
  emulator = await start();
  env = {
    FORKSTACK_DOPPLER_API_URL: emulator.variables.FORKSTACK_DOPPLER_API_URL!,
    DOPPLER_TOKEN: DEFAULT_TOKEN,
  };
  cwd = await tempProject(config(), { suite: true });
  await cli(["new", "alice"], { cwd, env });
}, 60_000);
afterAll(async () => {
  await removeProject(cwd);
  await emulator?.close();
});

const APP = `import { secret, envVars } from ${JSON.stringify(pathToFileURL(join(REPO, "dist/index.js")).href)};
console.log(JSON.stringify({ stripe: secret("STRIPE_KEY") ?? null, env: envVars().FORKSTACK_ENV }));`;
const app = async () => {
  const file = join(cwd, "app.mjs");
  await writeFile(file, APP);
  return file;
};

describe("cli: doppler secrets", () => {
  it("`new` adopts dev's root config and forks it into a branch config that holds every value", () => {
    const branch = emulator.state.projects.get("acme")!.configs.get("dev_myapp_alice");
    expect(branch).toMatchObject({ root: false, environment: "dev" });
    expect(branch!.secrets.get("STRIPE_KEY")).toBe("sk_test_dev");
    expect(emulator.violations).toEqual([]);
  });

  it("`run` and the library's secret() see the env's values; later writes to dev do not reach alice", async () => {
    const root = emulator.state.projects.get("acme")!.configs.get("dev")!.secrets;
    root.set("STRIPE_KEY", "sk_test_rotated");
    try {
      const printed = await cli(
        ["run", "--", process.execPath, "-e", "console.log(process.env.STRIPE_KEY)"],
        {
          cwd,
          env,
        },
      );
      expect(printed.trim()).toBe("sk_test_dev");
      const file = await app();
      // Under run: from the process environment `run` injected.
      expect(JSON.parse(await cli(["run", "--", process.execPath, file], { cwd, env }))).toEqual({
        stripe: "sk_test_dev",
        env: "alice",
      });
      // Without run (and without any Doppler credential): the values the CLI resolved last, cached 0600.
      const plain = await runProcess(process.execPath, [file], { cwd });
      expect(plain.code, plain.stderr).toBe(0);
      expect(JSON.parse(plain.stdout)).toEqual({ stripe: "sk_test_dev", env: "alice" });
      const cache = join(cwd, ".forkstack/envs/alice/secrets.cache.env");
      expect(statSync(cache).mode & 0o777).toBe(0o600);
      // A worker under `run` (alice) that picks dev gets dev's values, not the inherited ones.
      await cli(["env", "dev", "--reveal"], { cwd, env });
      const worker = await cli(["run", "--", "env", "FORKSTACK_ENV=dev", process.execPath, file], {
        cwd,
        env,
      });
      expect(JSON.parse(worker)).toEqual({ stripe: "sk_test_rotated", env: "dev" });
      // `secrets set` goes to Doppler, and the cache follows.
      await cli(["secrets", "set", "STRIPE_KEY=sk_test_alice"], { cwd, env });
      expect(JSON.parse((await runProcess(process.execPath, [file], { cwd })).stdout).stripe).toBe(
        "sk_test_alice",
      );
    } finally {
      root.set("STRIPE_KEY", "sk_test_dev");
    }
  });

  it("`env` masks Doppler's values unless --reveal", async () => {
    const masked = await runCli(["env"], { cwd, env });
    expect(masked.code).toBe(0);
    expect(masked.stdout).not.toMatch(/sk_test|acme\.test/);
    expect(masked.stdout).toMatch(/secret values left out \(API_URL, LOG_LEVEL, STRIPE_KEY\)/);
    const json = await cli(["env", "--json"], { cwd, env });
    expect(json).toMatch(/"STRIPE_KEY": "\*{8}"/);
    expect(json).not.toMatch(/sk_test/);
    const revealed = JSON.parse(await cli(["env", "--format", "json", "--reveal"], { cwd, env }));
    expect(revealed).toMatchObject({ API_URL: "https://dev.acme.test", LOG_LEVEL: "debug" });
    const list = await runCli(["list", "--json"], { cwd, env });
    expect(list.stdout + list.stderr).not.toMatch(/sk_test/);
  });

  it("a missing DOPPLER_TOKEN is named; a wrong one is E_PROVIDER_AUTH with Doppler's message and the request id", async () => {
    const missing = await runCli(["env", "--reveal", "--json"], {
      cwd,
      env: { FORKSTACK_DOPPLER_API_URL: env.FORKSTACK_DOPPLER_API_URL! },
    });
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/DOPPLER_TOKEN is not set/);
    expect(JSON.parse(missing.stdout).error.code).toBe("E_PROVIDER_AUTH");
    const wrong = await runCli(["run", "--json", "--", "true"], {
      cwd,
      env: { ...env, DOPPLER_TOKEN: "dp.pt.not-the-token" },
    });
    expect(wrong.code).toBe(1);
    expect(JSON.parse(wrong.stdout).error.code).toBe("E_PROVIDER_AUTH");
    expect(wrong.stderr).toMatch(
      /DOPPLER_TOKEN was rejected \(401 from 127\.0\.0\.1:\d+\): Invalid Auth token \(request id req_\w+\)/,
    );
    expect(wrong.stderr).not.toContain("dp.pt.not-the-token");
    const doctor = await runCli(["doctor"], { cwd, env: { ...env, DOPPLER_TOKEN: "dp.pt.not-the-token" } });
    expect(doctor.stdout + doctor.stderr).toMatch(/DOPPLER_TOKEN was rejected/);
  });

  it("refuses an env whose config name Doppler would not take, before any POST", async () => {
    const long = await tempProject(config(`p${"x".repeat(39)}`));
    await cli(["switch", "dev"], { cwd: long, env }).catch(() => undefined);
    const posts = () => emulator.exchanges.filter((e) => e.method === "POST").length;
    const before = posts();
    const result = await runCli(["new", "a-rather-long-env-name-for-a-doppler-config", "--json"], {
      cwd: long,
      env,
    });
    expect(result.code).toBe(1);
    expect(JSON.parse(result.stdout).error.code).toBe("E_INVALID_ENV_NAME");
    expect(result.stderr).toMatch(/Doppler config name .* over forkstack's limit of 64/);
    expect(posts()).toBe(before);
  });

  it("`delete` removes the branch config and the cache, and leaves dev's root config", async () => {
    await cli(["new", "bob", "--no-switch"], { cwd, env });
    const configs = emulator.state.projects.get("acme")!.configs;
    expect(configs.has("dev_myapp_bob")).toBe(true);
    await cli(["run", "--env", "bob", "--", "true"], { cwd, env });
    await cli(["delete", "bob", "--yes"], { cwd, env });
    expect(configs.has("dev_myapp_bob")).toBe(false);
    expect(configs.has("dev")).toBe(true);
    expect(() => statSync(join(cwd, ".forkstack/envs/bob"))).toThrow(/ENOENT/);
  });

  it("`current` and the runtime library load no provider and no HTTP client", async () => {
    const hook = join(REPO, "test/helpers/loaded-modules.mjs");
    const sources = (stderr: string) => {
      const loaded = JSON.parse(/LOADED (.*)/.exec(stderr)![1]!) as string[];
      const files = [...new Set(loaded.filter((u) => u.startsWith("file:") && u.includes("/dist/")))];
      return files.flatMap((u) =>
        [...readFileSync(fileURLToPath(u), "utf8").matchAll(/^\/\/ (src\/\S+)$/gm)].map((m) => m[1]!),
      );
    };
    const current = await runProcess(process.execPath, ["--import", hook, BIN, "current"], { cwd, env });
    expect(current.code, current.stderr).toBe(0);
    const library = await runProcess(process.execPath, ["--import", hook, await app()], { cwd });
    expect(library.code, library.stderr).toBe(0);
    for (const loaded of [sources(current.stderr), sources(library.stderr)]) {
      expect(loaded.filter((s) => /^src\/(providers|core)\//.test(s))).toEqual([]);
    }
    expect(emulator.violations).toEqual([]);
  });
});
