/**
 * @module providers/database/_turso
 * Pieces of the `turso` provider that are not lifecycle: database names, token expiry, the app's URL,
 * and the local copy of each env's database token.
 */
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { ProviderError, UserError } from "../../errors.js";
import type { EnvRef } from "../types.js";

export const PROVIDER_NAME = "turso";
/** Turso's rule for database names (Platform API `createDatabase`): `a-z0-9-`, at most 64. */
export const MAX_NAME = 64;
/** A DNS label (RFC 1035): the hostname's first label is `<database>-<organization>`. */
export const MAX_LABEL = 63;
/** Where the app's URL can be pointed elsewhere (the emulator's database server in tests). */
export const DB_URL_VARIABLE = "FORKSTACK_TURSO_DB_URL";

export function databaseName(env: EnvRef): string {
  return `${env.project}-${env.name}`;
}

/** The env name a database of `project` stands for, or undefined if it is not one of this project's. */
export function envOfDatabase(project: string, database: string): string | undefined {
  const prefix = `${project}-`;
  if (!database.startsWith(prefix)) return undefined;
  const name = database.slice(prefix.length);
  return /^[a-z0-9]+(?:-[a-z0-9]+)*$/.test(name) ? name : undefined;
}

/** Reasons Turso would refuse the database name of `env` (empty when it is fine). */
export function nameProblems(env: EnvRef, organization: string | undefined): string[] {
  const name = databaseName(env);
  const problems: string[] = [];
  if (!/^[a-z0-9-]+$/.test(name)) {
    problems.push(`the Turso database name "${name}" may hold only lowercase letters, digits and dashes`);
  }
  if (name.length > MAX_NAME) {
    problems.push(
      `the Turso database name "${name}" would be ${name.length} characters; Turso allows ${MAX_NAME} (shorten the env name)`,
    );
  } else if (organization && name.length + 1 + organization.length > MAX_LABEL) {
    problems.push(
      `the Turso hostname "${name}-${organization}.turso.io" would start with ${name.length + 1 + organization.length} characters; a DNS label holds ${MAX_LABEL} (shorten the env name)`,
    );
  }
  return problems;
}

/**
 * The token's `expiration` query value: the option when set; else, for an env that expires, the
 * time until an hour after it does (so the token never dies before the env), else `never`.
 */
export function tokenExpiration(option: string | undefined, expiresAt: Date | undefined, now = Date.now()) {
  if (option) return option;
  if (!expiresAt) return "never";
  const minutes = Math.max(1, Math.ceil((expiresAt.getTime() - now) / 60_000) + 60);
  const d = Math.floor(minutes / 1440);
  const h = Math.floor((minutes % 1440) / 60);
  const m = minutes % 60;
  return `${d ? `${d}d` : ""}${h ? `${h}h` : ""}${m ? `${m}m` : ""}` || "1m";
}

/** When a token minted now with `expiration` expires (ISO), or null for `never`. */
export function expiresAtOf(expiration: string, now = Date.now()): string | null {
  if (expiration === "never") return null;
  const unit: Record<string, number> = { w: 604_800, d: 86_400, h: 3_600, m: 60, s: 1 };
  let seconds = 0;
  for (const [, n, u] of expiration.matchAll(/(\d+)([wdhms])/g)) seconds += Number(n) * unit[u!]!;
  return new Date(now + seconds * 1000).toISOString();
}

/**
 * The app's DATABASE_URL for a database at `hostname`: `libsql://<hostname>`, as Turso's CLI builds
 * it; or `FORKSTACK_TURSO_DB_URL` with `{hostname}` and `{name}` filled in, which points the app at
 * another server speaking the same protocol (the emulator's database server in forkstack's tests).
 */
export function appUrl(hostname: string, database: string, env = process.env): string {
  const template = env[DB_URL_VARIABLE]?.trim();
  if (!template) return `libsql://${hostname}`;
  if (!/^(libsql|https?):\/\//.test(template) || !template.includes("{hostname}")) {
    throw new UserError(
      `${DB_URL_VARIABLE} must be a libsql:// or http(s):// URL containing {hostname}: "${template}".`,
      "E_CONFIG_INVALID",
      { hint: `Unset ${DB_URL_VARIABLE} to use Turso's own hostnames.` },
    );
  }
  return template.split("{hostname}").join(hostname).split("{name}").join(database);
}

/**
 * Turso never shows a database token again, so the one minted for an env is also kept here (a 0600
 * file, like the env's manifest that holds it too): `describe` by name alone, which has no manifest,
 * can then give the env's variables whole. Keyed by the database's id, so a database re-made under the
 * same name never gets a dead token.
 */
export function tokenStore(dataDir: string) {
  const dir = join(dataDir, PROVIDER_NAME, "tokens");
  const file = (database: string) => join(dir, `${database}.json`);
  return {
    async save(database: string, dbId: string, token: string): Promise<void> {
      await mkdir(dir, { recursive: true, mode: 0o700 });
      await writeFile(file(database), JSON.stringify({ dbId, token }), { mode: 0o600 });
    },
    async load(database: string, dbId: string): Promise<string | undefined> {
      try {
        const saved = JSON.parse(await readFile(file(database), "utf8")) as {
          dbId?: unknown;
          token?: unknown;
        };
        return saved.dbId === dbId && typeof saved.token === "string" ? saved.token : undefined;
      } catch {
        return undefined;
      }
    },
    forget: (database: string) => rm(file(database), { force: true }),
  };
}

/** A fork refused because its parent is encrypted: forkstack does not hold encryption keys. */
export function encryptedParent(parent: string, database: string, cause: unknown): ProviderError {
  return new ProviderError(
    PROVIDER_NAME,
    `Env "${parent}" uses an encrypted Turso database ("${database}"); forking it needs its encryption key, which forkstack does not handle.`,
    "E_UNSUPPORTED",
    {
      hint: "Fork it with `turso db create --from-db` and your key, then adopt the copy as a root (`roots.<env>.database`).",
      cause,
    },
  );
}
