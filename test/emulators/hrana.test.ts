/**
 * The Turso emulator's database server checks every Hrana exchange against the protocol's shapes
 * (specs/hrana.json, written from the Hrana documentation: docs/emulators.md), as the Platform API
 * is checked against Turso's OpenAPI description. A real `@libsql/client` session — statements,
 * arguments of every type, a batch, a transaction across requests — leaves no violation; a malformed
 * pipeline does; and an error is Hrana's `Error` (`message`, `code`), which the client shows.
 */
import { createClient } from "@libsql/client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { start, type TursoEmulator } from "./turso.js";

let emulator: TursoEmulator;
let url: string;
let token: string;

/** A token for `db`, minted through the Platform API as the provider does. */
async function mint(db: string): Promise<string> {
  const response = await fetch(
    `${emulator.variables.FORKSTACK_TURSO_API_URL}/v1/organizations/${emulator.organization}/databases/${db}/auth/tokens`,
    { method: "POST", headers: { authorization: `Bearer ${emulator.variables.TURSO_API_TOKEN}` } },
  );
  return ((await response.json()) as { jwt: string }).jwt;
}

beforeAll(async () => {
  emulator = await start();
  const db = emulator.addDatabase("hrana");
  url = emulator.dbUrl.replace("{hostname}", db.hostname);
  token = await mint("hrana");
});
afterAll(async () => {
  await emulator?.close();
});

const pipeline = (body: unknown, authorization = `Bearer ${token}`) =>
  fetch(`${url}v2/pipeline`, {
    method: "POST",
    headers: { authorization, "content-type": "application/json" },
    body: JSON.stringify(body),
  });

describe("turso emulator: Hrana exchanges checked against the protocol", () => {
  it("a real client's session leaves no violation, and the exchanges were checked", async () => {
    const client = createClient({ url, authToken: token });
    try {
      await client.execute("CREATE TABLE t (i INTEGER, f REAL, s TEXT, b BLOB, n)");
      await client.execute({
        sql: "INSERT INTO t VALUES (?, ?, ?, ?, ?)",
        args: [BigInt(42), 1.5, "text", new Uint8Array([0, 255]), null],
      });
      await client.execute({ sql: "INSERT INTO t (s) VALUES (:s)", args: { s: "named" } });
      await client.batch(["INSERT INTO t (s) VALUES ('a')", "INSERT INTO t (s) VALUES ('b')"], "write");
      const tx = await client.transaction("write");
      await tx.execute("INSERT INTO t (s) VALUES ('in tx')");
      await tx.commit();
      const rows = await client.execute("SELECT i, f, s, b, n FROM t ORDER BY rowid LIMIT 1");
      expect(rows.rows[0]).toMatchObject({ f: 1.5, s: "text", n: null });
      await expect(client.execute("SELECT * FROM no_such_table")).rejects.toThrow(/no such table/);
    } finally {
      client.close();
    }
    expect(emulator.dbRequests.filter((r) => r.path.endsWith("/v2/pipeline")).length).toBeGreaterThan(3);
    expect(emulator.violations).toEqual([]);
  });

  it("a pipeline that breaks the protocol is recorded: a statement with both sql and sql_id, a bad integer", async () => {
    const before = emulator.violations.length;
    await pipeline({ baton: null, requests: [{ type: "execute", stmt: { sql: "SELECT 1", sql_id: 1 } }] });
    await pipeline({
      baton: null,
      requests: [{ type: "execute", stmt: { sql: "SELECT ?", args: [{ type: "integer", value: "one" }] } }],
    });
    const found = emulator.violations.splice(before);
    expect(found).toEqual([
      expect.objectContaining({ direction: "request", operation: "pipeline" }),
      expect.objectContaining({ direction: "request", operation: "pipeline" }),
    ]);
    expect(found[0]!.errors).toContain('"instancePath":"/requestBody/requests/0/stmt"');
    expect(found[1]!.errors).toContain('"instancePath":"/requestBody/requests/0/stmt/args/0/value"');
  });

  it("an error is Hrana's Error structure, whose message the client shows", async () => {
    const refused = await pipeline({ baton: null, requests: [{ type: "close" }] }, "Bearer not-a-token");
    expect(refused.status).toBe(401);
    expect(await refused.json()).toEqual({
      message: "Unauthorized: invalid or expired token",
      code: "UNAUTHORIZED",
    });
    const client = createClient({ url, authToken: "not-a-token" });
    try {
      await expect(client.execute("SELECT 1")).rejects.toThrow(/invalid or expired token/);
    } finally {
      client.close();
    }
    expect(emulator.violations).toEqual([]);
  });
});
