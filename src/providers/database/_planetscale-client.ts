/**
 * @module providers/database/_planetscale-client
 * The PlanetScale API calls the `planetscale` provider makes, all through `_http.ts` (one client, made
 * on first use so that the factory does no checks): the database, branches (made, then polled until
 * `ready`), backups, and the env's password or role with its `DATABASE_URL`. The lifecycle around
 * them is in `planetscale.ts`.
 */
import { createApiClient, isApiError } from "../_http.js";
import type { ApiClient } from "../_http.js";
import { ProviderError } from "../../errors.js";
import type { EnvRef, OpContext, ProviderContext } from "../types.js";
import type { PlanetScaleOptions } from "./planetscale.options.js";
import {
  DEFAULT_BASE_URL,
  DEFAULT_ID_ENV,
  DEFAULT_TOKEN_ENV,
  DATABASE_NAME,
  ORGANIZATION_NAME,
  PROVIDER,
  credentialStore,
  kindOf,
  pollInterval,
  postgresUrl,
  serviceTokenAuth,
  ttlSeconds,
  vitessUrl,
} from "./_planetscale-api.js";
import type { Backup, Branch, CredentialRef, Database, Page, Password, Role } from "./_planetscale-api.js";

const enc = encodeURIComponent;

export type PlanetScaleClient = ReturnType<typeof planetscaleClient>;

/** Where `organization` and `database` are read when the config leaves them out. */
export const ORG_ENV = "PLANETSCALE_ORG";
export const DATABASE_ENV = "PLANETSCALE_DATABASE";

/** The value of a required setting: the config's, else the variable's (checked as the schema checks it). */
function fromConfigOrEnv(
  option: string,
  configured: string | undefined,
  variable: string,
  rule: RegExp,
): string {
  if (configured !== undefined) return configured;
  const value = process.env[variable]?.trim();
  if (!value || !rule.test(value)) {
    throw new ProviderError(
      PROVIDER,
      value
        ? `${variable} is not a PlanetScale ${option} name.`
        : `No PlanetScale ${option}: ${variable} is not set.`,
      "E_CONFIG_INVALID",
      { hint: `Set \`database.${option}\` in the config, or ${variable}.` },
    );
  }
  return value;
}

export function planetscaleClient(options: PlanetScaleOptions, context: ProviderContext) {
  const idEnv = options.serviceTokenId?.env ?? DEFAULT_ID_ENV;
  const tokenEnv = options.serviceToken?.env ?? DEFAULT_TOKEN_ENV;
  // Read on first use (the factory does no checks): the config's value, else the variable's.
  let target: { organization: string; database: string } | undefined;
  const resolveTarget = () =>
    (target ??= {
      organization: fromConfigOrEnv("organization", options.organization, ORG_ENV, ORGANIZATION_NAME),
      database: fromConfigOrEnv("database", options.database, DATABASE_ENV, DATABASE_NAME),
    });
  const dbPath = () => {
    const { organization, database } = resolveTarget();
    return `/organizations/${enc(organization)}/databases/${enc(database)}`;
  };
  const branchPath = (branch: string) => `${dbPath()}/branches/${enc(branch)}`;
  const credentialPath = (branch: string, c: CredentialRef) =>
    `${branchPath(branch)}/${c.type === "password" ? "passwords" : "roles"}/${enc(c.id)}`;
  /** `organization/database`, for messages and locations. */
  const where = () => `${resolveTarget().organization}/${resolveTarget().database}`;
  const store = credentialStore(context);

  // Made on first use, so that the factory does no checks (a missing token fails the first call).
  let client: ApiClient | undefined;
  const api = () =>
    (client ??= createApiClient({
      provider: PROVIDER,
      baseUrl: options.baseUrl,
      defaultBaseUrl: DEFAULT_BASE_URL,
      auth: serviceTokenAuth(idEnv, tokenEnv),
      log: context.log,
      clock: context.clock,
    }));
  const req = (op: OpContext, action: string) => ({ signal: op.signal, log: op.log, action });

  let databaseInfo: Promise<Database> | undefined;
  /** The database (its kind, default branch, Data Branching®): one call per provider instance. */
  const getDatabase = (op: OpContext): Promise<Database> =>
    (databaseInfo ??= api()
      .request<Database>("GET", dbPath(), req(op, `read database ${where()}`))
      .catch((error: unknown) => {
        databaseInfo = undefined;
        if (!isApiError(error, "not_found")) throw error;
        throw new ProviderError(
          PROVIDER,
          `Database ${where()} was not found, or the service token in ${idEnv} + ${tokenEnv} has no access to it (PlanetScale answers 404 for both)${error.requestId ? ` (request id ${error.requestId})` : ""}.`,
          "E_PROVIDER_API",
          {
            hint: `Check \`database.organization\` and \`database.database\` (else ${ORG_ENV} and ${DATABASE_ENV}), and the token's database accesses in PlanetScale.`,
          },
        );
      }));
  /** A `kind` in the config that is not the database's is a config error, found before anything is made. */
  const checkKind = (actual: Database["kind"]) => {
    if (options.kind && options.kind !== kindOf(actual)) {
      throw new ProviderError(
        PROVIDER,
        `\`database.kind\` is "${options.kind}" but ${where()} is a ${kindOf(actual)} database.`,
        "E_CONFIG_INVALID",
        { hint: "Remove `kind` (it is read from the database) or correct it." },
      );
    }
  };

  const getBranch = (name: string, op: OpContext) =>
    api().request<Branch>("GET", branchPath(name), {
      ...req(op, `read branch ${name}`),
      nullIfNotFound: true,
    });

  const waitReady = (name: string, op: OpContext) =>
    api().poll(() => api().request<Branch>("GET", branchPath(name), req(op, `read branch ${name}`)), {
      until: (b) => b.ready,
      intervalMs: pollInterval(options.pollIntervalMs),
      timeoutMs: options.readyTimeoutMs ?? 600_000,
      signal: op.signal,
      what: `branch ${name} to be ready`,
      describe: (b) => `state ${b.state}`,
      onProgress: (p) => {
        if (!p.done) op.log.debug(`[${PROVIDER}] branch ${name}: ${p.value.state} after ${p.elapsedMs} ms`);
      },
    });

  const exists = (env: EnvRef, name: string) =>
    new ProviderError(
      PROVIDER,
      `A branch for env "${env.name}" already exists: ${where()}/${name}.`,
      "E_ENV_EXISTS",
    );

  /** POST the branch, then wait until it is ready (unless it says so already); a name taken meanwhile is the caller's E_ENV_EXISTS. */
  const createBranch = async (env: EnvRef, body: Record<string, unknown>, op: OpContext) => {
    let made: Branch;
    try {
      made = await api().request<Branch>("POST", `${dbPath()}/branches`, {
        ...req(op, `create branch ${String(body.name)}`),
        body,
      });
    } catch (error) {
      if (isApiError(error, "exists")) throw exists(env, String(body.name));
      throw error;
    }
    return made.ready ? made : waitReady(String(body.name), op);
  };

  /** A password (Vitess) or role (Postgres) on `branch` for `env`, and its DATABASE_URL. */
  const makeCredential = async (env: EnvRef, branch: Branch, op: OpContext, expiresAt?: Date) => {
    const name = `forkstack-${env.name}-${Math.random().toString(36).slice(2, 8)}`;
    const ttl = ttlSeconds(expiresAt);
    const path = branchPath(branch.name);
    let credential: CredentialRef;
    let url: string;
    if (kindOf(branch.kind) === "vitess") {
      const password = await api().request<Password>("POST", `${path}/passwords`, {
        ...req(op, `create a password on branch ${branch.name}`),
        body: { name, role: options.passwordRole ?? "admin", ...(ttl ? { ttl } : {}) },
      });
      if (!password.plain_text) {
        throw new ProviderError(
          PROVIDER,
          `PlanetScale returned no password text for ${password.name}.`,
          "E_PROVIDER_API",
        );
      }
      credential = { type: "password", id: password.id, name: password.name };
      url = vitessUrl(password, password.plain_text, resolveTarget().database, options.urlQuery);
    } else {
      const role = await api().request<Role>("POST", `${path}/roles`, {
        ...req(op, `create a role on branch ${branch.name}`),
        body: { name, inherited_roles: options.inheritedRoles ?? ["postgres"], ...(ttl ? { ttl } : {}) },
      });
      if (!role.ready) {
        await api().poll(
          () =>
            api().request<Role>("GET", `${path}/roles/${enc(role.id)}`, req(op, `read role ${role.name}`)),
          {
            until: (r) => r.ready,
            intervalMs: pollInterval(options.pollIntervalMs),
            signal: op.signal,
            what: `role ${role.name} to be ready`,
          },
        );
      }
      credential = { type: "role", id: role.id, name: role.name };
      url = postgresUrl(role, options.urlQuery);
    }
    await store.write(env.name, { branch: branch.name, branchId: branch.id, credential, url });
    op.log.debug(
      `[${PROVIDER}] ${credential.type} ${credential.name} on ${branch.name}${ttl ? ` (ttl ${ttl} s)` : ""}`,
    );
    return { credential, url };
  };

  const deleteCredential = (branch: string, credential: CredentialRef, op: OpContext) =>
    api().request<null>("DELETE", credentialPath(branch, credential), {
      ...req(op, `delete ${credential.type} ${credential.name}`),
      nullIfNotFound: true,
    });

  /** The parent's last finished backup, which `seed_data` restores (best effort: for the message only). */
  const lastBackup = async (branch: string, op: OpContext): Promise<string | undefined> => {
    try {
      const page = await api().request<Page<Backup>>("GET", `${branchPath(branch)}/backups`, {
        ...req(op, `list backups of ${branch}`),
        query: { state: "success", per_page: 100 },
      });
      return (
        page.data
          .map((b) => b.completed_at ?? "")
          .sort()
          .at(-1) || undefined
      );
    } catch (error) {
      op.log.debug(`[${PROVIDER}] could not list the backups of ${branch}: ${(error as Error).message}`);
      return undefined;
    }
  };

  /** A backup of `branch` taken now, once it has finished (deleted by the caller after the restore). */
  const backupNow = async (branch: string, child: string, op: OpContext): Promise<Backup> => {
    const path = `${branchPath(branch)}/backups`;
    const made = await api().request<Backup>("POST", path, {
      ...req(op, `back up branch ${branch}`),
      // Kept a day at most, should the delete after the restore never happen (a crash).
      body: { name: `forkstack-${child}`, retention_unit: "day", retention_value: 1 },
    });
    return api().poll(
      () => api().request<Backup>("GET", `${path}/${enc(made.id)}`, req(op, `read backup of ${branch}`)),
      {
        until: (b) => {
          if (b.state === "failed" || b.state === "canceled") {
            throw new ProviderError(PROVIDER, `The backup of branch ${branch} ${b.state}.`, "E_PROVIDER_API");
          }
          return b.state === "success";
        },
        intervalMs: pollInterval(options.pollIntervalMs),
        timeoutMs: options.readyTimeoutMs ?? 600_000,
        signal: op.signal,
        what: `the backup of branch ${branch}`,
        describe: (b) => `state ${b.state}`,
      },
    );
  };

  /** The env's own credential still exists (an adopted root's, reused when adopted again). */
  const credentialAlive = async (branch: string, credential: CredentialRef, op: OpContext) => {
    const found = await api().request<{ expired?: boolean }>("GET", credentialPath(branch, credential), {
      ...req(op, `read ${credential.type} ${credential.name}`),
      nullIfNotFound: true,
    });
    return found !== null && found.expired !== true;
  };

  const deleteBackup = (branch: string, id: string, op: OpContext) =>
    api()
      .request("DELETE", `${branchPath(branch)}/backups/${enc(id)}`, {
        log: op.log,
        action: `delete the backup of ${branch}`,
        nullIfNotFound: true,
      })
      .catch((error: unknown) => op.log.debug(`[${PROVIDER}] ${(error as Error).message}`));

  const deleteBranch = (name: string, op: OpContext) =>
    api().request("DELETE", branchPath(name), { ...req(op, `delete branch ${name}`), nullIfNotFound: true });

  /** Every branch name of the database, page by page. */
  const branchNames = async (op: OpContext) => {
    const names: string[] = [];
    for (let page: number | null = 1; page !== null;) {
      const answer: Page<Branch> = await api().request<Page<Branch>>("GET", `${dbPath()}/branches`, {
        ...req(op, `list branches of ${where()}`),
        query: { page, per_page: 100 },
      });
      names.push(...answer.data.map((b) => b.name));
      page = answer.next_page;
    }
    return names;
  };

  return {
    where,
    idEnv,
    tokenEnv,
    store,
    baseUrl: () => api().baseUrl,
    /** Forget the cached database (doctor looks afresh). */
    forgetDatabase: () => void (databaseInfo = undefined),
    getDatabase,
    checkKind,
    getBranch,
    createBranch,
    deleteBranch,
    branchNames,
    exists,
    makeCredential,
    deleteCredential,
    credentialAlive,
    lastBackup,
    backupNow,
    deleteBackup,
  };
}
