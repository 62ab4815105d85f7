/**
 * What every vendor emulator (turso, neon, planetscale, doppler) shares: an HTTP server on a free
 * loopback port that keeps state in memory, checks the bearer credential, injects faults on demand, and
 * — where the vendor publishes an OpenAPI description (copied to `specs/` beside this file by
 * `scripts/vendor-specs.mjs`) — validates every request it receives and every response it sends against it, with
 * `openapi-backend` (ajv underneath): the request's shape, the response's status (one the operation
 * documents, or one the emulator lists with its reason in `unlistedStatuses`) and its body, string
 * formats included (docs/emulators.md). A violation never changes the answer: it is recorded, and each
 * suite asserts at the end that `violations` is empty, so neither the provider nor the emulator can
 * drift from the real API without a test failing.
 */
import { readFileSync } from "node:fs";
import { createServer } from "node:http";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import ajvFormats from "ajv-formats";
import { OpenAPIBackend } from "openapi-backend";
import type { Document } from "openapi-backend";

const here = dirname(fileURLToPath(import.meta.url));

/** The vendors' specs, and Hrana (the protocol of Turso's databases, written from its documentation). */
export type SpecName = "turso" | "neon" | "planetscale" | "hrana";

/** A request as a route handler sees it: body already parsed (JSON or undefined). */
export interface EmuRequest {
  readonly method: string;
  /** Path without the API prefix and without the query: `/organizations/acme/databases`. */
  readonly path: string;
  readonly query: URLSearchParams;
  readonly headers: IncomingMessage["headers"];
  readonly body: unknown;
  /** Path parameters captured by the route pattern (`:name` segments). */
  readonly params: Readonly<Record<string, string>>;
}

export interface EmuResponse {
  readonly status: number;
  readonly body?: unknown;
  readonly headers?: Readonly<Record<string, string>>;
}

export type Handler = (req: EmuRequest) => EmuResponse | Promise<EmuResponse>;

/** `METHOD /path/:param/...` → handler. Matched in order; first match wins. */
export type Routes = ReadonlyArray<readonly [string, Handler]>;

export interface Fault {
  /** Only requests whose `METHOD path` matches (default: every request). */
  readonly match?: RegExp;
  readonly status: number;
  readonly body?: unknown;
  readonly headers?: Readonly<Record<string, string>>;
  /** How many matching requests get the fault. @default 1 */
  times?: number;
}

export interface Violation {
  readonly direction: "request" | "response";
  readonly operation: string;
  readonly errors: string;
}

export interface Exchange {
  readonly method: string;
  readonly path: string;
  readonly status: number;
  /** Operation id from the spec, when the route is in it. */
  readonly operation?: string;
  /** Time the emulator spent on it, from the request's arrival to its answer (benchmarks subtract it). */
  readonly ms?: number;
}

export interface EmulatorOptions {
  readonly name: string;
  /** Validate against this vendor's OpenAPI description. */
  readonly spec?: SpecName;
  /** URL path prefix the API lives under (`/v1`, `/api/v2`); stripped before routing. */
  readonly prefix: string;
  readonly routes: Routes;
  /** The accepted `Authorization` header values; anything else gets `unauthorized()`. */
  readonly authorized: (authorization: string | undefined) => boolean;
  /** The vendor's 401 answer (body shape differs per vendor). */
  readonly unauthorized: () => EmuResponse;
  /** The vendor's 404 for an unknown route. */
  readonly notFound: (req: EmuRequest) => EmuResponse;
  /** Header carrying a request id on every response (`x-request-id`). */
  readonly requestIdHeader?: string;
  /** Port to listen on (0 = a free one). */
  readonly port?: number;
  /**
   * Statuses the vendor answers that its OpenAPI description leaves out, each with where that is
   * known from (docs/emulators.md lists them). Any other undocumented status is a violation.
   */
  readonly unlistedStatuses?: UnlistedStatuses;
}

/** Status → why the emulator may answer it although the spec does not list it for the operation. */
export type UnlistedStatuses = Readonly<Record<number, string>>;

type Operation = NonNullable<ReturnType<OpenAPIBackend["matchOperation"]>>;

/** A request as the spec validation sees it (path relative to the spec's server URL). */
export interface SpecRequest {
  readonly method: string;
  readonly path: string;
  readonly query: URLSearchParams;
  readonly headers: IncomingMessage["headers"];
  readonly body: unknown;
}

/** The operation `req` is, with a violation when there is none or the request strays from it. */
export function checkRequest(
  api: OpenAPIBackend,
  req: SpecRequest,
  violations: Violation[],
): Operation | undefined {
  const specRequest = {
    method: req.method,
    path: req.path,
    query: Object.fromEntries(req.query),
    headers: req.headers as Record<string, string | string[]>,
    body: req.body,
  };
  const operation = api.matchOperation(specRequest);
  if (!operation) {
    violations.push({
      direction: "request",
      operation: `${req.method} ${req.path}`,
      errors: "no such operation in the spec",
    });
    return undefined;
  }
  const result = api.validateRequest(specRequest, operation);
  if (!result.valid) {
    violations.push({
      direction: "request",
      operation: operation.operationId ?? `${req.method} ${req.path}`,
      errors: JSON.stringify(result.errors),
    });
  }
  return operation;
}

/**
 * A violation unless the operation documents the answer's status (or `unlisted` names it), and
 * unless a JSON body has the documented shape (formats included).
 */
export function checkResponse(
  api: OpenAPIBackend,
  operation: Operation,
  response: { readonly status: number; readonly body?: unknown },
  violations: Violation[],
  unlisted: UnlistedStatuses | "any" = {},
): void {
  const name = `${operation.operationId ?? operation.path} ${response.status}`;
  const documented = documentedResponse(operation.responses, response.status);
  if (!documented) {
    if (unlisted === "any" || unlisted[response.status] !== undefined) return;
    violations.push({
      direction: "response",
      operation: name,
      errors: `status ${response.status} is not documented for this operation (documented: ${Object.keys(operation.responses ?? {}).join(", ")})`,
    });
    return;
  }
  if (response.body === undefined) return;
  const result = api.validateResponse(response.body, operation, response.status);
  if (!result.valid) {
    violations.push({ direction: "response", operation: name, errors: JSON.stringify(result.errors) });
  }
}

export interface Emulator {
  /** Base URL including the prefix, for the provider's `baseUrl` / `FORKSTACK_<P>_API_URL`. */
  readonly url: string;
  readonly port: number;
  /** Every spec violation seen so far (requests and responses). Suites assert it stays empty. */
  readonly violations: Violation[];
  /** Every exchange, in order (for asserting what a provider sent: counts, retries, methods). */
  readonly exchanges: Exchange[];
  /** Queue a fault for the next matching request(s). */
  fault(fault: Fault): void;
  close(): Promise<void>;
}

/** What each vendor module's `start(options)` returns (test/emulators/<vendor>.ts). */
export interface VendorEmulator extends Emulator {
  /** Variables a user exports to point the provider here: `FORKSTACK_NEON_API_URL`, `NEON_API_KEY`, … */
  readonly variables: Readonly<Record<string, string>>;
}

/** The string formats the vendors' specs use, checked as ajv-formats defines them (RFC 3339, …). */
export const STRING_FORMATS = ["date-time", "date", "uuid", "email", "uri", "hostname", "ipv4"] as const;

/** Formats in the specs that neither openapi-backend nor ajv-formats knows. */
const EXTRA_FORMATS = {
  // PlanetScale's unsigned 64-bit integers (some as numbers, some as numeric strings).
  uint64: {
    type: "number",
    validate: (n: number) => Number.isInteger(n) && n >= 0 && n <= Number.MAX_SAFE_INTEGER,
  },
  // Neon's one `format: int`: any integer.
  int: { type: "number", validate: (n: number) => Number.isInteger(n) },
} as const;

/**
 * The response a spec documents for `status`: its own entry, else the `2XX`-style range, else
 * `default`. Undefined when the operation documents no such answer.
 */
export function documentedResponse(
  responses: Readonly<Record<string, unknown>> | undefined,
  status: number,
): unknown {
  if (!responses) return undefined;
  return responses[String(status)] ?? responses[`${String(status)[0]}XX`] ?? responses.default;
}

const specCache = new Map<SpecName, Promise<OpenAPIBackend>>();

/** The vendor's spec, parsed and compiled once per process. */
export function loadSpec(name: SpecName): Promise<OpenAPIBackend> {
  let api = specCache.get(name);
  if (!api) {
    api = (async () => {
      // specs/<name>.json: the vendor's published description without its prose (scripts/vendor-specs.mjs).
      const definition = JSON.parse(readFileSync(join(here, "specs", `${name}.json`), "utf8")) as Document;
      const backend = new OpenAPIBackend({
        definition,
        // The vendors' own documents are not all strictly valid OpenAPI (`$ref` with siblings): `quick`
        // skips validating the document itself (and compiles each operation's validators on first use).
        strict: true,
        quick: true,
        validate: true,
        // String formats are checked too (a `created_at` that is no date-time is a violation):
        // openapi-backend brings the numeric ones (int32, int64, float, double, byte, binary),
        // ajv-formats the string ones; the two the specs use beyond both are defined below.
        ajvOpts: { strict: false, validateFormats: true },
        customizeAjv: (ajv) => {
          // A CommonJS module: under Node's ESM its plugin function is the default export's `default`.
          ajvFormats.default(ajv, [...STRING_FORMATS]);
          for (const [format, check] of Object.entries(EXTRA_FORMATS)) ajv.addFormat(format, check);
          return ajv;
        },
      });
      await backend.init();
      return backend;
    })();
    specCache.set(name, api);
  }
  return api;
}

function compile(pattern: string): { method: string; regex: RegExp; keys: string[] } {
  const [method, path] = pattern.split(" ", 2) as [string, string];
  const keys: string[] = [];
  const source = path
    .split("/")
    .map((segment) => {
      if (segment.startsWith(":")) {
        keys.push(segment.slice(1));
        return "([^/]+)";
      }
      return segment.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
    })
    .join("/");
  return { method, regex: new RegExp(`^${source}/?$`), keys };
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

function send(res: ServerResponse, response: EmuResponse, requestIdHeader?: string): void {
  const headers: Record<string, string> = { ...response.headers };
  // A vendor module that put the id in its error body too sets the header itself (Neon's `request_id`).
  if (requestIdHeader) headers[requestIdHeader] ??= `req_${Math.random().toString(36).slice(2, 12)}`;
  if (response.body === undefined) {
    res.writeHead(response.status, headers).end();
    return;
  }
  headers["content-type"] ??= "application/json";
  res.writeHead(response.status, headers).end(JSON.stringify(response.body));
}

export async function startEmulator(options: EmulatorOptions): Promise<Emulator> {
  const api = options.spec ? await loadSpec(options.spec) : undefined;
  const routes = options.routes.map(([pattern, handler]) => ({ ...compile(pattern), handler }));
  const violations: Violation[] = [];
  const exchanges: Exchange[] = [];
  const faults: Fault[] = [];

  const server = createServer((req, res) => {
    const arrived = performance.now();
    void (async () => {
      const url = new URL(req.url ?? "/", "http://emulator");
      const raw = await readBody(req);
      let body: unknown;
      if (raw) {
        try {
          body = JSON.parse(raw);
        } catch {
          body = raw;
        }
      }
      const fullPath = url.pathname;
      const path = fullPath.startsWith(options.prefix)
        ? fullPath.slice(options.prefix.length) || "/"
        : fullPath;
      const method = (req.method ?? "GET").toUpperCase();

      // Validate the request against the spec (path relative to the spec's server URL).
      const operation = api
        ? checkRequest(api, { method, path, query: url.searchParams, headers: req.headers, body }, violations)
        : undefined;
      const operationId = operation?.operationId;

      let response: EmuResponse;
      let injected = false;
      const faultIndex = faults.findIndex((f) => !f.match || f.match.test(`${method} ${path}`));
      const emuReq = { method, path, query: url.searchParams, headers: req.headers, body, params: {} };
      if (faultIndex >= 0) {
        const fault = faults[faultIndex]!;
        fault.times = (fault.times ?? 1) - 1;
        if (fault.times <= 0) faults.splice(faultIndex, 1);
        response = { status: fault.status, body: fault.body, headers: fault.headers };
        injected = true;
      } else if (!options.authorized(req.headers.authorization)) {
        response = options.unauthorized();
      } else {
        const route = routes.find((r) => r.method === method && r.regex.test(path));
        if (!route) {
          response = options.notFound(emuReq);
        } else {
          const match = route.regex.exec(path)!;
          const params = Object.fromEntries(route.keys.map((k, i) => [k, decodeURIComponent(match[i + 1]!)]));
          try {
            response = await route.handler({ ...emuReq, params });
          } catch (error) {
            // An emulator bug must show up as a test failure, not as a vendor 500 the client retries.
            violations.push({ direction: "response", operation: `${method} ${path}`, errors: String(error) });
            response = { status: 500, body: { error: String(error) } };
          }
        }
      }

      // A fault a test injects on purpose (a proxy's 502, a 429) is exempt from the status check.
      if (api && operation) {
        checkResponse(api, operation, response, violations, injected ? "any" : options.unlistedStatuses);
      }
      exchanges.push({
        method,
        path,
        status: response.status,
        operation: operationId,
        ms: performance.now() - arrived,
      });
      send(res, response, options.requestIdHeader);
    })().catch((error: unknown) => {
      violations.push({ direction: "response", operation: req.url ?? "?", errors: String(error) });
      if (!res.headersSent) res.writeHead(500).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}${options.prefix}`,
    port,
    violations,
    exchanges,
    fault: (fault) => faults.push({ ...fault }),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A monotonic-ish id in the vendor's style (`br-cool-darkness-123456`). */
export function makeId(prefix: string): string {
  return `${prefix}${Math.random().toString(36).slice(2, 10)}`;
}
