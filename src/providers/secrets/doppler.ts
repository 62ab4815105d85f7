/**
 * @module providers/secrets/doppler
 * Secrets in Doppler (API v3, docs/secrets.md), one config per env:
 *
 * - Roots adopt an existing config and never make or delete one: `roots.<env>.secrets` names it
 *   (`{ environment: "dev", config: "dev" }`), else a root config named like the env is taken
 *   (`prod` also finds Doppler's `prd`). A root that finds none gets a branch config in the
 *   `environment` option's environment, or is refused.
 * - A fork is a branch config of the parent's environment, `<environment>_<project>_<env>`, into which
 *   every value the parent reads is written. A branch config reads through to its root config for any
 *   secret it does not set itself; writing them all cuts that link for every key the parent has, so the
 *   parent's later writes to those keys do not reach the child. (A key added to the *root* config later
 *   still shows through: docs/secrets.md.)
 * - Optionally a service token per env (of its own config, `read` by default), handed to the app as a
 *   secret variable and revoked with the env.
 *
 * `read` gets no recorded info, so each env's config is also noted in `<envDir>/doppler.json` (names
 * only). Values never reach a log or an error: `_http` logs method, path and status only.
 */
import { readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { ProviderError, errnoCode, madeElsewhereError, noRecordError } from "../../errors.js";
import { recordedString } from "../../layout.js";
import type { EnvRef, OpContext, ProviderFactory, ResourceInfo, SecretsProvider } from "../types.js";
import {
  PROVIDER_NAME,
  RESERVED,
  configName,
  configNameProblems,
  dopplerApi,
  ownConfigs,
  type SecretChange,
} from "./_doppler-api.js";
import type { DopplerOptions } from "./doppler.options.js";

export type { DopplerOptions };
export { MAX_CONFIG_NAME, configName } from "./_doppler-api.js";

const RECORD_FILE = "doppler.json";
const KEY_PATTERN = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** forkstack's root names → Doppler's default environments, tried when a root names no config. */
const ROOT_ALIASES: Readonly<Record<string, string>> = { prod: "prd", staging: "stg" };

/** Where an env's secrets live: its `data`, and the note in its env dir. */
interface Where {
  readonly project: string;
  readonly environment: string;
  readonly config: string;
  /** A config this env adopted: never deleted. */
  readonly adopted?: boolean;
  /** The env's service token, revoked with it. */
  readonly tokenSlug?: string;
}

function checkValues(values: Record<string, string>): void {
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
}

const provider: ProviderFactory<DopplerOptions, SecretsProvider> = (options, context) => {
  const project = options.project ?? context.project;
  const tokenEnv = options.token.env;
  const api = dopplerApi({
    project,
    tokenEnv,
    token: process.env[tokenEnv],
    baseUrl: options.baseUrl,
    log: context.log,
    clock: context.clock,
  });
  const asked = options.serviceTokens;
  const tokens = asked
    ? {
        access: (typeof asked === "object" && asked.access) || "read",
        variable: (typeof asked === "object" && asked.variable) || "DOPPLER_TOKEN",
      }
    : undefined;
  const own = ownConfigs(context.project);
  const isOwn = (env: EnvRef, config: string) => own.exec(config)?.[1] === env.name;
  const recordPath = (env: EnvRef) => join(context.envDir(env.name), RECORD_FILE);
  const notFound = (env: EnvRef) =>
    new ProviderError(
      PROVIDER_NAME,
      `Env "${env.name}" has no Doppler config in project ${project}.`,
      "E_ENV_NOT_FOUND",
    );

  /** The env's config as recorded: in the record's `data`, else in the env dir's note; null if neither. */
  const recordedWhere = async (env: EnvRef, recorded?: ResourceInfo): Promise<Where | null> => {
    const data = recorded?.data as Where | undefined;
    if (data?.config) return data;
    try {
      return JSON.parse(await readFile(recordPath(env), "utf8")) as Where;
    } catch (error) {
      if (errnoCode(error) !== "ENOENT" && !(error instanceof SyntaxError)) throw error;
    }
    return null;
  };

  /** The env's config: as recorded, else by its name among all configs (to read it, never to delete it). */
  const locate = async (env: EnvRef, op: OpContext, recorded?: ResourceInfo): Promise<Where | null> => {
    const where = await recordedWhere(env, recorded);
    if (where) return where;
    const found = (await api.allConfigs(op)).find((c) => !c.root && isOwn(env, c.name));
    return found ? { project, environment: found.environment, config: found.name } : null;
  };

  // Names only, but private like everything under .forkstack/. Best effort: `locate` can list instead.
  const note = (env: EnvRef, where: Where) =>
    writeFile(recordPath(env), JSON.stringify(where), { mode: 0o600 }).catch(() => undefined);

  const info = (where: Where, extra: Partial<ResourceInfo> = {}): ResourceInfo => ({
    location: `doppler:${where.project}/${where.config}`,
    vars: {},
    data: { ...where },
    ...extra,
  });

  /** Set and delete secrets so that the config reads `values`; `current` is what it reads now. */
  const update = async (
    where: Where,
    current: Record<string, string>,
    values: Record<string, string>,
    op: OpContext,
  ) => {
    const changes: SecretChange[] = [];
    for (const [name, value] of Object.entries(values)) {
      if (current[name] !== value)
        changes.push(name in current ? { name, originalName: name, value } : { name, value });
    }
    const dropped = Object.keys(current).filter((k) => !(k in values));
    if (dropped.length) {
      // A branch config cannot drop what its root config (named like its environment) has: it would
      // read the root's value again. Refused before anything changes.
      const self = await api.getConfig(where.config, op);
      const inherited = self && !self.root ? await api.download(self.environment, op) : null;
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
    if (changes.length) await api.setSecrets(where.config, changes, op);
  };

  const removeConfig = async (where: Where, op: OpContext) => {
    if (where.tokenSlug) await api.revokeToken(where.config, where.tokenSlug, op);
    await api.deleteConfig(where.config, op);
  };

  /** A branch config for `env` holding `values` (and its token); nothing is left if a step fails. */
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
    await api.createConfig(environment, config, op);
    let where: Where = { project, environment, config };
    try {
      await update(where, {}, values, op);
      let secretVars: Record<string, string> | undefined;
      if (tokens) {
        const made = await api.createToken(
          config,
          { name: `forkstack-${env.name}`, access: tokens.access, expiresAt },
          op,
        );
        where = { ...where, tokenSlug: made.slug };
        secretVars = { [tokens.variable]: made.key };
      }
      await note(env, where);
      return info(where, secretVars ? { secretVars } : {});
    } catch (error) {
      await removeConfig(where, op).catch(() => undefined);
      throw error;
    }
  };

  return {
    kind: "secrets",
    name: PROVIDER_NAME,
    // Branch configs hold copies of the values: forks are independent once made.
    flags: { copyOnWrite: false },

    checkName(env) {
      // The environment is known at fork time only (the parent's, checked again there); until then
      // the configured one, or the shortest possible.
      return configNameProblems(configName(options.environment ?? "x", env)).map((p) =>
        p.replace(/^Doppler config "[^"]*"/, "its Doppler config name"),
      );
    },

    async adopt(env, ref, op) {
      const named = ref?.config ?? ref?.environment;
      if (
        ref &&
        (typeof named !== "string" || (ref.environment !== undefined && typeof ref.environment !== "string"))
      ) {
        throw new ProviderError(
          PROVIDER_NAME,
          `roots.${env.name}.secrets must name a Doppler config: { environment: "dev", config: "dev" }.`,
          "E_CONFIG_INVALID",
        );
      }
      const alias = ROOT_ALIASES[env.name];
      for (const name of ref ? [named as string] : [env.name, ...(alias ? [alias] : [])]) {
        const found = await api.getConfig(name, op);
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
          `Root env "${env.name}" names no Doppler config, and project ${project} has no root config "${env.name}".`,
          "E_CONFIG_INVALID",
          {
            hint: `Set roots.${env.name}.secrets to an existing config ({ environment: "dev", config: "dev" }), or the doppler option \`environment\` to give such roots a branch config there.`,
          },
        );
      }
      return { ...(await makeBranch(env, options.environment, {}, op)), method: "empty" };
    },

    async fork(parent, child, op, forkOptions = {}) {
      op.signal?.throwIfAborted();
      const from = await locate(parent, op, forkOptions.parent);
      const values = from && (await api.download(from.config, op));
      if (!from || !values) throw notFound(parent);
      return {
        ...(await makeBranch(child, from.environment, values, op, forkOptions.expiresAt)),
        method: "native",
      };
    },

    async read(env, op) {
      const where = await locate(env, op);
      const values = where && (await api.download(where.config, op));
      if (!values) throw notFound(env);
      return values;
    },

    async write(env, values, op) {
      op.signal?.throwIfAborted();
      checkValues(values);
      const where = await locate(env, op);
      const current = where && (await api.download(where.config, op));
      if (!where || !current) throw notFound(env);
      await update(where, current, values, op);
      op.log.debug(`[${PROVIDER_NAME}] wrote ${Object.keys(values).length} secrets to ${where.config}`);
    },

    // The config the record names (or this machine's note of it), in the Doppler project it was made in:
    // never one found by its name today, and only a branch config this project named for this env,
    // never an adopted or hand-made one.
    target: (env, parent) => {
      const environment = recordedString(parent, "environment") ?? options.environment;
      return { project, ...(environment ? { environment, config: configName(environment, env) } : {}) };
    },

    async remove(env, op, recorded) {
      const where = await recordedWhere(env, recorded);
      if (!where) {
        // A step's target without a config: `create` had no environment to make one in, so it made
        // nothing (at worst, a fork from a parent recorded without one is left, never someone else's).
        if (recordedString(recorded, "project") && !recordedString(recorded, "config")) return;
        throw noRecordError(PROVIDER_NAME, env.name, "Doppler config");
      }
      if (where.project !== project) {
        const made = { recorded: where.project, now: project, key: "secrets.project" };
        throw madeElsewhereError(PROVIDER_NAME, env.name, "Doppler config", made);
      }
      if (!where.adopted && isOwn(env, where.config)) await removeConfig(where, op);
      await rm(recordPath(env), { force: true });
    },

    async describe(env, op, recorded) {
      const where = await locate(env, op, recorded);
      if (!where || !(await api.getConfig(where.config, op))) return null;
      // A token's key is shown once, when made: only the record has it.
      return info(where, recorded?.secretVars ? { secretVars: recorded.secretVars } : {});
    },

    async list(op) {
      // Another forkstack project sharing the Doppler project has its own middle part.
      const names = (await api.allConfigs(op)).flatMap((c) =>
        c.root ? [] : (own.exec(c.name)?.slice(1) ?? []),
      );
      return [...new Set(names)].sort();
    },

    async doctor(op) {
      try {
        await api.getProject(op);
        return [{ level: "ok", message: `Doppler project ${project} is reachable with ${tokenEnv}` }];
      } catch (error) {
        const hint = error instanceof ProviderError && error.hint ? ` ${error.hint}` : "";
        return [{ level: "error", message: `${(error as Error).message}${hint}` }];
      }
    },
  };
};

export default provider;
