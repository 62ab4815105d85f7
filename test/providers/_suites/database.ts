/**
 * Conformance suite for database providers. A provider's test file calls `testDatabaseProvider` inside a
 * `describe`. Without `exec` (e.g. a mock-API run) the data tests are skipped with that reason.
 */
import { expect } from "vitest";
import type { DatabaseProvider, ResourceInfo } from "../../../src/providers/types.js";
import { lifecycleTests, setupSuite } from "./_lifecycle.js";
import type { DataAccess, SuiteContext, SuiteOptions } from "./_lifecycle.js";

export type Row = Record<string, unknown>;

export interface DatabaseSuiteOptions extends SuiteOptions<DatabaseProvider> {
  /** Run one SQL statement against the env's database, connecting the way an app would from `info`. */
  exec?: (info: ResourceInfo, sql: string, args?: unknown[]) => Promise<Row[]>;
}

export type DatabaseSuiteContext = SuiteContext<DatabaseProvider>;

const DATA_TESTS = [
  "create makes an empty root that describe and list report",
  "create refuses an env that exists and changes nothing",
  "fork gives the child the parent's data as of the fork",
  "writes on either side of a fork do not reach the other",
  "fork into an existing env is refused and changes nothing",
  "fork of a fork sees both generations' data",
  "remove is idempotent and leaves parent and children alone",
  "a removed name can be forked again",
];

export function testDatabaseProvider(options: DatabaseSuiteOptions): void {
  const exec = options.exec;
  const skip = exec
    ? options.skip
    : [...(options.skip ?? []), { reason: "no exec given", tests: DATA_TESTS }];
  const { ctx, test } = setupSuite({ ...options, skip });

  const describeOrFail = async (env: string) => {
    const info = await ctx.core.describe(env);
    if (!info) throw new Error(`env ${env} has no database`);
    return info;
  };
  const data: DataAccess<DatabaseProvider> = {
    async put(_ctx, env, key, value) {
      const info = await describeOrFail(env);
      await exec!(info, "CREATE TABLE IF NOT EXISTS kv (k TEXT PRIMARY KEY, v TEXT NOT NULL)");
      await exec!(info, "INSERT OR REPLACE INTO kv (k, v) VALUES (?, ?)", [key, value]);
    },
    async read(_ctx, env) {
      const info = await describeOrFail(env);
      const tables = await exec!(info, "SELECT name FROM sqlite_schema WHERE name = 'kv'").catch(() => null);
      // Non-SQLite backends have no sqlite_schema: fall back to trying the table.
      if (tables !== null && tables.length === 0) return {};
      const rows = await exec!(info, "SELECT k, v FROM kv ORDER BY k");
      return Object.fromEntries(rows.map((r) => [String(r.k), String(r.v)]));
    },
  };

  lifecycleTests(ctx, test, data);

  test("vars give the app a DATABASE_URL and nothing secret", async () => {
    const info = await ctx.core.create("dev");
    expect(info.vars.DATABASE_URL).toMatch(/^[a-z][a-z0-9+.-]*:/);
    // Tokens and passwords belong in secretVars, which `forkstack env` masks.
    for (const key of Object.keys(info.vars)) expect(key).not.toMatch(/TOKEN|PASSWORD|SECRET/);
    for (const key of Object.keys(info.secretVars ?? {})) expect(info.vars).not.toHaveProperty(key);
    const child = await ctx.core.fork("dev", "alice");
    expect(child.vars.DATABASE_URL).not.toBe(info.vars.DATABASE_URL);
  });

  options.additionalTests?.(ctx);
}
