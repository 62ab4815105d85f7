/**
 * An emulator of Neon API v2 (`/api/v2`), validated against Neon's OpenAPI description by the base:
 * projects, branches (parent, default branch, children), read-write endpoints, roles, databases,
 * operations that run for `operationDelayMs` and then finish, connection URIs, and Neon's errors
 * (`{code, message, request_id}` plus the `x-request-id` header): 401 for a wrong key, 404, 409 for a
 * branch name taken, 422 for a branch that cannot be deleted (default, or with children), 423 while
 * an operation runs in the project (Neon locks the project, not the branch), 429 with Retry-After past `requestsPerSecond`, 400 for bad input.
 *
 * Real data: given `pgUrl` (a superuser URL of a local PostgreSQL, test/helpers/postgres-server.ts),
 * each branch is a real database on it. The default branch is a database made empty; a branch is
 * `CREATE DATABASE … TEMPLATE <parent's>`, and a schema-only branch the same then emptied. Emulator-side
 * details, none of which a client sees through the API:
 * - PostgreSQL copies a template only with nobody connected to it, so the parent's sessions are
 *   terminated first (Neon's copy-on-write storage needs no such thing; apps connected to a parent see
 *   their connection drop here, never on Neon);
 * - `parent_timestamp` is accepted anywhere in the history window (`historyRetentionSeconds`), but the
 *   copy is of the parent's data now: there is no history to read an older state from;
 * - all branches live on one server, so a connection URI names the branch's own database rather than
 *   Neon's `neondb` on a per-endpoint host, and carries no `sslmode`.
 * Without `pgUrl` (FORKSTACK_EMULATOR_PG_URL for run.mjs) branches hold no data and connection URIs
 * point at `<endpoint>.emulator.invalid`, which resolves nowhere.
 */
import { randomBytes, randomUUID } from "node:crypto";
import postgres from "postgres";
import type { Sql } from "postgres";
import { makeId, startEmulator, type EmuRequest, type EmuResponse, type VendorEmulator } from "./_base.js";

export interface NeonEmulatorOptions {
  readonly port?: number;
  /** A superuser URL of a local PostgreSQL: branches become real databases on it. */
  readonly pgUrl?: string;
  /** The accepted API key. @default "neon-emulator-key" */
  readonly apiKey?: string;
  /** The project made at start. @default "fs-emu-project" */
  readonly projectId?: string;
  /**
   * Where its time comes from: operations finish, and `parent_timestamp`/`expires_at` are checked, by
   * it. A test shares one with the provider (test/helpers/clock.ts) so that waiting skips ahead.
   * @default Date
   */
  readonly clock?: { now(): number };
  /** How long an operation stays `running`. @default 100 */
  readonly operationDelayMs?: number;
  /** The project's history window for `parent_timestamp`. @default 86400 (Neon's free plan: 1 day) */
  readonly historyRetentionSeconds?: number;
  /** Requests per second before 429 (Retry-After: 1). @default unlimited */
  readonly requestsPerSecond?: number;
}

interface EmuBranch {
  id: string;
  name: string;
  parentId?: string;
  parentTimestamp?: string;
  isDefault: boolean;
  createdAt: string;
  updatedAt: string;
  expiresAt?: string;
  initSource: string;
  annotation: Record<string, string>;
  /** The real database behind it, when there is a server. */
  pgDatabase: string;
}

interface EmuOperation {
  id: string;
  branchId: string;
  endpointId?: string;
  action: string;
  createdAt: string;
  finishAt: number;
}

export interface NeonEmulator extends VendorEmulator {
  readonly projectId: string;
  readonly apiKey: string;
  /** Branches as the emulator holds them now (names, parents, expiry, what the request asked). */
  branches(): ReadonlyArray<Readonly<EmuBranch>>;
  /**
   * Makes a branch `ms` older (an earlier `created_at`): a test that needs history behind a branch
   * (`parent_timestamp` must not predate it) gets it without waiting for the wall clock.
   */
  age(name: string, ms: number): void;
  /** Operations started from now on run this long (a test that needs one still running). */
  setOperationDelay(ms: number): void;
  /** Request bodies of every POST …/branches, in order. */
  readonly createRequests: unknown[];
}

const ROLE = "neondb_owner";
const DATABASE = "neondb";
const REGION = "aws-us-east-2";
const quoteId = (name: string) => `"${name.replace(/"/g, '""')}"`;

export async function start(options: NeonEmulatorOptions = {}): Promise<NeonEmulator> {
  // Time as the test's clock tells it (test/helpers/clock.ts), else the wall clock.
  const clock = options.clock ?? Date;
  const apiKey = options.apiKey ?? "neon-emulator-key";
  const projectId = options.projectId ?? "fs-emu-project";
  let delayMs = options.operationDelayMs ?? 100;
  const retention = options.historyRetentionSeconds ?? 86_400;
  const pgUrl = options.pgUrl ?? process.env.FORKSTACK_EMULATOR_PG_URL;
  const password = `npg_${randomBytes(9).toString("hex")}`;
  const createdAt = new Date(clock.now()).toISOString();
  const branches = new Map<string, EmuBranch>();
  const endpoints = new Map<string, { id: string; branchId: string; createdAt: string }>();
  const operations = new Map<string, EmuOperation>();
  const createRequests: unknown[] = [];
  const admin: Sql | undefined = pgUrl
    ? postgres(pgUrl, { max: 2, onnotice: () => undefined, fetch_types: false })
    : undefined;

  // ---- shapes (each checked against the spec by the base) ----
  const now = () => new Date(clock.now()).toISOString();
  const running = (branchId?: string) =>
    [...operations.values()].filter(
      (o) => (branchId === undefined || o.branchId === branchId) && clock.now() < o.finishAt,
    );
  // Neon locks the whole project while an operation runs (reference/providers.md §2.1).
  const locked = () => {
    const busy = running()[0];
    return busy
      ? error(
          423,
          `project ${projectId} has a running ${busy.action} operation on branch ${busy.branchId}; try again when it has finished`,
        )
      : undefined;
  };
  const opJson = (o: EmuOperation) => ({
    id: o.id,
    project_id: projectId,
    branch_id: o.branchId,
    ...(o.endpointId ? { endpoint_id: o.endpointId } : {}),
    action: o.action,
    status: clock.now() < o.finishAt ? "running" : "finished",
    failures_count: 0,
    created_at: o.createdAt,
    updated_at: now(),
    total_duration_ms: Math.max(0, Math.min(delayMs, clock.now() - Date.parse(o.createdAt))),
  });
  const branchJson = (b: EmuBranch) => {
    const ready = running(b.id).length === 0;
    return {
      id: b.id,
      project_id: projectId,
      ...(b.parentId ? { parent_id: b.parentId } : {}),
      ...(b.parentTimestamp ? { parent_timestamp: b.parentTimestamp } : {}),
      name: b.name,
      current_state: ready ? "ready" : "init",
      ...(ready ? {} : { pending_state: "ready" }),
      state_changed_at: b.updatedAt,
      logical_size: 30_000_000,
      creation_source: "console",
      default: b.isDefault,
      protected: false,
      cpu_used_sec: 0,
      compute_time_seconds: 0,
      active_time_seconds: 0,
      written_data_bytes: 0,
      data_transfer_bytes: 0,
      created_at: b.createdAt,
      updated_at: b.updatedAt,
      ...(b.expiresAt ? { expires_at: b.expiresAt } : {}),
      init_source: b.initSource,
    };
  };
  const endpointOf = (branchId: string) => [...endpoints.values()].find((e) => e.branchId === branchId);
  const endpointJson = (e: { id: string; branchId: string; createdAt: string }) => ({
    host: `${e.id}.${REGION}.aws.neon.tech`,
    id: e.id,
    project_id: projectId,
    branch_id: e.branchId,
    region_id: REGION,
    autoscaling_limit_min_cu: 0.25,
    autoscaling_limit_max_cu: 0.25,
    type: "read_write",
    current_state: running(e.branchId).length ? "init" : "idle",
    settings: {},
    pooler_enabled: false,
    pooler_mode: "transaction",
    disabled: false,
    passwordless_access: true,
    creation_source: "console",
    created_at: e.createdAt,
    updated_at: e.createdAt,
    proxy_host: `${REGION}.aws.neon.tech`,
    suspend_timeout_seconds: 0,
    provisioner: "k8s-neonvm",
  });
  const databaseJson = (b: EmuBranch) => ({
    id: 1,
    branch_id: b.id,
    name: DATABASE,
    owner_name: ROLE,
    created_at: b.createdAt,
    updated_at: b.createdAt,
  });
  const roleJson = (b: EmuBranch) => ({
    branch_id: b.id,
    name: ROLE,
    protected: false,
    created_at: b.createdAt,
    updated_at: b.createdAt,
  });
  const uriOf = (b: EmuBranch) => {
    const endpoint = endpointOf(b.id);
    if (!admin || !pgUrl) {
      return `postgresql://${ROLE}:${password}@${endpoint?.id ?? "ep-none"}.emulator.invalid/${DATABASE}?sslmode=require`;
    }
    const url = new URL(pgUrl);
    return `postgresql://${ROLE}:${password}@${url.host}/${b.pgDatabase}`;
  };
  const projectJson = () => ({
    id: projectId,
    platform_id: "aws",
    region_id: REGION,
    name: projectId,
    provisioner: "k8s-neonvm",
    pg_version: 17,
    proxy_host: `${REGION}.aws.neon.tech`,
    branch_logical_size_limit: 512,
    branch_logical_size_limit_bytes: 536_870_912,
    store_passwords: true,
    cpu_used_sec: 0,
    active_time_seconds: 0,
    compute_time_seconds: 0,
    written_data_bytes: 0,
    data_transfer_bytes: 0,
    data_storage_bytes_hour: 0,
    creation_source: "console",
    history_retention_seconds: retention,
    created_at: createdAt,
    updated_at: createdAt,
    consumption_period_start: createdAt,
    consumption_period_end: new Date(clock.now() + 30 * 86_400_000).toISOString(),
    owner_id: "emulator-user",
  });

  // ---- errors: Neon's body, its request id also in the header ----
  const error = (status: number, message: string, code = "", extra: Record<string, string> = {}) => {
    const id = randomUUID();
    return {
      status,
      body: { code, message, request_id: id },
      headers: { "x-request-id": id, ...extra },
    } satisfies EmuResponse;
  };
  const missingBranch = (id: string) => error(404, `branch ${id} not found`, "");
  const project = (req: EmuRequest) =>
    req.params.project === projectId ? undefined : error(404, `project ${req.params.project} not found`);

  // ---- the data ----
  const newOperation = (branchId: string, action: string, endpointId?: string): EmuOperation => {
    const o = {
      id: randomUUID(),
      branchId,
      action,
      createdAt: now(),
      finishAt: clock.now() + delayMs,
      ...(endpointId ? { endpointId } : {}),
    };
    operations.set(o.id, o);
    return o;
  };
  const physical = (branchId: string) => `neon_${branchId.replace(/-/g, "_")}`;

  async function ensureRole(sql: Sql) {
    await sql.unsafe(
      `DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '${ROLE}') THEN CREATE ROLE ${ROLE} LOGIN; END IF; END $$`,
    );
    await sql.unsafe(`ALTER ROLE ${ROLE} LOGIN PASSWORD '${password}'`);
  }

  /** `CREATE DATABASE … TEMPLATE`: the parent's sessions are ended first (see the module comment). */
  async function copyDatabase(from: string, to: string) {
    if (!admin) return;
    for (let attempt = 0; ; attempt++) {
      await admin`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = ${from} AND pid <> pg_backend_pid()`;
      try {
        await admin.unsafe(`CREATE DATABASE ${quoteId(to)} TEMPLATE ${quoteId(from)} OWNER ${ROLE}`);
        return;
      } catch (e) {
        // 55006: someone reconnected between the two statements.
        if ((e as { code?: string }).code !== "55006" || attempt >= 20) throw e;
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  }

  /** Schema-only: the copy, then every table of the user's schemas emptied. */
  async function emptyTables(database: string) {
    if (!admin || !pgUrl) return;
    const url = new URL(pgUrl);
    url.pathname = `/${database}`;
    const sql = postgres(url.href, { max: 1, onnotice: () => undefined, fetch_types: false });
    try {
      const tables = await sql<{ name: string }[]>`
        SELECT format('%I.%I', schemaname, tablename) AS name FROM pg_tables
        WHERE schemaname NOT IN ('pg_catalog', 'information_schema')`;
      if (tables.length)
        await sql.unsafe(`TRUNCATE ${tables.map((t) => t.name).join(", ")} RESTART IDENTITY CASCADE`);
    } finally {
      await sql.end({ timeout: 5 });
    }
  }

  const addBranch = (b: Omit<EmuBranch, "createdAt" | "updatedAt" | "pgDatabase">): EmuBranch => {
    const branch = { ...b, createdAt: now(), updatedAt: now(), pgDatabase: physical(b.id) };
    branches.set(branch.id, branch);
    return branch;
  };

  // The project's default branch `main`, an empty database.
  const main = addBranch({
    id: makeId("br-main-"),
    name: "main",
    isDefault: true,
    initSource: "parent-data",
    annotation: {},
  });
  const mainEndpoint = { id: makeId("ep-main-"), branchId: main.id, createdAt };
  endpoints.set(mainEndpoint.id, mainEndpoint);
  if (admin) {
    await ensureRole(admin);
    await admin.unsafe(`DROP DATABASE IF EXISTS ${quoteId(main.pgDatabase)} WITH (FORCE)`);
    await admin.unsafe(`CREATE DATABASE ${quoteId(main.pgDatabase)} OWNER ${ROLE}`);
  }

  // ---- rate limit: a fixed one-second window ----
  let windowStart = 0;
  let windowCount = 0;
  const limited = (): EmuResponse | undefined => {
    if (!options.requestsPerSecond) return undefined;
    const t = clock.now();
    if (t - windowStart >= 1000) {
      windowStart = t;
      windowCount = 0;
    }
    windowCount++;
    return windowCount > options.requestsPerSecond
      ? error(429, "rate limit exceeded", "", { "retry-after": "1" })
      : undefined;
  };

  const handle =
    (fn: (req: EmuRequest) => EmuResponse | Promise<EmuResponse>) =>
    (req: EmuRequest): EmuResponse | Promise<EmuResponse> =>
      limited() ?? project(req) ?? fn(req);

  const listBranches = (req: EmuRequest): EmuResponse => {
    const search = req.query.get("search") ?? "";
    const limit = Number(req.query.get("limit") ?? 10_000);
    const offset = Number(req.query.get("cursor") ?? 0);
    const desc = req.query.get("sort_order") !== "asc";
    const all = [...branches.values()]
      .filter((b) => b.name.includes(search))
      .sort(
        (a, b) =>
          (desc ? -1 : 1) *
          (req.query.get("sort_by") === "name"
            ? a.name.localeCompare(b.name)
            : a.updatedAt.localeCompare(b.updatedAt)),
      );
    const page = all.slice(offset, offset + limit);
    const annotations = Object.fromEntries(
      page
        .filter((b) => Object.keys(b.annotation).length)
        .map((b) => [
          b.id,
          {
            object: { type: "console/branch", id: b.id },
            value: b.annotation,
            created_at: b.createdAt,
            updated_at: b.updatedAt,
          },
        ]),
    );
    return {
      status: 200,
      body: {
        branches: page.map(branchJson),
        annotations,
        pagination: offset + limit < all.length ? { next: String(offset + limit) } : {},
      },
    };
  };

  const createBranch = async (req: EmuRequest): Promise<EmuResponse> => {
    createRequests.push(req.body);
    const body = (req.body ?? {}) as {
      branch?: {
        name?: string;
        parent_id?: string;
        parent_timestamp?: string;
        parent_lsn?: string;
        expires_at?: string;
        init_source?: string;
      };
      endpoints?: { type: string }[];
      annotation_value?: Record<string, string>;
    };
    const wanted = body.branch ?? {};
    const parent = branches.get(wanted.parent_id ?? main.id);
    if (!parent) return error(404, `parent branch ${wanted.parent_id} not found`);
    const name = wanted.name ?? `br-${randomBytes(3).toString("hex")}`;
    if (name.length > 256) return error(400, "branch name must be at most 256 characters long");
    if ([...branches.values()].some((b) => b.name === name))
      return error(409, `branch with name "${name}" already exists`);
    const busy = locked();
    if (busy) return busy;
    if (parent.expiresAt)
      return error(400, "cannot create a branch from a branch that has an expiration time");
    if (wanted.parent_timestamp) {
      const at = Date.parse(wanted.parent_timestamp);
      if (
        at > clock.now() + 1000 ||
        at < clock.now() - retention * 1000 ||
        at < Date.parse(parent.createdAt) - 1000
      ) {
        return error(
          400,
          `parent_timestamp ${wanted.parent_timestamp} is outside the history window of branch ${parent.id} (${retention} s)`,
        );
      }
    }
    if (wanted.expires_at) {
      const at = Date.parse(wanted.expires_at);
      if (!/T\d\d:\d\d:\d\d(Z|[+-]\d\d:\d\d)$/.test(wanted.expires_at))
        return error(400, "expires_at must be RFC 3339 with second precision");
      if (at <= clock.now() || at > clock.now() + 30 * 86_400_000)
        return error(400, "expires_at must be in the future and at most 30 days ahead");
    }
    const schemaOnly = wanted.init_source === "schema-only";
    const branch = addBranch({
      id: makeId("br-"),
      name,
      // A schema-only branch is a new root: it has no parent (reference/providers.md §2.2).
      ...(schemaOnly ? {} : { parentId: parent.id }),
      ...(wanted.parent_timestamp && !schemaOnly ? { parentTimestamp: wanted.parent_timestamp } : {}),
      isDefault: false,
      initSource: schemaOnly ? "schema-only" : "parent-data",
      annotation: body.annotation_value ?? {},
      ...(wanted.expires_at ? { expiresAt: wanted.expires_at } : {}),
    });
    await copyDatabase(parent.pgDatabase, branch.pgDatabase);
    if (schemaOnly) await emptyTables(branch.pgDatabase);
    const ops = [newOperation(branch.id, "create_branch")];
    const made = (body.endpoints ?? [])
      .filter((e) => e.type === "read_write")
      .slice(0, 1)
      .map(() => {
        const e = { id: makeId("ep-"), branchId: branch.id, createdAt: now() };
        endpoints.set(e.id, e);
        ops.push(newOperation(branch.id, "start_compute", e.id));
        return e;
      });
    return {
      status: 201,
      body: {
        branch: branchJson(branch),
        endpoints: made.map(endpointJson),
        operations: ops.map(opJson),
        roles: [roleJson(branch)],
        databases: [databaseJson(branch)],
        connection_uris: made.length
          ? [
              {
                connection_uri: uriOf(branch),
                connection_parameters: {
                  database: DATABASE,
                  password,
                  role: ROLE,
                  host: endpointJson(made[0]!).host,
                  pooler_host: endpointJson(made[0]!).host.replace(/^(ep-[^.]+)/, "$1-pooler"),
                },
              },
            ]
          : [],
      },
    };
  };

  const deleteBranch = async (req: EmuRequest): Promise<EmuResponse> => {
    const branch = branches.get(req.params.branch!);
    if (!branch) return { status: 204 };
    if (branch.isDefault)
      return error(422, `branch ${branch.id} is the project's default branch and cannot be deleted`);
    if ([...branches.values()].some((b) => b.parentId === branch.id)) {
      return error(422, `branch ${branch.id} has child branches and cannot be deleted`);
    }
    const busy = locked();
    if (busy) return busy;
    branches.delete(branch.id);
    const ops = [newOperation(branch.id, "delete_timeline")];
    for (const e of [...endpoints.values()].filter((x) => x.branchId === branch.id)) endpoints.delete(e.id);
    if (admin) await admin.unsafe(`DROP DATABASE IF EXISTS ${quoteId(branch.pgDatabase)} WITH (FORCE)`);
    return {
      status: 200,
      body: { branch: { ...branchJson(branch), current_state: "ready" }, operations: ops.map(opJson) },
    };
  };

  const withBranch =
    (fn: (b: EmuBranch, req: EmuRequest) => EmuResponse) =>
    (req: EmuRequest): EmuResponse => {
      const b = branches.get(req.params.branch!);
      return b ? fn(b, req) : missingBranch(req.params.branch!);
    };

  const emulator = await startEmulator({
    name: "neon",
    spec: "neon",
    prefix: "/api/v2",
    requestIdHeader: "x-request-id",
    authorized: (value) => value === `Bearer ${apiKey}`,
    unauthorized: () => error(401, "authorization failed: the API key is invalid or revoked"),
    notFound: (req) => error(404, `no route for ${req.method} ${req.path}`),
    port: options.port ?? 0,
    routes: [
      ["GET /projects/:project", handle(() => ({ status: 200, body: { project: projectJson() } }))],
      ["GET /projects/:project/branches", handle(listBranches)],
      ["POST /projects/:project/branches", handle(createBranch)],
      [
        "GET /projects/:project/branches/:branch",
        handle(
          withBranch((b) => ({
            status: 200,
            body: {
              branch: branchJson(b),
              annotation: {
                object: { type: "console/branch", id: b.id },
                value: b.annotation,
                created_at: b.createdAt,
                updated_at: b.updatedAt,
              },
            },
          })),
        ),
      ],
      ["DELETE /projects/:project/branches/:branch", handle(deleteBranch)],
      [
        "GET /projects/:project/branches/:branch/endpoints",
        handle(
          withBranch((b) => ({
            status: 200,
            body: { endpoints: [endpointOf(b.id)].filter((e) => e !== undefined).map(endpointJson) },
          })),
        ),
      ],
      [
        "GET /projects/:project/branches/:branch/databases",
        handle(withBranch((b) => ({ status: 200, body: { databases: [databaseJson(b)] } }))),
      ],
      [
        "GET /projects/:project/branches/:branch/roles",
        handle(withBranch((b) => ({ status: 200, body: { roles: [roleJson(b)] } }))),
      ],
      [
        "GET /projects/:project/branches/:branch/roles/:role/reveal_password",
        handle(
          withBranch((_b, req) =>
            req.params.role === ROLE
              ? { status: 200, body: { password } }
              : error(404, `role ${req.params.role} not found`),
          ),
        ),
      ],
      [
        "GET /projects/:project/operations/:operation",
        handle((req) => {
          const o = operations.get(req.params.operation!);
          return o
            ? { status: 200, body: { operation: opJson(o) } }
            : error(404, `operation ${req.params.operation} not found`);
        }),
      ],
      [
        "GET /projects/:project/connection_uri",
        handle((req) => {
          const id = req.query.get("branch_id") ?? main.id;
          const b = branches.get(id);
          if (!b) return missingBranch(id);
          if (req.query.get("database_name") !== DATABASE)
            return error(404, `database ${req.query.get("database_name")} not found`);
          if (req.query.get("role_name") !== ROLE)
            return error(404, `role ${req.query.get("role_name")} not found`);
          if (!endpointOf(b.id)) return error(400, `branch ${b.id} has no read-write endpoint`);
          return { status: 200, body: { uri: uriOf(b) } };
        }),
      ],
    ],
  });

  return {
    ...emulator,
    projectId,
    apiKey,
    createRequests,
    setOperationDelay: (ms) => void (delayMs = ms),
    branches: () => [...branches.values()],
    age(name, ms) {
      for (const b of branches.values()) {
        if (b.name === name) b.createdAt = new Date(Date.parse(b.createdAt) - ms).toISOString();
      }
    },
    variables: { FORKSTACK_NEON_API_URL: emulator.url, NEON_API_KEY: apiKey, NEON_PROJECT_ID: projectId },
    async close() {
      await emulator.close();
      if (admin) {
        for (const b of branches.values()) {
          await admin
            .unsafe(`DROP DATABASE IF EXISTS ${quoteId(b.pgDatabase)} WITH (FORCE)`)
            .catch(() => undefined);
        }
        await admin.end({ timeout: 5 });
      }
    },
  };
}
