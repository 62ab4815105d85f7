/**
 * Shared by the turso provider's test files: run SQL the way an app does, through `@libsql/client`
 * with the env's DATABASE_URL and DATABASE_AUTH_TOKEN.
 */
import { createClient } from "@libsql/client";
import type { Row } from "../../../src/testing/index.js";

export async function libsqlQuery(url: string, authToken: string | undefined, sql: string): Promise<Row[]> {
  const client = createClient({ url, ...(authToken === undefined ? {} : { authToken }) });
  try {
    const result = await client.execute(sql);
    return result.rows.map((row) => Object.fromEntries(result.columns.map((c, i) => [c, row[i]])));
  } finally {
    client.close();
  }
}
