/**
 * @module providers/_http
 * The one HTTP client every API provider (turso, neon, planetscale, doppler) talks through, over
 * `node:http(s)` with keep-alive (`_http-transport.ts`). It owns what each provider would otherwise get
 * subtly wrong on its own (its errors are in `_http-errors.ts`, its waiting in `_poll.ts`):
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
 *   `E_PROVIDER_API`) with the vendor's own message (four body shapes: docs/providers.md) and
 *   the request id a support ticket needs;
 * - load: at most `maxConcurrency` requests in flight per client, and a 429 pauses the whole client,
 *   not just the request that got it;
 * - readiness: `poll()` for Neon operations and PlanetScale's `ready`, with progress callbacks.
 *
 * Response bodies are never logged: they hold passwords (Neon `connection_uris`, PlanetScale
 * `plain_text`, Doppler token `key`). Logs carry method, path (no query) and status only.
 */
import { InterruptedError, ProviderError, UserError } from "../errors.js";
import {
  ApiError,
  redact,
  scrub,
  vendorError,
  type ApiErrorDetails,
  type ApiErrorKind,
  type HttpMethod,
} from "./_http-errors.js";
import { nodeTransport, type Transport, type WireResponse } from "./_http-transport.js";
import { limit } from "./_limit.js";
import type { Limiter } from "./_limit.js";
import { anySignal, poll, seconds, sleep, type PollOptions } from "./_poll.js";
import type { Clock, Logger } from "./types.js";

export * from "./_http-errors.js";
export { anySignal, poll, sleep, type PollOptions, type PollProgress } from "./_poll.js";

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

/**
 * `Authorization: Bearer <token>` (Turso, Neon, Doppler) from the environment variable `variable`,
 * read now unless `value` is given. Trimmed, so a blank value is "not set" like a missing one.
 */
export function bearerAuth(variable: string, value: string | undefined = process.env[variable]): ApiAuth {
  const token = value?.trim();
  return { header: "Authorization", value: token ? `Bearer ${token}` : undefined, variable };
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
  // Seams for tests: retries and polls are asserted by counting, never by waiting. `clock` is the
  // provider context's (`ProviderContext.clock`); `sleep` and `now` win over it.
  readonly clock?: Clock | undefined;
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
  const clock = options.clock;
  const now = options.now ?? (clock ? () => clock.now() : Date.now);
  const random = options.random ?? Math.random;
  const wait =
    options.sleep ?? (clock ? (ms: number, signal?: AbortSignal) => clock.sleep(ms, signal) : sleep);
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
