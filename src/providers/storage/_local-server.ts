/**
 * @module providers/storage/_local-server
 * The embedded storage server as a background service of one project: where its files live, which port
 * it uses, whether it runs, and starting/stopping it. Used by the `local` provider (`prepare` starts it
 * on demand), by `forkstack up|down|storage serve`, and by the daemon entry (`storage-server/daemon.ts`).
 *
 * Files, under `.forkstack/storage/`:
 * - `data/`: the store (blobs + metadata; the store keeps its own lock so one process owns it);
 * - `credentials.json` (0600): the project's key pair, generated once: the CLI's key, which may do
 *   anything on the server; each env has a key of its own, kept in the store (`_env-keys.ts`);
 * - `server.json` (0600): the port picked for this project, remembered so env variables stay valid;
 * - `server.pid` (0600): `{pid, port, host, url, startedAt}` of the running server, written once it listens;
 * - `server.log`: the last background run's output.
 */
import { spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { closeSync, existsSync, openSync, readFileSync } from "node:fs";
import { chmod, mkdir, readFile, rm, stat } from "node:fs/promises";
import { createServer } from "node:net";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { ProviderError, UserError, errnoCode } from "../../errors.js";
import { processAlive } from "../../process-alive.js";
import { loadOrCreateCredentials } from "../../storage-server/auth/credentials.js";
import type { Credentials } from "../../storage-server/auth/types.js";
import { CHALLENGE_HEADER, PROOF_HEADER, proofMatches, serverProof } from "../../storage-server/proof.js";
import { writeFileDurable } from "../_internal/files.js";
import { accessKeysApi } from "./_access-keys.js";
import type { AccessKeysApi } from "./_access-keys.js";
import { createSignedRequest, createTigrisClient, TigrisApiError } from "./_tigris-client.js";
import type { ApiResponse, TigrisClient } from "./_tigris-client.js";

const PROVIDER_NAME = "local";
export const DEFAULT_HOST = "127.0.0.1";
/** Stable ports are picked in 20000–29999: below every OS's ephemeral range, so outgoing connections never take them. */
const PORT_BASE = 20_000;
const PORT_SPAN = 10_000;
const PROBE_TIMEOUT_MS = 2_000;
const START_TIMEOUT_MS = 15_000;
/** How often a starting daemon is probed, after the first 50 ms. */
const START_POLL_MS = 10;
/** How long `down` waits for a clean stop: the server gives in-flight requests 10 s. */
const STOP_TIMEOUT_MS = 15_000;
const GC_FIRST_MS = 10_000;
const GC_EVERY_MS = 10 * 60_000;
const WATCHDOG_MS = 2_000;
/** The daemon's exit code when its port is taken. */
export const EXIT_PORT_IN_USE = 3;

export interface ServerPaths {
  readonly dir: string;
  readonly data: string;
  readonly credentials: string;
  readonly state: string;
  readonly pid: string;
  readonly log: string;
}

export function serverPaths(dataDir: string): ServerPaths {
  const dir = join(dataDir, "storage");
  return {
    dir,
    data: join(dir, "data"),
    credentials: join(dir, "credentials.json"),
    state: join(dir, "server.json"),
    pid: join(dir, "server.pid"),
    log: join(dir, "server.log"),
  };
}

/** What the daemon is told on its command line. */
export interface DaemonArgs {
  readonly root: string;
  readonly port: number;
  readonly host: string;
  readonly credentialsFile: string;
  readonly pidFile: string;
}

/** Contents of `server.pid`. */
export interface ServerRecord {
  readonly pid: number;
  readonly port: number;
  readonly host: string;
  readonly url: string;
  readonly startedAt: string;
}

/**
 * Who answers on a port: our server (it proved it holds the project's key, storage-server/proof.ts),
 * a forkstack server that refuses our key (another project's), a program that claims to be a forkstack
 * server yet cannot prove it holds our key (an impostor: never used, its URL never handed out),
 * anything else, or nobody.
 */
export type Probe = "ours" | "forkstack" | "impostor" | "other" | "free";

export interface ServerAddress {
  readonly host: string;
  readonly port: number;
  readonly url: string;
}

/** The URL clients use: wildcard and `localhost` binds are reached at 127.0.0.1 (SDKs go path-style on IPs). */
export function endpointUrl(host: string, port: number): string {
  const h = ["0.0.0.0", "::", "", "localhost"].includes(host) ? "127.0.0.1" : host;
  return `http://${h.includes(":") ? `[${h}]` : h}:${port}`;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The built daemon, found from the package root whether this code runs from `src/` or a `dist/` chunk. */
function daemonEntry(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const candidate = join(dir, "dist/storage-server/daemon.js");
    if (existsSync(join(dir, "package.json")) && existsSync(candidate)) return candidate;
    const up = dirname(dir);
    if (up === dir) {
      throw new ProviderError(
        PROVIDER_NAME,
        "The storage server's daemon is missing from the package.",
        "E_SERVER",
        {
          hint: "Reinstall forkstack (in a checkout: `npm run build`).",
        },
      );
    }
    dir = up;
  }
}

export interface LocalServerOptions {
  readonly dataDir: string;
  readonly projectRoot: string;
  /** From the config; otherwise a stable port is picked once and remembered. */
  readonly port?: number;
  readonly host?: string;
}

export class LocalServer {
  readonly paths: ServerPaths;
  readonly host: string;
  private readonly options: LocalServerOptions;
  private address?: Promise<ServerAddress>;
  private creds?: Promise<Credentials>;

  constructor(options: LocalServerOptions) {
    this.options = options;
    this.paths = serverPaths(options.dataDir);
    this.host = options.host ?? DEFAULT_HOST;
  }

  credentials(): Promise<Credentials> {
    return (this.creds ??= loadOrCreateCredentials(this.paths.credentials));
  }

  async client(url?: string): Promise<TigrisClient> {
    const { accessKeyId, secretAccessKey } = await this.credentials();
    return createTigrisClient({ endpoint: url ?? (await this.resolve()).url, accessKeyId, secretAccessKey });
  }

  /** The admin API for the envs' access keys, signed with the project's key. */
  async accessKeys(): Promise<AccessKeysApi> {
    const { accessKeyId, secretAccessKey } = await this.credentials();
    const endpoint = (await this.resolve()).url;
    return accessKeysApi(createSignedRequest({ endpoint, accessKeyId, secretAccessKey }));
  }

  /** Host, port and URL of this project's server; picks and remembers a port on first use. */
  resolve(): Promise<ServerAddress> {
    return (this.address ??= (async () => {
      const port = this.options.port ?? (await this.rememberedPort());
      return { host: this.host, port, url: endpointUrl(this.host, port) };
    })());
  }

  private async rememberedPort(): Promise<number> {
    const read = async () => {
      const { port } = JSON.parse(await readFile(this.paths.state, "utf8")) as { port?: unknown };
      await tightenMode(this.paths.state);
      if (typeof port !== "number" || !Number.isInteger(port))
        throw new Error(`${this.paths.state}: no port`);
      return port;
    };
    try {
      return await read();
    } catch (error) {
      if (errnoCode(error) !== "ENOENT") throw error;
    }
    // Derived from the project's path so that two projects rarely collide, then the first free one.
    const seed = createHash("sha256").update(this.options.projectRoot).digest().readUInt32BE(0);
    let port = PORT_BASE + (seed % PORT_SPAN);
    for (let i = 0; i < 50 && !(await portFree(port, this.host)); i++) {
      port = PORT_BASE + ((seed + i + 1) % PORT_SPAN);
    }
    await mkdir(this.paths.dir, { recursive: true, mode: 0o700 });
    try {
      await writeFileDurable(this.paths.state, `${JSON.stringify({ port })}\n`, {
        mode: 0o600,
        replace: false,
      });
      return port;
    } catch (error) {
      if (errnoCode(error) !== "EEXIST") throw error;
      return read(); // another process picked first: use its choice
    }
  }

  async readRecord(): Promise<ServerRecord | undefined> {
    try {
      return JSON.parse(await readFile(this.paths.pid, "utf8")) as ServerRecord;
    } catch {
      return undefined; // missing, or torn by a crash: either way there is no usable record
    }
  }

  /**
   * Who answers at `url` (see Probe). "ours" needs more than a 200 with `Server: forkstack`: the answer
   * must carry the HMAC of a fresh nonce under the project's secret key, bound to this port.
   */
  async probe(url?: string): Promise<Probe> {
    const target = url ?? (await this.resolve()).url;
    const nonce = randomBytes(32).toString("hex");
    let res: ApiResponse;
    try {
      res = await (
        await this.client(target)
      ).ping(AbortSignal.timeout(PROBE_TIMEOUT_MS), {
        [CHALLENGE_HEADER]: nonce,
      });
    } catch (error) {
      if (error instanceof TigrisApiError && error.reason === "ECONNREFUSED") return "free";
      return "other";
    }
    if (res.header("server") !== "forkstack") return "other";
    if (!res.ok) return "forkstack";
    const { secretAccessKey } = await this.credentials();
    const expected = serverProof(secretAccessKey, nonce, portOf(target));
    return proofMatches(expected, res.header(PROOF_HEADER)) ? "ours" : "impostor";
  }

  /** Running = its record names a live process and our server answers at the recorded address. */
  async status(): Promise<
    | { readonly running: true; readonly url: string; readonly pid?: number }
    | {
        readonly running: false;
        readonly url: string;
        readonly stale?: ServerRecord;
        readonly blocked?: Probe;
      }
  > {
    const record = await this.readRecord();
    if (record && processAlive(record.pid) && (await this.probe(record.url)) === "ours") {
      return { running: true, url: record.url, pid: record.pid };
    }
    const { url } = await this.resolve();
    const found = await this.probe(url);
    // Answering without a record: started in-process (tests, embedding) rather than by `up`.
    if (found === "ours") return { running: true, url };
    return {
      running: false,
      url,
      ...(record ? { stale: record } : {}),
      ...(found !== "free" ? { blocked: found } : {}),
    };
  }

  portInUse(port: number, found: Probe): UserError {
    if (found === "impostor") {
      return new UserError(
        `The program answering on port ${port} on ${this.host} claims to be a forkstack storage server but could not prove it holds this project's key (${this.paths.credentials}); forkstack will not use it or hand out its address.`,
        "E_SERVER",
        {
          hint: `Stop that program (it may be impersonating the storage server), then run \`forkstack up\`; or pin another port in the config: storage: { provider: "local", port: <n> }.`,
        },
      );
    }
    const by = found === "forkstack" ? "another project's forkstack storage server" : "another program";
    return new UserError(`Port ${port} on ${this.host} is already in use by ${by}.`, "E_PORT_IN_USE", {
      hint: this.options.port
        ? `Stop that program, or set another port in the config: storage: { provider: "local", port: <n> }.`
        : `Stop that program, or pin a free port in the config: storage: { provider: "local", port: <n> }.`,
    });
  }

  /** Start the server in the background unless it answers already; resolves once it is healthy. */
  async ensureRunning(): Promise<{ readonly url: string; readonly pid?: number; readonly started: boolean }> {
    const { host, port, url } = await this.resolve();
    const found = await this.probe(url);
    if (found === "ours") return { url, started: false, ...(await this.pidOf()) };
    const record = await this.readRecord();
    if (found === "forkstack" && record?.url === url && processAlive(record.pid)) {
      // Our own server, started before the key file was replaced.
      throw new ProviderError(
        PROVIDER_NAME,
        `The storage server (pid ${record.pid}) does not accept the keys in ${this.paths.credentials}; they changed after it started.`,
        "E_PROVIDER_AUTH",
        { hint: "Restart it: `forkstack down && forkstack up`." },
      );
    }
    if (found !== "free") throw this.portInUse(port, found);
    if (record && processAlive(record.pid) && record.url !== url) {
      throw new ProviderError(
        PROVIDER_NAME,
        `This project's storage server runs at ${record.url} (pid ${record.pid}), not at ${url} as configured.`,
        "E_SERVER",
        { hint: "Run `forkstack down`, then try again." },
      );
    }
    await this.credentials(); // the daemon reads the same file: create it first, once
    const args: DaemonArgs = {
      root: this.paths.data,
      port,
      host,
      credentialsFile: this.paths.credentials,
      pidFile: this.paths.pid,
    };
    const logFd = openSync(this.paths.log, "w", 0o600);
    let exitCode: number | null | undefined;
    let child;
    try {
      child = spawn(process.execPath, [daemonEntry(), JSON.stringify(args)], {
        detached: true,
        stdio: ["ignore", logFd, logFd],
        cwd: this.options.projectRoot,
      });
    } finally {
      closeSync(logFd);
    }
    child.once("exit", (code) => (exitCode = code ?? 1));
    child.once("error", () => (exitCode = 1));
    child.unref();
    const deadline = Date.now() + START_TIMEOUT_MS;
    let exitedAt: number | undefined;
    // The daemon cannot answer before a Node start (~50 ms); after that, poll often: it is ready at a
    // random moment, and a 50 ms poll made a cold `new` wait 25 ms longer on average. A refused probe costs
    // well under a millisecond.
    for (let polls = 0; ; polls++) {
      await sleep(polls === 0 ? 50 : START_POLL_MS);
      const now = await this.probe(url);
      if (now === "ours") return { url, started: true, ...(await this.pidOf(true)) };
      if (now !== "free" || exitCode === EXIT_PORT_IN_USE) {
        if (exitCode === undefined) child.kill("SIGTERM");
        throw this.portInUse(port, now === "free" ? "other" : now);
      }
      // A daemon that lost the race for the data directory exits, while the winner is about to answer.
      if (exitCode !== undefined) exitedAt ??= Date.now();
      if ((exitedAt !== undefined && Date.now() - exitedAt > 3_000) || Date.now() > deadline) {
        if (exitCode === undefined) child.kill("SIGTERM");
        const log = await readFile(this.paths.log, "utf8").catch(() => "");
        const last = log.trim().split("\n").slice(-3).join(" | ");
        throw new ProviderError(
          PROVIDER_NAME,
          `The storage server did not start${exitCode === undefined ? ` within ${START_TIMEOUT_MS / 1000} s` : ` (exit code ${exitCode})`}${last ? `: ${last}` : "."}`,
          "E_SERVER",
          { hint: `Its log is ${this.paths.log}; \`forkstack storage serve\` runs it in the foreground.` },
        );
      }
    }
  }

  /** The pid from the record, waiting briefly for a just-started daemon to write it. */
  private async pidOf(wait = false): Promise<{ pid?: number }> {
    // The daemon writes its record right after it starts answering: short steps, same 1 s budget.
    for (let i = 0; i < (wait ? 200 : 1); i++) {
      const record = await this.readRecord();
      if (record && processAlive(record.pid)) return { pid: record.pid };
      if (wait) await sleep(5);
    }
    return {};
  }

  /** SIGTERM the recorded server and wait for it to exit. A stale record is removed without killing anything. */
  async stop(): Promise<{
    readonly stopped: boolean;
    readonly pid?: number;
    readonly stale?: boolean;
    readonly killed?: boolean;
  }> {
    const record = await this.readRecord();
    if (!record) return { stopped: false };
    // A reused pid must not be signalled: only a process that answers as our server is ours.
    if (!processAlive(record.pid) || (await this.probe(record.url)) !== "ours") {
      await rm(this.paths.pid, { force: true });
      return { stopped: false, stale: true };
    }
    process.kill(record.pid, "SIGTERM");
    const deadline = Date.now() + STOP_TIMEOUT_MS;
    while (processAlive(record.pid) && Date.now() < deadline) await sleep(50);
    let killed = false;
    if (processAlive(record.pid)) {
      process.kill(record.pid, "SIGKILL");
      killed = true;
    }
    if ((await this.readRecord())?.pid === record.pid) await rm(this.paths.pid, { force: true });
    return { stopped: true, pid: record.pid, ...(killed ? { killed } : {}) };
  }
}

/** The port a URL names (its scheme's default when none is written). */
function portOf(url: string): number {
  const u = new URL(url);
  return u.port === "" ? (u.protocol === "https:" ? 443 : 80) : Number(u.port);
}

/** Files under `.forkstack/storage/` are the owner's alone: older versions wrote server.json 0644. */
async function tightenMode(file: string): Promise<void> {
  const info = await stat(file);
  if ((info.mode & 0o077) !== 0 && info.uid === process.getuid?.()) await chmod(file, info.mode & 0o700);
}

async function portFree(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(false));
    server.listen(port, host, () => server.close(() => resolve(true)));
  });
}

/**
 * Run the server until `signal` aborts (Ctrl-C, SIGTERM) or its pid file disappears (`rm -rf .forkstack`,
 * or a test's temp project being removed: a server with no project left has nothing to serve).
 * Used by the daemon and by `forkstack storage serve`.
 */
export async function runServer(
  args: DaemonArgs,
  options: { signal: AbortSignal; log: (line: string) => void; onReady?: (record: ServerRecord) => void },
): Promise<void> {
  const { startStorageServer } = await import("../../storage-server/index.js");
  const credentials = await loadOrCreateCredentials(args.credentialsFile);
  const server = await startStorageServer({
    root: args.root,
    port: args.port,
    host: args.host,
    credentials: [credentials],
    log: options.log,
  });
  const record: ServerRecord = {
    pid: process.pid,
    port: server.port,
    host: args.host,
    url: server.url,
    startedAt: new Date().toISOString(),
  };
  const ours = () => {
    try {
      return (JSON.parse(readFileSync(args.pidFile, "utf8")) as ServerRecord).pid === process.pid;
    } catch {
      return false;
    }
  };
  const stopped = new AbortController();
  const stop = () => stopped.abort();
  options.signal.addEventListener("abort", stop, { once: true });
  const timers: NodeJS.Timeout[] = [];
  try {
    await writeFileDurable(args.pidFile, `${JSON.stringify(record)}\n`, { mode: 0o600, replace: true });
    options.onReady?.(record);
    const gc = () =>
      void server.gc().catch((error: unknown) => options.log(`gc failed: ${(error as Error).message}`));
    timers.push(setTimeout(gc, GC_FIRST_MS), setInterval(gc, GC_EVERY_MS));
    timers.push(setInterval(() => (ours() ? undefined : stop()), WATCHDOG_MS));
    if (options.signal.aborted) stop();
    await new Promise((resolve) => stopped.signal.addEventListener("abort", resolve, { once: true }));
  } finally {
    for (const t of timers) clearTimeout(t);
    options.signal.removeEventListener("abort", stop);
    await server.close();
    if (ours()) await rm(args.pidFile, { force: true });
  }
}
