/**
 * A stateful emulator of the part of Doppler's API v3 forkstack uses (reference/providers.md §4):
 * projects → environments → one root config each + branch configs that read through to their root
 * unless they override a secret; secrets download/update; service tokens that can read their own config
 * until revoked. Errors carry Doppler's body shape `{"messages": [...], "success": false}`.
 *
 * No OpenAPI description of Doppler is vendored (only third-party copies exist), so instead of the
 * spec check of `_base.ts` every handler checks the request shapes the provider relies on itself
 * (`expect*` below) and records a violation when one strays, so a provider that drifts from the
 * documented request shapes fails its suite the same way.
 */
import { randomBytes } from "node:crypto";
import { startEmulator, type EmuRequest, type EmuResponse, type VendorEmulator } from "./_base.js";

export const DEFAULT_TOKEN = "dp.pt.emulator0personal0token";

export interface DopplerEmulatorOptions {
  readonly port?: number;
  /** The personal token the emulator accepts. @default DEFAULT_TOKEN */
  readonly token?: string;
  /**
   * Projects to start with: slug → environment slug → the root config's secrets. @default one project
   * `acme` with `dev`, `stg`, `prd` (a few secrets each) and an empty `ci`.
   */
  readonly projects?: Readonly<Record<string, Readonly<Record<string, Readonly<Record<string, string>>>>>>;
}

interface Config {
  readonly name: string;
  readonly environment: string;
  readonly root: boolean;
  readonly createdAt: string;
  /** The config's own values: everything for a root, the overrides for a branch. */
  readonly secrets: Map<string, string>;
}

interface Token {
  readonly slug: string;
  readonly name: string;
  readonly key: string;
  readonly project: string;
  readonly config: string;
  readonly access: "read" | "read/write";
  readonly createdAt: string;
  readonly expiresAt: string | null;
}

interface Project {
  readonly slug: string;
  readonly createdAt: string;
  readonly environments: Map<string, { slug: string; name: string; createdAt: string }>;
  readonly configs: Map<string, Config>;
}

export interface DopplerEmulator extends VendorEmulator {
  /** The emulator's state, for tests that look behind the API (service tokens, a config's own values). */
  readonly state: {
    readonly projects: Map<string, Project>;
    readonly tokens: Map<string, Token>;
  };
}

/** Keys Doppler adds to every config's download: never stored, never writable. */
const RESERVED = ["DOPPLER_PROJECT", "DOPPLER_ENVIRONMENT", "DOPPLER_CONFIG"];
/** Config names: lowercase letters, digits, `-` and `_` (what forkstack's provider assumes too). */
const CONFIG_NAME = /^[a-z0-9][a-z0-9_-]*$/;
const SECRET_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

const DEFAULT_PROJECTS = {
  acme: {
    dev: { API_URL: "https://dev.acme.test", LOG_LEVEL: "debug", STRIPE_KEY: "sk_test_dev" },
    stg: { API_URL: "https://stg.acme.test", LOG_LEVEL: "info" },
    prd: { API_URL: "https://acme.test", LOG_LEVEL: "warn", STRIPE_KEY: "sk_live_prd" },
    ci: {},
  },
};

const fail = (status: number, ...messages: string[]): EmuResponse => ({
  status,
  body: { messages, success: false },
});

export async function start(options: DopplerEmulatorOptions = {}): Promise<DopplerEmulator> {
  const personal = options.token ?? DEFAULT_TOKEN;
  const now = () => new Date().toISOString();
  const projects = new Map<string, Project>();
  const tokens = new Map<string, Token>();
  for (const [slug, envs] of Object.entries(options.projects ?? DEFAULT_PROJECTS)) {
    const project: Project = { slug, createdAt: now(), environments: new Map(), configs: new Map() };
    for (const [env, secrets] of Object.entries(envs)) {
      project.environments.set(env, { slug: env, name: env, createdAt: now() });
      project.configs.set(env, {
        name: env,
        environment: env,
        root: true,
        createdAt: now(),
        secrets: new Map(Object.entries(secrets)),
      });
    }
    projects.set(slug, project);
  }

  // Shape checks record here (the base's list, once it exists).
  let record: (operation: string, errors: string) => void = () => {};
  const expectFields = (req: EmuRequest, where: "query" | "body", fields: Record<string, string>) => {
    const source =
      where === "query" ? Object.fromEntries(req.query) : ((req.body ?? {}) as Record<string, unknown>);
    for (const [field, type] of Object.entries(fields)) {
      const optional = type.endsWith("?");
      const value = source[field];
      if (value === undefined && optional) continue;
      if (typeof value !== type.replace("?", "")) {
        record(
          `${req.method} ${req.path}`,
          `${where} field "${field}" must be a ${type}, got ${JSON.stringify(value)}`,
        );
      }
    }
  };

  const bearer = (req: EmuRequest) => /^Bearer (.+)$/.exec(req.headers.authorization ?? "")?.[1];
  const serviceToken = (req: EmuRequest) => {
    const key = bearer(req);
    return [...tokens.values()].find((t) => t.key === key);
  };
  /** Service tokens may read (or write) their own config and nothing else. */
  const personalOnly = (req: EmuRequest): EmuResponse | undefined =>
    serviceToken(req)
      ? fail(403, "This token cannot do that: it is a service token for one config.")
      : undefined;

  const projectOf = (slug: unknown): Project | EmuResponse =>
    (typeof slug === "string" && projects.get(slug)) || fail(404, `Could not find project ${String(slug)}.`);
  const configOf = (project: Project, name: unknown): Config | EmuResponse =>
    (typeof name === "string" && project.configs.get(name)) ||
    fail(404, `Could not find config ${String(name)}.`);
  const isResponse = (value: unknown): value is EmuResponse =>
    typeof value === "object" && value !== null && "status" in value;

  const configJson = (project: Project, c: Config) => ({
    name: c.name,
    root: c.root,
    locked: false,
    initial_fetch_at: null,
    last_fetch_at: null,
    created_at: c.createdAt,
    environment: c.environment,
    project: project.slug,
    inheritable: false,
    inherits: [],
    inheritedBy: [],
  });

  /** What a config reads: its root's values, then its own on top. */
  const computed = (project: Project, c: Config): Record<string, string> => {
    const root = c.root ? undefined : project.configs.get(c.environment);
    return {
      ...Object.fromEntries(root?.secrets ?? []),
      ...Object.fromEntries(c.secrets),
      DOPPLER_PROJECT: project.slug,
      DOPPLER_ENVIRONMENT: c.environment,
      DOPPLER_CONFIG: c.name,
    };
  };

  const secretsJson = (values: Record<string, string>) =>
    Object.fromEntries(
      Object.entries(values).map(([k, v]) => [
        k,
        { raw: v, computed: v, note: "", rawVisibility: "masked", computedVisibility: "masked" },
      ]),
    );

  /** project + config from the query, or the service token's own config. */
  const target = (
    req: EmuRequest,
    source: Record<string, unknown>,
  ): { project: Project; config: Config } | EmuResponse => {
    const token = serviceToken(req);
    if (token) {
      if (
        (source.project && source.project !== token.project) ||
        (source.config && source.config !== token.config)
      ) {
        return fail(403, "This service token belongs to another config.");
      }
    }
    const project = projectOf(token?.project ?? source.project);
    if (isResponse(project)) return project;
    const config = configOf(project, token?.config ?? source.config);
    if (isResponse(config)) return config;
    return { project, config };
  };

  const emulator = await startEmulator({
    name: "doppler",
    prefix: "/v3",
    port: options.port ?? 0,
    requestIdHeader: "x-request-id",
    authorized: (value) => {
      const key = /^Bearer (.+)$/.exec(value ?? "")?.[1];
      if (key === personal) return true;
      const token = [...tokens.values()].find((t) => t.key === key);
      return !!token && (token.expiresAt === null || Date.parse(token.expiresAt) > Date.now());
    },
    unauthorized: () => fail(401, "Invalid Auth token"),
    notFound: (req) => fail(404, `No such endpoint: ${req.method} /v3${req.path}`),
    routes: [
      [
        "GET /projects/project",
        (req) => {
          expectFields(req, "query", { project: "string" });
          const denied = personalOnly(req);
          if (denied) return denied;
          const project = projectOf(req.query.get("project"));
          if (isResponse(project)) return project;
          return {
            status: 200,
            body: {
              project: {
                id: project.slug,
                slug: project.slug,
                name: project.slug,
                description: "",
                created_at: project.createdAt,
              },
              success: true,
            },
          };
        },
      ],
      [
        "GET /environments",
        (req) => {
          expectFields(req, "query", { project: "string" });
          const denied = personalOnly(req);
          if (denied) return denied;
          const project = projectOf(req.query.get("project"));
          if (isResponse(project)) return project;
          const environments = [...project.environments.values()].map((e) => ({
            id: e.slug,
            slug: e.slug,
            name: e.name,
            project: project.slug,
            created_at: e.createdAt,
            initial_fetch_at: null,
          }));
          return { status: 200, body: { environments, page: 1, success: true } };
        },
      ],
      [
        "GET /configs",
        (req) => {
          expectFields(req, "query", {
            project: "string",
            environment: "string?",
            page: "string?",
            per_page: "string?",
          });
          const denied = personalOnly(req);
          if (denied) return denied;
          const project = projectOf(req.query.get("project"));
          if (isResponse(project)) return project;
          const environment = req.query.get("environment");
          const page = Number(req.query.get("page") ?? "1");
          const perPage = Math.min(Number(req.query.get("per_page") ?? "20"), 100);
          if (!(page >= 1) || !(perPage >= 1))
            return fail(422, "page and per_page must be positive integers.");
          const all = [...project.configs.values()]
            .filter((c) => !environment || c.environment === environment)
            .sort((a, b) => a.name.localeCompare(b.name));
          const configs = all.slice((page - 1) * perPage, page * perPage).map((c) => configJson(project, c));
          return { status: 200, body: { configs, page, success: true } };
        },
      ],
      [
        "POST /configs",
        (req) => {
          expectFields(req, "body", { project: "string", environment: "string", name: "string" });
          const denied = personalOnly(req);
          if (denied) return denied;
          const body = req.body as { project: string; environment: string; name: string };
          const project = projectOf(body.project);
          if (isResponse(project)) return project;
          if (!project.environments.has(body.environment)) {
            return fail(404, `Could not find environment ${body.environment}.`);
          }
          if (!CONFIG_NAME.test(body.name) || !body.name.startsWith(`${body.environment}_`)) {
            return fail(
              422,
              `Branch config names start with "${body.environment}_" and use a-z, 0-9, - and _.`,
            );
          }
          if (project.configs.has(body.name)) return fail(409, `A config named ${body.name} already exists.`);
          const config: Config = {
            name: body.name,
            environment: body.environment,
            root: false,
            createdAt: now(),
            secrets: new Map(),
          };
          project.configs.set(config.name, config);
          return { status: 200, body: { config: configJson(project, config), success: true } };
        },
      ],
      [
        "GET /configs/config",
        (req) => {
          expectFields(req, "query", { project: "string", config: "string" });
          const denied = personalOnly(req);
          if (denied) return denied;
          const found = target(req, Object.fromEntries(req.query));
          if (isResponse(found)) return found;
          return { status: 200, body: { config: configJson(found.project, found.config), success: true } };
        },
      ],
      [
        "DELETE /configs/config",
        (req) => {
          expectFields(req, "query", { project: "string", config: "string" });
          const denied = personalOnly(req);
          if (denied) return denied;
          const found = target(req, Object.fromEntries(req.query));
          if (isResponse(found)) return found;
          if (found.config.root)
            return fail(422, "A root config cannot be deleted; delete its environment instead.");
          found.project.configs.delete(found.config.name);
          // A config's service tokens go with it.
          for (const [slug, t] of tokens) {
            if (t.project === found.project.slug && t.config === found.config.name) tokens.delete(slug);
          }
          return { status: 200, body: { success: true } };
        },
      ],
      [
        "GET /configs/config/secrets/download",
        (req) => {
          const token = serviceToken(req);
          expectFields(
            req,
            "query",
            token ? { format: "string" } : { project: "string", config: "string", format: "string" },
          );
          if (req.query.get("format") !== "json") return fail(422, "This emulator only speaks format=json.");
          const found = target(req, Object.fromEntries(req.query));
          if (isResponse(found)) return found;
          return { status: 200, body: computed(found.project, found.config) };
        },
      ],
      [
        "GET /configs/config/secrets",
        (req) => {
          expectFields(req, "query", { project: "string", config: "string" });
          const found = target(req, Object.fromEntries(req.query));
          if (isResponse(found)) return found;
          return {
            status: 200,
            body: { secrets: secretsJson(computed(found.project, found.config)), success: true },
          };
        },
      ],
      [
        "POST /configs/config/secrets",
        (req) => {
          expectFields(req, "body", { project: "string", config: "string" });
          const body = (req.body ?? {}) as {
            secrets?: Record<string, unknown>;
            change_requests?: Array<Record<string, unknown>>;
          };
          const token = serviceToken(req);
          if (token && token.access !== "read/write") return fail(403, "This service token can only read.");
          const found = target(req, body as Record<string, unknown>);
          if (isResponse(found)) return found;
          if ((body.secrets === undefined) === (body.change_requests === undefined)) {
            record("POST /configs/config/secrets", "send exactly one of secrets and change_requests");
            return fail(422, "Send either secrets or change_requests.");
          }
          const own = new Map(found.config.secrets);
          const root = found.config.root ? undefined : found.project.configs.get(found.config.environment);
          const apply = (name: string, value: string | null, remove: boolean) => {
            if (!SECRET_NAME.test(name)) return `Secret name ${JSON.stringify(name)} is not valid.`;
            if (RESERVED.includes(name)) return `${name} is set by Doppler and cannot be changed.`;
            if (remove) {
              if (!own.has(name) && root?.secrets.has(name)) {
                return `${name} is inherited from the root config and cannot be deleted here.`;
              }
              own.delete(name);
            } else if (typeof value === "string") own.set(name, value);
            else return `The value of ${name} must be a string.`;
            return undefined;
          };
          const problems: string[] = [];
          if (body.secrets) {
            for (const [name, value] of Object.entries(body.secrets)) {
              // The plain form: null deletes.
              const p = apply(name, value as string | null, value === null);
              if (p) problems.push(p);
            }
          } else {
            for (const change of body.change_requests ?? []) {
              const name = change.name;
              if (typeof name !== "string") {
                record(
                  "POST /configs/config/secrets",
                  `change_requests item without a name: ${JSON.stringify(change)}`,
                );
                problems.push("Each change request needs a name.");
                continue;
              }
              if (change.originalName !== undefined && change.originalName !== name) {
                record("POST /configs/config/secrets", "renames are not used by forkstack");
              }
              const p = apply(name, (change.value ?? null) as string | null, change.shouldDelete === true);
              if (p) problems.push(p);
            }
          }
          if (problems.length) return fail(422, ...problems);
          found.config.secrets.clear();
          for (const [k, v] of own) found.config.secrets.set(k, v);
          return {
            status: 200,
            body: { secrets: secretsJson(computed(found.project, found.config)), success: true },
          };
        },
      ],
      [
        "POST /configs/config/tokens",
        (req) => {
          expectFields(req, "body", {
            project: "string",
            config: "string",
            name: "string",
            access: "string?",
            expire_at: "number?",
          });
          const denied = personalOnly(req);
          if (denied) return denied;
          const body = req.body as {
            project: string;
            config: string;
            name: string;
            access?: string;
            expire_at?: number;
          };
          const found = target(req, body as unknown as Record<string, unknown>);
          if (isResponse(found)) return found;
          const access = body.access ?? "read";
          if (access !== "read" && access !== "read/write") return fail(422, `Unknown access ${access}.`);
          const token: Token = {
            slug: randomBytes(8).toString("hex"),
            name: body.name,
            key: `dp.st.${found.config.name}.${randomBytes(20).toString("base64url")}`,
            project: found.project.slug,
            config: found.config.name,
            access,
            createdAt: now(),
            expiresAt: body.expire_at === undefined ? null : new Date(body.expire_at * 1000).toISOString(),
          };
          tokens.set(token.slug, token);
          const { key, slug, name, createdAt, expiresAt } = token;
          return {
            status: 200,
            body: {
              token: {
                name,
                slug,
                key,
                created_at: createdAt,
                expires_at: expiresAt,
                access,
                project: token.project,
                environment: found.config.environment,
                config: token.config,
              },
              success: true,
            },
          };
        },
      ],
      [
        "DELETE /configs/config/tokens/token",
        (req) => {
          expectFields(req, "body", { project: "string", config: "string", slug: "string" });
          const denied = personalOnly(req);
          if (denied) return denied;
          const body = req.body as { project: string; config: string; slug: string };
          const found = target(req, body as unknown as Record<string, unknown>);
          if (isResponse(found)) return found;
          const token = tokens.get(body.slug);
          if (!token || token.config !== found.config.name)
            return fail(404, `Could not find token ${body.slug}.`);
          tokens.delete(body.slug);
          return { status: 200, body: { success: true } };
        },
      ],
    ],
  });
  record = (operation, errors) => emulator.violations.push({ direction: "request", operation, errors });
  return {
    ...emulator,
    state: { projects, tokens },
    variables: { FORKSTACK_DOPPLER_API_URL: emulator.url.replace(/\/v3$/, ""), DOPPLER_TOKEN: personal },
  };
}
