/**
 * The Turso Platform API, emulated (reference/providers.md §1; validated against specs/turso.json by
 * the base): organizations with groups and databases; create (empty, or seeded from another database
 * of the same group, at a `seed.timestamp` too), get, list, delete; database tokens (signed JWTs
 * whose expiry is recorded and enforced) and their rotation; `{ "error": "…" }` bodies for 400, 401,
 * 404 and 409. 422 and 429 come from `fault()`, as Turso sends them only in situations a test stages.
 *
 * Every database is a real SQLite file, served over Hrana (`_hrana.ts`) by a second server, the
 * stand-in for `<name>-<org>.turso.io`: `@libsql/client` reaches a database at
 * `http://127.0.0.1:<dbPort>/<Hostname>/` — the URL the provider gives apps when
 * `FORKSTACK_TURSO_DB_URL` is `http://127.0.0.1:<dbPort>/{hostname}/` (see `variables`). A pipeline
 * needs a token minted for that database, unexpired and not rotated away.
 *
 * Point in time: after every pipeline that changed a database (outside a transaction) the emulator
 * keeps a copy of the file with its time, so a fork at `seed.timestamp` starts from the last copy made
 * at or before it — the data as it was then, as on Turso (minus Turso's up-to-15-seconds caveat).
 */
import { createHmac, randomUUID } from "node:crypto";
import { mkdtempSync } from "node:fs";
import { copyFile, rm } from "node:fs/promises";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { requireLibsql } from "../../src/native-sqlite.js";
import { checkRequest, checkResponse, loadSpec, startEmulator } from "./_base.js";
import type { EmuRequest, EmuResponse, VendorEmulator } from "./_base.js";
import { HranaServer, type HranaPipeline } from "./_hrana.js";

export interface TursoEmulatorOptions {
  /**
   * Where its time comes from: token expiry, snapshots and `seed.timestamp` follow it. A test moves it
   * on to see a token expire without waiting. @default Date
   */
  readonly clock?: { now(): number };
  /** API port (0 = free). */
  readonly port?: number;
  /** Database server port (0 = free). */
  readonly dbPort?: number;
  /** The platform API token it accepts. @default "turso-emulator-token" */
  readonly token?: string;
  /** The organization that exists from the start, with a group `default`. @default "acme" */
  readonly organization?: string;
  /** How far back `seed.timestamp` may go (Turso's free plan: 24 h). */
  readonly pointInTimeWindowMs?: number;
}

export interface EmulatedDatabase {
  readonly name: string;
  readonly dbId: string;
  readonly hostname: string;
  readonly group: string;
  readonly file: string;
  readonly createdAt: number;
  readonly parent: { id: string; name: string; branched_at: string } | null;
  readonly encrypted: boolean;
  /** Copies of the file by time, oldest first (point-in-time seeds). */
  readonly history: { at: number; file: string }[];
  /** Bumped by `auth/rotate`: tokens of an older generation are refused. */
  generation: number;
}

export interface MintedToken {
  readonly database: string;
  readonly dbId: string;
  readonly authorization: string;
  /** Milliseconds since the epoch, or null for `never`. */
  readonly expiresAt: number | null;
  readonly expiration: string;
  readonly jwt: string;
}

export interface TursoEmulator extends VendorEmulator {
  /** `FORKSTACK_TURSO_DB_URL` for this emulator: its database server, `{hostname}` filled in per database. */
  readonly dbUrl: string;
  readonly organization: string;
  /** Every database of every organization, by `<org>/<name>`. */
  readonly databases: Map<string, EmulatedDatabase>;
  /** Every token minted, in order. */
  readonly tokens: MintedToken[];
  /** Database-server requests answered, with their status (pipelines included). */
  readonly dbRequests: { path: string; status: number }[];
  /** Make a database directly, e.g. an encrypted one a provider may only adopt. */
  addDatabase(name: string, options?: { group?: string; encrypted?: boolean }): EmulatedDatabase;
  /** Whether a token would be accepted for its database now (minted, unexpired, not rotated). */
  tokenWorks(jwt: string): boolean;
}

/** What Turso answers beyond its OpenAPI description's per-operation statuses (docs/emulators.md). */
export const TURSO_UNLISTED_STATUSES = {
  401: "a missing, wrong or expired token: Turso's API documents 401 for every call, its OpenAPI for none",
} as const;

const UNIT_SECONDS: Record<string, number> = { w: 604_800, d: 86_400, h: 3_600, m: 60, s: 1 };

const b64url = (data: string | Buffer) => Buffer.from(data).toString("base64url");

const err = (status: number, error: string): EmuResponse => ({ status, body: { error } });

export async function start(options: TursoEmulatorOptions = {}): Promise<TursoEmulator> {
  // Time as the test's clock tells it (test/helpers/clock.ts), else the wall clock.
  const clock = options.clock ?? Date;
  const platformToken = options.token ?? "turso-emulator-token";
  const organization = options.organization ?? "acme";
  const windowMs = options.pointInTimeWindowMs ?? 24 * 3600_000;
  const dir = mkdtempSync(join(tmpdir(), "turso-emulator-"));
  const secret = randomUUID();
  const Database = requireLibsql();
  const hrana = new HranaServer();

  const groups = new Map<string, Set<string>>([[organization, new Set(["default"])]]);
  const databases = new Map<string, EmulatedDatabase>();
  const tokens: MintedToken[] = [];
  const dbRequests: { path: string; status: number }[] = [];
  let seq = 0;

  const key = (org: string, name: string) => `${org}/${name}`;
  const sign = (payload: object) => {
    const head = `${b64url(JSON.stringify({ alg: "HS256", typ: "JWT" }))}.${b64url(JSON.stringify(payload))}`;
    return `${head}.${createHmac("sha256", secret).update(head).digest("base64url")}`;
  };
  const verify = (jwt: string): { id?: string; gen?: number; exp?: number; a?: string } | undefined => {
    const [h, p, s] = jwt.split(".");
    if (!h || !p || !s) return undefined;
    if (createHmac("sha256", secret).update(`${h}.${p}`).digest("base64url") !== s) return undefined;
    try {
      return JSON.parse(Buffer.from(p, "base64url").toString("utf8")) as { id?: string };
    } catch {
      return undefined;
    }
  };
  const dbById = (id: string | undefined) => [...databases.values()].find((d) => d.dbId === id);
  const tokenWorks = (jwt: string, db?: EmulatedDatabase) => {
    const claims = verify(jwt);
    if (!claims) return false;
    const target = dbById(claims.id);
    if (!target || (db && target !== db)) return false;
    if (claims.gen !== target.generation) return false;
    return claims.exp === undefined || claims.exp * 1000 > clock.now();
  };

  /** A copy of the database's committed state now, for point-in-time seeds. */
  const snapshot = (db: EmulatedDatabase, at = clock.now()) => {
    const file = join(dir, `${db.dbId}.${++seq}.snap`);
    const conn = new Database(db.file);
    try {
      conn.exec(`VACUUM INTO '${file.replace(/'/g, "''")}'`);
    } finally {
      conn.close();
    }
    db.history.push({ at, file });
  };

  const makeDatabase = (
    org: string,
    name: string,
    group: string,
    from?: { source: EmulatedDatabase; file: string },
    encrypted = false,
  ): EmulatedDatabase => {
    const dbId = randomUUID();
    const file = join(dir, `${dbId}.db`);
    const conn = new Database(file);
    conn.close();
    const db: EmulatedDatabase = {
      name,
      dbId,
      hostname: `${name}-${org}.turso.io`,
      group,
      file,
      createdAt: clock.now(),
      parent: from
        ? { id: from.source.dbId, name: from.source.name, branched_at: new Date(clock.now()).toISOString() }
        : null,
      encrypted,
      history: [],
      generation: 0,
    };
    databases.set(key(org, name), db);
    return db;
  };

  const view = (db: EmulatedDatabase) => ({
    Name: db.name,
    DbId: db.dbId,
    Hostname: db.hostname,
    block_reads: false,
    block_writes: false,
    regions: ["aws-us-east-1"],
    primaryRegion: "aws-us-east-1",
    group: db.group,
    delete_protection: false,
    parent: db.parent,
  });

  const orgOf = (req: EmuRequest) => {
    const org = req.params.org!;
    return groups.has(org) ? org : undefined;
  };
  const noOrg = (req: EmuRequest) => err(404, `organization ${req.params.org} not found`);
  const noDb = (name: string) => err(404, `could not find database with name ${name}`);

  const createDatabase = async (req: EmuRequest): Promise<EmuResponse> => {
    const org = orgOf(req);
    if (!org) return noOrg(req);
    const body = req.body as {
      name: string;
      group: string;
      seed?: { type?: string; name?: string; timestamp?: string };
      remote_encryption?: { encryption_key?: string };
    };
    if (!/^[a-z0-9-]+$/.test(body.name) || body.name.length > 64) {
      return err(
        400,
        "invalid database name: only lowercase letters, numbers and dashes, at most 64 characters",
      );
    }
    if (!groups.get(org)!.has(body.group)) return err(404, `group ${body.group} not found`);
    if (databases.has(key(org, body.name))) return err(409, `database ${body.name} already exists`);
    if (!body.seed) {
      const db = makeDatabase(org, body.name, body.group, undefined, body.remote_encryption !== undefined);
      snapshot(db, db.createdAt);
      return { status: 200, body: { database: { DbId: db.dbId, Hostname: db.hostname, Name: db.name } } };
    }
    if (body.seed.type !== "database") return err(400, `seed type ${body.seed.type} is not supported here`);
    const source = databases.get(key(org, body.seed.name ?? ""));
    if (!source) return err(400, `source database ${body.seed.name} not found`);
    if (source.group !== body.group) return err(400, "can only fork databases within the same group");
    if (source.encrypted && !body.remote_encryption) {
      return err(400, "the source database is encrypted: remote_encryption is required to fork it");
    }
    let seedFile: string;
    if (body.seed.timestamp !== undefined) {
      const at = Date.parse(body.seed.timestamp);
      if (Number.isNaN(at)) return err(400, `invalid timestamp ${body.seed.timestamp}: use RFC 3339`);
      if (at > clock.now()) return err(400, "the timestamp is in the future");
      if (at < source.createdAt || at < clock.now() - windowMs) {
        return err(400, "the timestamp is outside the point-in-time recovery window of the source database");
      }
      const then = source.history.filter((h) => h.at <= at).at(-1);
      if (!then)
        return err(400, "the timestamp is outside the point-in-time recovery window of the source database");
      seedFile = then.file;
    } else {
      snapshot(source);
      seedFile = source.history.at(-1)!.file;
    }
    const db = makeDatabase(org, body.name, body.group, { source, file: seedFile }, source.encrypted);
    await copyFile(seedFile, db.file);
    snapshot(db, db.createdAt);
    return { status: 200, body: { database: { DbId: db.dbId, Hostname: db.hostname, Name: db.name } } };
  };

  const withDb =
    (fn: (db: EmulatedDatabase, org: string, req: EmuRequest) => EmuResponse | Promise<EmuResponse>) =>
    (req: EmuRequest) => {
      const org = orgOf(req);
      if (!org) return noOrg(req);
      const db = databases.get(key(org, req.params.name!));
      return db ? fn(db, org, req) : noDb(req.params.name!);
    };

  const api = await startEmulator({
    name: "turso",
    spec: "turso",
    prefix: "",
    unlistedStatuses: TURSO_UNLISTED_STATUSES,
    port: options.port ?? 0,
    requestIdHeader: "x-request-id",
    authorized: (value) => value === `Bearer ${platformToken}`,
    unauthorized: () => err(401, "token is invalid or expired"),
    notFound: (req) => err(404, `no route ${req.method} ${req.path}`),
    routes: [
      ["GET /v1/auth/validate", () => ({ status: 200, body: { exp: -1 } })],
      [
        "GET /v1/organizations/:org",
        (req) => {
          const org = orgOf(req);
          if (!org) return noOrg(req);
          return {
            status: 200,
            body: {
              organization: {
                name: org,
                slug: org,
                type: "team",
                overages: false,
                plan_id: "developer",
                blocked_reads: false,
                blocked_writes: false,
              },
            },
          };
        },
      ],
      [
        "GET /v1/organizations/:org/groups",
        (req) => {
          const org = orgOf(req);
          if (!org) return noOrg(req);
          return {
            status: 200,
            body: {
              groups: [...groups.get(org)!].map((name) => ({
                name,
                uuid: name,
                primary: "aws-us-east-1",
                delete_protection: false,
              })),
            },
          };
        },
      ],
      [
        "POST /v1/organizations/:org/groups",
        (req) => {
          const org = orgOf(req);
          if (!org) return noOrg(req);
          const { name } = req.body as { name: string };
          if (groups.get(org)!.has(name)) return err(409, `group ${name} already exists`);
          groups.get(org)!.add(name);
          return {
            status: 200,
            body: { group: { name, uuid: name, primary: "aws-us-east-1", delete_protection: false } },
          };
        },
      ],
      [
        "GET /v1/organizations/:org/databases",
        (req) => {
          const org = orgOf(req);
          if (!org) return noOrg(req);
          const group = req.query.get("group");
          const parent = req.query.get("parent");
          const list = [...databases.entries()]
            .filter(([k]) => k.startsWith(`${org}/`))
            .map(([, db]) => db)
            .filter((db) => (!group || db.group === group) && (!parent || db.parent?.id === parent));
          return { status: 200, body: { databases: list.map(view) } };
        },
      ],
      ["POST /v1/organizations/:org/databases", createDatabase],
      [
        "GET /v1/organizations/:org/databases/:name",
        withDb((db) => ({ status: 200, body: { database: view(db) } })),
      ],
      [
        "DELETE /v1/organizations/:org/databases/:name",
        withDb(async (db, org) => {
          databases.delete(key(org, db.name));
          hrana.closeFile(db.file);
          await rm(db.file, { force: true });
          for (const h of db.history) await rm(h.file, { force: true });
          return { status: 200, body: { database: db.name } };
        }),
      ],
      [
        "POST /v1/organizations/:org/databases/:name/auth/tokens",
        withDb((db, _org, req) => {
          const expiration = req.query.get("expiration") ?? "never";
          const authorization = req.query.get("authorization") ?? "full-access";
          if (!/^(never|(\d+[wdhms])+)$/.test(expiration))
            return err(400, `invalid expiration ${expiration}`);
          let seconds = 0;
          for (const [, n, u] of expiration.matchAll(/(\d+)([wdhms])/g))
            seconds += Number(n) * UNIT_SECONDS[u!]!;
          const iat = Math.floor(clock.now() / 1000);
          const exp = expiration === "never" ? undefined : iat + seconds;
          const jwt = sign({
            a: authorization === "read-only" ? "ro" : "rw",
            iat,
            id: db.dbId,
            gen: db.generation,
            ...(exp ? { exp } : {}),
          });
          tokens.push({
            database: db.name,
            dbId: db.dbId,
            authorization,
            expiration,
            expiresAt: exp ? exp * 1000 : null,
            jwt,
          });
          return { status: 200, body: { jwt } };
        }),
      ],
      [
        "POST /v1/organizations/:org/databases/:name/auth/rotate",
        withDb((db) => {
          db.generation++;
          return { status: 200 };
        }),
      ],
    ],
  });

  // The database server: `/<hostname>/v2` (version probe) and `/<hostname>/v2/pipeline`. Every
  // exchange is checked against the Hrana shapes (specs/hrana.json, docs/emulators.md), into the same
  // `violations` as the Platform API's.
  const hranaSpec = await loadSpec("hrana");
  const dbServer = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const url = new URL(req.url ?? "/", "http://db");
      const m = /^\/([^/]+)(\/v\d+(?:\/pipeline)?)\/?$/.exec(url.pathname);
      const raw = Buffer.concat(chunks).toString("utf8");
      let body: unknown;
      try {
        body = raw ? JSON.parse(raw) : undefined;
      } catch {
        body = raw;
      }
      const method = (req.method ?? "GET").toUpperCase();
      const operation = checkRequest(
        hranaSpec,
        { method, path: m?.[2] ?? url.pathname, query: url.searchParams, headers: req.headers, body },
        api.violations,
      );
      const answer = (status: number, answerBody: unknown) => {
        dbRequests.push({ path: req.url ?? "", status });
        if (operation) checkResponse(hranaSpec, operation, { status, body: answerBody }, api.violations);
        res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(answerBody));
      };
      // Hrana's errors are its `Error` structure: `message`, and a machine-readable `code`.
      const refuse = (status: number, message: string, code: string) => answer(status, { message, code });
      try {
        const db = m ? [...databases.values()].find((d) => d.hostname === m[1]) : undefined;
        if (!m || !db) return refuse(404, "no such database", "NOT_FOUND");
        if (!m[2]!.startsWith("/v2")) return refuse(404, "only Hrana v2 over JSON is emulated", "NOT_FOUND");
        if (m[2] === "/v2") return answer(200, {});
        const jwt = /^Bearer (.+)$/.exec(req.headers.authorization ?? "")?.[1];
        if (!jwt || !tokenWorks(jwt, db)) {
          return refuse(401, "Unauthorized: invalid or expired token", "UNAUTHORIZED");
        }
        const result = hrana.pipeline(db.file, body as HranaPipeline);
        if (result.wrote) snapshot(db);
        answer(result.status, result.body);
      } catch (error) {
        refuse(500, String(error), "INTERNAL");
      }
    });
  });
  await new Promise<void>((resolve) => dbServer.listen(options.dbPort ?? 0, "127.0.0.1", resolve));
  const dbPort = (dbServer.address() as AddressInfo).port;
  const dbUrl = `http://127.0.0.1:${dbPort}/{hostname}/`;

  return {
    ...api,
    // Getters: the base's arrays are the live ones.
    violations: api.violations,
    exchanges: api.exchanges,
    dbUrl,
    organization,
    databases,
    tokens,
    dbRequests,
    variables: {
      FORKSTACK_TURSO_API_URL: api.url,
      FORKSTACK_TURSO_DB_URL: dbUrl,
      TURSO_API_TOKEN: platformToken,
      TURSO_ORG: organization,
    },
    addDatabase(name, opts = {}) {
      const db = makeDatabase(
        organization,
        name,
        opts.group ?? "default",
        undefined,
        opts.encrypted ?? false,
      );
      snapshot(db, db.createdAt);
      return db;
    },
    tokenWorks: (jwt) => tokenWorks(jwt),
    async close() {
      hrana.close();
      dbServer.closeAllConnections();
      await new Promise<void>((resolve) => dbServer.close(() => resolve()));
      await api.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
