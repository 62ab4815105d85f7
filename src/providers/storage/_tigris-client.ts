/**
 * @module providers/storage/_tigris-client
 * The few bucket-level calls a storage provider makes, over the Tigris fork API (plain S3 requests plus
 * `X-Tigris-*` headers, reference/storage.md §1.2). The embedded server speaks the same API, so the
 * `local` provider and a `tigris` provider share this client and differ only in endpoint and keys.
 *
 * Why aws4fetch and not @aws-sdk/client-s3: we need five bucket calls, not the S3 model. The SDK takes
 * 0.4–0.7 s to import on a small machine (a third of our "well under a second" budget for `new`), drags
 * hundreds of modules, and its releases from 2027 on require Node 22 while we support Node 20.19.
 * aws4fetch is one dependency-free file (MIT, ~9M weekly downloads) that SigV4-signs `fetch` requests
 * with WebCrypto, which Node 20 has. It is imported lazily, on the first request, so commands that never
 * touch a bucket (`--help`, `current`) do not load it.
 */
import type { AwsClient } from "aws4fetch";
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
  ping(signal?: AbortSignal): Promise<Response>;
}

let awsClientClass: Promise<typeof AwsClient> | undefined;
const loadAwsClient = () => (awsClientClass ??= import("aws4fetch").then((m) => m.AwsClient));

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

export function createTigrisClient(options: TigrisClientOptions): TigrisClient {
  const endpoint = options.endpoint.replace(/\/+$/, "");
  const timeoutMs = options.timeoutMs ?? 15_000;
  let client: AwsClient | undefined;

  const request = async (
    method: string,
    path: string,
    headers: Record<string, string> = {},
    signal?: AbortSignal,
  ): Promise<Response> => {
    if (!client) {
      const AwsClient = await loadAwsClient();
      client = new AwsClient({
        accessKeyId: options.accessKeyId,
        secretAccessKey: options.secretAccessKey,
        service: "s3",
        region: options.region ?? "auto",
        retries: options.retries ?? 2,
      });
    }
    try {
      return await client.fetch(`${endpoint}${path}`, {
        method,
        headers,
        signal: signal ?? AbortSignal.timeout(timeoutMs),
      });
    } catch (error) {
      // fetch wraps system errors: TypeError("fetch failed") with the errno error as its cause.
      const cause = (error as { cause?: { code?: string } }).cause;
      const reason = cause?.code ?? (error as Error).name;
      throw new TigrisApiError("NetworkError", 0, `no answer from ${endpoint} (${reason})`, {
        cause: error,
        reason,
      });
    }
  };

  const fail = async (res: Response, what: string): Promise<never> => {
    const body = await res.text().catch(() => "");
    const code = xmlText(body, "Code") ?? (res.status === 404 ? "NotFound" : `HTTP${res.status}`);
    const message = xmlText(body, "Message") ?? res.statusText;
    throw new TigrisApiError(code, res.status, `${what}: ${code} (${res.status}) ${message}`.trim());
  };

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
      await res.body?.cancel();
      const forkSnapshot = res.headers.get("x-tigris-fork-source-bucket-snapshot") ?? undefined;
      return forkSnapshot ? { forkSnapshot } : {};
    },

    async headBucket(name) {
      const res = await request("HEAD", bucketPath(name));
      if (res.status === 404) return null;
      if (!res.ok) return fail(res, `read bucket ${name}`);
      const h = res.headers;
      const forkSource = h.get("x-tigris-fork-source-bucket") ?? undefined;
      const forkSnapshot = h.get("x-tigris-fork-source-bucket-snapshot") ?? undefined;
      return {
        name,
        snapshotEnabled: h.get("x-tigris-enable-snapshot") === "true",
        ...(forkSource ? { forkSource } : {}),
        ...(forkSnapshot ? { forkSnapshot } : {}),
        isForkParent: h.get("x-tigris-is-fork-parent") === "true",
      };
    },

    async deleteBucket(name, opts = {}) {
      const res = await request(
        "DELETE",
        bucketPath(name),
        opts.force ? { "Tigris-Force-Delete": "true" } : {},
      );
      if (res.status === 404) {
        await res.body?.cancel();
        return false;
      }
      if (!res.ok) return fail(res, `delete bucket ${name}`);
      await res.body?.cancel();
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
        const body = await res.text();
        for (const m of body.matchAll(/<Bucket>([\s\S]*?)<\/Bucket>/g)) {
          const name = xmlText(m[1]!, "Name");
          // Servers that ignore `prefix` (older S3 clones) list everything: filter here too.
          if (name?.startsWith(prefix)) names.push(name);
        }
        token = xmlText(body, "ContinuationToken");
      } while (token);
      return names;
    },

    ping: (signal) => request("GET", "/?max-buckets=1", {}, signal),
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
  hints: { unreachable?: string; auth?: string } = {},
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
  const hint = code === "E_SERVER" ? hints.unreachable : code === "E_PROVIDER_AUTH" ? hints.auth : undefined;
  return new ProviderError(provider, `Could not ${action}: ${error.message}.`, code, {
    cause: error,
    ...(hint ? { hint } : {}),
  });
}
