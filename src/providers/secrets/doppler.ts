/**
 * @module providers/secrets/doppler
 * Secrets in Doppler (API v3, reference/providers.md §4), one config per env:
 *
 * - Roots adopt an existing config, never make or delete one: `roots.<env>.secrets` names it
 *   (`{ environment: "dev", config: "dev" }`), else a root config named like the env is taken
 *   (`prod` also finds Doppler's `prd`). A root that finds none gets a branch config in the
 *   `environment` option's environment, or is refused.
 * - A fork is a branch config of the parent's environment, `<environment>_<project>_<env>`, into which
 *   every value the parent reads is written. A Doppler branch config reads through to its root config
 *   for any secret it does not set itself; writing them all cuts that link for every key the parent has,
 *   so the parent's later writes to those keys do not reach the child. (A key added to the *root* config
 *   later still shows through: docs/secrets.md.)
 * - Optionally a service token per env (its own config, `read` by default), handed to the app as a
 *   secret variable and revoked with the env.
 *
 * Doppler adds DOPPLER_PROJECT/ENVIRONMENT/CONFIG to every download: `read` leaves them out, and `write`
 * refuses them. Values never go to a log or an error: logs carry method, path and status only (`_http`).
 * `read` has no recorded info to go by, so every env's config is also noted in `<envDir>/doppler.json`.
 */
import { readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { ProviderError, errnoCode } from "../../errors.js";
import { createApiClient } from "../_http.js";
import type { EnvRef, OpContext, ProviderFactory, ResourceInfo, RootRef, SecretsProvider } from "../types.js";
import type { DopplerOptions } from "./doppler.options.js";

export type { DopplerOptions };

const PROVIDER_NAME = "doppler";
const RECORD_FILE = "doppler.json";
/** Doppler's reference gives no limit; forkstack keeps config names to this, which any API accepts. */
export const MAX_CONFIG_NAME = 64;
const CONFIG_NAME = /^[a-z0-9][a-z0-9_-]*$/;
const KEY_PATTERN = /^[A-Za-z_][A-Za-z0-9_]*$/;
const RESERVED = new Set(["DOPPLER_PROJECT", "DOPPLER_ENVIRONMENT", "DOPPLER_CONFIG"]);
/** forkstack's root names → Doppler's default environments, tried when a root names no config. */
const ROOT_ALIASES: Readonly<Record<string, string>> = { prod: "prd", staging: "stg" };

/** Where an env's secrets live, as recorded in `data` and in the env dir. */
interface Where {
  readonly project: string;
  readonly environment: string;
  readonly config: string;
  /** A config this env adopted: never deleted. */
  readonly adopted?: boolean;
  readonly tokenSlug?: string;
}

interface ConfigJson {
  readonly name: string;
  readonly environment: string;
  readonly root: boolean;
}

/** `<environment>_<project>_<env>`: neither the project nor the env name can hold `_`. */
export function configName(environment: string, env: EnvRef): string {
  return `${environment}_${env.project}_${env.name}`;
}

/** Why Doppler would refuse (or forkstack could misread) this config name; empty when fine. */
export function configNameProblems(name: string): string[] {
  const problems: string[] = [];
  if (!CONFIG_NAME.test(name)) problems.push(`Doppler config "${name}" may hold only a-z, 0-9, - and _`);
  if (name.length > MAX_CONFIG_NAME) {
    problems.push(
      `Doppler config "${name}" would be ${name.length} characters, over forkstack's limit of ${MAX_CONFIG_NAME}`,
    );
  }
  return problems;
}

const provider: ProviderFactory<DopplerOptions, SecretsProvider> = (options, context) => {
  const project = options.project ?? context.project;
  const tokenEnv = options.tokenEnv ?? "DOPPLER_TOKEN";
  const token = process.env[tokenEnv];
  const api = createApiClient({
    provider: PROVIDER_NAME,
    baseUrl: options.baseUrl,
    defaultBaseUrl: "https://api.doppler.com",
    auth: {
      header: "authorization",
      value: token ? `Bearer ${token.trim()}` : undefined,
      variable: tokenEnv,
    },
    log: context.log,
  });
  const asked = options.serviceTokens;
  const tokens =
    asked === true || (asked && typeof asked === "object")
      ? {
          access: (typeof asked === "object" && asked.access) || "read",
          variable: (typeof asked === "object" && asked.variable) || "DOPPLER_TOKEN",
        }
      : undefined;
  const ownName = (env: EnvRef) => new RegExp(`^[a-z0-9-]+_${env.project}_${env.name}$`);

  const req = (op: OpContext, action: string) => ({ signal: op.signal, log: op.log, action });
  const recordPath = (env: EnvRef) => join(context.envDir(env.name), RECORD_FILE);
  const notFound = (env: EnvRef) =>
    new ProviderError(
      PROVIDER_NAME,
      `Env "${env.name}" has no Doppler config in project ${project}.`,
      "E_ENV_NOT_FOUND",
    );

  const getConfig = (config: string, op: OpContext) =>
    api
      .request<{ config: ConfigJson }>("GET", "/v3/configs/config", {
        ...req(op, `read config ${config}`),
        query: { project, config },
        nullIfNotFound: true,
      })
      .then((r) => r?.config ?? null);

  /** Every config of the project (pages of 100). */
  const allConfigs = async (op: OpContext): Promise<ConfigJson[]> => {
    const out: ConfigJson[] = [];
    for (let page = 1; ; page++) {
      const { configs } = await api.request<{ configs: ConfigJson[] }>("GET", "/v3/configs", {
        ...req(op, `list the configs of project ${project}`),
        query: { project, page, per_page: 100 },
      });
      out.push(...configs);
      if (configs.length < 100) return out;
    }
  };

  /** The env's config: from what was recorded, the env dir's note, else by its name among all configs. */
  const locate = async (env: EnvRef, op: OpContext, recorded?: ResourceInfo): Promise<Where | null> => {
    const data = recorded?.data as Where | undefined;
    if (data?.config) return data;
    try {
      return JSON.parse(await readFile(recordPath(env), "utf8")) as Where;
    } catch (error) {
      if (errnoCode(error) !== "ENOENT" && !(error instanceof SyntaxError)) throw error;
    }
    const found = (await allConfigs(op)).find((c) => !c.root && ownName(env).test(c.name));
    return found ? { project, environment: found.environment, config: found.name } : null;
  };

  const note = async (env: EnvRef, where: Where) => {
    // Not secret (names only), but private like everything under .forkstack/.
    await writeFile(recordPath(env), JSON.stringify(where), { mode: 0o600 }).catch(() => undefined);
  };

  const info = (where: Where, extra: Partial<ResourceInfo> = {}): ResourceInfo => ({
    location: `doppler:${where.project}/${where.config}`,
    vars: {},
    data: { ...where },
    ...extra,
  });

  const download = async (config: string, op: OpContext): Promise<Record<string, string> | null> => {
    const values = await api.request<Record<string, string>>("GET", "/v3/configs/config/secrets/download", {
      ...req(op, `read the secrets of config ${config}`),
      query: { project, config, format: "json" },
      nullIfNotFound: true,
    });
    if (values === null) return null;
    return Object.fromEntries(Object.entries(values).filter(([k]) => !RESERVED.has(k)));
  };

  const checkValues = (values: Record<string, string>) => {
    for (const [key, value] of Object.entries(values)) {
      if (!KEY_PATTERN.test(key) || RESERVED.has(key)) {
        throw new ProviderError(
          PROVIDER_NAME,
          RESERVED.has(key)
            ? `${key} is set by Doppler itself.`
            : `Secret name "${key}" is not a valid variable name.`,
          "E_USAGE",
          {
            hint: "Use letters, digits and underscores, not starting with a digit (DOPPLER_* names are Doppler's).",
          },
        );
      }
      if (typeof value !== "string")
        throw new ProviderError(PROVIDER_NAME, `Secret ${key} is not a string.`, "E_USAGE");
    }
  };

  /** Set and delete secrets of a config so that it reads `values`; `current` is what it reads now. */
  const update = async (
    where: Where,
    current: Record<string, string>,
    values: Record<string, string>,
    op: OpContext,
  ) => {
    const changes: Array<Record<string, unknown>> = [];
    for (const [name, value] of Object.entries(values)) {
      if (current[name] === value) continue;
      changes.push(name in current ? { name, originalName: name, value } : { name, value });
    }
    const dropped = Object.keys(current).filter((k) => !(k in values));
    if (dropped.length) {
      const self = await getConfig(where.config, op);
      // A branch config cannot drop what its root config has (named like the environment): it would
      // read the root's value again.
      const inherited = self && !self.root ? await download(self.environment, op) : null;
      const stuck = dropped.filter((k) => inherited && k in inherited);
      if (stuck.length) {
        const them = stuck.length > 1 ? "them" : "it";
        throw new ProviderError(
          PROVIDER_NAME,
          `${stuck.join(", ")} ${stuck.length > 1 ? "come" : "comes"} from the root config ${self!.environment}: a Doppler branch config cannot remove ${them}.`,
          "E_USAGE",
          { hint: `Remove ${them} in ${self!.environment}, or set an empty value here.` },
        );
      }
      for (const name of dropped) changes.push({ name, originalName: name, shouldDelete: true });
    }
    if (!changes.length) return;
    await api.request("POST", "/v3/configs/config/secrets", {
      ...req(op, `write the secrets of config ${where.config}`),
      body: { project, config: where.config, change_requests: changes },
    });
  };

  /** A service token for a config forkstack made, when configured. */
  const mintToken = async (env: EnvRef, where: Where, op: OpContext, expiresAt?: Date) => {
    if (!tokens) return { where, secretVars: undefined };
    const { token: made } = await api.request<{ token: { slug: string; key: string } }>(
      "POST",
      "/v3/configs/config/tokens",
      {
        ...req(op, `make a service token for config ${where.config}`),
        body: {
          project,
          config: where.config,
          name: `forkstack-${env.name}`,
          access: tokens.access,
          ...(expiresAt ? { expire_at: Math.floor(expiresAt.getTime() / 1000) } : {}),
        },
      },
    );
    return { where: { ...where, tokenSlug: made.slug }, secretVars: { [tokens.variable]: made.key } };
  };

  /** Make a branch config (and its token) for `env`; undone if a later step fails. */
  const makeBranch = async (
    env: EnvRef,
    environment: string,
    values: Record<string, string>,
    op: OpContext,
    expiresAt?: Date,
  ): Promise<ResourceInfo> => {
    const config = configName(environment, env);
    const problems = configNameProblems(config);
    if (problems.length) {
      throw new ProviderError(
        PROVIDER_NAME,
        `Cannot name env "${env.name}": ${problems.join("; ")}.`,
        "E_INVALID_ENV_NAME",
        {
          hint: "Use a shorter env (or project) name.",
        },
      );
    }
    await api.request("POST", "/v3/configs", {
      ...req(op, `create config ${config}`),
      body: { project, environment, name: config },
    });
    let where: Where = { project, environment, config };
    try {
      await update(where, {}, values, op);
      const minted = await mintToken(env, where, op, expiresAt);
      where = minted.where;
      await note(env, where);
      return info(where, minted.secretVars ? { secretVars: minted.secretVars } : {});
    } catch (error) {
      await removeConfig(where, op).catch(() => undefined);
      throw error;
    }
  };

  const removeConfig = async (where: Where, op: OpContext) => {
    if (where.tokenSlug) {
      await api.request("DELETE", "/v3/configs/config/tokens/token", {
        ...req(op, `revoke the service token of config ${where.config}`),
        body: { project, config: where.config, slug: where.tokenSlug },
        nullIfNotFound: true,
      });
    }
    await api.request("DELETE", "/v3/configs/config", {
      ...req(op, `delete config ${where.config}`),
      query: { project, config: where.config },
      nullIfNotFound: true,
    });
  };

  return {
    kind: "secrets",
    name: PROVIDER_NAME,
    // Branch configs hold copies of the values: forks are independent once made.
    flags: { copyOnWrite: false },

    checkName(env) {
      // The environment is known only at fork time (the parent's); check with the shortest, `x`.
      const problems = configNameProblems(configName(options.environment ?? "x", env));
      return problems.map((p) => p.replace(/^Doppler config "[^"]*"/, "its Doppler config name"));
    },

    async adopt(env, ref: RootRef | undefined, op) {
      const asked = ref?.config ?? ref?.environment;
      if (
        ref &&
        (typeof asked !== "string" || (ref.environment !== undefined && typeof ref.environment !== "string"))
      ) {
        throw new ProviderError(
          PROVIDER_NAME,
          `roots.${env.name}.secrets must name a Doppler config: { environment: "dev", config: "dev" }.`,
          "E_CONFIG_INVALID",
        );
      }
      const names = ref
        ? [asked as string]
        : [env.name, ...(ROOT_ALIASES[env.name] ? [ROOT_ALIASES[env.name]!] : [])];
      for (const name of names) {
        const found = await getConfig(name, op);
        // Without a ref only a root config is taken: a branch config of that name is somebody's fork.
        if (!found || (!ref && !found.root)) continue;
        if (ref?.environment !== undefined && found.environment !== ref.environment) {
          throw new ProviderError(
            PROVIDER_NAME,
            `Config ${found.name} is in environment ${found.environment}, not ${String(ref.environment)}.`,
            "E_CONFIG_INVALID",
            { hint: `Fix roots.${env.name}.secrets in the config.` },
          );
        }
        const where: Where = { project, environment: found.environment, config: found.name, adopted: true };
        await note(env, where);
        return info(where);
      }
      return null;
    },

    async create(env, op) {
      if (!options.environment) {
        throw new ProviderError(
          PROVIDER_NAME,
          `Root env "${env.name}" names no Doppler config, and project ${project} has none called "${env.name}".`,
          "E_CONFIG_INVALID",
          {
            hint: `Set roots.${env.name}.secrets to { environment: "dev", config: "dev" } (an existing config), or the doppler option \`environment\` to give such roots a branch config there.`,
          },
        );
      }
      return { ...(await makeBranch(env, options.environment, {}, op)), method: "empty" };
    },

    async fork(parent, child, op, forkOptions = {}) {
      op.signal?.throwIfAborted();
      const from = await locate(parent, op, forkOptions.parent);
      const values = from && (await download(from.config, op));
      if (!from || !values) throw notFound(parent);
      const made = await makeBranch(child, from.environment, values, op, forkOptions.expiresAt);
      return { ...made, method: "native" };
    },

    async read(env, op) {
      const where = await locate(env, op);
      const values = where && (await download(where.config, op));
      if (!values) throw notFound(env);
      return values;
    },

    async write(env, values, op) {
      op.signal?.throwIfAborted();
      checkValues(values);
      const where = await locate(env, op);
      const current = where && (await download(where.config, op));
      if (!where || !current) throw notFound(env);
      await update(where, current, values, op);
      op.log.debug(`[${PROVIDER_NAME}] wrote ${Object.keys(values).length} secrets to ${where.config}`);
    },

    async remove(env, op, recorded) {
      const where = await locate(env, op, recorded);
      if (where && !where.adopted && ownName(env).test(where.config)) await removeConfig(where, op);
      await rm(recordPath(env), { force: true });
    },

    async describe(env, op, recorded) {
      const where = await locate(env, op, recorded);
      const found = where && (await getConfig(where.config, op));
      if (!found || !where) return null;
      // The token's key is shown once, when made: only the record has it.
      return info(where, recorded?.secretVars ? { secretVars: recorded.secretVars } : {});
    },

    async list(op) {
      // Branch configs named `<environment>_<this project>_<env>`: another forkstack project sharing
      // the Doppler project has its own middle part, and nobody's hand-made config has that shape.
      const own = new RegExp(`^[a-z0-9-]+_${context.project}_([a-z0-9-]+)$`);
      const names = (await allConfigs(op)).flatMap((c) => (c.root ? [] : (own.exec(c.name)?.slice(1) ?? [])));
      return [...new Set(names)].sort();
    },

    async doctor(op) {
      try {
        await api.request("GET", "/v3/projects/project", {
          ...req(op, `read project ${project}`),
          query: { project },
        });
        return [{ level: "ok", message: `Doppler project ${project} is reachable with ${tokenEnv}` }];
      } catch (error) {
        const hint = error instanceof ProviderError && error.hint ? ` ${error.hint}` : "";
        return [{ level: "error", message: `${(error as Error).message}${hint}` }];
      }
    },
  };
};

export default provider;
