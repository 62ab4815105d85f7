/**
 * @module providers/database/_pg-server
 * Where the `postgres` provider's server is and what its failures mean to a user. The server's URL may
 * hold a password, so nothing here puts the URL's text into a message: errors name where the URL came
 * from (`database.connectionString` or the variable) and the server's host:port.
 */
import type { Sql } from "postgres";
import { ProviderError, isForkstackError } from "../../errors.js";

export interface ServerSource {
  readonly connectionString?: string | undefined;
  readonly connectionStringEnv: string;
}

type Code = "E_PROVIDER" | "E_PROVIDER_AUTH" | "E_SERVER";
const fail = (provider: string, message: string, code: Code, hint?: string) =>
  new ProviderError(provider, message, code, hint ? { hint } : {});

/** Where the URL came from, for messages. */
export const sourceOf = (s: ServerSource) =>
  s.connectionString ? "`database.connectionString`" : s.connectionStringEnv;

export const hostPort = (url: URL) => `${url.hostname || "localhost"}:${url.port || 5432}`;

export const pgCode = (error: unknown) => String((error as { code?: unknown })?.code ?? "");

/** The server's URL, parsed, read at each call (the variable may change between API calls). */
export function serverUrl(provider: string, s: ServerSource): URL {
  const text = s.connectionString ?? process.env[s.connectionStringEnv];
  if (!text) {
    throw fail(
      provider,
      `No PostgreSQL server to connect to: ${s.connectionStringEnv} is not set.`,
      "E_PROVIDER_AUTH",
      `Export ${s.connectionStringEnv}=postgres://user:password@host:5432/postgres, or set \`database.connectionString\`.`,
    );
  }
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw fail(
      provider,
      `${sourceOf(s)} is not a URL (postgres://user:password@host:5432/db).`,
      "E_PROVIDER_AUTH",
    );
  }
  if (url.protocol !== "postgres:" && url.protocol !== "postgresql:") {
    throw fail(provider, `${sourceOf(s)} is a ${url.protocol} URL; expected postgres://…`, "E_PROVIDER_AUTH");
  }
  return url;
}

/** A driver or server error as the user can act on it; our own errors pass through. */
export function pgFailure(
  provider: string,
  error: unknown,
  url: URL,
  s: ServerSource,
  action: string,
): Error {
  if (isForkstackError(error) || (error instanceof Error && error.name === "AbortError"))
    return error as Error;
  const code = pgCode(error);
  const message = error instanceof Error ? error.message : String(error);
  const where = `PostgreSQL at ${hostPort(url)}`;
  const source = sourceOf(s);
  if (code === "28P01" || code === "28000") {
    return fail(
      provider,
      `${where} refused user "${decodeURIComponent(url.username)}" (from ${source}): ${message}.`,
      "E_PROVIDER_AUTH",
      `Check the user and password in ${source}.`,
    );
  }
  if (/^(ECONNREFUSED|ENOTFOUND|EAI_AGAIN|ETIMEDOUT|EHOSTUNREACH|ECONNRESET|CONNECT_TIMEOUT)$/.test(code)) {
    return fail(
      provider,
      `Cannot reach ${where} (from ${source}): ${code}.`,
      "E_SERVER",
      "Start the server, or fix the host and port.",
    );
  }
  const hint = code === "42501" ? "The role needs CREATEDB and must own the databases it forks." : undefined;
  const detail = code ? `PostgreSQL says "${message}" (${code})` : message;
  return fail(provider, `Could not ${action} on ${where}: ${detail}.`, "E_PROVIDER", hint);
}

/** One plain connection to `database`: no pool, no prepared statements, no printed notices. */
export async function connect(url: URL, database: string): Promise<Sql> {
  const { default: postgres } = await import("postgres");
  return postgres(url.href, {
    database,
    max: 1,
    prepare: false,
    fetch_types: false,
    connect_timeout: 10,
    // The client would otherwise print the server's notices (`DROP DATABASE IF EXISTS` sends one).
    onnotice: () => undefined,
    connection: { application_name: "forkstack" },
  });
}
