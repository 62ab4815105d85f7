/**
 * The API client every cloud provider uses, against a real `node:http` server on 127.0.0.1 that plays
 * scripted answers (one handler per request, in order). Waits go through a fake clock: retries and
 * polls are asserted by counting attempts and recorded sleeps, never by wall-clock time. Only the
 * timeout tests really wait, a fraction of a second, for a server that never answers (so they cannot
 * go the other way on a busy machine).
 */
import { createServer } from "node:http";
import type { IncomingMessage, Server, ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, afterEach, beforeAll, describe, expect, expectTypeOf, it } from "vitest";
import {
  ApiError,
  anySignal,
  apiUrlVariable,
  createApiClient,
  isApiError,
  parseRetryAfter,
  poll,
  redact,
  vendorError,
} from "../../../src/providers/_http.js";
import type { ApiClientOptions } from "../../../src/providers/_http.js";
import { limit, mapLimit } from "../../../src/providers/_limit.js";
import { InterruptedError, ProviderError, UserError } from "../../../src/errors.js";
import type { Logger } from "../../../src/providers/types.js";
import { waitFor } from "../../helpers/wait.js";

// ---------------------------------------------------------------------------------------------------
// The scripted server.

type Handler = (req: IncomingMessage, res: ServerResponse, body: string) => void;
interface Seen {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingMessage["headers"];
  readonly body: string;
  /** The fake clock's sleeps so far when the request arrived. */
  readonly sleepsBefore: number[];
}

let server: Server;
let origin: string;
let script: Handler[] = [];
let seen: Seen[] = [];
const open = new Set<ServerResponse>();
let inFlight = 0;
let maxInFlight = 0;

const json =
  (status: number, body: unknown, headers: Record<string, string> = {}): Handler =>
  (_req, res) => {
    res.writeHead(status, { "content-type": "application/json", ...headers });
    res.end(body === undefined ? "" : JSON.stringify(body));
  };
const text =
  (status: number, body: string, headers: Record<string, string> = {}): Handler =>
  (_req, res) => {
    res.writeHead(status, { "content-type": "text/plain", ...headers });
    res.end(body);
  };
/** Drop the connection after reading the request: the client cannot tell whether it was applied. */
const reset: Handler = (req) => req.socket.destroy();
/** Never answer (until the test ends). */
const hang: Handler = () => {};
const slow =
  (ms: number, then: Handler): Handler =>
  (req, res, body) =>
    void setTimeout(() => then(req, res, body), ms);

function play(...handlers: Handler[]) {
  script = handlers;
  seen = [];
  maxInFlight = 0;
}

beforeAll(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      seen.push({
        method: req.method ?? "",
        url: req.url ?? "",
        headers: req.headers,
        body: Buffer.concat(chunks).toString("utf8"),
        sleepsBefore: [...clock.sleeps],
      });
      open.add(res);
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      res.on("close", () => {
        open.delete(res);
        inFlight--;
      });
      const handler = script.shift() ?? json(500, { message: "unscripted request" });
      handler(req, res, Buffer.concat(chunks).toString("utf8"));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterEach(() => {
  for (const res of open) res.destroy();
  script = [];
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

// ---------------------------------------------------------------------------------------------------
// A fake clock whose sleeps return at once (after a macrotask, so the server and sockets progress).

interface FakeClock {
  now(): number;
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
  readonly sleeps: number[];
  /** Called at the start of each sleep: lets a test abort mid-backoff. */
  onSleep?: (ms: number) => void;
  /** Sleeps do not move the time. */
  frozen?: boolean;
}

function fakeClock(): FakeClock {
  let t = Date.now();
  const clock: FakeClock = {
    now: () => t,
    sleeps: [],
    async sleep(ms, signal) {
      clock.sleeps.push(ms);
      clock.onSleep?.(ms);
      if (signal?.aborted) throw new InterruptedError();
      if (!clock.frozen) t += ms;
      await new Promise((resolve) => setImmediate(resolve));
      if (signal?.aborted) throw new InterruptedError();
    },
  };
  return clock;
}
let clock = fakeClock();

const SECRET = "napi_SECRETk3y1234567890";
const lines: string[] = [];
const log: Logger = {
  debug: (m) => void lines.push(m),
  info: (m) => void lines.push(m),
  warn: (m) => void lines.push(m),
};

function client(overrides: Partial<ApiClientOptions> = {}) {
  clock = fakeClock();
  lines.length = 0;
  return createApiClient({
    provider: "neon",
    baseUrl: `${origin}/api/v2`,
    defaultBaseUrl: "https://console.neon.tech/api/v2",
    auth: { header: "Authorization", value: `Bearer ${SECRET}`, variable: "NEON_API_KEY" },
    log,
    env: {},
    sleep: (ms, signal) => clock.sleep(ms, signal),
    now: () => clock.now(),
    random: () => 0.5,
    ...overrides,
  });
}

/** The rejection of `promise`, which must reject. */
async function failure(promise: Promise<unknown>): Promise<ApiError> {
  try {
    await promise;
  } catch (error) {
    return error as ApiError;
  }
  throw new Error("expected a rejection");
}

// ---------------------------------------------------------------------------------------------------

describe("providers/_http: where requests go", () => {
  it("names the override variable after the provider", () => {
    expect(apiUrlVariable("neon")).toBe("FORKSTACK_NEON_API_URL");
    expect(apiUrlVariable("my-api")).toBe("FORKSTACK_MY_API_API_URL");
  });

  it("takes the base URL from config, else FORKSTACK_<PROVIDER>_API_URL, else the vendor default", async () => {
    const viaEnv = client({ baseUrl: undefined, env: { FORKSTACK_NEON_API_URL: `${origin}/mock/v2/` } });
    expect(viaEnv.baseUrlSource).toBe("env");
    expect(viaEnv.baseUrl).toBe(`${origin}/mock/v2`);
    play(json(200, { ok: 1 }));
    expect(await viaEnv.request("GET", "/projects/p1")).toEqual({ ok: 1 });
    expect(seen[0]!.url).toBe("/mock/v2/projects/p1");

    const viaConfig = client({ env: { FORKSTACK_NEON_API_URL: "http://127.0.0.1:1/elsewhere" } });
    expect(viaConfig.baseUrlSource).toBe("config");
    play(json(200, {}));
    await viaConfig.request("GET", "projects");
    expect(seen[0]!.url).toBe("/api/v2/projects");

    const viaDefault = client({ baseUrl: undefined, env: {} });
    expect([viaDefault.baseUrlSource, viaDefault.baseUrl]).toEqual([
      "default",
      "https://console.neon.tech/api/v2",
    ]);
  });

  it("refuses a base URL that is not http(s), naming where it came from", () => {
    const error = (() => {
      try {
        client({ baseUrl: undefined, env: { FORKSTACK_NEON_API_URL: "console.neon.tech" } });
      } catch (e) {
        return e as UserError;
      }
      throw new Error("expected a throw");
    })();
    expect(error).toBeInstanceOf(UserError);
    expect(error.code).toBe("E_CONFIG_INVALID");
    expect(error.message).toContain("FORKSTACK_NEON_API_URL");
    expect(() => client({ baseUrl: "ftp://x" })).toThrow(/baseUrl/);
  });

  it("sends JSON with the auth header and query, and reads JSON, empty, text and 404-as-null answers", async () => {
    const api = client();
    play(
      json(201, { branch: { id: "br-1" } }),
      (_q, res) => void res.writeHead(204).end(),
      text(200, "A=1\nB=2\n"),
      json(404, { code: "", message: "branch not found" }),
    );
    const created = await api.request<{ branch: { id: string } }>("POST", "/projects/p1/branches", {
      body: { branch: { name: "alice" } },
      query: { pooled: true, limit: 10, skip: undefined, tag: ["a", "b"] },
    });
    expect(created.branch.id).toBe("br-1");
    expect(seen[0]).toMatchObject({
      method: "POST",
      url: "/api/v2/projects/p1/branches?pooled=true&limit=10&tag=a&tag=b",
      body: '{"branch":{"name":"alice"}}',
    });
    expect(seen[0]!.headers.authorization).toBe(`Bearer ${SECRET}`);
    expect(seen[0]!.headers["content-type"]).toBe("application/json");
    expect(await api.request("DELETE", "/projects/p1/branches/br-1")).toBeUndefined();
    expect(await api.request("GET", "/download", { responseType: "text" })).toBe("A=1\nB=2\n");
    const missing = await api.request<{ id: string }>("GET", "/projects/p1/branches/br-2", {
      nullIfNotFound: true,
    });
    expect(missing).toBeNull();
    // The types say so too: `T | null` only where a 404 can come back as null.
    expectTypeOf(missing).toEqualTypeOf<{ id: string } | null>();
    expectTypeOf<Awaited<ReturnType<typeof api.request<{ id: string }>>>>().toEqualTypeOf<{
      id: string;
    }>();
  });

  it("warns once when the token would go over plain http to a non-loopback host", async () => {
    const calls: string[] = [];
    const api = client({
      baseUrl: "http://neon-mock:8080/api/v2",
      fetch: async (input, init) => {
        calls.push(`${init?.method} ${String(input)}`);
        return new Response('{"ok":true}', { status: 200 });
      },
    });
    expect(await api.request("GET", "/a")).toEqual({ ok: true });
    await api.request("GET", "/b");
    expect(calls).toEqual(["GET http://neon-mock:8080/api/v2/a", "GET http://neon-mock:8080/api/v2/b"]);
    const warnings = lines.filter((l) => l.includes("plain http"));
    expect(warnings).toEqual([
      "[neon] sending NEON_API_KEY over plain http to neon-mock:8080 (API URL from the neon provider's baseUrl option)",
    ]);
  });

  it("follows an absolute URL only on the API's own origin", async () => {
    const api = client();
    play(json(200, { page: 2 }));
    expect(await api.request("GET", `${origin}/api/v2/branches?page=2`)).toEqual({ page: 2 });
    const error = await failure(api.request("GET", "https://evil.example/steal"));
    expect(error.message).toMatch(/Refusing to send NEON_API_KEY to evil\.example/);
    expect(seen).toHaveLength(1);
  });

  it("does not follow redirects (they could carry the token to another host)", async () => {
    const api = client();
    play(text(302, "", { location: "https://elsewhere.example/x" }));
    const error = await failure(api.request("GET", "/projects"));
    expect(error.kind).toBe("api");
    expect(error.message).toContain("redirect (302) to elsewhere.example");
    expect(seen).toHaveLength(1);
  });
});

describe("providers/_http: the node:http transport", () => {
  it("sends without the global fetch, with a content length, on one kept-alive connection", async () => {
    const api = client();
    const global = globalThis.fetch;
    globalThis.fetch = () => Promise.reject(new Error("the global fetch was used"));
    try {
      play(
        (req, res) => void json(200, { port: req.socket.remotePort })(req, res, ""),
        (req, res) => void json(200, { port: req.socket.remotePort })(req, res, ""),
      );
      const first = await api.request<{ port: number }>("POST", "/a", { body: { name: "é" } });
      const second = await api.request<{ port: number }>("GET", "/b");
      expect(second.port).toBe(first.port);
    } finally {
      globalThis.fetch = global;
    }
    expect(seen[0]!.headers["content-length"]).toBe(String(Buffer.byteLength('{"name":"é"}')));
    expect(seen[0]!.headers["transfer-encoding"]).toBeUndefined();
    expect(seen[0]!.body).toBe('{"name":"é"}');
  });

  it("gives response headers as Headers.get does, repeated ones joined", async () => {
    const api = client();
    play((_req, res) => {
      res.setHeader("X-Request-Id", "req_1");
      res.setHeader("x-multi", ["a", "b"]);
      res.writeHead(200, { "content-type": "application/json" }).end("{}");
    });
    const response = await api.send("GET", "/h");
    expect(response.requestId).toBe("req_1");
    expect(response.headers.get("X-Multi")).toBe("a, b");
    expect(response.headers.get("x-none")).toBeNull();
  });

  it("a body cut off by the server is a network failure, retried only for an idempotent request", async () => {
    const cut: Handler = (_req, res) => {
      res.writeHead(200, { "content-type": "application/json", "content-length": "100" });
      res.write('{"branch":');
      setTimeout(() => res.destroy(), 10);
    };
    const api = client();
    play(cut, json(200, { ok: 1 }));
    expect(await api.request("GET", "/b")).toEqual({ ok: 1 });
    play(cut);
    const error = await failure(api.request("POST", "/b", { body: {} }));
    expect(error).toMatchObject({ kind: "network", mayHaveApplied: true, attempts: 1 });
    expect(error.message).toContain("(ECONNRESET)");
  });
});

describe("providers/_http: retries", () => {
  it("retries 429 honouring Retry-After in seconds and as an HTTP date", async () => {
    const api = client();
    play(
      json(429, { message: "slow down" }, { "retry-after": "3" }),
      (req, res) =>
        json(429, {}, { "retry-after": new Date(clock.now() + 5_000).toUTCString() })(req, res, ""),
      json(200, { done: true }),
    );
    expect(await api.request("GET", "/projects")).toEqual({ done: true });
    expect(seen).toHaveLength(3);
    expect(clock.sleeps[0]).toBe(3_000);
    // An HTTP date has whole seconds: between 4 and 5 s from "now".
    expect(clock.sleeps[1]).toBeGreaterThan(3_900);
    expect(clock.sleeps[1]).toBeLessThanOrEqual(5_000);
    expect(lines.some((l) => l.includes("429, retry 2/5 in 3 s (Retry-After)"))).toBe(true);
  });

  it("retries 423 and 503 even for a create (they prove nothing was applied), with jittered backoff", async () => {
    const api = client();
    play(
      json(423, { message: "project already has running operations" }),
      json(503, {}),
      json(201, { ok: true }),
    );
    expect(await api.request("POST", "/projects/p1/branches", { body: {} })).toEqual({ ok: true });
    expect(seen.map((s) => s.method)).toEqual(["POST", "POST", "POST"]);
    // Equal jitter with random() = 0.5: half the step plus a quarter of it; the step doubles.
    expect(clock.sleeps).toEqual([375, 750]);
  });

  it("bounds the attempts and says it gave up", async () => {
    const api = client({ retry: { maxAttempts: 3 } });
    play(json(503, {}), json(503, {}), json(503, { message: "maintenance" }, { "x-request-id": "r-9" }));
    const error = await failure(api.request("GET", "/projects"));
    expect(seen).toHaveLength(3);
    expect(error).toBeInstanceOf(ProviderError);
    expect(error).toMatchObject({ kind: "rate_limited", code: "E_PROVIDER_API", status: 503, attempts: 3 });
    expect(error.message).toBe(
      `[neon] Could not GET /api/v2/projects: 127.0.0.1:${new URL(origin).port} is still busy or rate-limiting (503) after 3 attempts: maintenance (request id r-9).`,
    );
  });

  it("bounds the total time: a Retry-After beyond the budget is not waited for", async () => {
    const api = client({ retry: { maxElapsedMs: 60_000 } });
    play(json(429, { message: "quota" }, { "retry-after": "3600" }), json(200, {}));
    const error = await failure(api.request("GET", "/projects"));
    expect(seen).toHaveLength(1);
    expect(clock.sleeps).toEqual([]);
    expect(error.kind).toBe("rate_limited");
    // Nor does it hold up the client's next request for an hour.
    expect(await api.request("GET", "/projects")).toEqual({});
    expect(clock.sleeps).toEqual([]);
  });

  it("a 429 pauses the other requests of the client too", async () => {
    const api = client({ maxConcurrency: 1 });
    // A frozen clock: sleeps are only recorded, so each request's own waits can be told apart.
    clock.frozen = true;
    play(json(429, {}, { "retry-after": "2" }), json(200, { n: 2 }), json(200, { n: 1 }));
    const [a, b] = await Promise.all([api.request("GET", "/a"), api.request("GET", "/b")]);
    expect([a, b]).toEqual([{ n: 1 }, { n: 2 }]);
    expect(seen.map((s) => s.url)).toEqual(["/api/v2/a", "/api/v2/b", "/api/v2/a"]);
    // /b, which got no 429 itself, waited the 2 s too before it was sent.
    expect(seen[1]!.sleepsBefore.filter((ms) => ms === 2_000).length).toBeGreaterThanOrEqual(2);
  });

  it("retries 502/504 only when the request is idempotent", async () => {
    const api = client();
    play(text(502, "<html>bad gateway</html>", { "content-type": "text/html" }), json(200, { ok: 1 }));
    expect(await api.request("GET", "/projects")).toEqual({ ok: 1 });
    play(text(502, "<html>bad gateway</html>", { "content-type": "text/html" }), json(201, {}));
    const error = await failure(api.request("POST", "/projects/p1/branches", { body: {} }));
    expect(seen).toHaveLength(1);
    expect(error).toMatchObject({ kind: "api", status: 502, vendorMessage: undefined });
    expect(error.message).toMatch(/: 502 Bad Gateway from 127\.0\.0\.1:\d+\.$/);
  });

  it("never resends a POST whose connection broke, and says it may have been applied", async () => {
    const api = client();
    play(reset, json(201, { created: "twice" }));
    const error = await failure(api.request("POST", "/projects/p1/branches", { body: { name: "alice" } }));
    expect(seen).toHaveLength(1);
    expect(error).toMatchObject({ kind: "network", code: "E_SERVER", mayHaveApplied: true, attempts: 1 });
    expect(error.message).toContain("It may have been applied");
    expect(isApiError(error, "network")).toBe(true);
  });

  it("resends an idempotent request whose connection broke, and a POST marked idempotent", async () => {
    const api = client();
    play(reset, json(200, { ok: 1 }));
    expect(await api.request("GET", "/projects")).toEqual({ ok: 1 });
    expect(seen).toHaveLength(2);
    play(reset, json(200, { ok: 2 }));
    expect(await api.request("POST", "/projects/p1/query", { body: {}, idempotent: true })).toEqual({
      ok: 2,
    });
    expect(seen).toHaveLength(2);
  });

  it("resends even a POST when the connection was refused (nothing reached a server)", async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const api = client({ baseUrl: `http://127.0.0.1:${port}`, retry: { maxAttempts: 3 } });
    const error = await failure(api.request("POST", "/branches", { body: {} }));
    expect(clock.sleeps).toHaveLength(2);
    expect(error).toMatchObject({ kind: "network", code: "E_SERVER", mayHaveApplied: false, attempts: 3 });
    expect(error.message).toContain(`could not reach 127.0.0.1:${port} (ECONNREFUSED) (3 attempts)`);
    expect(error.hint).toContain("baseUrl");
  });
});

describe("providers/_http: timeouts and aborts", () => {
  it("a timeout is a provider error naming the host and the time; a GET is tried again, a POST not", async () => {
    const api = client({ timeoutMs: 200, retry: { maxAttempts: 2 } });
    play(hang, hang);
    const get = await failure(api.request("GET", "/projects"));
    expect(seen).toHaveLength(2);
    expect(get).toMatchObject({ kind: "timeout", code: "E_SERVER", mayHaveApplied: false });
    expect(get.message).toBe(
      `[neon] Could not GET /api/v2/projects: no answer from 127.0.0.1:${new URL(origin).port} within 0.2 s (2 attempts).`,
    );

    play(hang, hang);
    const post = await failure(api.request("POST", "/branches", { body: {}, action: "create branch alice" }));
    expect(seen).toHaveLength(1);
    expect(post).toMatchObject({ kind: "timeout", mayHaveApplied: true });
    expect(post.message).toMatch(
      /^\[neon\] Could not create branch alice: no answer from .* within 0\.2 s\./,
    );
  });

  it("the per-request timeout covers a body that stops halfway", async () => {
    const api = client({ timeoutMs: 200, retry: { maxAttempts: 1 } });
    play((_req, res) => {
      res.writeHead(200, { "content-type": "application/json" });
      res.write('{"branch":');
    });
    expect((await failure(api.request("GET", "/b"))).kind).toBe("timeout");
  });

  it("an abort from the caller is forkstack's InterruptedError, not a timeout", async () => {
    const api = client({ timeoutMs: 30_000 });
    const controller = new AbortController();
    play(hang);
    // A POST: nothing may turn the abort into a retry or a "may have been applied" network error.
    const pending = api.request("POST", "/branches", { body: {}, signal: controller.signal });
    await waitFor(() => seen.length === 1); // in flight: the server has it
    controller.abort();
    const error = await failure(pending);
    expect(error).toBeInstanceOf(InterruptedError);
    expect(error.code).toBe("E_INTERRUPTED");
  });

  it("an abort during a backoff stops the retries; an aborted signal sends nothing", async () => {
    const api = client();
    const controller = new AbortController();
    clock.onSleep = () => controller.abort();
    play(json(503, {}), json(200, {}));
    const error = await failure(api.request("GET", "/projects", { signal: controller.signal }));
    expect(error).toBeInstanceOf(InterruptedError);
    expect(seen).toHaveLength(1);

    play(json(200, {}));
    expect(await failure(api.request("GET", "/projects", { signal: controller.signal }))).toBeInstanceOf(
      InterruptedError,
    );
    expect(seen).toHaveLength(0);
  });

  it("joins signals with AbortSignal.any or, without it, with listeners it removes again", () => {
    for (const native of [true, false]) {
      const a = new AbortController();
      const b = new AbortController();
      const joined = anySignal([a.signal, undefined, b.signal], native);
      expect(joined.signal.aborted).toBe(false);
      b.abort("why");
      expect(joined.signal.aborted).toBe(true);
      expect(joined.signal.reason).toBe("why");
      joined.dispose();
    }
    const a = new AbortController();
    const joined = anySignal([a.signal], false);
    joined.dispose();
    a.abort();
    expect(joined.signal.aborted).toBe(false);
    const pre = new AbortController();
    pre.abort();
    expect(anySignal([pre.signal], false).signal.aborted).toBe(true);
  });
});

describe("providers/_http: errors", () => {
  const port = () => new URL(origin).port;

  it.each([
    {
      name: "401 (Neon body, request id header)",
      answer: json(401, { code: "", message: "authentication failed" }, { "x-request-id": "req-1" }),
      code: "E_PROVIDER_AUTH",
      kind: "auth",
      message: () =>
        `[neon] Could not GET /api/v2/projects: NEON_API_KEY was rejected (401 from 127.0.0.1:${port()}): authentication failed (request id req-1).`,
    },
    {
      name: "403 (PlanetScale body with a code)",
      answer: json(403, { code: "forbidden", message: "Missing access: create_branch." }),
      code: "E_PROVIDER_AUTH",
      kind: "auth",
      vendorCode: "forbidden",
      message: () =>
        `[neon] Could not GET /api/v2/projects: NEON_API_KEY is not allowed to do this (403 from 127.0.0.1:${port()}): Missing access: create_branch.`,
    },
    {
      name: "404 (Turso body)",
      answer: json(404, { error: "could not find database alice" }),
      code: "E_ENV_NOT_FOUND",
      kind: "not_found",
      message: () =>
        `[neon] Could not GET /api/v2/projects: not found (404 from 127.0.0.1:${port()}): could not find database alice.`,
    },
    {
      name: "409 (Turso body)",
      answer: json(409, { error: "database with name alice already exists" }),
      code: "E_ENV_EXISTS",
      kind: "exists",
    },
    {
      name: "422 saying the name is taken",
      answer: json(422, { error: "database name is not available" }),
      code: "E_ENV_EXISTS",
      kind: "exists",
    },
    {
      name: "422 for anything else",
      answer: json(422, { error: "invalid group" }),
      code: "E_PROVIDER_API",
      kind: "api",
    },
    {
      name: "400 (Doppler body, several messages)",
      answer: json(400, { messages: ["Invalid project", "Invalid config"], success: false }),
      code: "E_PROVIDER_API",
      kind: "api",
      message: () =>
        `[neon] Could not GET /api/v2/projects: 400 Bad Request from 127.0.0.1:${port()}: Invalid project; Invalid config.`,
    },
    {
      name: "500 (Neon body with its own request id)",
      answer: json(500, { code: "INTERNAL", message: "boom", request_id: "neon-req-7" }),
      code: "E_PROVIDER_API",
      kind: "api",
      vendorCode: "INTERNAL",
      message: () =>
        `[neon] Could not GET /api/v2/projects: 500 Internal Server Error from 127.0.0.1:${port()}: boom (request id neon-req-7).`,
    },
    {
      name: "402 with a plain-text body",
      answer: text(402, "no active subscription\nmore"),
      code: "E_PROVIDER_API",
      kind: "api",
      message: () =>
        `[neon] Could not GET /api/v2/projects: 402 Payment Required from 127.0.0.1:${port()}: no active subscription.`,
    },
  ])("maps $name", async ({ answer, code, kind, message, ...rest }) => {
    const api = client();
    play(answer);
    const error = await failure(api.request("GET", "/projects"));
    expect(error).toBeInstanceOf(ApiError);
    expect(error).toMatchObject({ code, kind, exitCode: 1, provider: "neon" });
    if ("vendorCode" in rest) expect(error.vendorCode).toBe(rest.vendorCode);
    if (message) expect(error.message).toBe(message());
    expect(seen).toHaveLength(1);
  });

  it("a 2xx that is not JSON is an error, not a crash", async () => {
    const api = client();
    play(text(200, "<html>login</html>", { "content-type": "text/html" }));
    const error = await failure(api.request("GET", "/projects"));
    expect(error.kind).toBe("api");
    expect(error.message).toContain("not JSON (text/html)");
  });

  it("reads the vendors' error bodies", () => {
    expect(vendorError('{"code":"","message":"m","request_id":"r"}', "application/json")).toEqual({
      message: "m",
      requestId: "r",
    });
    expect(vendorError('{"error":"e"}', "")).toEqual({ message: "e" });
    expect(vendorError('{"error":{"code":"c","message":"nested"}}', "")).toEqual({
      message: "nested",
      code: "c",
    });
    expect(vendorError('{"messages":["a","b"],"success":false}', "")).toEqual({ message: "a; b" });
    expect(vendorError('{"errors":[{"message":"x"},"y"]}', "")).toEqual({ message: "x; y" });
    expect(vendorError("<html><body>502</body></html>", "text/html")).toEqual({});
    expect(vendorError("", "")).toEqual({});
    expect(vendorError("[1,2]", "")).toEqual({});
  });

  it("parses Retry-After", () => {
    const now = Date.parse("2026-11-30T10:00:00Z");
    expect(parseRetryAfter("3", now)).toBe(3_000);
    expect(parseRetryAfter("1.5", now)).toBe(1_500);
    expect(parseRetryAfter("Mon, 30 Nov 2026 10:00:07 GMT", now)).toBe(7_000);
    expect(parseRetryAfter("Mon, 30 Nov 2026 09:00:00 GMT", now)).toBe(0);
    expect(parseRetryAfter("soon", now)).toBeUndefined();
    expect(parseRetryAfter(null, now)).toBeUndefined();
  });
});

describe("providers/_http: credentials stay secret", () => {
  it("never puts the token in a message, hint or log, even when the vendor echoes it", async () => {
    const api = client();
    play(
      json(401, { message: `invalid token Bearer ${SECRET}` }),
      json(200, { connection_uri: "postgres://u:pg-password-42@h/db" }),
    );
    const error = await failure(api.request("GET", "/projects"));
    expect(error.message).toContain("NEON_API_KEY was rejected (401");
    expect(error.message).toContain("invalid token [redacted]");
    expect(error.hint).toContain("NEON_API_KEY");
    await api.request("GET", "/projects/p1/connection_uri");
    const everything = JSON.stringify([error.message, error.hint, error.vendorMessage, lines, { ...error }]);
    expect(everything).not.toContain(SECRET);
    // Response bodies are not logged either: they hold passwords.
    expect(everything).not.toContain("pg-password-42");
    expect(lines.length).toBeGreaterThan(0);
  });

  it("trims a pasted line break, and refuses a value no header can carry without quoting it", async () => {
    const pasted = client({
      auth: { header: "Authorization", value: `Bearer ${SECRET}\r\n`, variable: "NEON_API_KEY" },
    });
    play(json(200, {}));
    await pasted.request("GET", "/projects");
    expect(seen[0]!.headers.authorization).toBe(`Bearer ${SECRET}`);

    for (const bad of [`Bearer ${SECRET}\nX`, `Bearer ${SECRET}\u20ac`]) {
      const api = client({ auth: { header: "Authorization", value: bad, variable: "NEON_API_KEY" } });
      play(json(200, {}));
      const error = await failure(api.request("GET", "/projects"));
      expect(error.code).toBe("E_PROVIDER_AUTH");
      expect(error.message).toContain("NEON_API_KEY holds characters");
      expect(JSON.stringify([error.message, error.hint, String(error.cause)])).not.toContain(SECRET);
      expect(seen).toHaveLength(0);
    }
  });

  it("scrubs the token from a fetch error kept as the cause", async () => {
    const api = client({
      retry: { maxAttempts: 1 },
      fetch: async (_input, init) => {
        throw new TypeError(`cannot send ${new Headers(init?.headers).get("authorization")}`);
      },
    });
    const error = await failure(api.request("GET", "/projects"));
    expect(error.kind).toBe("network");
    expect(String(error.cause)).toBe("TypeError: cannot send [redacted]");
  });

  it("redacts each half of an `id:token` credential", () => {
    const value = "pscale_tkn_id123:pscale_tkn_secret456";
    expect(redact(`bad ${value}`, value)).toBe("bad [redacted]");
    expect(redact("token pscale_tkn_secret456 expired", value)).toBe("token [redacted] expired");
    expect(redact("nothing here", undefined)).toBe("nothing here");
  });

  it("a missing credential fails naming the variable, before any request", async () => {
    const api = client({ auth: { header: "Authorization", value: undefined, variable: "TURSO_API_TOKEN" } });
    play(json(200, {}));
    const error = await failure(api.request("GET", "/databases"));
    expect(error).toBeInstanceOf(ProviderError);
    expect(error.code).toBe("E_PROVIDER_AUTH");
    expect(error.message).toBe("[neon] TURSO_API_TOKEN is not set.");
    expect(seen).toHaveLength(0);
  });
});

describe("providers/_http: poll", () => {
  it("calls until ready, reporting progress at each step", async () => {
    const api = client();
    const states = ["init", "init", "ready"];
    play(...states.map((s) => json(200, { branch: { current_state: s } })));
    const progress: Array<[number, string, boolean]> = [];
    const result = await api.poll(
      () => api.request<{ branch: { current_state: string } }>("GET", "/projects/p1/branches/br-1"),
      {
        until: (v) => v.branch.current_state === "ready",
        intervalMs: (attempt) => (attempt < 2 ? 1_000 : 5_000),
        onProgress: (p) => progress.push([p.attempt, p.value.branch.current_state, p.done]),
      },
    );
    expect(result.branch.current_state).toBe("ready");
    expect(progress).toEqual([
      [1, "init", false],
      [2, "init", false],
      [3, "ready", true],
    ]);
    expect(clock.sleeps).toEqual([1_000, 5_000]);
  });

  it("times out with what it waited for and the last state, calling once more at the deadline", async () => {
    const api = client();
    let calls = 0;
    const error = await failure(
      api.poll(async () => ({ status: `running ${++calls}` }), {
        until: () => false,
        intervalMs: 4_000,
        timeoutMs: 10_000,
        what: "operation op-1 to finish",
        describe: (v) => v.status,
      }),
    );
    expect(calls).toBe(4);
    expect(clock.sleeps).toEqual([4_000, 4_000, 2_000]);
    expect(error).toBeInstanceOf(ProviderError);
    expect(error.code).toBe("E_PROVIDER_API");
    expect(error.message).toBe(
      "[neon] Timed out after 10 s waiting for operation op-1 to finish (last: running 4).",
    );
  });

  it("stops on abort, also mid-wait, and passes on a failure thrown by the check", async () => {
    const c = fakeClock();
    const controller = new AbortController();
    c.onSleep = () => controller.abort();
    let calls = 0;
    const aborted = failure(
      poll(async () => ++calls, {
        until: () => false,
        signal: controller.signal,
        sleep: c.sleep,
        now: c.now,
      }),
    );
    expect(await aborted).toBeInstanceOf(InterruptedError);
    expect(calls).toBe(1);

    const failed = await failure(
      poll(async () => "failed", {
        until: (v) => {
          if (v === "failed") throw new ProviderError("neon", "Operation failed.");
          return false;
        },
        sleep: c.sleep,
        now: c.now,
      }),
    );
    expect(failed.message).toBe("[neon] Operation failed.");
  });
});

describe("providers/_limit", () => {
  it("runs at most n at once, in call order", async () => {
    const run = limit(2);
    let active = 0;
    let peak = 0;
    const started: number[] = [];
    const task = (i: number) => async () => {
      started.push(i);
      active++;
      peak = Math.max(peak, active);
      await new Promise((resolve) => setTimeout(resolve, 5));
      active--;
      return i;
    };
    const all = Promise.all([0, 1, 2, 3, 4, 5].map((i) => run(task(i))));
    expect([run.active, run.pending]).toEqual([2, 4]);
    expect(await all).toEqual([0, 1, 2, 3, 4, 5]);
    expect(peak).toBe(2);
    expect(started).toEqual([0, 1, 2, 3, 4, 5]);
    expect([run.active, run.pending]).toEqual([0, 0]);
  });

  it("a failing or throwing task frees its slot; a queued task whose signal aborts never runs", async () => {
    const run = limit(1);
    await expect(run(() => Promise.reject(new Error("x")))).rejects.toThrow("x");
    await expect(
      run(() => {
        throw new Error("sync");
      }),
    ).rejects.toThrow("sync");
    const controller = new AbortController();
    let release = () => {};
    const first = run(() => new Promise<void>((resolve) => (release = resolve)));
    let ran = false;
    const queued = run(async () => void (ran = true), controller.signal);
    controller.abort();
    await expect(queued).rejects.toBeInstanceOf(InterruptedError);
    release();
    await first;
    expect(ran).toBe(false);
    expect(run.pending).toBe(0);
    expect(() => limit(0)).toThrow(RangeError);
  });

  it("mapLimit keeps input order and starts nothing more after the first failure", async () => {
    expect(await mapLimit([3, 1, 2], 2, async (n) => n * 10)).toEqual([30, 10, 20]);
    const started: number[] = [];
    const error = await failure(
      mapLimit([0, 1, 2, 3, 4], 1, async (n) => {
        started.push(n);
        if (n === 1) throw new Error("bad token");
        return n;
      }),
    );
    expect(error.message).toBe("bad token");
    expect(started).toEqual([0, 1]);
  });

  it("the client keeps at most maxConcurrency requests in flight (50 envs, limit 3)", async () => {
    const api = client({ maxConcurrency: 3 });
    play(...Array.from({ length: 50 }, (_, i) => slow(10, json(200, { i }))));
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) => api.request<{ i: number }>("GET", `/branches/env-${i}`)),
    );
    expect(results).toHaveLength(50);
    expect(seen).toHaveLength(50);
    expect(maxInFlight).toBe(3);
  });
});
