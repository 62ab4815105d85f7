/**
 * @module testing/sql
 * The few SQL statements the database suite issues, written for each dialect it knows. The suite runs
 * them through the provider test's own `query` hook (whatever driver fits the backend), so it needs no
 * driver itself; it passes no bound parameters either, because placeholder syntax differs (`?` vs
 * `$1`), so values are inlined as literals, quoted for the dialect here.
 */

export type Dialect = "sqlite" | "postgres" | "mysql";

export const DIALECTS: readonly Dialect[] = ["sqlite", "postgres", "mysql"];

/** The suite's table; a name no app is likely to have, in case a backend's root is not empty. */
const TABLE = "forkstack_suite_kv";

export interface KvStatements {
  /** Make the key/value table if it is missing. */
  readonly createTable: string;
  /** One row per table named like the suite's, in the current database or schema (none → empty). */
  readonly tableExists: string;
  /** Insert or replace the value of a key. */
  upsert(key: string, value: string): string;
  /** Every row as `k`, `v`. */
  readonly selectAll: string;
}

/** `'…'` with quotes doubled; MySQL also treats backslash as an escape unless NO_BACKSLASH_ESCAPES. */
export function quoteLiteral(dialect: Dialect, value: string): string {
  if (value.includes("\0")) throw new Error("SQL literals cannot hold NUL characters");
  const escaped = dialect === "mysql" ? value.replace(/\\/g, "\\\\") : value;
  return `'${escaped.replace(/'/g, "''")}'`;
}

/** `"name"` (standard, SQLite and PostgreSQL) or `` `name` `` (MySQL), with the quote char doubled. */
export function quoteIdentifier(dialect: Dialect, name: string): string {
  const q = dialect === "mysql" ? "`" : '"';
  return `${q}${name.split(q).join(q + q)}${q}`;
}

export function kvStatements(dialect: Dialect): KvStatements {
  const id = (name: string) => quoteIdentifier(dialect, name);
  const lit = (value: string) => quoteLiteral(dialect, value);
  const [t, k, v] = [id(TABLE), id("k"), id("v")];
  switch (dialect) {
    case "sqlite":
      return {
        createTable: `CREATE TABLE IF NOT EXISTS ${t} (${k} TEXT PRIMARY KEY, ${v} TEXT NOT NULL)`,
        // sqlite_master, not sqlite_schema: the latter needs SQLite 3.33.
        tableExists: `SELECT name FROM sqlite_master WHERE type = 'table' AND name = ${lit(TABLE)}`,
        upsert: (key, value) =>
          `INSERT INTO ${t} (${k}, ${v}) VALUES (${lit(key)}, ${lit(value)}) ON CONFLICT (${k}) DO UPDATE SET ${v} = excluded.${v}`,
        selectAll: `SELECT ${k}, ${v} FROM ${t} ORDER BY ${k}`,
      };
    case "postgres":
      return {
        createTable: `CREATE TABLE IF NOT EXISTS ${t} (${k} TEXT PRIMARY KEY, ${v} TEXT NOT NULL)`,
        tableExists: `SELECT table_name AS name FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = ${lit(TABLE)}`,
        upsert: (key, value) =>
          `INSERT INTO ${t} (${k}, ${v}) VALUES (${lit(key)}, ${lit(value)}) ON CONFLICT (${k}) DO UPDATE SET ${v} = EXCLUDED.${v}`,
        selectAll: `SELECT ${k}, ${v} FROM ${t} ORDER BY ${k}`,
      };
    case "mysql":
      return {
        // A TEXT column cannot be a key without a prefix length: VARCHAR(191) fits a utf8mb4 index.
        createTable: `CREATE TABLE IF NOT EXISTS ${t} (${k} VARCHAR(191) NOT NULL PRIMARY KEY, ${v} TEXT NOT NULL)`,
        tableExists: `SELECT table_name AS name FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = ${lit(TABLE)}`,
        // VALUES() rather than the 8.0.19 row alias: Vitess (PlanetScale) and MariaDB take only this form.
        upsert: (key, value) =>
          `INSERT INTO ${t} (${k}, ${v}) VALUES (${lit(key)}, ${lit(value)}) ON DUPLICATE KEY UPDATE ${v} = VALUES(${v})`,
        selectAll: `SELECT ${k}, ${v} FROM ${t} ORDER BY ${k}`,
      };
  }
}
