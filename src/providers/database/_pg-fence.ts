/**
 * @module providers/database/_pg-fence
 * The connection fence of the `postgres` provider. `CREATE DATABASE … TEMPLATE parent` refuses while
 * any session is connected to the parent, and a developer forks exactly while their app is connected.
 * So a fork fences the parent: it takes a per-parent advisory lock (so forks of one parent, from any
 * process, go one at a time and never restore each other's fence early), records the fence in a file,
 * turns `ALLOW_CONNECTIONS` off so no new session arrives, waits for (or, opted in, terminates) the
 * sessions left, copies, and restores the parent's setting in a `finally`.
 *
 * A process killed inside the fence cannot run its `finally`; its advisory lock dies with its
 * connection, but the parent would stay closed to every app. The marker file is what the next call
 * (`prepare`, `fork`, `describe`) finds: if it can take that parent's advisory lock, nobody is inside
 * the fence, so it restores the recorded setting and deletes the marker. Restoring is idempotent.
 */
import { mkdir, readFile, readdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Sql } from "postgres";
import { ProviderError, errnoCode } from "../../errors.js";
import { failpoint } from "../../core/failpoints.js";

/** First key of our advisory locks (`fkst`); the second is the parent database's OID. */
const LOCK_CLASS = 0x666b7374;
/** The least time a fork waits for the other forks of its parent. */
const LOCK_WAIT_MS = 120_000;

interface Marker {
  readonly database: string;
  /** The parent's `datallowconn` before the fence: what to restore. */
  readonly allowed: boolean;
  readonly pid: number;
  readonly since: string;
}

export interface Session {
  readonly pid: number;
  readonly application: string;
  readonly client: string;
}

export interface FenceOptions {
  readonly provider: string;
  /** Directory of the marker files (under the project's `.forkstack/`). */
  readonly dir: string;
  /** Terminate sessions still connected to the parent instead of failing with E_ENV_BUSY. */
  readonly terminate: boolean;
  /** How long to wait for sessions to leave (and for other forks of the parent to finish). */
  readonly timeoutMs: number;
  readonly signal?: AbortSignal;
}

const quoteId = (name: string) => `"${name.replace(/"/g, '""')}"`;
const markerFile = (dir: string, database: string) =>
  join(dir, `${Buffer.from(database).toString("hex")}.json`);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export function describeSessions(sessions: readonly Session[]): string {
  return sessions
    .map(
      (s) => `${s.application ? `"${s.application}"` : "an unnamed client"} from ${s.client} (pid ${s.pid})`,
    )
    .join(", ");
}

function busy(options: FenceOptions, database: string, sessions: readonly Session[]): ProviderError {
  const who =
    sessions.length === 0
      ? "a session was"
      : `${sessions.length === 1 ? "a session is" : `${sessions.length} sessions are`}: ${describeSessions(sessions)}`;
  return new ProviderError(
    options.provider,
    `Cannot fork "${database}": PostgreSQL copies a database only while nobody is connected to it, and ${who}.`,
    "E_ENV_BUSY",
    {
      hint: options.terminate
        ? "forkstack could not end them (they may belong to a superuser): close them and try again."
        : "Stop the app (or close its connections) and try again, or set `database.terminateConnections: true` to have forkstack end them (apps reconnect once the fork is made).",
    },
  );
}

async function sessionsOn(sql: Sql, database: string): Promise<Session[]> {
  const rows = await sql<{ pid: number; application: string; client: string }[]>`
    SELECT pid, coalesce(application_name, '') AS application,
           coalesce(host(client_addr), 'a local socket') AS client
    FROM pg_stat_activity WHERE datname = ${database} AND pid <> pg_backend_pid() ORDER BY pid`;
  return rows.map((r) => ({ pid: r.pid, application: r.application, client: r.client }));
}

/**
 * Restore every fence a killed process left behind. Cheap when there is none (one `readdir`); a fence
 * whose owner still holds its lock is a fork in progress and is left alone.
 */
export async function restoreLeftFences(sql: Sql, dir: string, log: (m: string) => void): Promise<void> {
  const files = await readdir(dir).catch(() => [] as string[]);
  for (const file of files.filter((f) => f.endsWith(".json"))) {
    const path = join(dir, file);
    let marker: Marker;
    try {
      marker = JSON.parse(await readFile(path, "utf8")) as Marker;
    } catch (error) {
      // Gone: its fork finished meanwhile. Unreadable: its writer died writing it, before the ALTER.
      if (errnoCode(error) !== "ENOENT") await rm(path, { force: true });
      continue;
    }
    const [db] = await sql<
      { oid: number }[]
    >`SELECT oid::int AS oid FROM pg_database WHERE datname = ${marker.database}`;
    if (!db) {
      await rm(path, { force: true });
      continue;
    }
    const [got] = await sql<{ ok: boolean }[]>`SELECT pg_try_advisory_lock(${LOCK_CLASS}, ${db.oid}) AS ok`;
    if (!got?.ok) continue;
    try {
      await sql.unsafe(`ALTER DATABASE ${quoteId(marker.database)} ALLOW_CONNECTIONS ${marker.allowed}`);
      await rm(path, { force: true });
      log(
        `restored ALLOW_CONNECTIONS ${marker.allowed} on "${marker.database}", left fenced by pid ${marker.pid}`,
      );
    } finally {
      await sql`SELECT pg_advisory_unlock(${LOCK_CLASS}, ${db.oid})`;
    }
  }
}

/**
 * Run `copy` with `database` fenced: no session connected, none able to connect. `sql` must be a
 * single connection (its session holds the advisory lock). Throws E_ENV_BUSY naming the sessions that
 * stayed, unless `terminate`. The parent's `ALLOW_CONNECTIONS` is restored whatever happens.
 */
export async function withFence<T>(
  sql: Sql,
  database: { name: string; oid: number },
  options: FenceOptions,
  copy: () => Promise<T>,
): Promise<T> {
  // Waiting for other forks of the parent is progress, not a hang (10 CI shards forking one template):
  // that wait gets far longer than the wait for an app's sessions to leave.
  const lockWaitMs = Math.max(options.timeoutMs, LOCK_WAIT_MS);
  await sql.unsafe(`SET lock_timeout = ${lockWaitMs}`);
  try {
    await sql`SELECT pg_advisory_lock(${LOCK_CLASS}, ${database.oid})`;
  } catch (error) {
    throw new ProviderError(
      options.provider,
      `Other forks of "${database.name}" kept it fenced for ${lockWaitMs} ms.`,
      "E_ENV_BUSY",
      { cause: error, hint: "Try again once they finish, or raise `database.fenceTimeoutMs`." },
    );
  }
  const deadline = Date.now() + options.timeoutMs;
  const path = markerFile(options.dir, database.name);
  let fenced = false;
  let allowed = true;
  try {
    const [row] = await sql<{ allowed: boolean }[]>`
      SELECT datallowconn AS allowed FROM pg_database WHERE oid = ${database.oid}`;
    allowed = row?.allowed ?? true;
    if (allowed) {
      // The marker goes first: a crash between the two leaves a harmless marker, never an unrecorded fence.
      await mkdir(options.dir, { recursive: true, mode: 0o700 });
      const marker: Marker = {
        database: database.name,
        allowed,
        pid: process.pid,
        since: new Date().toISOString(),
      };
      await writeFile(path, JSON.stringify(marker), { mode: 0o600 });
      fenced = true;
      await sql.unsafe(`ALTER DATABASE ${quoteId(database.name)} ALLOW_CONNECTIONS false`);
    }
    failpoint("postgres:fenced");
    for (let delay = 20; ; delay = Math.min(delay * 2, 500)) {
      options.signal?.throwIfAborted();
      const sessions = await sessionsOn(sql, database.name);
      if (sessions.length === 0) {
        try {
          return await copy();
        } catch (error) {
          // 55006: a session (autovacuum, a connection accepted just before the fence) is still there.
          if ((error as { code?: string }).code !== "55006") throw error;
          if (Date.now() > deadline) throw busy(options, database.name, await sessionsOn(sql, database.name));
        }
      } else if (Date.now() > deadline) {
        throw busy(options, database.name, sessions);
      } else if (options.terminate) {
        await sql`SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                  WHERE datname = ${database.name} AND pid <> pg_backend_pid()`;
      }
      await sleep(Math.max(0, Math.min(delay, deadline - Date.now())));
    }
  } finally {
    if (fenced) {
      await sql.unsafe(`ALTER DATABASE ${quoteId(database.name)} ALLOW_CONNECTIONS ${allowed}`);
      await rm(path, { force: true });
    }
    await sql`SELECT pg_advisory_unlock(${LOCK_CLASS}, ${database.oid})`.catch(() => undefined);
  }
}

/** Poll `done` every 50 ms until it holds or `ms` pass. */
async function until(done: () => Promise<boolean>, ms: number): Promise<void> {
  for (const end = Date.now() + ms; !(await done()) && Date.now() < end;) {
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/**
 * A fork killed during its copy leaves the server copying: the backend only notices its client is gone
 * once the statement ends, and would then commit a database nobody records. `remove` of that
 * env (the rollback) cancels such a copy and waits for it to end, so its DROP is the last word.
 * True if there was one (its session held a fence, which the caller then restores).
 */
export async function cancelCopiesInto(sql: Sql, database: string): Promise<boolean> {
  const statement = `CREATE DATABASE ${quoteId(database)} TEMPLATE %`;
  const rows = await sql<{ pid: number }[]>`
    SELECT pid, pg_cancel_backend(pid) FROM pg_stat_activity
    WHERE state = 'active' AND application_name = 'forkstack' AND query LIKE ${statement}`;
  if (rows.length === 0) return false;
  const count = async (where: string) => {
    const sessions = `pid IN (${rows.map((r) => Number(r.pid)).join(",")})`;
    const [row] = await sql.unsafe<{ n: number }[]>(
      `SELECT count(*)::int AS n FROM pg_stat_activity WHERE ${sessions} AND ${where}`,
    );
    return row?.n ?? 0;
  };
  // First the copy ends (cancelled), then its backend exits (it cannot report to a dead client).
  await until(async () => (await count("state = 'active'")) === 0, 60_000);
  await until(async () => (await count("true")) === 0, 5_000);
  return true;
}
