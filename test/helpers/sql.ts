/**
 * SQL against an env's SQLite database from a separate, short-lived process. In-process clients
 * (`@libsql/client`, `libsql`) keep the file descriptor open until garbage collection even after
 * `close()`, and forkstack rightly refuses to reset or delete a database another process holds open.
 */
import { REPO, runProcess } from "./project.js";

const SCRIPT = `
import Database from "libsql";
const [path, statement] = process.argv.slice(1);
const db = new Database(path);
const stmt = db.prepare(statement);
const rows = stmt.reader ? stmt.all() : (stmt.run(), []);
db.close();
console.log(JSON.stringify(rows));
`;

export async function sql(url: string, statement: string): Promise<Record<string, unknown>[]> {
  if (!url.startsWith("file:")) throw new Error(`not a file: URL: ${url}`);
  const result = await runProcess(
    process.execPath,
    ["--input-type=module", "-e", SCRIPT, url.slice("file:".length), statement],
    { cwd: REPO },
  );
  if (result.code !== 0) throw new Error(`sql failed: ${result.stderr}`);
  return JSON.parse(result.stdout) as Record<string, unknown>[];
}
