/**
 * A real PostgreSQL server for the `postgres` provider's tests: Debian's binaries
 * (`/usr/lib/postgresql/<version>/bin`, installed by `.ci/run`), a cluster in a temp directory on a
 * free port, no system service. PostgreSQL refuses to run as root, so as root the cluster belongs to
 * the `postgres` user (which Debian's package creates) and every server command runs through `runuser`.
 * The superuser has a password with URL-special characters, and TCP connections must give it
 * (scram-sha-256), so the tests see real authentication and real URL encoding.
 */
import { execFile } from "node:child_process";
import { chmod, chown, mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir, userInfo } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { freePort } from "./wait.js";

export { freePort };

const run = promisify(execFile);

export const PG_PASSWORD = "fs-test p@ss/wd";

export interface PgServer {
  readonly port: number;
  readonly version: number;
  /** The superuser's URL on the maintenance database, password included. */
  readonly url: string;
  /** The same URL naming another database. */
  urlOf(database: string): string;
  stop(): Promise<void>;
}

/** The newest PostgreSQL under /usr/lib/postgresql (PG_BIN overrides), or undefined. */
export async function postgresBin(): Promise<string | undefined> {
  if (process.env.PG_BIN) return process.env.PG_BIN;
  const versions = await readdir("/usr/lib/postgresql").catch(() => [] as string[]);
  const newest = versions
    .map(Number)
    .filter(Number.isFinite)
    .sort((a, b) => b - a)[0];
  return newest === undefined ? undefined : `/usr/lib/postgresql/${newest}/bin`;
}

export async function startPostgres(options: { settings?: Record<string, string> } = {}): Promise<PgServer> {
  const bin = await postgresBin();
  if (!bin) throw new Error("PostgreSQL is not installed (apt-get install postgresql); .ci/run installs it");
  const asRoot = userInfo().uid === 0;
  const dir = await mkdtemp(join(tmpdir(), "fs-pg-"));
  const data = join(dir, "data");
  const pwfile = join(dir, "pw");
  await writeFile(pwfile, PG_PASSWORD);
  if (asRoot) {
    const { stdout } = await run("id", ["-u", "postgres"]);
    const { stdout: gid } = await run("id", ["-g", "postgres"]);
    await chown(dir, Number(stdout), Number(gid));
    await chown(pwfile, Number(stdout), Number(gid));
  }
  await chmod(dir, 0o700);
  const exec = (cmd: string, args: string[]) =>
    asRoot ? run("runuser", ["-u", "postgres", "--", join(bin, cmd), ...args]) : run(join(bin, cmd), args);
  await exec("initdb", [
    "-D",
    data,
    "-U",
    "postgres",
    `--pwfile=${pwfile}`,
    "--auth-local=trust",
    "--auth-host=scram-sha-256",
    "--no-sync",
    "-E",
    "UTF8",
    "--locale=C",
  ]);
  const settings = { listen_addresses: "127.0.0.1", unix_socket_directories: dir, ...options.settings };
  let port = 0;
  for (let attempt = 0; ; attempt++) {
    port = await freePort();
    const flags = [`-p ${port}`, ...Object.entries(settings).map(([k, v]) => `-c ${k}=${v}`)].join(" ");
    try {
      await exec("pg_ctl", ["-D", data, "-o", flags, "-l", join(dir, "log"), "-w", "-t", "60", "start"]);
      break;
    } catch (error) {
      // Another test file took the port between our probe and the server's bind: try another one.
      if (attempt >= 3) throw error;
    }
  }
  const { stdout: versionText } = await run(join(bin, "postgres"), ["--version"]);
  const version = Number(/(\d+)/.exec(versionText.replace(/^[^0-9]*/, ""))?.[1] ?? 0);
  const urlOf = (database: string) =>
    `postgres://postgres:${encodeURIComponent(PG_PASSWORD)}@127.0.0.1:${port}/${encodeURIComponent(database)}`;
  return {
    port,
    version,
    url: urlOf("postgres"),
    urlOf,
    async stop() {
      await exec("pg_ctl", ["-D", data, "-m", "immediate", "-w", "stop"]).catch(() => undefined);
      await rm(dir, { recursive: true, force: true });
    },
  };
}
