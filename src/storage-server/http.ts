/**
 * @module storage-server/http
 * The per-request context handlers work with, and the few ways they answer (empty, XML, JSON, S3 error).
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { AuthResult, DecodedBody, DecodeOptions, RequestHead } from "./auth/index.js";
import { decodeBody } from "./auth/index.js";
import { S3Error } from "./errors.js";
import type { Store } from "./store/index.js";
import { buildXml } from "./xml.js";
import type { XmlObject } from "./xml.js";

export interface ServerInfo {
  /** The host the server answers as (never treated as a virtual-host bucket). */
  readonly host: string;
  readonly region: string;
}

export interface Ctx {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly store: Store;
  readonly server: ServerInfo;
  readonly requestId: string;
  readonly method: string;
  /**
   * The request line and headers. Once authenticated, the headers include the `x-amz-*` parameters a
   * presigned URL signed into its query (auth `requestHeaders`): handlers read headers from here.
   */
  head: RequestHead;
  /** Set by the router once the target is parsed. */
  bucketName: string | undefined;
  /** Decoded object key; undefined for bucket- and service-level requests. */
  key: string | undefined;
  readonly query: URLSearchParams;
  /** Set by the router once the request is authenticated. */
  auth: AuthResult;
  /**
   * The buckets (by id) the request's access key may reach, set by the router after authentication:
   * undefined for the project's own key, which reaches everything, and for anonymous requests, which
   * `handlers/acl.ts` limits to public objects (access.ts).
   */
  scope: ReadonlySet<number> | undefined;
  /** Set once something started reading the request body. */
  bodyUsed: boolean;
  /** The client sent `Expect: 100-continue` and waits for our go-ahead before sending the body. */
  readonly expectContinue: boolean;
  /** CORS headers every response to this request carries (from the bucket's rules; handlers/cors.ts). */
  cors: Record<string, string> | undefined;
}

/** First value of a request header (names are case-insensitive), presigned-query ones included. */
export function header(ctx: Ctx, name: string): string | undefined {
  const v = ctx.head.headers[name.toLowerCase()];
  return Array.isArray(v) ? v[0] : v;
}

export function baseHeaders(ctx: Ctx): Record<string, string> {
  const h: Record<string, string> = {
    "x-amz-request-id": ctx.requestId,
    "x-amz-id-2": ctx.requestId,
    Server: "forkstack",
  };
  return ctx.cors ? { ...h, ...ctx.cors } : h;
}

export function send(
  ctx: Ctx,
  status: number,
  body?: string | Buffer,
  headers: Record<string, string | number> = {},
): void {
  const res = ctx.res;
  const all: Record<string, string | number> = { ...baseHeaders(ctx), ...headers };
  if (body !== undefined && ctx.method !== "HEAD") {
    all["Content-Length"] = Buffer.byteLength(body);
  } else if (all["Content-Length"] === undefined && status !== 204 && status !== 304) {
    all["Content-Length"] = 0;
  }
  res.writeHead(status, all);
  res.end(ctx.method === "HEAD" ? undefined : body);
}

export function sendXml(
  ctx: Ctx,
  status: number,
  root: string,
  body: XmlObject,
  headers: Record<string, string> = {},
): void {
  send(ctx, status, buildXml(root, body), { "Content-Type": "application/xml", ...headers });
}

export function sendJson(
  ctx: Ctx,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  send(ctx, status, JSON.stringify(body), { "Content-Type": "application/json", ...headers });
}

/** The XML error document S3 clients parse (Code, Message, Resource, RequestId + details). */
export function sendError(ctx: Ctx, error: S3Error): void {
  const res = ctx.res;
  if (res.headersSent) {
    res.destroy(error);
    return;
  }
  const headers: Record<string, string> = { "Content-Type": "application/xml" };
  const answer = () => {
    if (error.code === "InvalidRange" && error.details.ActualObjectSize !== undefined) {
      headers["Content-Range"] = `bytes */${error.details.ActualObjectSize}`;
    }
    if (error.status === 304) {
      send(ctx, 304, undefined, headers);
      return;
    }
    const resource = ctx.head.rawUrl.split("?")[0] ?? "/";
    const body = buildXml(
      "Error",
      {
        Code: error.code,
        Message: error.message,
        Resource: safeDecode(resource),
        RequestId: ctx.requestId,
        ...error.details,
      },
      false,
    );
    send(ctx, error.status, body, headers);
  };
  // A body we never read (or stopped reading) must not be parsed as the next request: a client
  // waiting on 100-continue will not send it at all, so close; otherwise drain it.
  if (!ctx.bodyUsed && hasBody(ctx.req)) {
    if (ctx.expectContinue) headers.Connection = "close";
    else ctx.req.resume();
  } else if (ctx.bodyUsed && !ctx.req.readableEnded) {
    // We stopped reading part-way (a form upload refused on its policy's signer, a bad digest) while
    // the client may still be sending: answering and closing at once resets a connection it is still
    // writing to, and it sees EPIPE instead of our answer. So the rest is drained first, up to a
    // bound; past it (or if the client stops sending) the answer closes the connection.
    drainThen(ctx.req, ERROR_DRAIN_LIMIT, (ended) => {
      if (!ended) headers.Connection = "close";
      answer();
    });
    return;
  }
  answer();
}

/** How much of a refused request's remaining body is read before answering (see `sendError`). */
const ERROR_DRAIN_LIMIT = 8 * 1024 * 1024;

/** Reads and drops what is left of `req`, then calls `done(true)` at its end, or `done(false)` past `limit` or on a failure. */
function drainThen(req: IncomingMessage, limit: number, done: (ended: boolean) => void): void {
  let drained = 0;
  let settled = false;
  const finish = (ended: boolean) => {
    if (settled) return;
    settled = true;
    req.off("data", onData);
    done(ended);
  };
  const onData = (chunk: Buffer) => {
    drained += chunk.length;
    if (drained > limit) finish(false);
  };
  req.unpipe();
  req.on("data", onData);
  req.once("end", () => finish(true));
  req.once("error", () => finish(false));
  req.once("close", () => finish(req.readableEnded));
  req.resume();
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

export function hasBody(req: IncomingMessage): boolean {
  const len = req.headers["content-length"];
  return (len !== undefined && len !== "0") || req.headers["transfer-encoding"] !== undefined;
}

/**
 * Reads a small request body (XML/JSON documents) through the integrity decoder, so aws-chunked
 * framing is removed and any checksum the client sent is verified.
 */
export async function readSmallBody(ctx: Ctx, limit = 2 * 1024 * 1024): Promise<Buffer> {
  const decoded = openBody(ctx);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of decoded.stream as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) {
      decoded.stream.destroy();
      throw new S3Error("MaxMessageLengthExceeded", "Your request was too big.", 400);
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

/**
 * Starts reading the request body through the auth module's decoder (aws-chunked framing removed,
 * signatures and checksums verified as it streams). Sends `100 Continue` first if the client waits.
 */
export function openBody(ctx: Ctx, options?: DecodeOptions): DecodedBody {
  ctx.bodyUsed = true;
  if (ctx.expectContinue) ctx.res.writeContinue();
  const body = decodeBody(ctx.req, ctx.head, ctx.auth, options);
  // The decoder may fail (bad digest, short body) before the consumer starts iterating, e.g. while
  // it awaits opening a temp file. Without a listener that 'error' would crash the process; the
  // consumer still sees the error, because iterating an errored stream rejects with it.
  body.stream.on("error", () => undefined);
  return body;
}

/** Drains and discards a body a handler does not use, so the connection stays usable. */
export function discardBody(ctx: Ctx): void {
  if (!ctx.bodyUsed && hasBody(ctx.req)) {
    ctx.bodyUsed = true;
    if (ctx.expectContinue) ctx.res.writeContinue();
    ctx.req.resume();
  }
}
