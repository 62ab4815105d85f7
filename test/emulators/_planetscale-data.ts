/**
 * The PlanetScale emulator's data plane: where a branch's rows really live, so that the conformance
 * suites' data checks (a fork sees the parent's rows, writes do not cross) run against real servers.
 *
 * - Vitess branches are schemas (`CREATE DATABASE`) on a local MariaDB. A branch made from a parent
 *   copies its tables with `CREATE TABLE … LIKE` (schema only, as a Vitess development branch gets),
 *   plus `INSERT … SELECT` when it is restored from a backup; a backup is such a copy too. PlanetScale
 *   routes a connection to its branch by the *username* (the URL always names the PlanetScale database),
 *   and MariaDB cannot, so the emulator puts a small TCP proxy in front of it (the passwords'
 *   `access_host_url`) that rewrites the database named in the client's handshake into the schema of
 *   the user's branch. Only the handshake is rewritten: a later `USE other` is passed on as is.
 * - Postgres branches are databases on a local PostgreSQL: a backup is `CREATE DATABASE … TEMPLATE
 *   branch`, a restore `CREATE DATABASE … TEMPLATE backup`, and a plain new branch is empty (as on
 *   PlanetScale, where a Postgres branch gets neither schema nor data without a backup). A role with
 *   `inherited_roles: ["postgres"]` becomes a login role that is a member of one shared owner role and
 *   switches to it on login (`ALTER ROLE … SET role`), so every branch's objects belong to that owner
 *   and the roles can be dropped with their branches.
 *
 * Passwords and roles are real database users, dropped (and their sessions ended) when deleted or
 * expired. Views, triggers, routines and foreign keys are not copied on MariaDB: the suites use one table.
 */
import { createServer, connect as tcpConnect } from "node:net";
import type { AddressInfo, Server, Socket } from "node:net";
import mysql from "mysql2/promise";
import postgres from "postgres";

export type BranchSource = { readonly from: string; readonly data: boolean } | undefined;

export interface DataPlane {
  /** `host:port` a credential connects to (the passwords' and roles' `access_host_url`). */
  readonly accessHost: string;
  /** Make a branch's storage, empty or copied from another branch's or backup's storage. */
  createBranch(name: string, source: BranchSource): Promise<void>;
  /** A backup: a full copy of `from` under `to`. */
  snapshot(from: string, to: string): Promise<void>;
  drop(name: string): Promise<void>;
  /** A login for one branch; `access` is a Vitess password role or Postgres inherited roles. */
  createUser(username: string, password: string, storage: string, access: readonly string[]): Promise<void>;
  /** Drop the login and end its sessions (PlanetScale: "deleting a password disconnects clients"). */
  dropUser(username: string): Promise<void>;
  close(): Promise<void>;
}

const myId = (name: string) => `\`${name.replace(/`/g, "``")}\``;
const myLit = (value: string) => `'${value.replace(/\\/g, "\\\\").replace(/'/g, "''")}'`;

/** Privileges of PlanetScale's password roles, approximated on one schema. */
const MYSQL_GRANTS: Record<string, string> = {
  reader: "SELECT, SHOW VIEW",
  writer: "INSERT, UPDATE, DELETE",
  readwriter: "SELECT, INSERT, UPDATE, DELETE, SHOW VIEW",
  admin: "ALL PRIVILEGES",
};

/**
 * Vitess branches on MariaDB. `adminUrl` is a user with all privileges and the grant option;
 * `schemaOf(username)` names the schema a login's connections are routed to.
 */
export async function mysqlPlane(
  adminUrl: string,
  schemaOf: (username: string) => string | undefined,
): Promise<DataPlane> {
  const pool = mysql.createPool({ uri: adminUrl, connectionLimit: 4, multipleStatements: false });
  const upstream = new URL(adminUrl);
  const proxy = await startHandshakeProxy(upstream.hostname, Number(upstream.port || 3306), schemaOf);
  const tables = async (schema: string) => {
    const [rows] = await pool.query(
      "SELECT table_name AS t FROM information_schema.tables WHERE table_schema = ? AND table_type = 'BASE TABLE'",
      [schema],
    );
    return (rows as { t: string }[]).map((r) => r.t);
  };
  const copy = async (from: string, to: string, data: boolean) => {
    await pool.query(`CREATE DATABASE ${myId(to)}`);
    for (const table of await tables(from)) {
      await pool.query(`CREATE TABLE ${myId(to)}.${myId(table)} LIKE ${myId(from)}.${myId(table)}`);
      if (data) {
        await pool.query(`INSERT INTO ${myId(to)}.${myId(table)} SELECT * FROM ${myId(from)}.${myId(table)}`);
      }
    }
  };
  return {
    accessHost: `127.0.0.1:${proxy.port}`,
    async createBranch(name, source) {
      if (source) await copy(source.from, name, source.data);
      else await pool.query(`CREATE DATABASE ${myId(name)}`);
    },
    snapshot: (from, to) => copy(from, to, true),
    async drop(name) {
      await pool.query(`DROP DATABASE IF EXISTS ${myId(name)}`);
    },
    async createUser(username, password, storage, access) {
      const grants = MYSQL_GRANTS[access[0] ?? "admin"] ?? MYSQL_GRANTS.admin!;
      await pool.query(`CREATE USER ${myLit(username)}@'%' IDENTIFIED BY ${myLit(password)}`);
      await pool.query(`GRANT ${grants} ON ${myId(storage)}.* TO ${myLit(username)}@'%'`);
    },
    async dropUser(username) {
      const [rows] = await pool.query("SELECT id FROM information_schema.processlist WHERE user = ?", [
        username,
      ]);
      for (const { id } of rows as { id: number }[])
        await pool.query(`KILL CONNECTION ${Number(id)}`).catch(() => {});
      await pool.query(`DROP USER IF EXISTS ${myLit(username)}@'%'`);
    },
    async close() {
      await proxy.close();
      await pool.end();
    },
  };
}

const OWNER_ROLE = "planetscale_app";
const pgId = (name: string) => `"${name.replace(/"/g, '""')}"`;
const pgLit = (value: string) => `'${value.replace(/'/g, "''")}'`;

/** Postgres branches on PostgreSQL. `adminUrl` is a superuser's URL on its maintenance database. */
export async function postgresPlane(adminUrl: string): Promise<DataPlane> {
  const sql = postgres(adminUrl, { max: 2, onnotice: () => undefined, fetch_types: false });
  const url = new URL(adminUrl);
  const exists = await sql`SELECT 1 FROM pg_roles WHERE rolname = ${OWNER_ROLE}`;
  if (exists.length === 0) await sql.unsafe(`CREATE ROLE ${pgId(OWNER_ROLE)} NOLOGIN`).catch(() => {});
  /** CREATE DATABASE … TEMPLATE fails while anyone is connected to the template: retry a while. */
  const fromTemplate = async (to: string, template: string) => {
    for (let attempt = 1; ; attempt++) {
      try {
        await sql.unsafe(`CREATE DATABASE ${pgId(to)} TEMPLATE ${pgId(template)} OWNER ${pgId(OWNER_ROLE)}`);
        return;
      } catch (error) {
        if ((error as { code?: string }).code !== "55006" || attempt >= 20) throw error;
        await new Promise((resolve) => setTimeout(resolve, 100 * attempt));
      }
    }
  };
  return {
    accessHost: `${url.hostname}:${url.port || 5432}`,
    async createBranch(name, source) {
      if (source?.data) await fromTemplate(name, source.from);
      else await sql.unsafe(`CREATE DATABASE ${pgId(name)} OWNER ${pgId(OWNER_ROLE)}`);
    },
    snapshot: (from, to) => fromTemplate(to, from),
    async drop(name) {
      await sql.unsafe(`DROP DATABASE IF EXISTS ${pgId(name)} WITH (FORCE)`);
    },
    async createUser(username, password, _storage, access) {
      await sql.unsafe(`CREATE ROLE ${pgId(username)} LOGIN PASSWORD ${pgLit(password)}`);
      for (const role of access) {
        if (role === "postgres") {
          await sql.unsafe(`GRANT ${pgId(OWNER_ROLE)} TO ${pgId(username)}`);
          await sql.unsafe(`ALTER ROLE ${pgId(username)} SET role = ${pgLit(OWNER_ROLE)}`);
        } else {
          await sql.unsafe(`GRANT ${pgId(role)} TO ${pgId(username)}`);
        }
      }
    },
    async dropUser(username) {
      await sql`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = ${username}`;
      await sql.unsafe(`DROP ROLE IF EXISTS ${pgId(username)}`);
    },
    async close() {
      await sql.end({ timeout: 5 });
    },
  };
}

// ---------------------------------------------------------------------------------------------------
// The handshake proxy.

const CLIENT_CONNECT_WITH_DB = 0x8;
const CLIENT_SECURE_CONNECTION = 0x8000;
const CLIENT_PLUGIN_AUTH_LENENC = 0x200000;

/** A length-encoded integer at `at`: its value and how many bytes it took. */
function lenenc(buf: Buffer, at: number): [number, number] {
  const first = buf[at]!;
  if (first < 0xfb) return [first, 1];
  if (first === 0xfc) return [buf.readUInt16LE(at + 1), 3];
  if (first === 0xfd) return [buf.readUIntLE(at + 1, 3), 4];
  return [Number(buf.readBigUInt64LE(at + 1)), 9];
}

/**
 * The client's HandshakeResponse41 with its database replaced by `database` (added if absent), or
 * undefined if the packet is not one (an SSLRequest, which the emulator's servers do not offer).
 */
export function rewriteHandshake(
  packet: Buffer,
  databaseFor: (username: string) => string | undefined,
): Buffer | undefined {
  const payload = packet.subarray(4);
  if (payload.length < 33) return undefined;
  let caps = payload.readUInt32LE(0);
  let at = 32;
  const userEnd = payload.indexOf(0, at);
  if (userEnd < 0) return undefined;
  const username = payload.subarray(at, userEnd).toString("utf8");
  at = userEnd + 1;
  if (caps & CLIENT_PLUGIN_AUTH_LENENC) {
    const [len, size] = lenenc(payload, at);
    at += size + len;
  } else if (caps & CLIENT_SECURE_CONNECTION) {
    at += 1 + payload[at]!;
  } else {
    at = payload.indexOf(0, at) + 1;
  }
  const database = databaseFor(username);
  if (database === undefined) return packet;
  let rest: Buffer;
  if (caps & CLIENT_CONNECT_WITH_DB) {
    const dbEnd = payload.indexOf(0, at);
    rest = payload.subarray(dbEnd + 1);
  } else {
    rest = payload.subarray(at);
    caps |= CLIENT_CONNECT_WITH_DB;
  }
  const head = Buffer.from(payload.subarray(0, at));
  head.writeUInt32LE(caps >>> 0, 0);
  const body = Buffer.concat([head, Buffer.from(database, "utf8"), Buffer.from([0]), rest]);
  const header = Buffer.alloc(4);
  header.writeUIntLE(body.length, 0, 3);
  header[3] = packet[3]!;
  return Buffer.concat([header, body]);
}

async function startHandshakeProxy(
  host: string,
  port: number,
  schemaOf: (username: string) => string | undefined,
): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = tcpConnect(port, host);
    sockets.add(client).add(upstream);
    const forget = () => {
      sockets.delete(client);
      sockets.delete(upstream);
      client.destroy();
      upstream.destroy();
    };
    client.on("error", forget).on("close", forget);
    upstream.on("error", forget).on("close", forget);
    upstream.pipe(client);
    let pending: Buffer = Buffer.alloc(0);
    const first = (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
      if (pending.length < 4) return;
      const length = pending.readUIntLE(0, 3) + 4;
      if (pending.length < length) return;
      client.off("data", first);
      const packet = pending.subarray(0, length);
      upstream.write(rewriteHandshake(packet, schemaOf) ?? packet);
      if (pending.length > length) upstream.write(pending.subarray(length));
      client.pipe(upstream);
    };
    client.on("data", first);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
