/**
 * @module providers/database/_planetscale-api
 * What the `planetscale` provider needs besides its lifecycle: the API's shapes (the fields read, from
 * PlanetScale's OpenAPI description), the service token from two variables, branch name rules, the
 * `DATABASE_URL` of a password or role, and the local record of each env's credential.
 *
 * The credential record exists because PlanetScale shows a password (`plain_text`) or a role's
 * `password` once, in the answer that creates it: the env's manifest keeps the URL, and this file
 * (`.forkstack/envs/<env>/planetscale.json`, 0600) lets `describe` without the manifest (the core's
 * check before it makes a resource, `doctor`) give the same `DATABASE_URL` back on this machine.
 */
import { readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { mkdirPrivate, PRIVATE_FILE_MODE, writeFileDurable } from "../../durable-fs.js";
import { ProviderError } from "../../errors.js";
import type { ApiAuth } from "../_http.js";
import type { ProviderContext } from "../types.js";

export const PROVIDER = "planetscale";
export const DEFAULT_BASE_URL = "https://api.planetscale.com/v1";
export const DEFAULT_ID_ENV = "PLANETSCALE_SERVICE_TOKEN_ID";
export const DEFAULT_TOKEN_ENV = "PLANETSCALE_SERVICE_TOKEN";
/** Names PlanetScale gives organizations and databases (checked in the config and in the variables). */
export const ORGANIZATION_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]*$/;
export const DATABASE_NAME = /^[a-z0-9][a-z0-9_-]*$/;

export type Kind = "vitess" | "postgres";

/** `get_database` (fields read). */
export interface Database {
  readonly name: string;
  readonly kind: "mysql" | "postgresql";
  readonly default_branch: string;
  readonly allow_data_branching: boolean;
  readonly plan: string;
}

/** `get_branch`, `create_branch`, `list_branches` items (fields read). */
export interface Branch {
  readonly id: string;
  readonly name: string;
  readonly kind: "mysql" | "postgresql";
  readonly state: string;
  readonly ready: boolean;
  readonly production: boolean;
  readonly parent_branch: string | null;
}

/** `create_password` (Vitess). `plain_text` only in the create answer. */
export interface Password {
  readonly id: string;
  readonly name: string;
  readonly username: string;
  readonly plain_text: string | null;
  readonly access_host_url: string;
}

/** `create_role` (Postgres). `password` only in the create answer. */
export interface Role {
  readonly id: string;
  readonly name: string;
  readonly username: string;
  readonly password: string;
  readonly access_host_url: string;
  readonly database_name: string;
  readonly ready: boolean;
}

/** `create_backup`, `get_backup`, `list_backups` items. */
export interface Backup {
  readonly id: string;
  readonly state: "pending" | "running" | "success" | "failed" | "canceled" | "ignored";
  readonly completed_at: string | null;
}

/** The list envelope of `list_branches`, `list_backups`… */
export interface Page<T> {
  readonly data: T[];
  readonly next_page: number | null;
}

/** The env's credential, as recorded in `ResourceInfo.data.credential` (no secret in it). */
export interface CredentialRef {
  readonly type: "password" | "role";
  readonly id: string;
  readonly name: string;
}

export const kindOf = (kind: Database["kind"] | Branch["kind"]): Kind =>
  kind === "postgresql" ? "postgres" : "vitess";

/**
 * The `Authorization` value `<id>:<token>` from the two variables. Either missing fails here, naming
 * it, before any request (the HTTP client would name only one variable).
 */
export function serviceTokenAuth(
  idEnv: string,
  tokenEnv: string,
  env: Readonly<Record<string, string | undefined>> = process.env,
): ApiAuth {
  const id = env[idEnv]?.trim();
  const token = env[tokenEnv]?.trim();
  const missing = [id ? undefined : idEnv, token ? undefined : tokenEnv].filter(Boolean);
  if (missing.length > 0) {
    throw new ProviderError(
      PROVIDER,
      `${missing.join(" and ")} ${missing.length > 1 ? "are" : "is"} not set.`,
      "E_PROVIDER_AUTH",
      {
        hint:
          `Create a service token in PlanetScale (organization settings → Service tokens) with access ` +
          `to the database, then export ${idEnv} (its id) and ${tokenEnv} (the token).`,
      },
    );
  }
  return { header: "Authorization", value: `${id}:${token}`, variable: `${idEnv} + ${tokenEnv}` };
}

/** PlanetScale's branch names: "lowercase, alphanumeric characters and hyphens are allowed". */
const BRANCH_NAME = /^[a-z0-9][a-z0-9-]*$/;
/**
 * PlanetScale documents no length limit for branch names; forkstack keeps them to 63 characters
 * (a common identifier limit), so that a long project and env name are refused before anything is made.
 */
export const MAX_BRANCH_NAME = 63;

export function branchNameProblems(name: string): string[] {
  const problems: string[] = [];
  if (!BRANCH_NAME.test(name)) {
    problems.push(
      `the PlanetScale branch name "${name}" may hold only lowercase letters, digits and hyphens, starting with a letter or digit`,
    );
  }
  if (name.length > MAX_BRANCH_NAME) {
    problems.push(
      `the PlanetScale branch name "${name}" would be ${name.length} characters; forkstack keeps them to ${MAX_BRANCH_NAME} (shorten the env name)`,
    );
  }
  return problems;
}

/** Seconds from now until `expiresAt` (at least a minute), for a password's or role's `ttl`. */
export function ttlSeconds(expiresAt: Date | undefined, now = Date.now()): number | undefined {
  if (!expiresAt) return undefined;
  return Math.max(60, Math.ceil((expiresAt.getTime() - now) / 1000));
}

/** Readiness checks: every second at first, then slower (the pscale CLI polls every 5 s, then 10 s). */
export function pollInterval(fixed: number | undefined): (attempt: number) => number {
  if (fixed !== undefined) return () => fixed;
  return (attempt) => (attempt < 10 ? 1_000 : attempt < 30 ? 5_000 : 10_000);
}

const enc = encodeURIComponent;

/** `host:port`, with the engine's port when the API gave a bare host name. */
const withPort = (host: string, port: number) => (/:\d+$/.test(host) ? host : `${host}:${port}`);
const query = (q: string) => (q ? `?${q.replace(/^\?/, "")}` : "");

/**
 * Vitess: `mysql://<username>:<plain_text>@<access_host_url>/<database>?ssl={"rejectUnauthorized":true}`
 * (the format of PlanetScale's Node.js guide; the branch is chosen by the username).
 */
export function vitessUrl(password: Password, plain: string, database: string, urlQuery?: string): string {
  const q = urlQuery ?? 'ssl={"rejectUnauthorized":true}';
  return `mysql://${enc(password.username)}:${enc(plain)}@${password.access_host_url}/${enc(database)}${query(q)}`;
}

/** Postgres: `postgresql://<username>:<password>@<access_host_url>:5432/<database_name>?sslmode=verify-full`. */
export function postgresUrl(role: Role, urlQuery?: string): string {
  const q = urlQuery ?? "sslmode=verify-full";
  return `postgresql://${enc(role.username)}:${enc(role.password)}@${withPort(role.access_host_url, 5432)}/${enc(role.database_name)}${query(q)}`;
}

/** What this machine keeps about an env's credential (the URL holds the password). */
export interface StoredCredential {
  readonly branch: string;
  readonly branchId: string;
  readonly credential: CredentialRef;
  readonly url: string;
}

export function credentialStore(context: ProviderContext) {
  const file = (env: string) => join(context.envDir(env), "planetscale.json");
  return {
    async read(env: string): Promise<StoredCredential | undefined> {
      try {
        const parsed = JSON.parse(await readFile(file(env), "utf8")) as StoredCredential;
        return typeof parsed.url === "string" && typeof parsed.branch === "string" ? parsed : undefined;
      } catch {
        return undefined;
      }
    },
    async write(env: string, record: StoredCredential): Promise<void> {
      await mkdirPrivate(context.envDir(env));
      await writeFileDurable(file(env), `${JSON.stringify(record)}\n`, {
        mode: PRIVATE_FILE_MODE,
        replace: true,
      });
    },
    remove: (env: string) => rm(file(env), { force: true }),
  };
}
