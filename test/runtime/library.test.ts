/**
 * The runtime library as app code uses it: a separate Node process in the project directory importing
 * the built package, resolving its env as DESIGN.md §1 and §3 say.
 */
import { createClient } from "@libsql/client";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { beforeAll, afterAll, describe, expect, it } from "vitest";
import { REPO, cli, removeProject, runProcess, tempProject } from "../helpers/project.js";

const LIB = join(REPO, "dist/index.js");

/** Evaluate `expr` in a fresh process (cwd = project) with the library imported as `fs`. */
async function evaluate(cwd: string, expr: string, env: Record<string, string> = {}): Promise<unknown> {
  const script = `const fs = await import(${JSON.stringify(LIB)}); try { console.log(JSON.stringify({ ok: await (${expr}) })); } catch (e) { console.log(JSON.stringify({ error: { code: e.code, message: e.message } })); }`;
  const result = await runProcess(process.execPath, ["--input-type=module", "-e", script], { cwd, env });
  if (result.code !== 0) throw new Error(result.stderr);
  return JSON.parse(result.stdout) as unknown;
}

describe("runtime library", () => {
  let cwd: string;
  afterAll(() => removeProject(cwd));
  beforeAll(async () => {
    cwd = await tempProject(undefined, { suite: true });
    await cli(["new", "alice"], { cwd });
    await writeFile(join(cwd, ".forkstack/envs/alice/secrets.env"), "STRIPE_KEY='sk_alice'\n", {
      mode: 0o600,
    });
  });

  it("resolves the current env: FORKSTACK_ENV, then ENV (with seed aliases), then .current-env", async () => {
    expect(await evaluate(cwd, "fs.currentEnv()")).toEqual({ ok: "alice" });
    expect(await evaluate(cwd, "fs.currentEnv()", { FORKSTACK_ENV: "dev" })).toEqual({ ok: "dev" });
    expect(await evaluate(cwd, "fs.currentEnv()", { ENV: "production" })).toEqual({ ok: "prod" });
    expect(await evaluate(cwd, "fs.currentEnv()", { ENV: "development" })).toEqual({ ok: "dev" });
    expect(await evaluate(cwd, "fs.currentEnv()", { ENV: "staging", FORKSTACK_ENV: "alice" })).toEqual({
      ok: "alice",
    });
  });

  it("finds the project from a subdirectory and falls back to the default env without .current-env", async () => {
    const sub = join(cwd, "myapp.alice.db");
    expect(await evaluate(sub, "fs.currentEnv()")).toEqual({ ok: "alice" });
    await cli(["switch", "dev"], { cwd });
    expect(await evaluate(cwd, "fs.currentEnv()")).toEqual({ ok: "dev" });
    await cli(["switch", "alice"], { cwd });
  });

  it("gives the env's database URL that @libsql/client opens, and its local path", async () => {
    const result = (await evaluate(
      cwd,
      "[fs.databaseUrl(), fs.localPath('graph', 'x.bin'), fs.databaseAuthToken() ?? null]",
    )) as {
      ok: [string, string, null];
    };
    const [url, local, token] = result.ok;
    expect(url).toBe(`file:${join(cwd, ".forkstack/envs/alice/db.sqlite")}`);
    expect(local).toBe(join(cwd, "myapp.alice.db", "graph", "x.bin"));
    expect(token).toBeNull();
    const client = createClient({ url });
    await client.execute("CREATE TABLE t (x)");
    client.close();
  });

  it("exposes secrets, and every variable through envVars()", async () => {
    expect(await evaluate(cwd, "fs.secret('STRIPE_KEY')")).toEqual({ ok: "sk_alice" });
    expect(await evaluate(cwd, "fs.secret('NOPE') ?? null")).toEqual({ ok: null });
    const vars = (await evaluate(cwd, "fs.envVars()")) as { ok: Record<string, string> };
    expect(vars.ok).toMatchObject({
      FORKSTACK_ENV: "alice",
      DATABASE_URL: `file:${join(cwd, ".forkstack/envs/alice/db.sqlite")}`,
      FORKSTACK_LOCAL_PATH: join(cwd, "myapp.alice.db"),
      STRIPE_KEY: "sk_alice",
    });
  });

  it('secret("toString") is a missing secret, not an inherited function', async () => {
    expect(await evaluate(cwd, "fs.secret('toString') ?? null")).toEqual({ ok: null });
  });

  it("storageConfig: path-style for local, Tigris and R2 endpoints, virtual-hosted for AWS S3", async () => {
    const keys = { AWS_ACCESS_KEY_ID: "AKIA1", AWS_SECRET_ACCESS_KEY: "s" };
    const style = async (endpoint: string) =>
      (
        (await evaluate(cwd, "fs.storageConfig().forcePathStyle", {
          ...keys,
          AWS_ENDPOINT_URL_S3: endpoint,
        })) as {
          ok: boolean;
        }
      ).ok;
    expect(await style("http://127.0.0.1:9000")).toBe(true);
    expect(await style("https://t3.storage.dev")).toBe(true);
    expect(await style("https://0123abcd.r2.cloudflarestorage.com")).toBe(true);
    expect(await style("https://s3.eu-west-1.amazonaws.com")).toBe(false);
    expect(await style("https://s3.cn-north-1.amazonaws.com.cn")).toBe(false);
  });

  it("lets variables already in process.env win (a deployed app)", async () => {
    const env = { DATABASE_URL: "libsql://prod.example", STRIPE_KEY: "sk_live" };
    expect(
      await evaluate(cwd, "[fs.databaseUrl(), fs.secret('STRIPE_KEY'), fs.envVars().DATABASE_URL]", env),
    ).toEqual({
      ok: ["libsql://prod.example", "sk_live", "libsql://prod.example"],
    });
  });

  it("explains what is missing", async () => {
    expect(await evaluate(cwd, "fs.databaseUrl()", { FORKSTACK_ENV: "ghost" })).toEqual({
      error: { code: "E_ENV_NOT_FOUND", message: 'Environment "ghost" does not exist in this project.' },
    });
    expect(await evaluate(cwd, "fs.bucketName()")).toMatchObject({
      error: { message: expect.stringMatching(/has no storage \(BUCKET_NAME/) },
    });
    const outside = await tempProject(null);
    expect(await evaluate(outside, "fs.currentEnv()")).toMatchObject({
      error: { code: "E_CONFIG_NOT_FOUND" },
    });
  });

  it("does not load the config loader, zod, libsql or any SDK", async () => {
    const hook = join(REPO, "test/helpers/loaded-modules.mjs");
    const script = `const fs = await import(${JSON.stringify(LIB)}); fs.databaseUrl(); fs.envVars();`;
    const result = await runProcess(
      process.execPath,
      ["--import", hook, "--input-type=module", "-e", script],
      { cwd },
    );
    const loaded = JSON.parse(/LOADED (.*)/.exec(result.stderr)![1]!) as string[];
    expect(loaded.some((url) => url.endsWith("dist/index.js"))).toBe(true);
    // config/define.js (the identity `defineConfig`) is fine; the loader and schema are not.
    expect(
      loaded.filter((url) => /node_modules|\/config\/(load|schema)|\/core\/|\/providers\//.test(url)),
    ).toEqual([]);
  });
});

describe("runtime library: secrets of a provider that is not a local file", () => {
  it("reads the values the CLI cached, never a file the manifest names, once per process", async () => {
    const cwd = await tempProject();
    await cli(["new", "bob"], { cwd });
    const dir = join(cwd, ".forkstack/envs/bob");
    // What a Doppler env's manifest looks like to the library (a `data.file` that is not the embedded
    // provider's must not be read: it could be stale, or anything).
    const manifest = JSON.parse(await readFile(join(dir, "manifest.json"), "utf8")) as {
      resources: Record<string, unknown>;
    };
    await writeFile(join(dir, "secrets.env"), "X='from-file'\n", { mode: 0o600 });
    manifest.resources.secrets = {
      provider: "doppler",
      location: "doppler:acme/dev_myapp_bob",
      vars: {},
      data: { file: join(dir, "secrets.env"), config: "dev_myapp_bob" },
    };
    await writeFile(join(dir, "manifest.json"), JSON.stringify(manifest), { mode: 0o600 });
    expect(await evaluate(cwd, "fs.secret('X') ?? null")).toEqual({ ok: null });
    await writeFile(join(dir, "secrets.cache.env"), "X='from-cache'\n", { mode: 0o600 });
    expect(await evaluate(cwd, "fs.secret('X') ?? null")).toEqual({ ok: "from-cache" });
    // Read once and kept for the process: a change on disk shows after `refresh()`.
    const expr = `(async () => { const a = fs.secret('X'); (await import('node:fs')).writeFileSync(${JSON.stringify(join(dir, "secrets.cache.env"))}, "X='later'\\n"); const b = fs.secret('X'); fs.refresh(); return [a, b, fs.secret('X')]; })()`;
    expect(await evaluate(cwd, expr)).toEqual({ ok: ["from-cache", "from-cache", "later"] });
    // `forkstack run`'s injected value wins over the cache.
    expect(
      await evaluate(cwd, "fs.secret('X')", {
        X: "from-run",
        FORKSTACK_RUN_ENV: "bob",
        FORKSTACK_RUN_VARS: "X",
      }),
    ).toEqual({
      ok: "from-run",
    });
  });
});
