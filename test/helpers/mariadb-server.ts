/**
 * A real MariaDB server for the PlanetScale emulator's Vitess branches: Debian's binaries
 * (`mariadb-server`, installed by `.ci/run`), a data directory in a temp dir, TCP on a free loopback
 * port, no system service. mariadbd refuses to run as root unless told whose files to use, so as root
 * the data directory belongs to the `mysql` user (which Debian's package creates) and the server runs
 * with `--user=mysql`; as anyone else it runs as that user. `--no-defaults` keeps the machine's own
 * `/etc/mysql` out of it.
 *
 * The bootstrap `root@localhost` answers only on the server's unix socket (no password, socket
 * authentication would need the OS user to match, so `normal` authentication is asked for). Through
 * that socket the helper makes an `admin` user with a password for TCP, which is what the emulator
 * and the tests use.
 */
import { spawn, execFile } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { chown, mkdir, mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir, userInfo } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import mysql from "mysql2/promise";
import { freePort } from "./wait.js";

const run = promisify(execFile);

export const MARIADB_ADMIN = "admin";
export const MARIADB_PASSWORD = "fs-test p@ss/wd";

export interface MariaDbServer {
  readonly host: string;
  readonly port: number;
  readonly version: string;
  /** The admin's URL (all privileges, grant option), password included, no database. */
  readonly url: string;
  /** The admin's URL naming `database`. */
  urlOf(database: string): string;
  stop(): Promise<void>;
}

const SERVER = process.env.MARIADBD ?? "/usr/sbin/mariadbd";
const INSTALL_DB = process.env.MARIADB_INSTALL_DB ?? "/usr/bin/mariadb-install-db";

/** Whether the binaries are there (the tests that need them say so instead of failing obscurely). */
export async function mariadbInstalled(): Promise<boolean> {
  try {
    await run(SERVER, ["--version"]);
    return true;
  } catch {
    return false;
  }
}

export async function startMariaDb(): Promise<MariaDbServer> {
  if (!(await mariadbInstalled())) {
    throw new Error(
      `MariaDB is not installed (${SERVER}): apt-get install mariadb-server; .ci/run installs it`,
    );
  }
  const asRoot = userInfo().uid === 0;
  const dir = await mkdtemp(join(tmpdir(), "fs-maria-"));
  const data = join(dir, "data");
  await mkdir(data);
  // Its own temp folder: in the shared /tmp, a bootstrap's temporary tables were deleted under it
  // while other test runs used the machine ("Error on delete of '/tmp/#sql-temptable-…'").
  const tmp = join(dir, "tmp");
  await mkdir(tmp);
  if (asRoot) {
    const uid = Number((await run("id", ["-u", "mysql"])).stdout);
    const gid = Number((await run("id", ["-g", "mysql"])).stdout);
    await chown(dir, uid, gid);
    await chown(data, uid, gid);
    await chown(tmp, uid, gid);
  }
  const socket = join(dir, "sock");
  const userFlag = asRoot ? ["--user=mysql"] : [];
  await run(INSTALL_DB, [
    "--no-defaults",
    `--datadir=${data}`,
    `--tmpdir=${tmp}`,
    ...userFlag,
    "--auth-root-authentication-method=normal",
    "--skip-test-db",
    "--skip-name-resolve",
  ]);

  let child: ChildProcess | undefined;
  let port = 0;
  for (let attempt = 0; ; attempt++) {
    port = await freePort();
    child = spawn(
      SERVER,
      [
        "--no-defaults",
        `--datadir=${data}`,
        `--tmpdir=${tmp}`,
        ...userFlag,
        `--socket=${socket}`,
        `--port=${port}`,
        "--bind-address=127.0.0.1",
        "--skip-name-resolve",
        `--pid-file=${join(dir, "pid")}`,
        `--log-error=${join(dir, "error.log")}`,
        // Behaviour, not durability, is under test: a small buffer pool and no syncing.
        "--innodb-buffer-pool-size=32M",
        "--innodb-log-file-size=16M",
        "--innodb-flush-log-at-trx-commit=0",
        "--innodb-doublewrite=0",
        "--skip-log-bin",
        "--character-set-server=utf8mb4",
        "--collation-server=utf8mb4_unicode_ci",
      ],
      { stdio: "ignore" },
    );
    const exited = new Promise<number | null>((resolve) => child!.once("exit", resolve));
    const up = await waitUntilUp(socket, exited);
    if (up) break;
    // Another test file took the port between our probe and the server's bind: try another one.
    const log = await readFile(join(dir, "error.log"), "utf8").catch(() => "");
    if (attempt >= 3 || !/Address already in use|Can't start server/i.test(log)) {
      await rm(dir, { recursive: true, force: true });
      throw new Error(`mariadbd did not start:\n${log.slice(-2000)}`);
    }
  }

  const root = await mysql.createConnection({ socketPath: socket, user: "root" });
  let version: string;
  try {
    const quoted = MARIADB_PASSWORD.replace(/\\/g, "\\\\").replace(/'/g, "''");
    await root.query(`CREATE USER '${MARIADB_ADMIN}'@'%' IDENTIFIED BY '${quoted}'`);
    await root.query(`GRANT ALL PRIVILEGES ON *.* TO '${MARIADB_ADMIN}'@'%' WITH GRANT OPTION`);
    const [rows] = await root.query("SELECT VERSION() AS v");
    version = String((rows as { v: string }[])[0]?.v);
  } finally {
    await root.end();
  }

  const server = child;
  const urlOf = (database: string) =>
    `mysql://${MARIADB_ADMIN}:${encodeURIComponent(MARIADB_PASSWORD)}@127.0.0.1:${port}/${encodeURIComponent(database)}`;
  return {
    host: "127.0.0.1",
    port,
    version,
    url: urlOf(""),
    urlOf,
    async stop() {
      if (server.exitCode === null && server.signalCode === null) {
        const gone = new Promise((resolve) => server.once("exit", resolve));
        server.kill("SIGKILL");
        await gone;
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Poll the socket until the server answers; false if the process died first. No deadline of its own:
 * the hook's timeout is the limit (a busy machine starts mariadbd slowly, and that is no failure).
 */
async function waitUntilUp(socket: string, exited: Promise<number | null>): Promise<boolean> {
  let dead = false;
  void exited.then(() => (dead = true));
  while (!dead) {
    try {
      const c = await mysql.createConnection({ socketPath: socket, user: "root", connectTimeout: 1000 });
      await c.end();
      return true;
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  return false;
}
