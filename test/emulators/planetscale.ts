/**
 * A stateful emulator of the PlanetScale API v1 (the part forkstack's `planetscale` provider uses),
 * on the shared base: every request and response is validated against PlanetScale's OpenAPI
 * description (`specs/planetscale.json`), so the provider and the emulator cannot drift from it.
 *
 * What it keeps: organizations; databases (`kind` mysql = Vitess, or postgresql) with a default
 * production branch `main`; branches made from a parent (`parent_branch`), `ready` only after
 * `readyAfterMs`, refused while a name is taken; backups that finish after `backupAfterMs`, restored
 * into a new branch with `backup_id` (+ `cluster_size`) or, where the database allows Data
 * Branching®, with `seed_data: "last_successful_backup"` (the parent's latest finished backup: data
 * as of then, not now); Vitess passwords (`plain_text` returned by the create call only, `ttl` honoured:
 * an expired one stops working) and Postgres roles. Service tokens authenticate as `<id>:<token>` in
 * `Authorization` and may be limited to some databases (403 elsewhere). Errors are PlanetScale's
 * `{code, message}`: 401 bad token, 403 no access, 404 unknown org/database/branch, 409 deleting the
 * default branch or restoring an unfinished backup, 422 invalid or taken names and other refused
 * input, 429 with `Retry-After` past `rateLimit`; anything else through `fault()`.
 *
 * With `mariadb` and/or `postgres` (admin URLs; standalone, `FORKSTACK_EMULATOR_MARIADB_URL` and
 * `FORKSTACK_EMULATOR_PG_URL`) branches hold real data (`_planetscale-data.ts`), and the credentials'
 * URLs work. Without them (`node test/emulators/run.mjs planetscale` as is) the emulator keeps metadata
 * only: every call answers as documented, but the credentials point at `no-data-plane.invalid`, which
 * does not resolve.
 */
import { randomBytes } from "node:crypto";
import { makeId, startEmulator } from "./_base.js";
import type { EmuRequest, EmuResponse, Routes, VendorEmulator } from "./_base.js";
import { mysqlPlane, postgresPlane } from "./_planetscale-data.js";
import type { DataPlane } from "./_planetscale-data.js";

export type DatabaseKind = "mysql" | "postgresql";

export interface ServiceToken {
  readonly id: string;
  readonly token: string;
  /** Databases it may touch (`org/db` or `db`); absent = all. */
  readonly databases?: readonly string[];
}

export interface DatabaseSeed {
  readonly name: string;
  readonly kind: DatabaseKind;
  /** Data Branching® enabled: `seed_data` works. @default false */
  readonly allowDataBranching?: boolean;
}

export interface PlanetScaleEmulatorOptions {
  readonly port?: number;
  /** @default [{ name: "acme", databases: [{ name: "shop", kind: "mysql" }, { name: "shop-pg", kind: "postgresql" }] }] */
  readonly organizations?: readonly { readonly name: string; readonly databases: readonly DatabaseSeed[] }[];
  /** @default [{ id: "emu-token-id", token: "pscale_tkn_emulator" }] */
  readonly tokens?: readonly ServiceToken[];
  /**
   * Where its time comes from: `ready`, finished backups and expired passwords follow it. A test
   * shares one with the provider (test/helpers/clock.ts) so that waiting skips ahead. @default Date
   */
  readonly clock?: { now(): number };
  /** How long a new branch stays not `ready`. @default 300 */
  readonly readyAfterMs?: number;
  /** How long a backup stays `pending`/`running`. @default 200 */
  readonly backupAfterMs?: number;
  /**
   * Requests a token may make per window before a 429 with `Retry-After` (PlanetScale documents 600
   * a minute). @default no limit, so that quick polls in tests are not throttled
   */
  readonly rateLimit?: { readonly requests: number; readonly windowMs: number };
  /**
   * Admin URL of a MariaDB/MySQL server for Vitess branches' data. When the key is absent (run.mjs),
   * `FORKSTACK_EMULATOR_MARIADB_URL`; `undefined` given explicitly means none.
   */
  readonly mariadb?: string | undefined;
  /** Superuser URL of a PostgreSQL server for Postgres branches' data; else `FORKSTACK_EMULATOR_PG_URL`. */
  readonly postgres?: string | undefined;
}

export interface EmuPassword {
  readonly id: string;
  readonly name: string;
  readonly role: string;
  readonly username: string;
  readonly createdAt: string;
  readonly expiresAt: string | null;
  readonly ttl: number | null;
  deleted: boolean;
  expired: boolean;
}

export interface EmuRole {
  readonly id: string;
  readonly name: string;
  readonly username: string;
  readonly inherited: string[];
  readonly createdAt: string;
  readonly expiresAt: string | null;
  readonly ttl: number;
  deleted: boolean;
  expired: boolean;
}

export interface EmuBackup {
  readonly id: string;
  readonly name: string;
  readonly branch: string;
  readonly storage: string;
  readonly createdAt: string;
  readonly doneAt: number;
  readonly expiresAt: string | null;
}

export interface EmuBranch {
  readonly id: string;
  readonly name: string;
  readonly parent: string | null;
  readonly production: boolean;
  readonly createdAt: string;
  readonly readyAt: number;
  readonly clusterName: string;
  /** Where its data lives on the data plane (a schema or a database). */
  readonly storage: string;
  /** How it was made: `schema` (Vitess dev branch), `empty`, `backup` or `seed`. */
  readonly madeBy: "schema" | "empty" | "backup" | "seed" | "initial";
  readonly restoredFrom: { id: string; name: string; createdAt: string } | null;
  readonly passwords: Map<string, EmuPassword>;
  readonly roles: Map<string, EmuRole>;
  readonly backups: Map<string, EmuBackup>;
}

export interface EmuDatabase {
  readonly id: string;
  readonly name: string;
  readonly kind: DatabaseKind;
  readonly createdAt: string;
  allowDataBranching: boolean;
  readonly defaultBranch: string;
  readonly branches: Map<string, EmuBranch>;
}

export interface PlanetScaleEmulator extends VendorEmulator {
  /** A database's state, for assertions (`undefined` if there is none). */
  database(organization: string, name: string): EmuDatabase | undefined;
  /** The `Authorization` value of the first token. */
  readonly authorization: string;
  /** Whether branches hold real data (and on which kinds). */
  readonly dataPlanes: { readonly mysql: boolean; readonly postgresql: boolean };
}

interface Org {
  readonly id: string;
  readonly name: string;
  readonly createdAt: string;
  readonly databases: Map<string, EmuDatabase>;
}

const NO_DATA_PLANE = "no-data-plane.invalid";

const DEFAULT_ORGANIZATIONS: NonNullable<PlanetScaleEmulatorOptions["organizations"]> = [
  {
    name: "acme",
    databases: [
      { name: "shop", kind: "mysql" },
      { name: "shop-pg", kind: "postgresql" },
    ],
  },
];
/** PlanetScale's rule for branch names (docs: "lowercase, alphanumeric characters and hyphens"). */
const BRANCH_NAME = /^[a-z0-9][a-z0-9-]*$/;

const err = (status: number, code: string, message: string): EmuResponse => ({
  status,
  body: { code, message },
});
const secret = (prefix: string) => `${prefix}${randomBytes(18).toString("base64url")}`;

const REGION = {
  id: "reg_emulator",
  provider: "AWS",
  enabled: true,
  public_ip_addresses: [],
  display_name: "Emulator (local)",
  location: "localhost",
  slug: "emulator",
  current_default: true,
  mysql_supported: true,
  postgresql_supported: true,
};
const ACTOR = {
  id: "emu-actor",
  display_name: "forkstack emulator",
  avatar_url: "https://example.invalid/a.png",
};

/** What PlanetScale answers beyond its OpenAPI description's per-operation statuses (docs/emulators.md). */
export const PLANETSCALE_UNLISTED_STATUSES = {
  409: "a conflict with the branch's state: deleting a default branch, restoring an unfinished backup",
  422: "input PlanetScale refuses: a name taken or invalid, a seed the database cannot give",
  429: "past the API's rate limit (600 requests a minute), with Retry-After",
} as const;

export async function start(options: PlanetScaleEmulatorOptions = {}): Promise<PlanetScaleEmulator> {
  // Time as the test's clock tells it (test/helpers/clock.ts), else the wall clock.
  const clock = options.clock ?? Date;
  const now = () => new Date(clock.now()).toISOString();
  const readyAfterMs = options.readyAfterMs ?? 300;
  const backupAfterMs = options.backupAfterMs ?? 200;
  const tokens = options.tokens ?? [{ id: "emu-token-id", token: "pscale_tkn_emulator" }];
  const orgs = new Map<string, Org>();
  const seeds = options.organizations ?? DEFAULT_ORGANIZATIONS;

  // Which schema a Vitess login is routed to (the handshake proxy asks).
  const usernames = new Map<string, { storage: string }>();
  const planes: Partial<Record<DatabaseKind, DataPlane>> = {};
  const mariadbUrl = "mariadb" in options ? options.mariadb : process.env.FORKSTACK_EMULATOR_MARIADB_URL;
  const postgresUrl = "postgres" in options ? options.postgres : process.env.FORKSTACK_EMULATOR_PG_URL;
  if (mariadbUrl) planes.mysql = await mysqlPlane(mariadbUrl, (user) => usernames.get(user)?.storage);
  if (postgresUrl) planes.postgresql = await postgresPlane(postgresUrl);

  const storageName = (id: string) => `ps_${id.replace(/[^a-z0-9]/gi, "").toLowerCase()}`;

  async function addDatabase(org: Org, seed: DatabaseSeed): Promise<void> {
    const main: EmuBranch = newBranch({
      name: "main",
      parent: null,
      production: true,
      readyAt: 0,
      clusterName: "PS_10",
      madeBy: "initial",
      restoredFrom: null,
    });
    await planes[seed.kind]?.createBranch(main.storage, undefined);
    org.databases.set(seed.name, {
      id: makeId("db_"),
      name: seed.name,
      kind: seed.kind,
      createdAt: now(),
      allowDataBranching: seed.allowDataBranching ?? false,
      defaultBranch: "main",
      branches: new Map([["main", main]]),
    });
  }
  function newBranch(
    b: Pick<
      EmuBranch,
      "name" | "parent" | "production" | "readyAt" | "clusterName" | "madeBy" | "restoredFrom"
    >,
  ): EmuBranch {
    const id = makeId("br");
    return {
      ...b,
      id,
      createdAt: now(),
      storage: storageName(id),
      passwords: new Map(),
      roles: new Map(),
      backups: new Map(),
    };
  }
  for (const seed of seeds) {
    const org: Org = { id: makeId("org_"), name: seed.name, createdAt: now(), databases: new Map() };
    orgs.set(seed.name, org);
    for (const db of seed.databases) await addDatabase(org, db);
  }

  // ----------------------------------------------------------------------------------------------
  // Shapes (every field the spec requires).

  const accessHost = (kind: DatabaseKind) => planes[kind]?.accessHost ?? NO_DATA_PLANE;
  const ready = (b: EmuBranch) => clock.now() >= b.readyAt;
  const branchJson = (org: Org, db: EmuDatabase, b: EmuBranch) => {
    const host = accessHost(db.kind);
    return {
      id: b.id,
      name: b.name,
      created_at: b.createdAt,
      updated_at: b.createdAt,
      deleted_at: null,
      restore_checklist_completed_at: null,
      schema_last_updated_at: null,
      kind: db.kind,
      mysql_address: host,
      mysql_edge_address: host,
      state: ready(b) ? "ready" : "pending",
      direct_vtgate: false,
      vtgate_size: "VTG_5",
      vtgate_name: null,
      vtgate_count: 1,
      vtgate_autoscaling: false,
      vtgate_max_count: null,
      vtgate_target_cpu_utilization: null,
      cluster_name: b.clusterName,
      cluster_iops: null,
      ready: ready(b),
      schema_ready: ready(b),
      metal: false,
      production: b.production,
      safe_migrations: false,
      deletion_protected: false,
      sharded: false,
      shard_count: 1,
      keyspace_count: 1,
      stale_schema: false,
      actor: ACTOR,
      restored_from_branch: b.restoredFrom
        ? {
            id: b.restoredFrom.id,
            name: b.restoredFrom.name,
            created_at: b.restoredFrom.createdAt,
            updated_at: b.restoredFrom.createdAt,
            deleted_at: null,
          }
        : null,
      private_edge_connectivity: false,
      has_replicas: b.production,
      has_read_only_replicas: false,
      html_url: `https://app.planetscale.com/${org.name}/${db.name}/${b.name}`,
      url: `/v1/organizations/${org.name}/databases/${db.name}/branches/${b.name}`,
      region: REGION,
      parent_branch: b.parent,
      vtgate_options: {},
    };
  };
  const databaseJson = (org: Org, db: EmuDatabase) => {
    const branches = [...db.branches.values()];
    const production = branches.filter((b) => b.production).length;
    return {
      id: db.id,
      url: `/v1/organizations/${org.name}/databases/${db.name}`,
      branches_url: `/v1/organizations/${org.name}/databases/${db.name}/branches`,
      branches_count: branches.length,
      open_schema_recommendations_count: 0,
      development_branches_count: branches.length - production,
      production_branches_count: production,
      issues_count: 0,
      multiple_admins_required_for_deletion: false,
      ready: true,
      at_backup_restore_branches_limit: false,
      at_development_branch_usage_limit: false,
      data_import: null,
      region: REGION,
      html_url: `https://app.planetscale.com/${org.name}/${db.name}`,
      name: db.name,
      state: "ready",
      sharded: false,
      default_branch_shard_count: 1,
      default_branch_read_only_regions_count: 0,
      default_branch_table_count: 0,
      default_branch: db.defaultBranch,
      require_approval_for_deploy: false,
      deletion_protected: false,
      resizing: false,
      resize_queued: false,
      config_changing: false,
      config_change_queued: false,
      allow_data_branching: db.allowDataBranching,
      foreign_keys_enabled: true,
      automatic_migrations: null,
      restrict_branch_region: false,
      insights_raw_queries: false,
      plan: "scaler_pro",
      insights_enabled: false,
      production_branch_web_console: false,
      migration_table_name: null,
      migration_framework: null,
      created_at: db.createdAt,
      updated_at: db.createdAt,
      schema_last_updated_at: null,
      kind: db.kind,
    };
  };
  const passwordJson = (db: EmuDatabase, b: EmuBranch, p: EmuPassword, plain: string | null) => {
    const host = accessHost(db.kind);
    return {
      id: p.id,
      name: p.name,
      role: p.role,
      cidrs: null,
      created_at: p.createdAt,
      deleted_at: null,
      expires_at: p.expiresAt,
      last_used_at: null,
      expired: p.expired,
      direct_vtgate: false,
      direct_vtgate_addresses: [],
      ttl_seconds: p.ttl,
      access_host_url: host,
      access_host_regional_url: host,
      access_host_regional_urls: [host],
      actor: ACTOR,
      region: REGION,
      username: p.username,
      plain_text: plain,
      replica: false,
      renewable: false,
      database_branch: {
        name: b.name,
        id: b.id,
        production: b.production,
        mysql_edge_address: host,
        private_edge_connectivity: false,
      },
    };
  };
  const roleJson = (db: EmuDatabase, b: EmuBranch, r: EmuRole, password: string) => ({
    id: r.id,
    name: r.name,
    access_host_url: accessHost(db.kind),
    private_access_host_url: accessHost(db.kind),
    private_connection_service_name: "",
    username: r.username,
    base_username: r.username,
    password,
    database_name: planes.postgresql ? b.storage : "postgres",
    created_at: r.createdAt,
    updated_at: r.createdAt,
    deleted_at: null,
    expires_at: r.expiresAt,
    dropped_at: null,
    disabled_at: null,
    drop_failed: "",
    ready: true,
    expired: r.expired,
    default: false,
    ttl: r.ttl,
    inherited_roles: r.inherited,
    with_replication: false,
    branch: { id: b.id, name: b.name, created_at: b.createdAt, updated_at: b.createdAt, deleted_at: null },
    actor: ACTOR,
    query_safety_settings: { require_where_on_delete: "off", require_where_on_update: "off" },
  });
  const backupState = (k: EmuBackup) => (clock.now() >= k.doneAt ? "success" : "running");
  const backupJson = (b: EmuBranch, k: EmuBackup) => ({
    id: k.id,
    name: k.name,
    state: backupState(k),
    size: 0,
    estimated_storage_cost: 0,
    created_at: k.createdAt,
    updated_at: k.createdAt,
    started_at: k.createdAt,
    expires_at: k.expiresAt,
    completed_at: backupState(k) === "success" ? new Date(k.doneAt).toISOString() : null,
    deleted_at: null,
    pvc_size: 0,
    uncompressed_size: 0,
    protected: false,
    required: false,
    restored_branches: [],
    actor: ACTOR,
    database_branch: {
      id: b.id,
      name: b.name,
      created_at: b.createdAt,
      updated_at: b.createdAt,
      deleted_at: null,
    },
  });
  const list = (req: EmuRequest, items: unknown[]) => {
    const perPage = Math.min(100, Math.max(1, Number(req.query.get("per_page") ?? 25) || 25));
    const page = Math.max(1, Number(req.query.get("page") ?? 1) || 1);
    const pages = Math.max(1, Math.ceil(items.length / perPage));
    const next = page < pages ? page + 1 : null;
    const prev = page > 1 ? page - 1 : null;
    const self = `${emulator.url}${req.path}`;
    return {
      status: 200,
      body: {
        type: "list",
        current_page: page,
        per_page: perPage,
        next_page: next,
        next_page_url: next ? `${self}?page=${next}&per_page=${perPage}` : null,
        prev_page: prev,
        prev_page_url: prev ? `${self}?page=${prev}&per_page=${perPage}` : null,
        total_count: items.length,
        total_pages: pages,
        data: items.slice((page - 1) * perPage, page * perPage),
      },
    };
  };

  // ----------------------------------------------------------------------------------------------
  // Lookups shared by the routes: each returns the thing or the vendor's error.

  const tokenOf = (req: EmuRequest) => tokens.find((t) => `${t.id}:${t.token}` === req.headers.authorization);
  const findOrg = (req: EmuRequest): Org | EmuResponse =>
    orgs.get(req.params.org!) ?? err(404, "not_found", "Not Found");
  const findDb = (req: EmuRequest): { org: Org; db: EmuDatabase } | EmuResponse => {
    const org = findOrg(req);
    if ("status" in org) return org;
    const db = org.databases.get(req.params.db!);
    if (!db) return err(404, "not_found", "Not Found");
    const access = tokenOf(req)?.databases;
    if (access && !access.includes(db.name) && !access.includes(`${org.name}/${db.name}`)) {
      return err(403, "forbidden", `The service token has no access to the database ${db.name}`);
    }
    return { org, db };
  };
  const findBranch = (req: EmuRequest) => {
    const found = findDb(req);
    if ("status" in found) return found;
    const branch = found.db.branches.get(req.params.branch!);
    if (!branch) return err(404, "not_found", "Not Found");
    return { ...found, branch };
  };

  /** Passwords and roles whose `ttl` ran out stop working, as on PlanetScale. */
  async function expire(): Promise<void> {
    const t = clock.now();
    for (const org of orgs.values()) {
      for (const db of org.databases.values()) {
        for (const b of db.branches.values()) {
          for (const cred of [...b.passwords.values(), ...b.roles.values()]) {
            if (!cred.expired && cred.expiresAt && Date.parse(cred.expiresAt) <= t) {
              cred.expired = true;
              usernames.delete(cred.username);
              await planes[db.kind]?.dropUser(cred.username);
            }
          }
        }
      }
    }
  }

  async function dropBranch(db: EmuDatabase, b: EmuBranch): Promise<void> {
    const plane = planes[db.kind];
    for (const cred of [...b.passwords.values(), ...b.roles.values()]) {
      usernames.delete(cred.username);
      if (!cred.deleted && !cred.expired) await plane?.dropUser(cred.username);
    }
    for (const k of b.backups.values()) await plane?.drop(k.storage);
    await plane?.drop(b.storage);
    db.branches.delete(b.name);
  }

  const withExpiry =
    (handler: (req: EmuRequest) => EmuResponse | Promise<EmuResponse>) => async (req: EmuRequest) => {
      await expire();
      return handler(req);
    };

  const base = "/organizations/:org/databases/:db";
  const routes: Routes = [
    [
      "GET /organizations/:org",
      (req) => {
        const org = findOrg(req);
        if ("status" in org) return org;
        return {
          status: 200,
          body: {
            id: org.id,
            name: org.name,
            billing_email: "billing@example.invalid",
            created_at: org.createdAt,
            updated_at: org.createdAt,
            plan: "scaler_pro",
            valid_billing_info: true,
            sso: false,
            sso_directory: false,
            single_tenancy: false,
            managed_tenancy: false,
            has_past_due_invoices: false,
            database_count: org.databases.size,
            sso_portal_url: null,
            features: {},
            idp_managed_roles: false,
            invoice_budget_amount: "0",
            keyspace_shard_limit: 1,
            has_card: true,
            payment_info_required: false,
          },
        };
      },
    ],
    [
      "GET /organizations/:org/databases",
      (req) => {
        const org = findOrg(req);
        if ("status" in org) return org;
        return list(
          req,
          [...org.databases.values()].map((db) => databaseJson(org, db)),
        );
      },
    ],
    [
      `GET ${base}`,
      (req) => {
        const found = findDb(req);
        if ("status" in found) return found;
        return { status: 200, body: databaseJson(found.org, found.db) };
      },
    ],
    [
      `GET ${base}/branches`,
      (req) => {
        const found = findDb(req);
        if ("status" in found) return found;
        const { org, db } = found;
        return list(
          req,
          [...db.branches.values()].map((b) => branchJson(org, db, b)),
        );
      },
    ],
    [
      `POST ${base}/branches`,
      withExpiry(async (req) => {
        const found = findDb(req);
        if ("status" in found) return found;
        const { org, db } = found;
        const body = (req.body ?? {}) as {
          name?: string;
          parent_branch?: string;
          backup_id?: string;
          seed_data?: string;
          cluster_size?: string;
          restore_point?: string;
        };
        const name = body.name ?? "";
        if (!BRANCH_NAME.test(name)) {
          return err(
            422,
            "invalid_params",
            "Name must be lowercase, alphanumeric characters and hyphens are allowed",
          );
        }
        if (db.branches.has(name)) return err(422, "unprocessable", "Name has already been taken");
        if (body.restore_point)
          return err(422, "unprocessable", "restore_point is not supported by the emulator");
        const parentName = body.parent_branch ?? db.defaultBranch;
        const parent = db.branches.get(parentName);
        if (!parent) return err(404, "not_found", `Branch ${parentName} does not exist`);
        const plane = planes[db.kind];
        let madeBy: EmuBranch["madeBy"] = db.kind === "mysql" ? "schema" : "empty";
        let source: { from: string; data: boolean } | undefined =
          db.kind === "mysql" ? { from: parent.storage, data: false } : undefined;
        let restoredFrom: EmuBranch["restoredFrom"] = null;
        let clusterName = "PS_DEV";
        if (body.backup_id) {
          const backup = [...db.branches.values()]
            .flatMap((b) => [...b.backups.values()].map((k) => ({ b, k })))
            .find(({ k }) => k.id === body.backup_id);
          if (!backup) return err(404, "not_found", `Backup ${body.backup_id} does not exist`);
          if (!body.cluster_size) {
            return err(422, "invalid_params", "cluster_size is required when restoring a backup");
          }
          if (backupState(backup.k) !== "success") {
            return err(409, "conflict", "The backup has not finished yet");
          }
          madeBy = "backup";
          source = { from: backup.k.storage, data: true };
          restoredFrom = { id: backup.b.id, name: backup.b.name, createdAt: backup.b.createdAt };
          clusterName = body.cluster_size;
        } else if (body.seed_data) {
          if (!db.allowDataBranching) {
            return err(422, "unprocessable", "Data Branching is not enabled for this database");
          }
          const last = [...parent.backups.values()]
            .filter((k) => backupState(k) === "success")
            .sort((a, b) => a.doneAt - b.doneAt)
            .at(-1);
          if (!last)
            return err(422, "unprocessable", `Branch ${parent.name} has no successful backup to seed from`);
          madeBy = "seed";
          source = { from: last.storage, data: true };
          clusterName = body.cluster_size ?? parent.clusterName;
        } else if (body.cluster_size) {
          clusterName = body.cluster_size;
        }
        const branch = newBranch({
          name,
          parent: parent.name,
          production: false,
          readyAt: clock.now() + readyAfterMs,
          clusterName,
          madeBy,
          restoredFrom,
        });
        await plane?.createBranch(branch.storage, source);
        db.branches.set(name, branch);
        return { status: 201, body: branchJson(org, db, branch) };
      }),
    ],
    [
      `GET ${base}/branches/:branch`,
      (req) => {
        const found = findBranch(req);
        if ("status" in found) return found;
        return { status: 200, body: branchJson(found.org, found.db, found.branch) };
      },
    ],
    [
      `DELETE ${base}/branches/:branch`,
      async (req) => {
        const found = findBranch(req);
        if ("status" in found) return found;
        const { db, branch } = found;
        if (branch.name === db.defaultBranch) {
          return err(409, "conflict", "The default branch of a database cannot be deleted");
        }
        await dropBranch(db, branch);
        return { status: 204 };
      },
    ],
    [
      `POST ${base}/branches/:branch/backups`,
      async (req) => {
        const found = findBranch(req);
        if ("status" in found) return found;
        const { db, branch } = found;
        if (!ready(branch)) return err(422, "unprocessable", "The branch is not ready yet");
        const body = (req.body ?? {}) as { name?: string; retention_unit?: string; retention_value?: number };
        const id = makeId("bk");
        const unitMs: Record<string, number> = {
          hour: 3_600_000,
          day: 86_400_000,
          week: 604_800_000,
          month: 2_592_000_000,
          year: 31_536_000_000,
        };
        const retention =
          body.retention_unit && body.retention_value
            ? new Date(clock.now() + unitMs[body.retention_unit]! * body.retention_value).toISOString()
            : null;
        const backup: EmuBackup = {
          id,
          name: body.name ?? `backup-${id}`,
          branch: branch.name,
          storage: storageName(id),
          createdAt: now(),
          doneAt: clock.now() + backupAfterMs,
          expiresAt: retention,
        };
        // The copy is taken now: the backup holds the branch as of this call.
        await planes[db.kind]?.snapshot(branch.storage, backup.storage);
        branch.backups.set(id, backup);
        return { status: 201, body: backupJson(branch, backup) };
      },
    ],
    [
      `GET ${base}/branches/:branch/backups`,
      (req) => {
        const found = findBranch(req);
        if ("status" in found) return found;
        const { branch } = found;
        const state = req.query.get("state");
        const items = [...branch.backups.values()].filter((k) => !state || backupState(k) === state);
        return list(
          req,
          items.map((k) => backupJson(branch, k)),
        );
      },
    ],
    [
      `GET ${base}/branches/:branch/backups/:id`,
      (req) => {
        const found = findBranch(req);
        if ("status" in found) return found;
        const backup = found.branch.backups.get(req.params.id!);
        if (!backup) return err(404, "not_found", "Not Found");
        return { status: 200, body: backupJson(found.branch, backup) };
      },
    ],
    [
      `DELETE ${base}/branches/:branch/backups/:id`,
      async (req) => {
        const found = findBranch(req);
        if ("status" in found) return found;
        const backup = found.branch.backups.get(req.params.id!);
        if (!backup) return err(404, "not_found", "Not Found");
        found.branch.backups.delete(backup.id);
        await planes[found.db.kind]?.drop(backup.storage);
        return { status: 204 };
      },
    ],
    [
      `POST ${base}/branches/:branch/passwords`,
      withExpiry(async (req) => {
        const found = findBranch(req);
        if ("status" in found) return found;
        const { db, branch } = found;
        if (db.kind !== "mysql") {
          return err(422, "unprocessable", "Passwords are for Vitess databases: use roles on Postgres");
        }
        if (!ready(branch)) return err(422, "unprocessable", "The branch is not ready yet");
        const body = (req.body ?? {}) as { name?: string; role?: string; ttl?: number };
        const ttl = body.ttl ?? null;
        if (ttl !== null && ttl <= 0)
          return err(422, "invalid_params", "ttl must be a positive number of seconds");
        const password: EmuPassword = {
          id: makeId("pw"),
          name: body.name ?? makeId("password-"),
          role: body.role ?? "admin",
          username: makeId("u").slice(0, 20),
          createdAt: now(),
          expiresAt: ttl === null ? null : new Date(clock.now() + ttl * 1000).toISOString(),
          ttl,
          deleted: false,
          expired: false,
        };
        const plain = secret("pscale_pw_");
        await planes.mysql?.createUser(password.username, plain, branch.storage, [password.role]);
        usernames.set(password.username, { storage: branch.storage });
        branch.passwords.set(password.id, password);
        return { status: 201, body: passwordJson(db, branch, password, plain) };
      }),
    ],
    [
      `GET ${base}/branches/:branch/passwords`,
      withExpiry((req) => {
        const found = findBranch(req);
        if ("status" in found) return found;
        const { db, branch } = found;
        const items = [...branch.passwords.values()].filter((p) => !p.deleted);
        return list(
          req,
          items.map((p) => passwordJson(db, branch, p, null)),
        );
      }),
    ],
    [
      `GET ${base}/branches/:branch/passwords/:id`,
      withExpiry((req) => {
        const found = findBranch(req);
        if ("status" in found) return found;
        const p = found.branch.passwords.get(req.params.id!);
        if (!p || p.deleted) return err(404, "not_found", "Not Found");
        return { status: 200, body: passwordJson(found.db, found.branch, p, null) };
      }),
    ],
    [
      `DELETE ${base}/branches/:branch/passwords/:id`,
      async (req) => {
        const found = findBranch(req);
        if ("status" in found) return found;
        const p = found.branch.passwords.get(req.params.id!);
        if (!p || p.deleted) return err(404, "not_found", "Not Found");
        p.deleted = true;
        usernames.delete(p.username);
        if (!p.expired) await planes.mysql?.dropUser(p.username);
        return { status: 204 };
      },
    ],
    [
      `POST ${base}/branches/:branch/roles`,
      withExpiry(async (req) => {
        const found = findBranch(req);
        if ("status" in found) return found;
        const { db, branch } = found;
        if (db.kind !== "postgresql") {
          return err(422, "unprocessable", "Roles are for Postgres databases: use passwords on Vitess");
        }
        if (!ready(branch)) return err(422, "unprocessable", "The branch is not ready yet");
        const body = (req.body ?? {}) as { name?: string; ttl?: number; inherited_roles?: string[] };
        const ttl = body.ttl ?? 0;
        if (ttl < 0) return err(422, "invalid_params", "ttl must not be negative");
        const role: EmuRole = {
          id: makeId("role"),
          name: body.name ?? makeId("role-"),
          username: `pscale_api_${makeId("").slice(0, 10)}`,
          inherited: body.inherited_roles ?? [],
          createdAt: now(),
          expiresAt: ttl > 0 ? new Date(clock.now() + ttl * 1000).toISOString() : null,
          ttl,
          deleted: false,
          expired: false,
        };
        const password = secret("pscale_pw_");
        await planes.postgresql?.createUser(role.username, password, branch.storage, role.inherited);
        branch.roles.set(role.id, role);
        return { status: 200, body: roleJson(db, branch, role, password) };
      }),
    ],
    [
      `GET ${base}/branches/:branch/roles/:id`,
      withExpiry((req) => {
        const found = findBranch(req);
        if ("status" in found) return found;
        const r = found.branch.roles.get(req.params.id!);
        if (!r || r.deleted) return err(404, "not_found", "Not Found");
        return { status: 200, body: roleJson(found.db, found.branch, r, "") };
      }),
    ],
    [
      `DELETE ${base}/branches/:branch/roles/:id`,
      async (req) => {
        const found = findBranch(req);
        if ("status" in found) return found;
        const r = found.branch.roles.get(req.params.id!);
        if (!r || r.deleted) return err(404, "not_found", "Not Found");
        r.deleted = true;
        if (!r.expired) await planes.postgresql?.dropUser(r.username);
        return { status: 204 };
      },
    ],
  ];

  // A sliding window of request times per token; over the limit, a 429 saying when a slot frees up.
  const seen = new Map<string, number[]>();
  const limited: Routes = routes.map(([pattern, handler]) => [
    pattern,
    (req: EmuRequest) => {
      const limit = options.rateLimit;
      if (limit) {
        const key = req.headers.authorization ?? "";
        const t = clock.now();
        const recent = (seen.get(key) ?? []).filter((at) => at > t - limit.windowMs);
        if (recent.length >= limit.requests) {
          seen.set(key, recent);
          const wait = Math.max(1, Math.ceil((recent[0]! + limit.windowMs - t) / 1000));
          return {
            ...err(429, "rate_limited", "API rate limit exceeded"),
            headers: { "retry-after": String(wait) },
          };
        }
        seen.set(key, [...recent, t]);
      }
      return handler(req);
    },
  ]);

  const emulator = await startEmulator({
    name: "planetscale",
    spec: "planetscale",
    prefix: "/v1",
    unlistedStatuses: PLANETSCALE_UNLISTED_STATUSES,
    routes: limited,
    port: options.port,
    authorized: (value) => tokens.some((t) => value === `${t.id}:${t.token}`),
    unauthorized: () => err(401, "unauthorized", "The access token is invalid or has expired"),
    notFound: () => err(404, "not_found", "Not Found"),
    requestIdHeader: "x-request-id",
  });

  const first = tokens[0]!;
  return {
    ...emulator,
    authorization: `${first.id}:${first.token}`,
    dataPlanes: { mysql: !!planes.mysql, postgresql: !!planes.postgresql },
    variables: {
      FORKSTACK_PLANETSCALE_API_URL: emulator.url,
      PLANETSCALE_SERVICE_TOKEN_ID: first.id,
      PLANETSCALE_SERVICE_TOKEN: first.token,
    },
    database: (organization, name) => orgs.get(organization)?.databases.get(name),
    async close() {
      await emulator.close();
      await planes.mysql?.close();
      await planes.postgresql?.close();
    },
  };
}
