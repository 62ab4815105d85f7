/**
 * @module testing/suites/database
 * Conformance suite for database providers: the shared lifecycle with data as rows of a key/value
 * table, written and read the way an app does — through the env's DATABASE_URL (and
 * DATABASE_AUTH_TOKEN), whether the provider put them in `vars` or `secretVars` — plus the shape of
 * the variables. SQL is per dialect (`../sql.ts`); the provider's test file supplies `query`, so the
 * suite carries no driver. Without `query` (a run against a mock API) the data tests are skipped.
 */
import { expect } from "../vitest-api.js";
import type { DatabaseProvider, ResourceInfo } from "../../providers/types.js";
import { appVars } from "../project.js";
import { kvStatements, type Dialect } from "../sql.js";
import { setupSuite, type DataAccess, type SuiteContext, type SuiteOptions } from "./harness.js";
import { lifecycleTests } from "./lifecycle.js";

export type Row = Record<string, unknown>;

/**
 * Run one SQL statement against a database, connecting as an app would, and return its rows as objects
 * keyed by column name (an empty array for statements without rows).
 */
export type QueryFn = (url: string, authToken: string | undefined, sql: string) => Promise<Row[]>;

export interface DatabaseSuiteOptions extends SuiteOptions<DatabaseProvider> {
  /** Which SQL the suite speaks to the provider's databases. */
  readonly dialect: Dialect;
  /** How to run SQL; without it the tests that read or write data are skipped. */
  readonly query?: QueryFn;
}

export type DatabaseSuiteContext = SuiteContext<DatabaseProvider>;

const DATA_TESTS = [
  "create makes an empty root that describe and list report",
  "create refuses an env that exists and changes nothing",
  "fork gives the child the parent's data as of the fork",
  "writes on either side of a fork do not reach the other",
  "fork into an existing env is refused and changes nothing",
  "fork of a fork sees both generations' data",
  "remove is idempotent and leaves the parent and siblings alone",
  "removing a parent leaves its forks whole",
  "forks pin their parent: removing the forks, then the parent, leaves nothing",
  "a removed name can be forked again",
  "describe, fork and remove work from the recorded info, and describe also by name alone",
  "a point-in-time fork sees the parent as it was at that moment",
  "change the config between `new` and `delete`/`reset`: nothing that was not recorded is touched",
  "rollback of a step that crashed while making removes the recorded target",
];

/** DATABASE_URL and DATABASE_AUTH_TOKEN of a resource, from `vars` or `secretVars`. */
export function connectionOf(info: ResourceInfo): { url: string; authToken: string | undefined } {
  const vars = appVars(info);
  const url = vars.DATABASE_URL;
  if (!url) throw new Error(`${info.location} has no DATABASE_URL in vars or secretVars`);
  return { url, authToken: vars.DATABASE_AUTH_TOKEN || undefined };
}

export function databaseSuite(options: DatabaseSuiteOptions): void {
  const query = options.query;
  const skip = query
    ? options.skip
    : [...(options.skip ?? []), { reason: "no query given", tests: DATA_TESTS }];
  const { ctx, test } = setupSuite({ ...options, skip });
  const sql = kvStatements(options.dialect);

  const run = async (env: string, statement: string) => {
    const info = await ctx.core.describe(env);
    if (!info) throw new Error(`env ${env} has no database`);
    const { url, authToken } = connectionOf(info);
    return query!(url, authToken, statement);
  };
  const data: DataAccess = {
    async put(env, key, value) {
      await run(env, sql.createTable);
      await run(env, sql.upsert(key, value));
    },
    async read(env) {
      if ((await run(env, sql.tableExists)).length === 0) return {};
      const rows = await run(env, sql.selectAll);
      return Object.fromEntries(rows.map((r) => [String(r.k), String(r.v)]));
    },
  };

  lifecycleTests(ctx, test, data);

  test("the app gets a DATABASE_URL, plain or secret, and nothing secret in plain vars", async () => {
    const info = await ctx.core.create("dev");
    const { url } = connectionOf(info);
    expect(url).toMatch(/^[a-z][a-z0-9+.-]*:/);
    // A URL that holds a password (Neon, PlanetScale) must be a secret var, which `forkstack env` masks.
    if (info.vars.DATABASE_URL !== undefined && /^[a-z][a-z0-9+.-]*:\/\//.test(url)) {
      expect(new URL(url).password, "a DATABASE_URL with a password belongs in secretVars").toBe("");
    }
    for (const key of Object.keys(info.vars)) expect(key).not.toMatch(/TOKEN|PASSWORD|SECRET/);
    const child = await ctx.core.fork("dev", "alice");
    expect(connectionOf(child).url).not.toBe(url);
  });

  options.additionalTests?.(ctx);
}
