/**
 * One SQL statement as an app would run it: its own connection to `url` (postgres.js), closed after.
 * The signature is the database suite's `query` (the token is for libSQL URLs; Postgres URLs carry
 * their credentials), so tests pass it as is.
 */
import postgres from "postgres";
import type { Row } from "../../src/testing/index.js";

export async function pgQuery(url: string, _token: string | undefined, statement: string): Promise<Row[]> {
  const sql = postgres(url, { max: 1, onnotice: () => undefined, fetch_types: false });
  try {
    return [...(await sql.unsafe(statement))] as Row[];
  } finally {
    await sql.end({ timeout: 5 });
  }
}
