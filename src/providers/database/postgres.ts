/**
 * @module providers/database/postgres
 * A database per env on a PostgreSQL server the user already runs: `<project>_<env>` (quoted, so the
 * hyphens of env names are fine; neither part may hold `_`, so the split is unambiguous).
 *
 * A fork is `CREATE DATABASE child TEMPLATE parent`: PostgreSQL copies the parent's files, so it costs
 * O(size) (method `copy`) and it is consistent (the copy happens with nobody connected to the parent).
 * That last condition is why forks go through the connection fence of `_pg-fence.ts`. The copy is one
 * statement: the child exists whole or not at all, so a failed or interrupted fork leaves nothing but,
 * at worst, a fence that the next call restores.
 *
 * The server comes from `connectionString`, else the variable `connectionStringEnv` names
 * (`FORKSTACK_POSTGRES_URL`). Not `DATABASE_URL`: forkstack hands each env its own `DATABASE_URL`, and
 * the runtime library lets an exported one win, so exporting the server's there would point every env's
 * app at one database. The URL's database is ignored: admin work runs on `maintenanceDatabase`.
 * An env's `DATABASE_URL` is the server's URL (its password included) naming the env's database, so it
 * is a secret var. Nothing this module logs or throws contains the password.
 */
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import type { Sql } from "postgres";
import { z } from "zod";
import { ProviderError, madeElsewhereError, noRecordError } from "../../errors.js";
import { recordedString } from "../../layout.js";
import { adoptedDatabaseName } from "./_root-ref.js";
import type { DatabaseProvider, EnvRef, OpContext, ProviderFactory, ResourceInfo } from "../types.js";
import { cancelCopiesInto, restoreLeftFences, withFence } from "./_pg-fence.js";
import { connect, hostPort, pgCode, pgFailure, serverUrl, sourceOf } from "./_pg-server.js";

export const optionsSchema = z.strictObject({
  /** The server's URL. Prefer `connectionStringEnv` for one that holds a password. */
  connectionString: z.string().min(1).optional(),
  /** The environment variable holding the server's URL. @default "FORKSTACK_POSTGRES_URL" */
  connectionStringEnv: z
    .string()
    .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "must be an environment variable's name")
    .default("FORKSTACK_POSTGRES_URL"),
  /** Where admin statements run (CREATE/DROP DATABASE cannot run in the database they touch). */
  maintenanceDatabase: z.string().min(1).default("postgres"),
  /** End the sessions connected to a parent being forked, instead of failing with E_ENV_BUSY. */
  terminateConnections: z.boolean().default(false),
  /** How long a fork waits for sessions to leave the parent and for other forks of it. */
  fenceTimeoutMs: z.number().int().min(0).max(600_000).default(3_000),
  /** `CREATE DATABASE … STRATEGY` on PostgreSQL ≥ 15; `auto` picks by size (docs/databases.md). */
  strategy: z.enum(["auto", "file_copy", "wal_log"]).default("auto"),
});

export type PostgresOptions = z.output<typeof optionsSchema>;

const PROVIDER_NAME = "postgres";
/**
 * Measured on PostgreSQL 15 (`bench/postgres.mjs`, docs/databases.md): WAL_LOG writes every page to
 * the WAL, so it grows with the size (~2 ms/MB); FILE_COPY copies files at disk speed but pays two
 * cluster-wide checkpoints. WAL_LOG wins on small databases (10 MB: 131 vs 216 ms; 25 MB: 63 vs 127),
 * they cross between 50 and 100 MB (100 MB: 244 vs 133 ms), FILE_COPY wins big at 1 GB (0.56 vs 2.4 s).
 */
const FILE_COPY_ABOVE_BYTES = 64 * 1024 * 1024;
/** PostgreSQL's NAMEDATALEN - 1: longer names are silently truncated, which could merge two envs. */
const MAX_NAME_BYTES = 63;

const quoteId = (name: string) => `"${name.replace(/"/g, '""')}"`;

export function databaseName(env: EnvRef): string {
  return `${env.project}_${env.name}`;
}

const provider: ProviderFactory<PostgresOptions, DatabaseProvider> = (options, context) => {
  const fenceDir = join(context.dataDir, "postgres", "fences");

  const server = () => serverUrl(PROVIDER_NAME, options);

  /** What the app gets: the server's URL naming `database`. */
  const appUrl = (database: string) => {
    const url = server();
    url.pathname = `/${encodeURIComponent(database)}`;
    return url.href;
  };

  const warn = (op: OpContext) => (message: string) => op.log.warn(`[${PROVIDER_NAME}] ${message}`);

  /** One connection to the maintenance database for one operation; left fences are restored first. */
  const withAdmin = async <T>(op: OpContext, action: string, fn: (sql: Sql) => Promise<T>): Promise<T> => {
    op.signal?.throwIfAborted();
    const url = server();
    const sql = await connect(url, options.maintenanceDatabase);
    try {
      await restoreLeftFences(sql, fenceDir, warn(op));
      return await fn(sql);
    } catch (error) {
      throw pgFailure(PROVIDER_NAME, error, url, options, action);
    } finally {
      await sql.end({ timeout: 5 }).catch(() => undefined);
    }
  };

  const find = async (sql: Sql, database: string) => {
    const [row] = await sql<{ oid: number; bytes: string }[]>`
      SELECT oid::int AS oid, pg_database_size(oid)::text AS bytes FROM pg_database WHERE datname = ${database}`;
    return row ? { oid: row.oid, bytes: Number(row.bytes) } : undefined;
  };

  const info = async (sql: Sql, database: string, extra: Partial<ResourceInfo> = {}) => {
    const found = await find(sql, database);
    if (!found) return null;
    const url = server();
    return {
      location: `postgres://${hostPort(url)}/${database}`,
      bytes: found.bytes,
      vars: {},
      secretVars: { DATABASE_URL: appUrl(database) },
      data: { database, server: hostPort(url) },
      ...extra,
    } satisfies ResourceInfo;
  };

  /**
   * The database and server a record names for `remove`: `data`, else what an older record's location
   * (`postgres://host:port/database`) holds.
   */
  const recordedTarget = (env: EnvRef, recorded?: ResourceInfo) => {
    const located = /^postgres:\/\/([^/]+)\/(.+)$/.exec(recorded?.location ?? "");
    const database = recordedString(recorded, "database") ?? located?.[2];
    const at = recordedString(recorded, "server") ?? located?.[1];
    if (!database || !at) throw noRecordError(PROVIDER_NAME, env.name, "database");
    return { database, server: at };
  };

  /** The database a recorded resource names (an adopted root's may differ from the convention). */
  const recordedName = (env: EnvRef, recorded?: ResourceInfo) => {
    const named = recorded?.data?.database;
    return typeof named === "string" ? named : databaseName(env);
  };

  const exists = (env: EnvRef, database: string) =>
    new ProviderError(
      PROVIDER_NAME,
      `A database for env "${env.name}" already exists: "${database}".`,
      "E_ENV_EXISTS",
    );

  return {
    kind: "database",
    name: PROVIDER_NAME,
    flags: { copyOnWrite: false, private: false },

    checkName(env) {
      const name = databaseName(env);
      const bytes = Buffer.byteLength(name);
      return bytes > MAX_NAME_BYTES
        ? [
            `the PostgreSQL database name "${name}" would be ${bytes} bytes; PostgreSQL allows ${MAX_NAME_BYTES} (shorten the env name)`,
          ]
        : [];
    },

    // Cheap unless a killed fork left a fence: then this is the call that reopens the parent.
    async prepare(op) {
      const left = await readdir(fenceDir).catch(() => [] as string[]);
      if (left.length > 0) await withAdmin(op, "restore a fence", async () => undefined);
    },

    create: (env, op) =>
      withAdmin(op, `create the database of "${env.name}"`, async (sql) => {
        const database = databaseName(env);
        try {
          await sql.unsafe(`CREATE DATABASE ${quoteId(database)}`);
        } catch (error) {
          if (pgCode(error) === "42P04") throw exists(env, database);
          throw error;
        }
        const made = (await info(sql, database, { method: "empty" }))!;
        return { ...made, bytesAdded: made.bytes };
      }),

    async adopt(env, ref, op) {
      const named = adoptedDatabaseName(PROVIDER_NAME, env, ref);
      return withAdmin(op, `adopt the database of "${env.name}"`, (sql) =>
        info(sql, named ?? databaseName(env)),
      );
    },

    fork: (parent, child, op, forkOptions) =>
      withAdmin(op, `fork "${parent.name}" into "${child.name}"`, async (sql) => {
        const from = recordedName(parent, forkOptions?.parent);
        const to = databaseName(child);
        const source = await find(sql, from);
        if (!source) {
          throw new ProviderError(
            PROVIDER_NAME,
            `Env "${parent.name}" has no database ("${from}" does not exist).`,
            "E_ENV_NOT_FOUND",
            { hint: `Check the parent's name, or recreate "${parent.name}".` },
          );
        }
        if (from === options.maintenanceDatabase) {
          // Our own admin session sits in it, so PostgreSQL could never copy it.
          throw new ProviderError(
            PROVIDER_NAME,
            `"${from}" is the maintenance database and cannot be forked.`,
            "E_CONFIG_INVALID",
            {
              hint: "Adopt another database as the root, or set `database.maintenanceDatabase`.",
            },
          );
        }
        if (await find(sql, to)) throw exists(child, to);
        const [{ version } = { version: 0 }] = await sql<{ version: number }[]>`
          SELECT current_setting('server_version_num')::int AS version`;
        const chosen =
          options.strategy !== "auto"
            ? options.strategy
            : source.bytes > FILE_COPY_ABOVE_BYTES
              ? "file_copy"
              : "wal_log";
        const strategy = version >= 150000 ? ` STRATEGY ${chosen.toUpperCase()}` : "";
        const started = performance.now();
        const fence = {
          provider: PROVIDER_NAME,
          dir: fenceDir,
          terminate: options.terminateConnections,
          timeoutMs: options.fenceTimeoutMs,
          signal: op.signal,
        };
        await withFence(sql, { name: from, oid: source.oid }, fence, async () => {
          try {
            await sql.unsafe(`CREATE DATABASE ${quoteId(to)} TEMPLATE ${quoteId(from)}${strategy}`);
          } catch (error) {
            if (pgCode(error) === "42P04") throw exists(child, to);
            throw error;
          }
        });
        const made = (await info(sql, to, { method: "copy" }))!;
        op.log.debug(
          `[${PROVIDER_NAME}] copied "${from}" -> "${to}" (${made.bytes} bytes,${strategy || " default strategy"}) in ${Math.round(performance.now() - started)} ms`,
        );
        return { ...made, bytesAdded: made.bytes };
      }),

    target: (env) => ({ database: databaseName(env), server: hostPort(server()) }),

    // Only ever the env's own database, on the server it was made on: an adopted root names someone
    // else's, which is never dropped, and the same name on another server is not ours.
    remove: async (env, op, recorded) => {
      const own = databaseName(env);
      const made = recordedTarget(env, recorded);
      if (made.database !== own) return;
      const now = hostPort(server());
      if (made.server !== now) {
        const key = options.connectionString ? "database.connectionString" : options.connectionStringEnv;
        throw madeElsewhereError(PROVIDER_NAME, env.name, "database", { recorded: made.server, now, key });
      }
      return withAdmin(op, `remove the database of "${env.name}"`, async (sql) => {
        // The cancelled copy's session held its parent's fence: reopen the parent now, not next call.
        if (await cancelCopiesInto(sql, own)) await restoreLeftFences(sql, fenceDir, warn(op));
        // FORCE: the env is being deleted; its app's sessions would otherwise block the drop forever.
        await sql.unsafe(`DROP DATABASE IF EXISTS ${quoteId(own)} WITH (FORCE)`);
        op.log.debug(`[${PROVIDER_NAME}] dropped "${own}"`);
      });
    },

    describe: (env, op, recorded) =>
      withAdmin(op, `describe the database of "${env.name}"`, (sql) =>
        info(sql, recordedName(env, recorded)),
      ),

    list: (op) =>
      withAdmin(op, "list databases", async (sql) => {
        const prefix = `${context.project}_`;
        const rows = await sql<{ datname: string }[]>`
          SELECT datname FROM pg_database WHERE left(datname, ${prefix.length}) = ${prefix} ORDER BY datname`;
        return rows
          .map((r) => r.datname.slice(prefix.length))
          .filter((name) => /^[a-z0-9]+(?:-[a-z0-9]+)*$/.test(name));
      }),

    doctor: async (op) => {
      try {
        return await withAdmin(op, "check the server", async (sql) => {
          const [row] = await sql<{ version: string; createdb: boolean; superuser: boolean }[]>`
            SELECT current_setting('server_version') AS version, rolcreatedb AS createdb, rolsuper AS superuser
            FROM pg_roles WHERE rolname = current_user`;
          const where = hostPort(server());
          return [
            {
              level: "ok" as const,
              message: `PostgreSQL ${row?.version} at ${where} (from ${sourceOf(options)})`,
            },
            row?.createdb || row?.superuser
              ? { level: "ok" as const, message: "the role may create databases" }
              : { level: "error" as const, message: "the role lacks CREATEDB: forks will fail" },
            {
              level: "ok" as const,
              message: "forks copy the parent's files (O(size)), with nobody connected to it",
            },
          ];
        });
      } catch (error) {
        return [{ level: "error", message: (error as Error).message }];
      }
    },
  };
};

export default provider;
