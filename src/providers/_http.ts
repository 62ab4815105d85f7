/**
 * @module providers/_http
 * The one HTTP client every API provider (turso, neon, planetscale, doppler) talks through, on Node's
 * global `fetch`. It owns what each provider would otherwise get subtly wrong on its own:
 *
 * - where requests go: the provider's `baseUrl` option, else `FORKSTACK_<PROVIDER>_API_URL` (a local
 *   mock in tests and CI), else the vendor's URL;
 * - credentials: the auth header value is sent and nothing else — never logged, never in an error (even
 *   when the vendor echoes it back); errors name the *variable* it came from (`NEON_API_KEY`);
 * - time: a per-attempt timeout joined with the operation's abort signal; Ctrl-C is `InterruptedError`,
 *   a timeout is a provider error naming the host and the time;
 * - retries: 429/423/503 (which prove the request was not applied) with exponential backoff + jitter,
 *   honouring `Retry-After`, bounded in attempts and total time; network failures and 502/504 only for
 *   idempotent requests, because a create that may have reached the server must never be sent twice;
 * - errors: stable codes (`E_PROVIDER_AUTH`, `E_ENV_NOT_FOUND`, `E_ENV_EXISTS`, `E_SERVER`,
 *   `E_PROVIDER_API`) with the vendor's own message (four body shapes, reference/providers.md §0) and
 *   the request id a support ticket needs;
 * - load: at most `maxConcurrency` requests in flight per client, and a 429 pauses the whole client,
 *   not just the request that got it;
 * - readiness: `poll()` for Neon operations and PlanetScale's `ready`, with progress callbacks.
 *
 * Response bodies are never logged: they hold passwords (Neon `connection_uris`, PlanetScale
 * `plain_text`, Doppler token `key`). Logs carry method, path (no query) and status only.
 */
import { setTimeout as delay } from "node:timers/promises";
import { InterruptedError, ProviderError, UserError } from "../errors.js";
import type { ErrorCode } from "../errors.js";
import { nodeTransport, type Transport, type WireResponse } from "./_http-transport.js";
import { limit } from "./_limit.js";
import type { Limiter } from "./_limit.js";
import type { Logger } from "./types.js";

export type HttpMethod = "GET" | "HEAD" | "POST" | "PUT" | "PATCH" | "DELETE";

export interface ApiAuth {
  /** Header name: `Authorization` for all four vendors. */
  readonly header: string;
  /**
   * The whole header value (`Bearer <key>`; PlanetScale's `<id>:<token>`). `undefined` when the
   * variable is not set: the client can still be made (factories do no checks), and the first request
   * fails with a message naming `variable`.
   */
  readonly value: string | undefined;
  /** Where the credential came from, for messages and hints: `NEON_API_KEY`. Never the value. */
  readonly variable: string;
}

export interface RetryPolicy {
  /** Attempts in all, the first included. @default 5 */
  readonly maxAttempts: number;
  /** No retry is scheduled that would start later than this after the first attempt. @default 120000 */
  readonly maxElapsedMs: number;
  /** First backoff step; doubles per retry. @default 500 */
  readonly baseDelayMs: number;
  /** Cap on one computed backoff step (a server's `Retry-After` is honoured beyond it). @default 30000 */
  readonly maxDelayMs: number;
}

export interface ApiClientOptions {
  /** Registry name (`neon`): prefixes messages, names the env var `FORKSTACK_NEON_API_URL`. */
  readonly provider: string;
  /** From the provider's config; wins over the env var. */
  readonly baseUrl?: string | undefined;
  /** The vendor's API root, e.g. `https://console.neon.tech/api/v2`. */
  readonly defaultBaseUrl: string;
  readonly auth: ApiAuth;
  /** Per attempt, body included. @default 30000 */
  readonly timeoutMs?: number;
  /** Requests in flight at once for this client. @default 4 */
  readonly maxConcurrency?: number;
  readonly retry?: Partial<RetryPolicy>;
  /** Sent with every request (e.g. a vendor API version header). */
  readonly headers?: Readonly<Record<string, string>>;
  /** Response headers that carry the vendor's request id, first found wins. @default x-request-id, request-id */
  readonly requestIdHeaders?: readonly string[];
  /** Debug lines (method, path, status, retries); a request's own `log` wins. */
  readonly log?: Logger;
  /** Where `FORKSTACK_<PROVIDER>_API_URL` is read. @default process.env */
  readonly env?: Readonly<Record<string, string | undefined>>;
  // Seams for tests: retries and polls are asserted by counting, never by waiting.
  readonly sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  readonly now?: () => number;
  readonly random?: () => number;
  /** Sends instead of the built-in `node:http` transport (`_http-transport.ts`); tests only. */
  readonly fetch?: typeof fetch;
}

export interface RequestOptions {
  /** Sent as JSON. */
  readonly body?: unknown;
  /** `undefined`/`null` values are left out; arrays repeat the key. */
  readonly query?: Readonly<
    Record<string, string | number | boolean | null | undefined | readonly (string | number)[]>
  >;
  readonly headers?: Readonly<Record<string, string>>;
  /** The operation's signal (`OpContext.signal`): aborting it interrupts the request and any wait. */
  readonly signal?: AbortSignal | undefined;
  /** The operation's logger (`OpContext.log`). */
  readonly log?: Logger | undefined;
  /**
   * May this request be sent twice? Default: by method (GET/HEAD/PUT/DELETE yes, POST/PATCH no).
   * Decides retries after a network failure or timeout, when the request may have been applied.
   * A retried DELETE may find the resource already gone: pair it with `nullIfNotFound`.
   */
  readonly idempotent?: boolean;
  /** Overrides the client's per-attempt timeout. */
  readonly timeoutMs?: number;
  /** What this call does, for messages: `create branch alice` → "Could not create branch alice: …". */
  readonly action?: string;
  /** `text` for non-JSON answers (Doppler's `secrets/download?format=env`). @default "json" */
  readonly responseType?: "json" | "text";
  /** Resolve to `null` on 404 instead of throwing (`describe`, idempotent `remove`). */
  readonly nullIfNotFound?: boolean;
}

export interface ApiResponse<T> {
  readonly status: number;
  /** `Headers`-like: `get(name)`, repeated values joined by ", ". */
  readonly headers: WireResponse["headers"];
  readonly data: T;
  readonly requestId: string | undefined;
}

export interface PollProgress<T> {
  /** 1 for the first call of `fn`. */
  readonly attempt: number;
  readonly elapsedMs: number;
  readonly value: T;
  /** `until(value)` held: this is the last report. */
  readonly done: boolean;
}

export interface PollOptions<T> {
  /** Ready yet? Throw from here (or from `fn`) for a failure state such as Neon's `failed`. */
  readonly until: (value: T) => boolean;
  /** Wait between calls; a function of the attempt just made for a schedule (5 s, then 10 s). @default 1000 */
  readonly intervalMs?: number | ((attempt: number) => number);
  /** Give up after this long. @default 300000 (Neon's SDK default) */
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal | undefined;
  readonly onProgress?: (progress: PollProgress<T>) => void;
  /** For the timeout message: `branch alice to be ready`. */
  readonly what?: string;
  /** The last value, for the timeout message: `state init`. */
  readonly describe?: (value: T) => string;
  /** Prefixes the timeout error. The client's `poll` fills it in. */
  readonly provider?: string;
  readonly sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  readonly now?: () => number;
}

export interface ApiClient {
  readonly provider: string;
  /** The resolved API root (no trailing slash), and where it came from. */
  readonly baseUrl: string;
  readonly baseUrlSource: "config" | "env" | "default";
  request<T>(
    method: HttpMethod,
    path: string,
    options: RequestOptions & { readonly nullIfNotFound: true },
  ): Promise<T | null>;
  request<T>(method: HttpMethod, path: string, options?: RequestOptions): Promise<T>;
  /** `request` with status, headers and request id. With `nullIfNotFound`, `data` is `null` on 404. */
  send<T>(method: HttpMethod, path: string, options?: RequestOptions): Promise<ApiResponse<T>>;
  /** `poll` with this client's provider name and clock. */
  poll<T>(fn: (attempt: number) => Promise<T>, options: PollOptions<T>): Promise<T>;
}

/** What went wrong, finer than the error code, for providers that react (e.g. `not_found` → null). */
export type ApiErrorKind =
  | "auth" // 401/403
  | "not_found" // 404
  | "exists" // 409, or 400/422 whose message says the name is taken
  | "rate_limited" // 429/423/503 still after every retry
  | "timeout" // no (complete) answer within timeoutMs
  | "network" // no answer at all: refused, reset, DNS
  | "api"; // anything else the server answered

const CODES: Record<ApiErrorKind, ErrorCode> = {
  auth: "E_PROVIDER_AUTH",
  not_found: "E_ENV_NOT_FOUND",
  exists: "E_ENV_EXISTS",
  rate_limited: "E_PROVIDER_API",
  timeout: "E_SERVER",
  network: "E_SERVER",
  api: "E_PROVIDER_API",
};

export interface ApiErrorDetails {
  readonly kind: ApiErrorKind;
  readonly method: HttpMethod;
  /** Origin and path, no query string. */
  readonly url: string;
  readonly status?: number | undefined;
  /** The vendor's machine code (`{code}` in Neon/PlanetScale bodies). */
  readonly vendorCode?: string | undefined;
  /** The vendor's message, with any credential removed. */
  readonly vendorMessage?: string | undefined;
  readonly requestId?: string | undefined;
  readonly attempts: number;
  /**
   * The request may have been applied although we got no answer (a POST whose connection broke or
   * timed out). A provider's create should then look before it makes anything again.
   */
  readonly mayHaveApplied: boolean;
}

/** A failed API call. A `ProviderError` (message prefixed `[provider]`) with what providers branch on. */
export class ApiError extends ProviderError implements ApiErrorDetails {
  readonly kind: ApiErrorKind;
  readonly method: HttpMethod;
  readonly url: string;
  readonly status: number | undefined;
  readonly vendorCode: string | undefined;
  readonly vendorMessage: string | undefined;
  readonly requestId: string | undefined;
  readonly attempts: number;
  readonly mayHaveApplied: boolean;

  constructor(
    provider: string,
    message: string,
    details: ApiErrorDetails,
    options: { hint?: string | undefined; cause?: unknown } = {},
  ) {
    super(provider, message, CODES[details.kind], {
      ...(options.hint === undefined ? {} : { hint: options.hint }),
      ...(options.cause === undefined ? {} : { cause: options.cause }),
    });
    // What it is to everyone outside this module, who check errors by shape (the conformance suites'
    // `expectProviderError`, a provider from another copy of forkstack): a ProviderError.
    this.name = "ProviderError";
    this.kind = details.kind;
    this.method = details.method;
    this.url = details.url;
    this.status = details.status;
    this.vendorCode = details.vendorCode;
    this.vendorMessage = details.vendorMessage;
    this.requestId = details.requestId;
    this.attempts = details.attempts;
    this.mayHaveApplied = details.mayHaveApplied;
  }
}

export function isApiError(error: unknown, kind?: ApiErrorKind): error is ApiError {
  return error instanceof ApiError && (kind === undefined || error.kind === kind);
}

// ---------------------------------------------------------------------------------------------------
// Small pieces, exported for tests.

/** `neon` → `FORKSTACK_NEON_API_URL`; `my-api` → `FORKSTACK_MY_API_API_URL`. */
export function apiUrlVariable(provider: string): string {
  return `FORKSTACK_${provider.toUpperCase().replace(/[^A-Z0-9]+/g, "_")}_API_URL`;
}

/**
 * `Retry-After` in milliseconds from `now`: delta-seconds or an HTTP date (RFC 9110 §10.2.3).
 * `undefined` when absent or unreadable; never negative.
 */
export function parseRetryAfter(value: string | null | undefined, now: number): number | undefined {
  if (!value) return undefined;
  const text = value.trim();
  if (/^\d+(\.\d+)?$/.test(text)) return Math.round(Number(text) * 1000);
  const at = Date.parse(text);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/**
 * A signal that aborts when any of `signals` does. `AbortSignal.any` where Node has it (≥ 20.3);
 * otherwise listeners, which `dispose` removes so a long operation's signal does not collect one
 * listener per request.
 */
export function anySignal(
  signals: readonly (AbortSignal | undefined)[],
  native = typeof AbortSignal.any === "function",
): { signal: AbortSignal; dispose: () => void } {
  const list = signals.filter((s): s is AbortSignal => s !== undefined);
  if (native) return { signal: AbortSignal.any(list), dispose: () => {} };
  const controller = new AbortController();
  const listeners: Array<[AbortSignal, () => void]> = [];
  const dispose = () => {
    for (const [s, l] of listeners) s.removeEventListener("abort", l);
    listeners.length = 0;
  };
  for (const s of list) {
    if (s.aborted) {
      controller.abort(s.reason);
      dispose();
      break;
    }
    const onAbort = () => {
      controller.abort(s.reason);
      dispose();
    };
    listeners.push([s, onAbort]);
    s.addEventListener("abort", onAbort, { once: true });
  }
  return { signal: controller.signal, dispose };
}

/** Abortable sleep; an abort surfaces as forkstack's `InterruptedError`. */
export async function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  try {
    await delay(ms, undefined, signal ? { signal } : {});
  } catch (error) {
    if (signal?.aborted) throw new InterruptedError();
    throw error;
  }
}

/**
 * The vendor's message and code from an error body. The four shapes of reference/providers.md §0:
 * Neon `{code, message, request_id}`, PlanetScale `{code, message}`, Turso `{error}`, Doppler
 * `{messages: [], success: false}`; plus `{errors: [...]}` and `{error: {message}}`, which proxies and
 * other APIs use. A short plain-text body is taken as is; HTML (a load balancer's page) is not.
 */
export function vendorError(
  body: string,
  contentType: string,
): { message?: string; code?: string; requestId?: string } {
  const text = body.trim();
  if (!text) return {};
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    if (/html/i.test(contentType) || text.startsWith("<")) return {};
    return { message: text.split("\n")[0]! };
  }
  if (typeof json === "string") return { message: json };
  if (!json || typeof json !== "object") return {};
  const o = json as Record<string, unknown>;
  const str = (v: unknown) => (typeof v === "string" && v.trim() ? v.trim() : undefined);
  const fromList = (v: unknown) =>
    Array.isArray(v)
      ? v
          .map(
            (m) => str(m) ?? (m && typeof m === "object" ? str((m as Record<string, unknown>).message) : ""),
          )
          .filter(Boolean)
          .join("; ") || undefined
      : undefined;
  const nested = o.error && typeof o.error === "object" ? (o.error as Record<string, unknown>) : undefined;
  const message =
    str(o.message) ??
    str(o.error) ??
    str(nested?.message) ??
    fromList(o.messages) ??
    fromList(o.errors) ??
    str(o.detail) ??
    str(o.error_description);
  const code = str(o.code) ?? str(nested?.code);
  const requestId = str(o.request_id) ?? str(o.requestId);
  return {
    ...(message ? { message } : {}),
    ...(code ? { code } : {}),
    ...(requestId ? { requestId } : {}),
  };
}

/** Replace every credential-looking piece of `text` (the header value, its token, each `id:token` half). */
export function redact(text: string, secret: string | undefined): string {
  if (!secret) return text;
  const pieces = new Set<string>([secret]);
  const bare = secret.replace(/^(Bearer|Basic|Token)\s+/i, "");
  pieces.add(bare);
  for (const part of bare.split(":")) if (part.length >= 6) pieces.add(part);
  let out = text;
  // Longest first, so the whole value is replaced before any piece of it.
  for (const piece of [...pieces].sort((a, b) => b.length - a.length)) {
    if (piece.length >= 6) out = out.split(piece).join("[redacted]");
  }
  return out;
}

/** `error` itself, or a copy without the credential if its message quotes it (kept as a `cause`). */
function scrub(error: unknown, secret: string): unknown {
  if (!(error instanceof Error) || redact(error.message, secret) === error.message) return error;
  const clean = new Error(redact(error.message, secret));
  clean.name = error.name;
  return clean;
}

const NAME_TAKEN = /already (exists|taken|in use)|not available|name (is )?taken|duplicate/i;

/** System errors that mean the connection was never made, so even a POST cannot have been applied. */
const NOT_CONNECTED = new Set([
  "ECONNREFUSED",
  "EAI_AGAIN",
  "ENETUNREACH",
  "EHOSTUNREACH",
  "UND_ERR_CONNECT_TIMEOUT",
]);

/** undici wraps the system error: `TypeError('fetch failed', { cause })`, sometimes an AggregateError. */
function systemCode(error: unknown): string | undefined {
  let e: unknown = error;
  for (let depth = 0; e && typeof e === "object" && depth < 5; depth++) {
    const o = e as { code?: unknown; cause?: unknown; errors?: unknown };
    if (typeof o.code === "string") return o.code;
    e = o.cause ?? (Array.isArray(o.errors) ? o.errors[0] : undefined);
  }
  return undefined;
}

const seconds = (ms: number) => {
  const s = ms / 1000;
  return `${Number.isInteger(s) ? s : s.toFixed(1)} s`;
};

function isLoopback(host: string): boolean {
  return host === "localhost" || host === "[::1]" || /^127\.\d+\.\d+\.\d+$/.test(host);
}

const DEFAULT_RETRY: RetryPolicy = {
  maxAttempts: 5,
  maxElapsedMs: 120_000,
  baseDelayMs: 500,
  maxDelayMs: 30_000,
};

const IDEMPOTENT_METHODS = new Set<HttpMethod>(["GET", "HEAD", "PUT", "DELETE"]);

// ---------------------------------------------------------------------------------------------------

export function createApiClient(options: ApiClientOptions): ApiClient {
  const { provider, auth } = options;
  const env = options.env ?? process.env;
  const now = options.now ?? Date.now;
  const random = options.random ?? Math.random;
  const wait = options.sleep ?? sleep;
  // A `fetch` seam (tests) is called as fetch is; its Response has every member a WireResponse has.
  const seam = options.fetch;
  const transport: Transport = seam
    ? (input, init) => seam(input, { ...init, redirect: "manual" })
    : nodeTransport;
  const retry: RetryPolicy = { ...DEFAULT_RETRY, ...options.retry };
  const timeoutMs = options.timeoutMs ?? 30_000;
  const slots: Limiter = limit(options.maxConcurrency ?? 4);
  const requestIdHeaders = options.requestIdHeaders ?? ["x-request-id", "request-id"];
  const fallbackLog = options.log;

  // Base URL: config, env var, vendor default — validated here so a typo fails before any request.
  const variable = apiUrlVariable(provider);
  const fromEnv = env[variable]?.trim();
  const [rawBase, baseUrlSource, sourceName]: [string, ApiClient["baseUrlSource"], string] = options.baseUrl
    ? [options.baseUrl, "config", `the ${provider} provider's baseUrl option`]
    : fromEnv
      ? [fromEnv, "env", variable]
      : [options.defaultBaseUrl, "default", `the ${provider} provider's default API URL`];
  let base: URL;
  try {
    base = new URL(rawBase);
    if (base.protocol !== "https:" && base.protocol !== "http:") throw new TypeError("not http(s)");
  } catch {
    throw new UserError(`${sourceName} is not an http(s) URL: "${rawBase}".`, "E_CONFIG_INVALID", {
      hint:
        baseUrlSource === "env"
          ? `Unset ${variable} or set it to the API's root URL, e.g. ${options.defaultBaseUrl}.`
          : `Use the API's root URL, e.g. ${options.defaultBaseUrl}.`,
    });
  }
  const baseUrl = `${base.origin}${base.pathname.replace(/\/+$/, "")}`;
  const host = base.host;
  const overrideNote = baseUrlSource === "default" ? "" : ` (API URL from ${sourceName})`;
  let warnedPlainHttp = false;

  // A 429 pauses every request of this client until then: the rate limit is per token, not per call.
  let pausedUntil = 0;

  const urlFor = (path: string, query: RequestOptions["query"]): URL => {
    let url: URL;
    if (/^https?:\/\//i.test(path)) {
      // Absolute URLs come from the API itself (PlanetScale's `next_page_url`); the token only ever
      // goes to the configured origin.
      url = new URL(path);
      if (url.origin !== base.origin) {
        throw new ProviderError(
          provider,
          `Refusing to send ${auth.variable} to ${url.host}: it is not the API host ${host}.`,
          "E_PROVIDER_API",
        );
      }
    } else {
      url = new URL(`${baseUrl}/${path.replace(/^\/+/, "")}`);
    }
    for (const [key, value] of Object.entries(query ?? {})) {
      if (value === undefined || value === null) continue;
      for (const v of Array.isArray(value) ? value : [value]) url.searchParams.append(key, String(v));
    }
    return url;
  };

  async function send<T>(
    method: HttpMethod,
    path: string,
    opts: RequestOptions = {},
  ): Promise<ApiResponse<T>> {
    const log = opts.log ?? fallbackLog;
    const signal = opts.signal;
    const url = urlFor(path, opts.query);
    const where = `${url.origin}${url.pathname}`;
    const shown = url.pathname;
    const what = opts.action ?? `${method} ${shown}`;
    const idempotent = opts.idempotent ?? IDEMPOTENT_METHODS.has(method);
    const attemptTimeout = opts.timeoutMs ?? timeoutMs;

    if (signal?.aborted) throw new InterruptedError();
    // A value pasted with its line break (`.env` files with CRLF) is trimmed; anything else that
    // cannot go in a header is refused here, because fetch's own error would quote the token.
    const credential = auth.value?.trim();
    if (!credential) {
      throw new ProviderError(provider, `${auth.variable} is not set.`, "E_PROVIDER_AUTH", {
        hint: `Set ${auth.variable} to a ${provider} API token (in your shell or CI secrets), then run the command again.`,
      });
    }
    if (/[^\t\x20-\x7e]/.test(credential)) {
      throw new ProviderError(
        provider,
        `${auth.variable} holds characters that cannot be sent in an HTTP header (a line break, a quote mark?).`,
        "E_PROVIDER_AUTH",
        { hint: `Set ${auth.variable} again, copying only the token.` },
      );
    }
    if (url.protocol === "http:" && !isLoopback(url.hostname) && !warnedPlainHttp) {
      warnedPlainHttp = true;
      log?.warn(`[${provider}] sending ${auth.variable} over plain http to ${host}${overrideNote}`);
    }

    const headers: Record<string, string> = {
      accept: opts.responseType === "text" ? "*/*" : "application/json",
      "user-agent": "forkstack",
      ...options.headers,
      ...opts.headers,
      [auth.header]: credential,
    };
    let payload: string | undefined;
    if (opts.body !== undefined) {
      payload = JSON.stringify(opts.body);
      headers["content-type"] = "application/json";
    }

    const details = (
      kind: ApiErrorKind,
      attempts: number,
      extra: Partial<ApiErrorDetails> = {},
    ): ApiErrorDetails => ({ kind, method, url: where, attempts, mayHaveApplied: false, ...extra });

    const started = now();
    let nextAt = started;
    for (let attempt = 1; ; attempt++) {
      const pause = Math.max(nextAt, pausedUntil) - now();
      if (pause > 0) await wait(pause, signal);

      // One attempt inside a concurrency slot: fetch and read the body, then give the slot back
      // before any backoff, so a sleeping retry does not hold up other requests.
      type Outcome =
        { ok: true; res: WireResponse; body: string } | { ok: false; error: unknown; timedOut: boolean };
      const outcome = await slots(async (): Promise<Outcome> => {
        // Another request may have hit a 429 while this one waited for its slot.
        const paused = pausedUntil - now();
        if (paused > 0) await wait(paused, signal);
        const timer = new AbortController();
        let timedOut = false;
        const handle = setTimeout(() => {
          timedOut = true;
          timer.abort();
        }, attemptTimeout);
        const joined = anySignal([signal, timer.signal]);
        try {
          // Redirects are never followed (one could carry the token to another host): a 3xx is an error below.
          const res = await transport(url, {
            method,
            headers,
            ...(payload === undefined ? {} : { body: payload }),
            signal: joined.signal,
          });
          const body = await res.text();
          return { ok: true, res, body };
        } catch (error) {
          return { ok: false, error: scrub(error, credential), timedOut };
        } finally {
          clearTimeout(handle);
          joined.dispose();
        }
      }, signal);

      if (signal?.aborted) throw new InterruptedError();
      const canRetry = (ms: number) =>
        attempt < retry.maxAttempts && now() + ms - started <= retry.maxElapsedMs;
      const backoff = () => {
        const step = Math.min(retry.maxDelayMs, retry.baseDelayMs * 2 ** (attempt - 1));
        return Math.round(step / 2 + (random() * step) / 2); // "equal jitter": never 0, never in lockstep
      };

      if (!outcome.ok) {
        const code = outcome.timedOut ? "timeout" : (systemCode(outcome.error) ?? "network error");
        // Never connected: nothing reached the server, so even a create is safe to send again.
        const safe = idempotent || NOT_CONNECTED.has(code);
        const ms = backoff();
        if (safe && code !== "ENOTFOUND" && canRetry(ms)) {
          log?.debug(
            `[${provider}] ${method} ${shown}: ${code}, retry ${attempt + 1}/${retry.maxAttempts} in ${seconds(ms)}`,
          );
          nextAt = now() + ms;
          continue;
        }
        const mayHaveApplied = !idempotent && !NOT_CONNECTED.has(code) && code !== "ENOTFOUND";
        const applied = mayHaveApplied ? ` It may have been applied: check before trying again.` : "";
        const tries = attempt > 1 ? ` (${attempt} attempts)` : "";
        if (outcome.timedOut) {
          throw new ApiError(
            provider,
            `Could not ${what}: no answer from ${host} within ${seconds(attemptTimeout)}${tries}.${applied}`,
            details("timeout", attempt, { mayHaveApplied }),
            { hint: `Check your network and ${host}'s status page${overrideNote}.`, cause: outcome.error },
          );
        }
        throw new ApiError(
          provider,
          `Could not ${what}: could not reach ${host} (${code})${tries}.${applied}`,
          details("network", attempt, { mayHaveApplied }),
          {
            hint:
              baseUrlSource === "default"
                ? `Check your network connection and ${host}'s status page.`
                : `Check your network connection, and that ${sourceName} points at the API (${baseUrl}).`,
            cause: outcome.error,
          },
        );
      }

      const { res, body } = outcome;
      const elapsed = now() - started;
      log?.debug(
        `[${provider}] ${method} ${shown} -> ${res.status} (${attempt > 1 ? `attempt ${attempt}, ` : ""}${elapsed} ms)`,
      );
      const requestId = requestIdHeaders.map((h) => res.headers.get(h)).find((v) => v) ?? undefined;

      if (res.status >= 200 && res.status < 300) {
        const data = parseBody<T>(
          body,
          res,
          opts.responseType,
          () =>
            new ApiError(
              provider,
              `Could not ${what}: ${host} answered ${res.status} with a body that is not JSON (${res.headers.get("content-type") ?? "no content type"}).`,
              details("api", attempt, { status: res.status, requestId }),
            ),
        );
        return { status: res.status, headers: res.headers, data, requestId };
      }

      // 429 (rate limit), 423 (Neon: another operation holds the project) and 503 are answers that
      // prove nothing was applied, so even a create may be sent again. 502/504 come from a gateway
      // that may have passed the request on: only idempotent requests retry those.
      const retryable =
        res.status === 429 ||
        res.status === 423 ||
        res.status === 503 ||
        (idempotent && (res.status === 502 || res.status === 504));
      if (retryable) {
        const asked = parseRetryAfter(res.headers.get("retry-after"), now());
        const ms = asked ?? backoff();
        if (canRetry(ms)) {
          // Only a wait this client will sit out pauses the others; an hour's Retry-After fails fast.
          if (res.status === 429) pausedUntil = Math.max(pausedUntil, now() + ms);
          log?.debug(
            `[${provider}] ${method} ${shown}: ${res.status}, retry ${attempt + 1}/${retry.maxAttempts} in ${seconds(ms)}${asked === undefined ? "" : " (Retry-After)"}`,
          );
          nextAt = now() + ms;
          continue;
        }
      }

      const vendor = vendorError(body, res.headers.get("content-type") ?? "");
      const vendorMessage = vendor.message
        ? redact(vendor.message, auth.value)
            .replace(/[.\s]+$/, "")
            .slice(0, 300)
        : undefined;
      const id = requestId ?? vendor.requestId;
      if (res.status === 404 && opts.nullIfNotFound) {
        return { status: res.status, headers: res.headers, data: null as T, requestId: id };
      }
      const detail = `${vendorMessage ? `: ${vendorMessage}` : ""}${id ? ` (request id ${id})` : ""}`;
      const extra = { status: res.status, vendorCode: vendor.code, vendorMessage, requestId: id };
      const from = `${res.status} from ${host}`;

      if (res.status === 401) {
        throw new ApiError(
          provider,
          `Could not ${what}: ${auth.variable} was rejected (${from})${detail}.`,
          details("auth", attempt, extra),
          { hint: `Check that ${auth.variable} holds a current ${provider} API token${overrideNote}.` },
        );
      }
      if (res.status === 403) {
        throw new ApiError(
          provider,
          `Could not ${what}: ${auth.variable} is not allowed to do this (${from})${detail}.`,
          details("auth", attempt, extra),
          { hint: `Give the token in ${auth.variable} access to this resource, or use one that has it.` },
        );
      }
      if (res.status === 404) {
        throw new ApiError(
          provider,
          `Could not ${what}: not found (${from})${detail}.`,
          details("not_found", attempt, extra),
        );
      }
      if (
        res.status === 409 ||
        ((res.status === 400 || res.status === 422) && NAME_TAKEN.test(vendorMessage ?? ""))
      ) {
        throw new ApiError(
          provider,
          `Could not ${what}: it already exists (${from})${detail}.`,
          details("exists", attempt, extra),
        );
      }
      if (retryable) {
        const tries = attempt > 1 ? ` after ${attempt} attempts` : "";
        throw new ApiError(
          provider,
          `Could not ${what}: ${host} is still busy or rate-limiting (${res.status})${tries}${detail}.`,
          details("rate_limited", attempt, extra),
          { hint: "Wait a minute and run the command again." },
        );
      }
      if (res.status >= 300 && res.status < 400) {
        const location = res.headers.get("location");
        const to = location ? ` to ${new URL(location, url).host}` : "";
        throw new ApiError(
          provider,
          `Could not ${what}: ${host} answered with a redirect (${res.status})${to}, which is not followed.`,
          details("api", attempt, extra),
          { hint: `Check the API URL${overrideNote || ` ${baseUrl}`}.` },
        );
      }
      throw new ApiError(
        provider,
        `Could not ${what}: ${res.status} ${res.statusText || "error"} from ${host}${detail}.`,
        details("api", attempt, extra),
      );
    }
  }

  function request<T>(method: HttpMethod, path: string, opts?: RequestOptions): Promise<T> {
    return send<T>(method, path, opts).then((r) => r.data);
  }

  return {
    provider,
    baseUrl,
    baseUrlSource,
    request: request as ApiClient["request"],
    send,
    poll: (fn, opts) => poll(fn, { provider, sleep: wait, now, ...opts }),
  };
}

function parseBody<T>(
  body: string,
  res: WireResponse,
  responseType: RequestOptions["responseType"],
  notJson: () => Error,
): T {
  if (responseType === "text") return body as T;
  if (res.status === 204 || body.trim() === "") return undefined as T;
  try {
    return JSON.parse(body) as T;
  } catch {
    throw notJson();
  }
}

/**
 * Call `fn` until `until(value)` holds; report each value to `onProgress`. The last call happens at
 * the deadline at the latest, then a timeout is a provider error saying what it waited for and the
 * last state seen. An abort is `InterruptedError`, also mid-wait.
 */
export async function poll<T>(fn: (attempt: number) => Promise<T>, options: PollOptions<T>): Promise<T> {
  const now = options.now ?? Date.now;
  const wait = options.sleep ?? sleep;
  const timeoutMs = options.timeoutMs ?? 300_000;
  const interval = options.intervalMs ?? 1000;
  const started = now();
  for (let attempt = 1; ; attempt++) {
    if (options.signal?.aborted) throw new InterruptedError();
    const value = await fn(attempt);
    const done = options.until(value);
    const elapsedMs = now() - started;
    options.onProgress?.({ attempt, elapsedMs, value, done });
    if (done) return value;
    const remaining = timeoutMs - elapsedMs;
    if (remaining <= 0) {
      const last = options.describe ? ` (last: ${options.describe(value)})` : "";
      throw new ProviderError(
        options.provider ?? "forkstack",
        `Timed out after ${seconds(timeoutMs)} waiting for ${options.what ?? "the operation to finish"}${last}.`,
        "E_PROVIDER_API",
        { hint: "It may still finish on its own: check again in a minute (`forkstack list`)." },
      );
    }
    const step = typeof interval === "function" ? interval(attempt) : interval;
    await wait(Math.max(0, Math.min(step, remaining)), options.signal);
  }
}
