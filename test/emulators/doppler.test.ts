/**
 * The Doppler emulator on its own: branch configs read through to their root unless they override a
 * secret, Doppler's error bodies, the request-shape checks that stand in for a vendored spec, and the
 * standalone runner a developer starts by hand.
 */
import { spawn } from "node:child_process";
import { createServer } from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { REPO } from "../helpers/project.js";
import { DEFAULT_TOKEN, start, type DopplerEmulator } from "./doppler.js";

let emulator: DopplerEmulator;
beforeAll(async () => {
  emulator = await start();
});
afterAll(() => emulator?.close());

const call = async (method: string, path: string, body?: unknown, token = DEFAULT_TOKEN) => {
  const res = await fetch(`${emulator.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: res.status, headers: res.headers, body: (await res.json()) as Record<string, unknown> };
};

describe("emulators: doppler", () => {
  it("a branch config reads through to its root config unless it overrides a secret", async () => {
    const made = await call("POST", "/configs", { project: "acme", environment: "stg", name: "stg_emu" });
    expect(made.status).toBe(200);
    expect(made.body.config).toMatchObject({
      name: "stg_emu",
      root: false,
      environment: "stg",
      project: "acme",
    });
    const set = await call("POST", "/configs/config/secrets", {
      project: "acme",
      config: "stg_emu",
      change_requests: [{ name: "LOG_LEVEL", originalName: "LOG_LEVEL", value: "trace" }],
    });
    expect(set.status).toBe(200);
    const read = await call(
      "GET",
      "/configs/config/secrets/download?project=acme&config=stg_emu&format=json",
    );
    expect(read.body).toEqual({
      API_URL: "https://stg.acme.test",
      LOG_LEVEL: "trace",
      DOPPLER_PROJECT: "acme",
      DOPPLER_ENVIRONMENT: "stg",
      DOPPLER_CONFIG: "stg_emu",
    });
    // A new root value shows through; the override stays.
    emulator.state.projects.get("acme")!.configs.get("stg")!.secrets.set("NEW", "x");
    const again = await call(
      "GET",
      "/configs/config/secrets/download?project=acme&config=stg_emu&format=json",
    );
    expect(again.body).toMatchObject({ NEW: "x", LOG_LEVEL: "trace" });
    emulator.state.projects.get("acme")!.configs.get("stg")!.secrets.delete("NEW");
    expect((await call("DELETE", "/configs/config?project=acme&config=stg_emu")).body).toEqual({
      success: true,
    });
  });

  it("answers errors with Doppler's body: 401, 404, 409, 422, and a 429 with Retry-After", async () => {
    const bad = await call("GET", "/configs?project=acme", undefined, "nope");
    expect(bad).toMatchObject({ status: 401, body: { success: false, messages: [expect.any(String)] } });
    expect(bad.headers.get("x-request-id")).toMatch(/^req_/);
    expect((await call("GET", "/configs/config?project=acme&config=nope")).status).toBe(404);
    const dup = { project: "acme", environment: "dev", name: "dev_dup" };
    expect((await call("POST", "/configs", dup)).status).toBe(200);
    expect((await call("POST", "/configs", dup)).status).toBe(409);
    await call("DELETE", "/configs/config?project=acme&config=dev_dup");
    expect(
      (await call("POST", "/configs", { project: "acme", environment: "dev", name: "Dev_X" })).status,
    ).toBe(422);
    expect((await call("DELETE", "/configs/config?project=acme&config=prd")).status).toBe(422);
    emulator.fault({
      status: 429,
      headers: { "retry-after": "7" },
      body: { messages: ["slow down"], success: false },
    });
    const limited = await fetch(`${emulator.url}/configs?project=acme`, {
      headers: { authorization: `Bearer ${DEFAULT_TOKEN}` },
    });
    expect(limited.status).toBe(429);
    expect(limited.headers.get("retry-after")).toBe("7");
    expect(emulator.violations).toEqual([]);
  });

  it("records a request that strays from the documented shapes", async () => {
    await call("POST", "/configs", { project: "acme", env: "dev", name: "dev_x" });
    await call("POST", "/configs/config/secrets", {
      project: "acme",
      config: "dev",
      secrets: {},
      change_requests: [],
    });
    const seen = emulator.violations.splice(0);
    expect(seen.map((v) => v.errors)).toEqual([
      expect.stringContaining('"environment" must be a string'),
      "send exactly one of secrets and change_requests",
    ]);
  });

  it("service tokens read their own config only, and not after revocation", async () => {
    const made = await call("POST", "/configs/config/tokens", {
      project: "acme",
      config: "dev",
      name: "t",
      access: "read",
    });
    const { key, slug } = made.body.token as { key: string; slug: string };
    const own = await call("GET", "/configs/config/secrets/download?format=json", undefined, key);
    expect(own.body).toMatchObject({ DOPPLER_CONFIG: "dev" });
    expect((await call("GET", "/configs?project=acme", undefined, key)).status).toBe(403);
    expect(
      (await call("DELETE", "/configs/config/tokens/token", { project: "acme", config: "dev", slug })).status,
    ).toBe(200);
    expect((await call("GET", "/configs/config/secrets/download?format=json", undefined, key)).status).toBe(
      401,
    );
  });

  it("runs standalone: `node test/emulators/run.mjs doppler --port <n>` prints its URL and serves", async () => {
    const port = await new Promise<number>((resolve) => {
      const probe = createServer().listen(0, "127.0.0.1", () => {
        const { port: p } = probe.address() as { port: number };
        probe.close(() => resolve(p));
      });
    });
    const child = spawn(
      process.execPath,
      [join(REPO, "test/emulators/run.mjs"), "doppler", "--port", String(port)],
      {
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    try {
      const out = await new Promise<string>((resolve, reject) => {
        let text = "";
        child.stdout.on("data", (d: Buffer) => {
          text += d.toString();
          if (text.includes("DOPPLER_TOKEN=")) resolve(text);
        });
        child.on("exit", (code) => reject(new Error(`exited ${code}: ${text}`)));
      });
      expect(out).toContain(`doppler emulator: http://127.0.0.1:${port}/v3`);
      expect(out).toContain(`export FORKSTACK_DOPPLER_API_URL=http://127.0.0.1:${port}`);
      const res = await fetch(`http://127.0.0.1:${port}/v3/projects/project?project=acme`, {
        headers: { authorization: `Bearer ${DEFAULT_TOKEN}` },
      });
      expect(res.status).toBe(200);
      expect(await res.json()).toMatchObject({ project: { slug: "acme" } });
    } finally {
      child.kill("SIGTERM");
    }
  }, 60_000);
});
