/**
 * @module providers/storage/_tigris-client
 * The few bucket-level calls a storage provider makes, over the Tigris fork API (plain S3 requests plus
 * `X-Tigris-*` headers, docs/storage.md, "The Tigris fork API"). The embedded server speaks the same API, so the
 * `local` provider and a `tigris` provider share this client and differ only in endpoint and keys.
 *
 * Why not @aws-sdk/client-s3 or a signing library: we need five bucket calls, not the S3 model, and
 * `forkstack new` must stay fast. The SDK takes 0.4–0.7 s to import on a small machine; aws4fetch signs
 * `fetch` requests, and Node's first `fetch`/`Headers` loads undici (~35 ms). So requests go through
 * `node:http`/`node:https`, signed by the same SigV4 code the embedded server verifies with
 * (`storage-server/auth/sign.ts`, tested against AWS's published example).
 */
import { createHash } from "node:crypto";
import type { IncomingHttpHeaders, request as httpRequest } from "node:http";
import { signRequest } from "../../storage-server/auth/sign.js";
import { ProviderError } from "../../errors.js";
import type { ErrorCode } from "../../errors.js";

export interface TigrisClientOptions {
  /** e.g. `http://127.0.0.1:20417` or `https://t3.storage.dev`. No trailing slash needed. */
  readonly endpoint: string;
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  /** Tigris signs with region `auto`. @default "auto" */
  readonly region?: string;
  /** Retries on 5xx/429 (not on refused connections). @default 2 */
  readonly retries?: number;
  /** Per-request timeout. @default 15000 */
  readonly timeoutMs?: number;
}

/** A failed call: the S3 error code (`NoSuchBucket`, …), or `NetworkError` when nothing answered. */
export class TigrisApiError extends Error {
  readonly code: string;
  readonly status: number;
  /** For `NetworkError`: the system error (`ECONNREFUSED`, …) or `TimeoutError`. */
  readonly reason: string | undefined;
  constructor(code: string, status: number, message: string, options?: ErrorOptions & { reason?: string }) {
    super(message, options);
    this.name = "TigrisApiError";
    this.code = code;
    this.status = status;
    this.reason = options?.reason;
  }
}

export interface BucketHead {
  readonly name: string;
  readonly snapshotEnabled: boolean;
  /** Set on forks whose source still has a name. */
  readonly forkSource?: string;
  /** The fork point (a Tigris snapshot version), set on forks. */
  readonly forkSnapshot?: string;
  readonly isForkParent: boolean;
}

export interface CreateBucketOptions {
  /** `X-Tigris-Enable-Snapshot`: the bucket can be forked later. */
  readonly enableSnapshot?: boolean;
  /** `X-Tigris-Fork-Source-Bucket`: fork this bucket (as of now, or of `forkSnapshot`). */
  readonly forkSource?: string;
  readonly forkSnapshot?: string;
}

export interface TigrisClient {
  readonly endpoint: string;
  /** Resolves to the fork point for forks (`X-Tigris-Fork-Source-Bucket-Snapshot`), if reported. */
  createBucket(name: string, options?: CreateBucketOptions): Promise<{ forkSnapshot?: string }>;
  /** null when the bucket does not exist. */
  headBucket(name: string): Promise<BucketHead | null>;
  /**
   * `force` sends `Tigris-Force-Delete: true` (what `@tigrisdata/storage` sends for
   * `removeBucket(name, { force: true })`): no need to empty the bucket first. False if it did not exist.
   */
  deleteBucket(name: string, options?: { force?: boolean }): Promise<boolean>;
  /** Every bucket name starting with `prefix`, all pages. */
  listBuckets(prefix?: string): Promise<string[]>;
  /** A signed request with no effect, answered by the server as is (for health checks). */
  /** A cheap signed call (ListBuckets of one); `headers` go along, signed. */
  ping(signal?: AbortSignal, headers?: Record<string, string>): Promise<ApiResponse>;
}

/** What a call answered. Bodies of bucket-level calls are small: they are read whole. */
export interface ApiResponse {
  readonly status: number;
  readonly ok: boolean;
  readonly statusText: string;
  readonly body: string;
  header(name: string): string | undefined;
}

function send(
  method: string,
  url: URL,
  headers: Record<string, string>,
  signal: AbortSignal,
  body?: Buffer,
): Promise<ApiResponse> {
  return new Promise((resolve, reject) => {
    type Transport = { request: typeof httpRequest };
    const done = (transport: Transport) => {
      const req = transport.request(url, { method, headers, signal }, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (chunk: Buffer) => chunks.push(chunk));
        res.on("error", reject);
        res.on("end", () => {
          const status = res.statusCode ?? 0;
          const raw: IncomingHttpHeaders = res.headers;
          resolve({
            status,
            ok: status >= 200 && status < 300,
            statusText: res.statusMessage ?? "",
            body: Buffer.concat(chunks).toString("utf8"),
            header: (name) => {
              const value = raw[name.toLowerCase()];
              return Array.isArray(value) ? value.join(",") : value;
            },
          });
        });
      });
      req.on("error", reject);
      req.end(body);
    };
    // TLS is only loaded for https endpoints (a cloud provider), never for the embedded server.
    const transport: Promise<Transport> =
      url.protocol === "https:" ? import("node:https") : import("node:http");
    transport.then(done, reject);
  });
}

const RETRYABLE = (status: number) => status === 429 || status >= 500;

/** Bucket names are `[a-z0-9.-]`, so plain tag matching reads these small, fixed-shape XML bodies. */
function xmlText(body: string, tag: string): string | undefined {
  const m = new RegExp(`<${tag}>([^<]*)</${tag}>`).exec(body);
  return m?.[1]
    ?.replace(/&lt;/g, "<")
    .replace(/&gt;/g, ">")
    .replace(/&quot;/g, '"')
    .replace(/&apos;/g, "'")
    .replace(/&amp;/g, "&");
}

/** One signed request to `path` under the endpoint; `body` is sent whole, its SHA-256 signed. */
export type SignedRequest = (
  method: string,
  path: string,
  headers?: Record<string, string>,
  signal?: AbortSignal,
  body?: Buffer,
) => Promise<ApiResponse>;

/**
 * Signed requests to one endpoint with one key pair, retried on a dropped kept-alive connection and on
 * 5xx/429; what `createTigrisClient` and the embedded server's admin API client (`_access-keys.ts`) send.
 */
export function createSignedRequest(options: TigrisClientOptions): SignedRequest {
  const endpoint = options.endpoint.replace(/\/+$/, "");
  const timeoutMs = options.timeoutMs ?? 15_000;
  const retries = options.retries ?? 2;
  return async (method, path, headers = {}, signal, body) => {
    const url = new URL(`${endpoint}${path}`);
    const payloadHash = body ? createHash("sha256").update(body).digest("hex") : undefined;
    for (let attempt = 0; ; attempt++) {
      const signed = signRequest({
        method,
        url,
        headers: body ? { ...headers, "content-length": String(body.length) } : headers,
        accessKeyId: options.accessKeyId,
        secretAccessKey: options.secretAccessKey,
        region: options.region ?? "auto",
        ...(payloadHash ? { payloadHash } : {}),
      });
      let res: ApiResponse;
      try {
        res = await send(method, url, signed, signal ?? AbortSignal.timeout(timeoutMs), body);
      } catch (error) {
        const reason = (error as NodeJS.ErrnoException).code ?? (error as Error).name;
        // A kept-alive connection the server has since closed (it restarted): try a fresh one.
        if (reason === "ECONNRESET" && attempt < retries) continue;
        throw new TigrisApiError("NetworkError", 0, `no answer from ${endpoint} (${reason})`, {
          cause: error,
          reason,
        });
      }
      if (!RETRYABLE(res.status) || attempt >= retries) return res;
      await new Promise((r) => setTimeout(r, 100 * 2 ** attempt));
    }
  };
}

/** A failed call as a TigrisApiError with the S3 code and message of its XML (or JSON) error body. */
export function failedCall(res: ApiResponse, what: string): never {
  const body = res.body;
  const json = jsonError(body);
  const code = json?.code ?? xmlText(body, "Code") ?? (res.status === 404 ? "NotFound" : `HTTP${res.status}`);
  const message = json?.message ?? xmlText(body, "Message") ?? res.statusText;
  throw new TigrisApiError(code, res.status, `${what}: ${code} (${res.status}) ${message}`.trim());
}

/** `{"Code","Message"}`, the JSON error of the Tigris endpoints (and of the embedded server's admin API). */
function jsonError(body: string): { code: string; message: string } | undefined {
  if (!body.startsWith("{")) return undefined;
  try {
    const value = JSON.parse(body) as { Code?: unknown; Message?: unknown };
    return typeof value.Code === "string"
      ? { code: value.Code, message: typeof value.Message === "string" ? value.Message : "" }
      : undefined;
  } catch {
    return undefined;
  }
}

export function createTigrisClient(options: TigrisClientOptions): TigrisClient {
  const endpoint = options.endpoint.replace(/\/+$/, "");
  const request = createSignedRequest(options);

  const fail = failedCall;

  const bucketPath = (name: string) => `/${encodeURIComponent(name)}`;

  return {
    endpoint,

    async createBucket(name, opts = {}) {
      const headers: Record<string, string> = {};
      if (opts.enableSnapshot) headers["X-Tigris-Enable-Snapshot"] = "true";
      if (opts.forkSource) headers["X-Tigris-Fork-Source-Bucket"] = opts.forkSource;
      if (opts.forkSnapshot) headers["X-Tigris-Fork-Source-Bucket-Snapshot"] = opts.forkSnapshot;
      const res = await request("PUT", bucketPath(name), headers);
      if (!res.ok) return fail(res, `create bucket ${name}`);
      const forkSnapshot = res.header("x-tigris-fork-source-bucket-snapshot");
      return forkSnapshot ? { forkSnapshot } : {};
    },

    async headBucket(name) {
      const res = await request("HEAD", bucketPath(name));
      if (res.status === 404) return null;
      if (!res.ok) return fail(res, `read bucket ${name}`);
      const forkSource = res.header("x-tigris-fork-source-bucket");
      const forkSnapshot = res.header("x-tigris-fork-source-bucket-snapshot");
      return {
        name,
        snapshotEnabled: res.header("x-tigris-enable-snapshot") === "true",
        ...(forkSource ? { forkSource } : {}),
        ...(forkSnapshot ? { forkSnapshot } : {}),
        isForkParent: res.header("x-tigris-is-fork-parent") === "true",
      };
    },

    async deleteBucket(name, opts = {}) {
      const res = await request(
        "DELETE",
        bucketPath(name),
        opts.force ? { "Tigris-Force-Delete": "true" } : {},
      );
      if (res.status === 404) return false;
      if (!res.ok) return fail(res, `delete bucket ${name}`);
      return true;
    },

    async listBuckets(prefix = "") {
      const names: string[] = [];
      let token: string | undefined;
      do {
        const query = new URLSearchParams({ "max-buckets": "1000" });
        if (prefix) query.set("prefix", prefix);
        if (token) query.set("continuation-token", token);
        const res = await request("GET", `/?${query.toString()}`);
        if (!res.ok) return fail(res, "list buckets");
        const body = res.body;
        for (const m of body.matchAll(/<Bucket>([\s\S]*?)<\/Bucket>/g)) {
          const name = xmlText(m[1]!, "Name");
          // Servers that ignore `prefix` (older S3 clones) list everything: filter here too.
          if (name?.startsWith(prefix)) names.push(name);
        }
        token = xmlText(body, "ContinuationToken");
      } while (token);
      return names;
    },

    ping: (signal, headers = {}) => request("GET", "/?max-buckets=1", headers, signal),
  };
}

/**
 * A failed call as a ProviderError with a stable code: an existing bucket is `E_ENV_EXISTS`, a missing
 * one `E_ENV_NOT_FOUND`, no answer `E_SERVER`, rejected keys `E_PROVIDER_AUTH`, anything else
 * `E_PROVIDER_API`. Other errors pass through unchanged.
 */
export function providerApiError(
  provider: string,
  action: string,
  error: unknown,
  hints: { unreachable?: string; auth?: string; taken?: string } = {},
): Error {
  if (!(error instanceof TigrisApiError)) return error as Error;
  const codes: Record<string, ErrorCode> = {
    BucketAlreadyOwnedByYou: "E_ENV_EXISTS",
    BucketAlreadyExists: "E_ENV_EXISTS",
    NoSuchBucket: "E_ENV_NOT_FOUND",
    NetworkError: "E_SERVER",
    InvalidAccessKeyId: "E_PROVIDER_AUTH",
    SignatureDoesNotMatch: "E_PROVIDER_AUTH",
    AccessDenied: "E_PROVIDER_AUTH",
  };
  const code = codes[error.code] ?? "E_PROVIDER_API";
  const hint =
    code === "E_SERVER"
      ? hints.unreachable
      : code === "E_PROVIDER_AUTH"
        ? hints.auth
        : // Another account owns the name (global namespaces): still E_ENV_EXISTS, so the core never removes it.
          error.code === "BucketAlreadyExists"
          ? hints.taken
          : undefined;
  return new ProviderError(provider, `Could not ${action}: ${error.message}.`, code, {
    cause: error,
    ...(hint ? { hint } : {}),
  });
}
