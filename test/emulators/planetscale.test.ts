/**
 * The PlanetScale emulator itself, without data servers (what `run.mjs planetscale` serves): it runs
 * standalone and answers; a branch is `ready` only after a delay; the vendor's errors come in its
 * `{code, message}` shape; passwords show their text once. And the handshake rewrite its MariaDB proxy
 * relies on, byte for byte.
 */
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { testClock } from "../helpers/clock.js";
import { REPO, cleanEnv } from "../helpers/project.js";
import { rewriteHandshake } from "./_planetscale-data.js";
import { start, type PlanetScaleEmulator } from "./planetscale.js";

// Its time is a test clock: "after an hour" is `clock.advance`, never a wait (nor a race with one).
const clock = testClock();
const HOUR = 3_600_000;
let emu: PlanetScaleEmulator;
beforeAll(async () => {
  emu = await start({ clock, readyAfterMs: HOUR, mariadb: undefined, postgres: undefined });
});
afterAll(async () => {
  const violations = emu ? [...emu.violations] : [];
  await emu?.close();
  expect(violations).toEqual([]);
});

const call = (method: string, path: string, body?: unknown, authorization = emu.authorization) =>
  fetch(`${emu.url}${path}`, {
    method,
    headers: { authorization, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });

const shop = "/organizations/acme/databases/shop";

describe("planetscale emulator (metadata only)", () => {
  it("a branch is made from its parent, ready only after a delay, then takes a password shown once", async () => {
    const made = await call("POST", `${shop}/branches`, { name: "feature-1", parent_branch: "main" });
    expect(made.status).toBe(201);
    expect(await made.json()).toMatchObject({ name: "feature-1", parent_branch: "main", ready: false });
    const early = await call("POST", `${shop}/branches/feature-1/passwords`, { role: "admin" });
    expect(early.status).toBe(422);
    clock.advance(HOUR);
    expect(await (await call("GET", `${shop}/branches/feature-1`)).json()).toMatchObject({
      ready: true,
      state: "ready",
    });
    const password = (await (
      await call("POST", `${shop}/branches/feature-1/passwords`, { ttl: 60 })
    ).json()) as {
      id: string;
      plain_text: string | null;
      access_host_url: string;
      ttl_seconds: number;
    };
    expect(password.plain_text).toMatch(/^pscale_pw_/);
    expect(password.access_host_url).toBe("no-data-plane.invalid");
    expect(password.ttl_seconds).toBe(60);
    const again = await (await call("GET", `${shop}/branches/feature-1/passwords/${password.id}`)).json();
    expect(again).toMatchObject({ id: password.id, plain_text: null });
    expect((await call("DELETE", `${shop}/branches/feature-1`)).status).toBe(204);
    expect((await call("GET", `${shop}/branches/feature-1`)).status).toBe(404);
  });

  it("answers PlanetScale's errors: 401, 404, 409, 422", async () => {
    const unauthorized = await call("GET", shop, undefined, "emu-token-id:wrong");
    expect(unauthorized.status).toBe(401);
    expect(await unauthorized.json()).toEqual({ code: "unauthorized", message: expect.any(String) });
    const missing = await call("GET", `${shop}/branches/nope`);
    expect(missing.status).toBe(404);
    expect(await missing.json()).toEqual({ code: "not_found", message: "Not Found" });
    expect((await call("DELETE", `${shop}/branches/main`)).status).toBe(409);
    const taken = await call("POST", `${shop}/branches`, { name: "main" });
    expect(taken.status).toBe(422);
    expect(await taken.json()).toEqual({ code: "unprocessable", message: "Name has already been taken" });
    expect((await call("POST", `${shop}/branches`, { name: "Bad_Name" })).status).toBe(422);
    expect(
      (await call("POST", `${shop}/branches`, { name: "x", seed_data: "last_successful_backup" })).status,
    ).toBe(422);
  });

  it("past its rate limit a token gets 429 with Retry-After, until the window frees up", async () => {
    const limited = await start({
      clock,
      mariadb: undefined,
      postgres: undefined,
      rateLimit: { requests: 2, windowMs: HOUR },
    });
    try {
      const get = () => fetch(`${limited.url}${shop}`, { headers: { authorization: limited.authorization } });
      expect((await get()).status).toBe(200);
      expect((await get()).status).toBe(200);
      const refused = await get();
      expect(refused.status).toBe(429);
      // Seconds until the window frees a slot: the hour, less what the wall clock has run since.
      const retryAfter = Number(refused.headers.get("retry-after"));
      expect(retryAfter).toBeGreaterThanOrEqual(1);
      expect(retryAfter).toBeLessThanOrEqual(HOUR / 1000);
      expect(await refused.json()).toEqual({ code: "rate_limited", message: "API rate limit exceeded" });
      clock.advance(retryAfter * 1000); // waiting what Retry-After says is enough
      expect((await get()).status).toBe(200);
      expect(limited.violations).toEqual([]);
    } finally {
      await limited.close();
    }
  });

  it("runs standalone: `run.mjs planetscale` prints its URL and the variables, and answers", async () => {
    const child = spawn(process.execPath, ["test/emulators/run.mjs", "planetscale", "--port", "0"], {
      cwd: REPO,
      env: cleanEnv(),
      stdio: ["ignore", "pipe", "inherit"],
    });
    try {
      const lines = createInterface({ input: child.stdout! });
      const printed: string[] = [];
      for await (const line of lines) {
        printed.push(line);
        if (printed.length === 4) break;
      }
      const url = /^planetscale emulator: (http:\/\/127\.0\.0\.1:\d+\/v1)$/.exec(printed[0] ?? "")?.[1];
      expect(url, printed.join("\n")).toBeDefined();
      const variables = Object.fromEntries(
        printed.slice(1).map((l) => /^export (\w+)=(.*)$/.exec(l)!.slice(1, 3) as [string, string]),
      );
      expect(variables.FORKSTACK_PLANETSCALE_API_URL).toBe(url);
      const answer = await fetch(`${url}/organizations/acme/databases/shop`, {
        headers: {
          authorization: `${variables.PLANETSCALE_SERVICE_TOKEN_ID}:${variables.PLANETSCALE_SERVICE_TOKEN}`,
        },
      });
      expect(answer.status).toBe(200);
      expect(await answer.json()).toMatchObject({ name: "shop", kind: "mysql", default_branch: "main" });
    } finally {
      child.kill("SIGTERM");
    }
  }, 60_000);
});

describe("the MariaDB proxy's handshake rewrite", () => {
  /** A HandshakeResponse41 as mysql2 sends it (secure connection, lenenc auth data, CONNECT_WITH_DB). */
  const packet = (caps: number, user: string, auth: Buffer, database?: string) => {
    const head = Buffer.alloc(32);
    head.writeUInt32LE(caps, 0);
    head.writeUInt32LE(0xffffff, 4);
    head[8] = 45;
    const parts: Buffer[] = [head, Buffer.from(`${user}\0`)];
    // A 20-byte scramble: its length is one byte whether length-encoded or not.
    parts.push(Buffer.from([auth.length]), auth);
    if (database !== undefined) parts.push(Buffer.from(`${database}\0`));
    parts.push(Buffer.from("mysql_native_password\0"));
    const body = Buffer.concat(parts);
    const header = Buffer.alloc(4);
    header.writeUIntLE(body.length, 0, 3);
    header[3] = 1;
    return Buffer.concat([header, body]);
  };
  const auth = Buffer.from("0123456789abcdefghij");

  it("replaces the database of a known user, keeping everything else", () => {
    const caps = 0x8 | 0x8000 | 0x80000 | 0x200000;
    const rewritten = rewriteHandshake(packet(caps, "u1", auth, "shop"), (u) =>
      u === "u1" ? "ps_br1" : undefined,
    )!;
    expect(rewritten).toEqual(packet(caps, "u1", auth, "ps_br1"));
  });

  it("adds the database when the client named none, and leaves unknown users alone", () => {
    const caps = 0x8000 | 0x80000;
    const original = packet(caps, "u1", auth);
    expect(rewriteHandshake(original, () => "ps_br1")).toEqual(packet(caps | 0x8, "u1", auth, "ps_br1"));
    expect(rewriteHandshake(original, () => undefined)).toBe(original);
    expect(rewriteHandshake(Buffer.from([32, 0, 0, 1, ...Buffer.alloc(32)]), () => "x")).toBeUndefined();
  });
});
