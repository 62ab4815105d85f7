/**
 * @module providers/database/turso
 * A Turso database per env, through the Platform API (docs/databases.md, `turso`): `<project>-<env>`
 * in the organization's group.
 *
 * A fork is a new database seeded from the parent's (`seed: { type: "database", name }`, plus
 * `seed.timestamp` for `new --at`), in the parent's group because Turso forks only within a group.
 * Turso copies on its side and answers with the hostname: the API documents no step to wait for.
 * Each env gets its own database token (`DATABASE_AUTH_TOKEN`, secret), minted full-access with an
 * expiry (`tokenExpiration`, or the env's own); `DATABASE_URL` is `libsql://<Hostname>` and holds no
 * secret. `remove` invalidates the database's tokens, then deletes it. An adopted root (an existing
 * database named by `roots.<env>.database`) gets a token but is never rotated nor deleted.
 *
 * Every call goes through `_http.ts` (`FORKSTACK_TURSO_API_URL` points it at the emulator).
 */
import { ProviderError, madeElsewhereError, noRecordError } from "../../errors.js";
import { recordedString } from "../../layout.js";
import { adoptedDatabaseName } from "./_root-ref.js";
import { bearerAuth, createApiClient, isApiError, type ApiClient } from "../_http.js";
import type {
  DatabaseProvider,
  EnvRef,
  ForkOptions,
  OpContext,
  ProviderFactory,
  ResourceInfo,
} from "../types.js";
import type { TursoOptions } from "./turso.options.js";
import {
  PROVIDER_NAME,
  appUrl,
  databaseName,
  encryptedParent,
  envOfDatabase,
  expiresAtOf,
  nameProblems,
  tokenExpiration,
  tokenStore,
} from "./_turso.js";

export { databaseName };

/** A database as the Platform API describes it (note the capitalised keys). */
interface TursoDatabase {
  readonly Name: string;
  readonly DbId: string;
  readonly Hostname: string;
  readonly group?: string;
  readonly parent?: { readonly id?: string; readonly name?: string; readonly branched_at?: string } | null;
}

const DEFAULT_API = "https://api.turso.tech";

const provider: ProviderFactory<TursoOptions, DatabaseProvider> = (options, context) => {
  const tokens = tokenStore(context.dataDir);
  let client: ApiClient | undefined;
  // Made on first use: the factory does no checks, and a missing token fails on the first request.
  const api = () =>
    (client ??= createApiClient({
      provider: PROVIDER_NAME,
      baseUrl: options.baseUrl,
      defaultBaseUrl: DEFAULT_API,
      auth: bearerAuth(options.apiToken.env),
      log: context.log,
      clock: context.clock,
    }));

  const organization = (): string => {
    const org = options.organization ?? process.env.TURSO_ORG?.trim();
    if (!org) {
      throw new ProviderError(
        PROVIDER_NAME,
        "No Turso organization: TURSO_ORG is not set.",
        "E_CONFIG_INVALID",
        {
          hint: "Set `database.organization` in the config, or TURSO_ORG to your organization's slug (`turso org list`).",
        },
      );
    }
    return org;
  };
  const orgPath = () => `/v1/organizations/${encodeURIComponent(organization())}`;
  const path = (...parts: string[]) => `${orgPath()}/${parts.map(encodeURIComponent).join("/")}`;

  const get = async (database: string, op: OpContext): Promise<TursoDatabase | null> => {
    const found = await api().request<{ database: TursoDatabase }>("GET", path("databases", database), {
      nullIfNotFound: true,
      signal: op.signal,
      log: op.log,
      action: `read database ${database}`,
    });
    return found?.database ?? null;
  };

  /** A full-access token for `database`, kept for `describe`; its expiry goes in `data`. */
  const mint = async (db: TursoDatabase, op: OpContext, expiresAt?: Date) => {
    const expiration = tokenExpiration(options.tokenExpiration, expiresAt);
    const { jwt } = await api().request<{ jwt: string }>(
      "POST",
      path("databases", db.Name, "auth", "tokens"),
      {
        query: { expiration, authorization: "full-access" },
        signal: op.signal,
        log: op.log,
        action: `mint a token for database ${db.Name}`,
      },
    );
    await tokens.save(db.Name, db.DbId, jwt);
    return { token: jwt, tokenExpiresAt: expiresAtOf(expiration) };
  };

  const info = (
    db: TursoDatabase,
    token: string | undefined,
    extra: Partial<ResourceInfo> = {},
  ): ResourceInfo => {
    const { data, ...rest } = extra;
    return {
      location: `libsql://${db.Hostname}`,
      vars: { DATABASE_URL: appUrl(db.Hostname, db.Name) },
      ...(token === undefined ? {} : { secretVars: { DATABASE_AUTH_TOKEN: token } }),
      data: {
        database: db.Name,
        dbId: db.DbId,
        organization: organization(),
        ...(db.group ? { group: db.group } : {}),
        ...data,
      },
      ...rest,
    };
  };

  /** The database a record names (an adopted root's may not follow the convention). */
  const recordedName = (env: EnvRef, recorded?: ResourceInfo) => {
    const named = recorded?.data?.database;
    return typeof named === "string" ? named : databaseName(env);
  };

  /** `describe`'s token: the recorded one while the database is the one it was minted for, else the kept one. */
  const knownToken = async (db: TursoDatabase, recorded?: ResourceInfo) => {
    const token = recorded?.secretVars?.DATABASE_AUTH_TOKEN;
    if (token && recorded?.data?.dbId === db.DbId) return token;
    return tokens.load(db.Name, db.DbId);
  };

  const described = async (db: TursoDatabase, recorded?: ResourceInfo): Promise<ResourceInfo> => {
    const expiry = recorded?.data?.dbId === db.DbId ? recorded?.data?.tokenExpiresAt : undefined;
    return info(
      db,
      await knownToken(db, recorded),
      expiry === undefined ? {} : { data: { tokenExpiresAt: expiry } },
    );
  };

  /** Create `name` (a root or, with `seed`, a fork) and its token. */
  const make = async (
    env: EnvRef,
    body: { group: string; seed?: { type: "database"; name: string; timestamp?: string } },
    op: OpContext,
    expiresAt: Date | undefined,
  ): Promise<TursoDatabase & { token: string; tokenExpiresAt: string | null }> => {
    const name = databaseName(env);
    const { database } = await api().request<{ database: TursoDatabase }>("POST", path("databases"), {
      body: { name, ...body },
      signal: op.signal,
      log: op.log,
      action: `create database ${name}`,
    });
    const db = { ...database, group: body.group };
    return { ...db, ...(await mint(db, op, expiresAt)) };
  };

  return {
    kind: "database",
    name: PROVIDER_NAME,
    // Turso copies the parent on its side and bills no extra storage until the copy diverges.
    flags: { copyOnWrite: true, pointInTime: true, private: false },

    checkName: (env) => nameProblems(env, options.organization ?? process.env.TURSO_ORG?.trim()),

    async create(env, op) {
      const made = await make(env, { group: options.group }, op, undefined);
      return info(made, made.token, { method: "empty", data: { tokenExpiresAt: made.tokenExpiresAt } });
    },

    async adopt(env, ref, op) {
      const named = adoptedDatabaseName(PROVIDER_NAME, env, ref);
      const db = await get(named ?? databaseName(env), op);
      if (!db) return null;
      const { token, tokenExpiresAt } = await mint(db, op);
      return info(db, token, { data: { tokenExpiresAt, adopted: true } });
    },

    async fork(parent, child, op, forkOptions: ForkOptions = {}) {
      const from = recordedName(parent, forkOptions.parent);
      const missing = () =>
        new ProviderError(
          PROVIDER_NAME,
          `Env "${parent.name}" has no database ("${from}" does not exist).`,
          "E_ENV_NOT_FOUND",
          { hint: `Check the parent's name, or recreate "${parent.name}".` },
        );
      // A database never changes group: with the parent's recorded group the fork is one request fewer
      // (no GET of the parent), and a parent deleted since shows when Turso refuses the seed.
      const known = forkOptions.parent?.data?.group;
      let group = typeof known === "string" ? known : undefined;
      if (group === undefined) {
        const source = await get(from, op);
        if (!source) throw missing();
        group = source.group ?? options.group;
      }
      const seed = {
        type: "database" as const,
        name: from,
        ...(forkOptions.at ? { timestamp: forkOptions.at.toISOString() } : {}),
      };
      try {
        const made = await make(child, { group, seed }, op, forkOptions.expiresAt);
        return info(made, made.token, {
          method: "native",
          data: { tokenExpiresAt: made.tokenExpiresAt, parent: from },
        });
      } catch (error) {
        // The API does not say whether a database is encrypted: Turso refuses the seed without a key.
        if (isApiError(error, "api") && /encrypt/i.test(error.vendorMessage ?? ""))
          throw encryptedParent(parent.name, from, error);
        if (known !== undefined && (isApiError(error, "api") || isApiError(error, "not_found"))) {
          if (!(await get(from, op))) throw missing();
        }
        throw error;
      }
    },

    target: (env) => ({ database: databaseName(env), organization: organization() }),

    // Only ever the env's own database, in the organization it was made in, and (when the record has
    // its id) only that very database: one made again under the name since is not ours. An adopted
    // root names someone else's, which is never touched.
    async remove(env, op, recorded) {
      const own = databaseName(env);
      const named = recordedString(recorded, "database");
      const madeIn = recordedString(recorded, "organization");
      const dbId = recordedString(recorded, "dbId");
      if (!named || (!madeIn && !dbId)) throw noRecordError(PROVIDER_NAME, env.name, "database");
      if (named !== own || recorded?.data?.adopted === true) return;
      if (madeIn && madeIn !== organization()) {
        const now = organization();
        throw madeElsewhereError(PROVIDER_NAME, env.name, "database", {
          recorded: madeIn,
          now,
          key: "database.organization",
        });
      }
      if (dbId) {
        const db = await get(own, op);
        if (!db) return;
        if (db.DbId !== dbId) {
          op.log.warn(
            `[${PROVIDER_NAME}] left database ${own} in place: it is not the one "${env.name}" recorded making (id ${dbId})`,
          );
          return;
        }
      }
      const request = { signal: op.signal, log: op.log, nullIfNotFound: true as const };
      // Tokens first: should the delete fail, the env's token is already useless. A token without the
      // `db:rotate-creds` scope may not: the delete alone still ends them, so that is only a warning.
      await api()
        .request("POST", path("databases", own, "auth", "rotate"), {
          ...request,
          idempotent: true,
          action: `invalidate the tokens of database ${own}`,
        })
        .catch((error: unknown) => {
          if (!isApiError(error, "auth") || error.status !== 403) throw error;
          op.log.warn(`[${PROVIDER_NAME}] ${error.message} Deleting the database ends its tokens anyway.`);
        });
      await api().request("DELETE", path("databases", own), { ...request, action: `delete database ${own}` });
      await tokens.forget(own);
      op.log.debug(`[${PROVIDER_NAME}] deleted database ${own}`);
    },

    async describe(env, op, recorded) {
      const db = await get(recordedName(env, recorded), op);
      return db ? described(db, recorded) : null;
    },

    // One list call for every env (`forkstack list`), instead of one GET each.
    async describeMany(envs, op) {
      const all = await listDatabases(op);
      const byName = new Map(all.map((db) => [db.Name, db]));
      return Promise.all(
        envs.map((env) => {
          const db = byName.get(databaseName(env));
          return db ? described(db) : null;
        }),
      );
    },

    async list(op) {
      const names = (await listDatabases(op)).map((db) => envOfDatabase(context.project, db.Name));
      return names.filter((n): n is string => n !== undefined).sort();
    },

    async doctor(op) {
      try {
        const org = organization();
        const { organization: found } = await api().request<{
          organization: { slug?: string; plan_id?: string };
        }>("GET", orgPath(), { signal: op.signal, log: op.log, action: `read organization ${org}` });
        return [
          {
            level: "ok",
            message: `organization ${org}${found.plan_id ? ` (plan ${found.plan_id})` : ""}: ${options.apiToken.env} accepted at ${api().baseUrl}`,
          },
          {
            level: "ok",
            message:
              "forks are Turso databases seeded from the parent (native, in the parent's group); `--at` within the plan's point-in-time window",
          },
        ];
      } catch (error) {
        return [{ level: "error", message: (error as Error).message }];
      }
    },
  };

  async function listDatabases(op: OpContext): Promise<TursoDatabase[]> {
    const { databases } = await api().request<{ databases: TursoDatabase[] }>("GET", path("databases"), {
      signal: op.signal,
      log: op.log,
      action: "list databases",
    });
    return databases ?? [];
  }
};

export default provider;
