/**
 * @module providers/_http-transport
 * How `_http.ts` puts a request on the wire by default: `node:http`/`node:https` on Node's global
 * agents (keep-alive, so one command's requests to an API share a connection), not the global `fetch`.
 *
 * Why not `fetch`: in Node 20 it is undici, compiled on first use — about 20 ms of CPU before the first
 * request of every CLI process, then a few ms more per request than `node:http` (measured by
 * `bench/providers.mjs`: a provider command makes 2–8 requests, so that was most of the CLI's own cost
 * beyond Node's start). The client needs nothing undici adds: no redirects (refused anyway), no
 * compression, no streaming; a whole JSON or text body per answer.
 *
 * The answer has the part of `Response` the client reads, so a `fetch` passed as a test seam fits the
 * same place. A body that stops halfway fails with the abort like a missing answer does.
 */
import type { IncomingHttpHeaders } from "node:http";

export interface WireRequest {
  readonly method: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body?: string;
  readonly signal: AbortSignal;
}

/** The part of a fetch `Response` the client reads. */
export interface WireResponse {
  readonly status: number;
  readonly statusText: string;
  readonly headers: { get(name: string): string | null };
  text(): Promise<string>;
}

export type Transport = (url: URL, init: WireRequest) => Promise<WireResponse>;

/** Response headers as `Headers.get` gives them: lower-case names, repeated values joined by ", ". */
function headerGetter(raw: IncomingHttpHeaders): WireResponse["headers"] {
  return {
    get(name) {
      const value = raw[name.toLowerCase()];
      if (value === undefined) return null;
      return Array.isArray(value) ? value.join(", ") : value;
    },
  };
}

function abortError(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  if (reason instanceof Error) return reason;
  const error = new Error("The operation was aborted.");
  error.name = "AbortError";
  return error;
}

/** One request and its whole body, on the global agent of `http:` or `https:` (loaded on first use). */
export const nodeTransport: Transport = async (url, init) => {
  const { request } = url.protocol === "https:" ? await import("node:https") : await import("node:http");
  const { signal } = init;
  if (signal.aborted) throw abortError(signal);
  return new Promise<WireResponse>((resolve, reject) => {
    const headers: Record<string, string> = { ...init.headers };
    // A length, not chunked encoding: some API gateways refuse a chunked request body.
    if (init.body !== undefined) headers["content-length"] = String(Buffer.byteLength(init.body));
    const req = request(url, { method: init.method, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (chunk: Buffer) => chunks.push(chunk));
      res.on("error", fail);
      // The connection closed before the whole body came: a network failure, like fetch's.
      res.on("aborted", () => fail(Object.assign(new Error("socket hang up"), { code: "ECONNRESET" })));
      res.on("end", () => {
        if (!res.complete) return;
        done();
        const body = Buffer.concat(chunks).toString("utf8");
        resolve({
          status: res.statusCode ?? 0,
          statusText: res.statusMessage ?? "",
          headers: headerGetter(res.headers),
          text: () => Promise.resolve(body),
        });
      });
    });
    const onAbort = () => fail(abortError(signal));
    function done() {
      signal.removeEventListener("abort", onAbort);
    }
    function fail(error: unknown) {
      done();
      req.destroy();
      reject(error);
    }
    signal.addEventListener("abort", onAbort, { once: true });
    req.on("error", fail);
    req.end(init.body);
  });
};
