/**
 * The emulator base every vendor emulator stands on: requests and responses that stray from the
 * vendor's OpenAPI description are recorded as violations (so a provider or emulator that drifts fails
 * its suite), the credential is checked, faults are served to the requests they match and then stop.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startEmulator, type Emulator } from "./_base.js";

let emulator: Emulator;
let answer: unknown = { databases: [] };
beforeAll(async () => {
  emulator = await startEmulator({
    name: "turso",
    spec: "turso",
    prefix: "",
    routes: [
      ["GET /v1/organizations/:org/databases", () => ({ status: 200, body: answer })],
      [
        "POST /v1/organizations/:org/databases",
        (req) => {
          const name = (req.body as { name: string }).name;
          // An answer createDatabase does not document (its spec lists 200, 400 and 409).
          if (name === "teapot") return { status: 418, body: { error: "I'm a teapot" } };
          if (name === "over-quota") return { status: 402, body: { error: "no active subscription" } };
          return { status: 200, body: { database: { Name: name, DbId: "x", Hostname: "h" } } };
        },
      ],
    ],
    unlistedStatuses: { 401: "a wrong token", 402: "no active subscription (Turso's response codes)" },
    authorized: (value) => value === "Bearer good",
    unauthorized: () => ({ status: 401, body: { error: "invalid token" } }),
    notFound: () => ({ status: 404, body: { error: "not found" } }),
    requestIdHeader: "x-request-id",
  });
});
afterAll(() => emulator?.close());

const call = (method: string, path: string, body?: unknown, token = "good") =>
  fetch(`${emulator.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });

describe("emulator base", () => {
  it("passes an exchange that matches the spec, with a request id", async () => {
    const before = emulator.violations.length;
    const response = await call("GET", "/v1/organizations/acme/databases");
    expect(response.status).toBe(200);
    expect(response.headers.get("x-request-id")).toMatch(/^req_/);
    expect(emulator.violations.length).toBe(before);
    expect(emulator.exchanges.at(-1)).toMatchObject({
      method: "GET",
      status: 200,
      operation: "listDatabases",
    });
  });

  it("records a response body that breaks the spec", async () => {
    answer = { databases: [{ Name: 42 }] };
    await call("GET", "/v1/organizations/acme/databases");
    answer = { databases: [] };
    const last = emulator.violations.pop();
    expect(last).toMatchObject({ direction: "response", operation: "listDatabases 200" });
    expect(last?.errors).toContain("must be string");
  });

  it("records a request body that breaks the spec, and a path the spec does not have", async () => {
    await call("POST", "/v1/organizations/acme/databases", { name: 7, group: "default" });
    const bad = emulator.violations.splice(0);
    expect(bad.some((v) => v.direction === "request" && v.operation === "createDatabase")).toBe(true);
    await call("GET", "/v1/no/such/route");
    expect(emulator.violations.splice(0)).toEqual([
      expect.objectContaining({ direction: "request", errors: "no such operation in the spec" }),
    ]);
  });

  it("records a status the operation does not document, unless the emulator lists it with a reason", async () => {
    const before = emulator.violations.length;
    expect(
      (await call("POST", "/v1/organizations/acme/databases", { name: "teapot", group: "default" })).status,
    ).toBe(418);
    expect(emulator.violations.splice(before)).toEqual([
      {
        direction: "response",
        operation: "createDatabase 418",
        errors: "status 418 is not documented for this operation (documented: 200, 400, 409)",
      },
    ]);
    expect(
      (await call("POST", "/v1/organizations/acme/databases", { name: "over-quota", group: "default" }))
        .status,
    ).toBe(402);
    expect((await call("GET", "/v1/organizations/acme/databases", undefined, "bad")).status).toBe(401);
    expect(emulator.violations.length).toBe(before);
  });

  it("checks string formats: a date-time that is none is a violation", async () => {
    const database = (branchedAt: string) => ({
      Name: "child",
      DbId: "x",
      Hostname: "h",
      parent: { id: "p", name: "parent", branched_at: branchedAt },
    });
    answer = { databases: [database("2026-01-02T03:04:05.678Z")] };
    await call("GET", "/v1/organizations/acme/databases");
    expect(emulator.violations).toEqual([]);
    answer = { databases: [database("yesterday")] };
    await call("GET", "/v1/organizations/acme/databases");
    answer = { databases: [] };
    const last = emulator.violations.pop();
    expect(last).toMatchObject({ direction: "response", operation: "listDatabases 200" });
    expect(last?.errors).toContain('must match format \\"date-time\\"');
  });

  it("answers a wrong credential with the vendor's 401", async () => {
    const response = await call("GET", "/v1/organizations/acme/databases", undefined, "bad");
    expect(response.status).toBe(401);
    expect(await response.json()).toEqual({ error: "invalid token" });
  });

  it("serves a fault to the requests it matches, as many times as asked, then stops", async () => {
    emulator.fault({
      match: /^GET /,
      status: 429,
      headers: { "retry-after": "1" },
      body: { error: "slow down" },
      times: 2,
    });
    const first = await call("GET", "/v1/organizations/acme/databases");
    expect(first.status).toBe(429);
    expect(first.headers.get("retry-after")).toBe("1");
    expect((await call("GET", "/v1/organizations/acme/databases")).status).toBe(429);
    expect((await call("GET", "/v1/organizations/acme/databases")).status).toBe(200);
    emulator.violations.splice(0);
  });
});
