/**
 * @module providers/secrets/_doppler-api
 * The Doppler API v3 calls the `doppler` provider makes (docs/secrets.md, `doppler`), on the shared
 * HTTP client (`_http.ts`: base-URL override FORKSTACK_DOPPLER_API_URL, retries on 429 with
 * Retry-After, Doppler's `{messages}` errors with the request id, the token never logged), and the
 * naming rules for configs forkstack makes.
 */
import { bearerAuth, createApiClient } from "../_http.js";
import type { Clock, EnvRef, Logger, OpContext } from "../types.js";

export const PROVIDER_NAME = "doppler";
/** Doppler's reference gives no length limit; forkstack keeps config names to this, short and safe. */
export const MAX_CONFIG_NAME = 64;
const CONFIG_NAME = /^[a-z0-9][a-z0-9_-]*$/;
/** Doppler adds these to every config's download; they are its own, not the app's, and not writable. */
export const RESERVED = new Set(["DOPPLER_PROJECT", "DOPPLER_ENVIRONMENT", "DOPPLER_CONFIG"]);

export interface ConfigJson {
  readonly name: string;
  readonly environment: string;
  readonly root: boolean;
}

/** One item of `change_requests` (secrets update): set a value, or delete the config's own secret. */
export type SecretChange =
  | { readonly name: string; readonly originalName?: string; readonly value: string }
  | { readonly name: string; readonly originalName: string; readonly shouldDelete: true };

/**
 * `<environment>_<project>_<env>`: Doppler wants a branch config's name to start with its environment
 * and `_`; neither a forkstack project nor an env name can hold `_`, so the parts split unambiguously.
 */
export function configName(environment: string, env: EnvRef): string {
  return `${environment}_${env.project}_${env.name}`;
}

/** The branch configs of one forkstack project (any environment): group 1 is the env's name. */
export function ownConfigs(project: string): RegExp {
  return new RegExp(`^[a-z0-9-]+_${project}_([a-z0-9-]+)$`);
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

export interface DopplerApiOptions {
  /** The Doppler project every call is about. */
  readonly project: string;
  /** The variable holding the token (named in errors), and its value (never logged). */
  readonly tokenEnv: string;
  readonly token: string | undefined;
  readonly baseUrl?: string | undefined;
  readonly log: Logger;
  readonly clock?: Clock | undefined;
}

export type DopplerApi = ReturnType<typeof dopplerApi>;

export function dopplerApi(options: DopplerApiOptions) {
  const { project } = options;
  const api = createApiClient({
    provider: PROVIDER_NAME,
    baseUrl: options.baseUrl,
    defaultBaseUrl: "https://api.doppler.com",
    auth: bearerAuth(options.tokenEnv, options.token),
    log: options.log,
    clock: options.clock,
  });
  const req = (op: OpContext, action: string) => ({ signal: op.signal, log: op.log, action });

  return {
    /** The config, or null when the project has none by that name. */
    getConfig: (config: string, op: OpContext) =>
      api
        .request<{ config: ConfigJson }>("GET", "/v3/configs/config", {
          ...req(op, `read config ${config}`),
          query: { project, config },
          nullIfNotFound: true,
        })
        .then((r) => r?.config ?? null),

    /** Every config of the project, root and branch, in pages of 100. */
    async allConfigs(op: OpContext): Promise<ConfigJson[]> {
      const out: ConfigJson[] = [];
      for (let page = 1; ; page++) {
        const { configs } = await api.request<{ configs: ConfigJson[] }>("GET", "/v3/configs", {
          ...req(op, `list the configs of project ${project}`),
          query: { project, page, per_page: 100 },
        });
        out.push(...configs);
        if (configs.length < 100) return out;
      }
    },

    /** What the config reads (its root's values under its own), without Doppler's own keys; null if missing. */
    async download(config: string, op: OpContext): Promise<Record<string, string> | null> {
      const values = await api.request<Record<string, string>>("GET", "/v3/configs/config/secrets/download", {
        ...req(op, `read the secrets of config ${config}`),
        query: { project, config, format: "json" },
        nullIfNotFound: true,
      });
      if (values === null) return null;
      return Object.fromEntries(Object.entries(values).filter(([k]) => !RESERVED.has(k)));
    },

    /** A branch config; an existing name is an ApiError of kind `exists` (E_ENV_EXISTS). */
    createConfig: (environment: string, name: string, op: OpContext) =>
      api.request("POST", "/v3/configs", {
        ...req(op, `create config ${name}`),
        body: { project, environment, name },
      }),

    /** Delete a config; a missing one is fine (a retried DELETE, or a rollback). */
    deleteConfig: (config: string, op: OpContext) =>
      api.request("DELETE", "/v3/configs/config", {
        ...req(op, `delete config ${config}`),
        query: { project, config },
        nullIfNotFound: true,
      }),

    setSecrets: (config: string, changes: readonly SecretChange[], op: OpContext) =>
      api.request("POST", "/v3/configs/config/secrets", {
        ...req(op, `write the secrets of config ${config}`),
        body: { project, config, change_requests: changes },
      }),

    /** A service token of one config. Its `key` is shown this once: the caller keeps it. */
    createToken: (
      config: string,
      token: { name: string; access: "read" | "read/write"; expiresAt?: Date | undefined },
      op: OpContext,
    ) =>
      api
        .request<{ token: { slug: string; key: string } }>("POST", "/v3/configs/config/tokens", {
          ...req(op, `make a service token for config ${config}`),
          body: {
            project,
            config,
            name: token.name,
            access: token.access,
            ...(token.expiresAt ? { expire_at: Math.floor(token.expiresAt.getTime() / 1000) } : {}),
          },
        })
        .then((r) => r.token),

    revokeToken: (config: string, slug: string, op: OpContext) =>
      api.request("DELETE", "/v3/configs/config/tokens/token", {
        ...req(op, `revoke the service token of config ${config}`),
        body: { project, config, slug },
        nullIfNotFound: true,
      }),

    /** The cheapest call that proves the token and the project: `doctor`. */
    getProject: (op: OpContext) =>
      api.request("GET", "/v3/projects/project", {
        ...req(op, `read project ${project}`),
        query: { project },
      }),
  };
}
