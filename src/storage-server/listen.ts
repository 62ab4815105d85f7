/**
 * @module storage-server/listen
 * Binds the router to a socket and owns the lifecycle: open the store, listen, and on close() stop
 * accepting, let in-flight requests finish (bounded), then close the store.
 */
import { createServer } from "node:http";
import type { Socket } from "node:net";
import { UserError } from "../errors.js";
import type { Credentials } from "./auth/index.js";
import { createRouter } from "./router.js";
import { Store } from "./store/index.js";
import type { GcReport } from "./store/index.js";

export interface StorageServerOptions {
  /** Directory holding blobs and metadata (created if missing). */
  readonly root: string;
  /** 0 (default) picks a free port. */
  readonly port?: number;
  /** Interface to bind; loopback by default. */
  readonly host?: string;
  /**
   * The project's keys, which may do anything: a list, or a lookup by access key id. Keys with a scope
   * of buckets are made through the admin API and kept in the store (store/access-keys.ts).
   */
  readonly credentials: readonly Credentials[] | ((accessKeyId: string) => Credentials | undefined);
  /** Region reported for buckets created without one (clients may sign for any region). */
  readonly region?: string;
  /** Receives unexpected server errors (500s). Silent by default. */
  readonly log?: (line: string) => void;
}

export interface StorageServer {
  /** `http://127.0.0.1:<port>`: an IP endpoint makes SDKs use path-style addressing on their own. */
  readonly url: string;
  readonly port: number;
  /** Runs one garbage-collection pass over the store. */
  gc(): Promise<GcReport>;
  close(): Promise<void>;
}

const CLOSE_GRACE_MS = 10_000;

function endpointHost(host: string): string {
  return ["127.0.0.1", "localhost", "0.0.0.0", "::", "::1", ""].includes(host) ? "127.0.0.1" : host;
}

export async function startStorageServer(options: StorageServerOptions): Promise<StorageServer> {
  const host = options.host ?? "127.0.0.1";
  const store = await Store.open(options.root);
  const creds = options.credentials;
  const lookup =
    typeof creds === "function"
      ? creds
      : (id: string): Credentials | undefined => creds.find((c) => c.accessKeyId === id);
  const handle = createRouter({
    store,
    server: { host: endpointHost(host), region: options.region ?? "auto" },
    lookup,
    ...(options.log ? { log: options.log } : {}),
  });

  const inFlight = new Set<Promise<void>>();
  const track = (handling: Promise<void>): void => {
    // The router answers every error itself; this only guards against a bug there taking the
    // whole process down through an unhandled rejection.
    const p = handling.catch((error: unknown) =>
      options.log?.(`storage-server: unhandled: ${String(error)}`),
    );
    inFlight.add(p);
    void p.finally(() => inFlight.delete(p));
  };
  const server = createServer((req, res) => track(handle(req, res)));
  // Answer 100-continue ourselves, after auth and routing, so a doomed upload is never sent.
  server.on("checkContinue", (req, res) => track(handle(req, res, true)));
  // Large uploads over slow links must not be cut off by Node's 5-minute request timeout.
  server.requestTimeout = 0;
  const sockets = new Set<Socket>();
  server.on("connection", (s) => {
    sockets.add(s);
    s.once("close", () => sockets.delete(s));
  });

  try {
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(options.port ?? 0, host, () => {
        server.off("error", reject);
        resolve();
      });
    });
  } catch (error) {
    await store.close();
    if ((error as NodeJS.ErrnoException).code === "EADDRINUSE") {
      throw new UserError(`Port ${options.port} on ${host} is already in use.`, "E_PORT_IN_USE", {
        hint: "Stop the other process or choose another port.",
        cause: error,
      });
    }
    throw error;
  }
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : (options.port ?? 0);

  let closing: Promise<void> | undefined;
  return {
    url: `http://${endpointHost(host)}:${port}`,
    port,
    gc: () => store.gc(),
    close() {
      closing ??= (async () => {
        const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeIdleConnections();
        const grace = new Promise<void>((resolve) => setTimeout(resolve, CLOSE_GRACE_MS).unref());
        await Promise.race([Promise.allSettled([...inFlight]), grace]);
        for (const s of sockets) s.destroy();
        await stopped;
        // Handlers of destroyed sockets fail fast (their bodies error); wait for them, bounded.
        const late = new Promise<void>((resolve) => setTimeout(resolve, 2000).unref());
        await Promise.race([Promise.allSettled([...inFlight]), late]);
        await store.close();
      })();
      return closing;
    },
  };
}
