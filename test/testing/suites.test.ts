/**
 * The suites of `forkstack/testing` tested themselves: the SQL they speak per dialect, the harness
 * around a provider — it hands back what the provider recorded (as the core does), and it removes every
 * env a test made through the provider even when the test fails — and the built entry without vitest
 * (`npm run build` first).
 */
import { createClient } from "@libsql/client";
import { cp, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it, onTestFinished } from "vitest";
import { REPO, runProcess } from "../helpers/project.js";
import sqlite from "../../src/providers/database/sqlite.js";
import { targetInfo } from "../../src/providers/types.js";
import type { DatabaseProvider, EnvRef, ForkOptions, ResourceInfo } from "../../src/providers/types.js";
import {
  databaseSuite,
  kvStatements,
  quoteIdentifier,
  quoteLiteral,
  throughJson,
  uniqueProjectName,
  type Row,
} from "../../src/testing/index.js";

async function query(url: string, _authToken: string | undefined, sql: string): Promise<Row[]> {
  const client = createClient({ url });
  try {
    const result = await client.execute(sql);
    return result.rows.map((row) => Object.fromEntries(result.columns.map((c, i) => [c, row[i]])));
  } finally {
    client.close();
  }
}

describe("testing: SQL per dialect", () => {
  it("quotes literals and identifiers the way each dialect reads them", () => {
    expect(quoteLiteral("sqlite", "it's")).toBe("'it''s'");
    expect(quoteLiteral("postgres", "a\\b'c")).toBe("'a\\b''c'");
    expect(quoteLiteral("mysql", "a\\b'c")).toBe("'a\\\\b''c'");
    expect(() => quoteLiteral("postgres", "a\0b")).toThrow(/NUL/);
    expect(quoteIdentifier("postgres", 'we"ird')).toBe('"we""ird"');
    expect(quoteIdentifier("mysql", "we`ird")).toBe("`we``ird`");
  });

  it("writes each dialect's upsert, DDL and catalogue query", () => {
    expect(kvStatements("postgres").upsert("k", "v")).toContain(
      'ON CONFLICT ("k") DO UPDATE SET "v" = EXCLUDED."v"',
    );
    expect(kvStatements("postgres").tableExists).toContain("current_schema()");
    const mysql = kvStatements("mysql");
    expect(mysql.createTable).toContain("`k` VARCHAR(191) NOT NULL PRIMARY KEY");
    expect(mysql.upsert("k", "v")).toContain("ON DUPLICATE KEY UPDATE `v` = VALUES(`v`)");
    expect(mysql.tableExists).toContain("DATABASE()");
    expect(kvStatements("sqlite").tableExists).toContain("sqlite_master");
  });

  it("the SQLite statements round-trip awkward values through a real database", async () => {
    const url = ":memory:";
    const client = createClient({ url });
    try {
      const sql = kvStatements("sqlite");
      expect((await client.execute(sql.tableExists)).rows).toHaveLength(0);
      await client.execute(sql.createTable);
      for (const [k, v] of [
        ["a", "it's"],
        ["b", 'say "hi" \\n'],
        ["a", "replaced"],
      ] as const) {
        await client.execute(sql.upsert(k, v));
      }
      const rows = (await client.execute(sql.selectAll)).rows.map((r) => [r.k, r.v]);
      expect(rows).toEqual([
        ["a", "replaced"],
        ["b", 'say "hi" \\n'],
      ]);
    } finally {
      client.close();
    }
  });

  it("project names are unique, valid and short", () => {
    const names = new Set(Array.from({ length: 200 }, uniqueProjectName));
    expect(names.size).toBe(200);
    for (const name of names) expect(name).toMatch(/^fs-[a-z0-9]{8}$/);
  });
});

interface Call {
  readonly method: "create" | "fork" | "describe" | "remove";
  readonly env: string;
  readonly project: string;
  readonly recorded?: ResourceInfo;
  readonly options?: ForkOptions;
  readonly returned?: ResourceInfo | null;
}

/** The sqlite provider, with every lifecycle call and what it returned written down. */
function spied(provider: DatabaseProvider, calls: Call[]): DatabaseProvider {
  const note = (call: Call) => void calls.push(throughJson(call));
  const ref = (env: EnvRef) => ({ env: env.name, project: env.project });
  return {
    ...provider,
    get flags() {
      return provider.flags;
    },
    async create(env, op) {
      const returned = await provider.create(env, op);
      note({ method: "create", ...ref(env), returned });
      return returned;
    },
    async fork(parent, child, op, options) {
      const returned = await provider.fork(parent, child, op, options);
      note({ method: "fork", ...ref(child), ...(options ? { options } : {}), returned });
      return returned;
    },
    async describe(env, op, recorded) {
      const returned = await provider.describe(env, op, recorded);
      note({ method: "describe", ...ref(env), ...(recorded ? { recorded } : {}), returned });
      return returned;
    },
    async remove(env, op, recorded) {
      await provider.remove(env, op, recorded);
      note({ method: "remove", ...ref(env), ...(recorded ? { recorded } : {}) });
    },
  };
}

describe("testing: the suite harness around a provider", () => {
  const calls: Call[] = [];
  databaseSuite({
    provider: (project) => spied(sqlite({}, project.context), calls),
    dialect: "sqlite",
    query,
    additionalTests(ctx) {
      it.fails("(fails on purpose) a test that throws after making envs", async () => {
        await ctx.core.create("dev");
        await ctx.core.fork("dev", "alice");
        await ctx.provider.fork(ctx.core.env("dev"), ctx.core.env("stray"), ctx.project.op);
        throw new Error("on purpose");
      });
    },
  });

  afterAll(() => {
    const made = calls.filter((c) => c.method === "create" || c.method === "fork");
    expect(made.length).toBeGreaterThan(20);
    const returned = new Map(made.map((c) => [`${c.project}/${c.env}`, c.returned]));
    for (const call of calls) {
      const key = `${call.project}/${call.env}`;
      // describe and remove get back exactly what create/fork returned for that env, as a manifest holds
      // it; or, for an env no record holds (a crash before fork returned, a stray), what `target` names.
      if (call.recorded?.location === targetInfo({}).location) {
        expect(call.method).toBe("remove");
        const file = expect.stringMatching(new RegExp(`/envs/${call.env}/db\\.sqlite$`));
        expect(call.recorded, `${call.method} ${key}`).toEqual(targetInfo({ file }));
      } else if (call.recorded) {
        expect(call.recorded, `${call.method} ${key}`).toEqual(returned.get(key));
      }
      // fork gets its parent's record; the parent is the env of this project made before it.
      if (call.method === "fork" && call.options?.parent) {
        const parents = made.filter(
          (c) => c.project === call.project && c.returned?.location === call.options!.parent!.location,
        );
        expect(parents, `fork ${key}`).toHaveLength(1);
        expect(call.options.parent).toEqual(parents[0]!.returned);
      }
    }
    expect(calls.some((c) => c.method === "fork" && c.options?.parent)).toBe(true);
    expect(calls.some((c) => c.method === "remove" && c.recorded)).toBe(true);
    // Every env made — by the driver or behind its back, in passing and failing tests — was removed
    // through the provider after its last creation.
    made.forEach((c, i) => {
      const key = `${c.project}/${c.env}`;
      const later = calls.slice(calls.indexOf(c) + 1);
      const remade = made.slice(i + 1).some((m) => `${m.project}/${m.env}` === key);
      if (!remade)
        expect(
          later.some((l) => l.method === "remove" && `${l.project}/${l.env}` === key),
          key,
        ).toBe(true);
    });
    const failing = made.filter((c) => c.env === "stray");
    expect(failing).toHaveLength(1);
  });
});

describe("testing: the built package entry", () => {
  it("imports where vitest is not installed, and its suites then say they need it", async () => {
    // A copy of the package (not a symlink: from the checkout, vitest would resolve).
    const app = await mkdtemp(join(tmpdir(), "fs-novitest-"));
    onTestFinished(() => rm(app, { recursive: true, force: true }));
    await mkdir(join(app, "node_modules/forkstack"), { recursive: true });
    await cp(join(REPO, "dist"), join(app, "node_modules/forkstack/dist"), { recursive: true });
    await cp(join(REPO, "package.json"), join(app, "node_modules/forkstack/package.json"));
    await writeFile(join(app, "package.json"), JSON.stringify({ type: "module" }));
    const script = `
      const testing = await import("forkstack/testing");
      let error;
      try { testing.databaseSuite({ provider: () => null, dialect: "sqlite" }); } catch (e) { error = e.message; }
      console.log(JSON.stringify({ name: testing.uniqueProjectName(), error }));`;
    const result = await runProcess(process.execPath, ["--input-type=module", "-e", script], { cwd: app });
    expect(result.code, result.stderr).toBe(0);
    const out = JSON.parse(result.stdout) as { name: string; error: string };
    expect(out.name).toMatch(/^fs-[a-z0-9]{8}$/);
    expect(out.error).toContain("npm install -D vitest");
  });
});
