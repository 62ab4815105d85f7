/**
 * @module providers/_http-errors
 * What a failed API call is (`ApiError`: a `ProviderError` carrying what providers branch on), and how
 * a vendor's message and a credential are read out of an answer. Part of `_http.ts`, which re-exports it.
 */
import { ProviderError } from "../errors.js";
import type { ErrorCode } from "../errors.js";

export type HttpMethod = "GET" | "HEAD" | "POST" | "PUT" | "PATCH" | "DELETE";

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

/**
 * The vendor's message and code from an error body. The four shapes the vendors use (docs/providers.md):
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
export function scrub(error: unknown, secret: string): unknown {
  if (!(error instanceof Error) || redact(error.message, secret) === error.message) return error;
  const clean = new Error(redact(error.message, secret));
  clean.name = error.name;
  return clean;
}
