/**
 * @module storage-server/handlers/cors
 * Bucket CORS configuration (Put/Get/DeleteBucketCors) and how it is applied, as S3 documents it: the
 * first rule whose AllowedOrigin, AllowedMethod and (for a preflight) AllowedHeader entries all match
 * decides; a preflight nothing matches is 403, and an actual request nothing matches simply gets no
 * CORS headers. A bucket without a configuration allows no cross-origin access at all, as on S3, so
 * a browser app that works here works against S3 with the same bucket setup.
 */
import { S3Error } from "../errors.js";
import type { Ctx } from "../http.js";
import { discardBody, header, readSmallBody, send, sendXml } from "../http.js";
import type { Bucket } from "../store/types.js";
import { list, malformed, parseXml, text, textList } from "../xml.js";
import { requireBucket } from "./common.js";

export interface CorsRule {
  AllowedOrigin: string[];
  AllowedMethod: string[];
  AllowedHeader: string[];
  ExposeHeader: string[];
  MaxAgeSeconds?: string;
  ID?: string;
}

const METHODS = ["GET", "PUT", "POST", "DELETE", "HEAD"];
const MAX_RULES = 100;

/** The checks PutBucketCors makes on every rule, whichever API the rules came through. */
function validateRules(rules: readonly CorsRule[]): void {
  if (rules.length === 0) throw malformed();
  if (rules.length > MAX_RULES) {
    throw new S3Error("InvalidRequest", `The CORS configuration may hold at most ${MAX_RULES} rules.`, 400);
  }
  for (const rule of rules) {
    if (rule.AllowedOrigin.length === 0 || rule.AllowedMethod.length === 0) throw malformed();
    for (const m of rule.AllowedMethod) {
      if (!METHODS.includes(m)) {
        throw new S3Error(
          "InvalidRequest",
          `Found unsupported HTTP method in CORS config. Unsupported method is ${m}`,
          400,
        );
      }
    }
    for (const [element, values] of [
      ["AllowedOrigin", rule.AllowedOrigin],
      ["AllowedHeader", rule.AllowedHeader],
    ] as const) {
      for (const v of values) {
        if (v.split("*").length > 2) {
          throw new S3Error("InvalidRequest", `${element} "${v}" can not have more than one wildcard.`, 400);
        }
      }
    }
    if (rule.MaxAgeSeconds !== undefined && !/^\d{1,10}$/.test(rule.MaxAgeSeconds)) throw malformed();
  }
}

/** Validates a CORSConfiguration document the way PutBucketCors does. */
export function parseCorsConfiguration(xml: string): CorsRule[] {
  const doc = parseXml(xml, "CORSConfiguration");
  const rules: CorsRule[] = list(doc, "CORSRule").map((r) => {
    const maxAge = text(r, "MaxAgeSeconds")?.trim();
    const id = text(r, "ID");
    return {
      AllowedOrigin: textList(r, "AllowedOrigin").map((s) => s.trim()),
      AllowedMethod: textList(r, "AllowedMethod").map((s) => s.trim()),
      AllowedHeader: textList(r, "AllowedHeader").map((s) => s.trim()),
      ExposeHeader: textList(r, "ExposeHeader").map((s) => s.trim()),
      ...(maxAge !== undefined ? { MaxAgeSeconds: maxAge } : {}),
      ...(id !== undefined ? { ID: id } : {}),
    };
  });
  validateRules(rules);
  return rules;
}

/**
 * The same rules from Tigris's JSON bucket settings (`PATCH /{bucket}` with `{"cors": {"rules":
 * [{allowedOrigin, allowedMethods, allowedHeaders, exposeHeaders, maxAge}]}}`, what
 * `@tigrisdata/storage`'s setBucketCors sends).
 */
export function corsRulesFromTigrisJson(value: unknown): CorsRule[] {
  const bad = (): S3Error => new S3Error("InvalidArgument", "cors.rules must be a list of CORS rules", 400);
  const rules = (value as { rules?: unknown } | null)?.rules;
  if (!Array.isArray(rules)) throw bad();
  const strings = (v: unknown): string[] => {
    if (v === undefined) return [];
    if (!Array.isArray(v) || v.some((s) => typeof s !== "string")) throw bad();
    return (v as string[]).map((s) => s.trim());
  };
  const parsed = rules.map((r: unknown): CorsRule => {
    if (typeof r !== "object" || r === null) throw bad();
    const o = r as Record<string, unknown>;
    if (o.maxAge !== undefined && (typeof o.maxAge !== "number" || !Number.isInteger(o.maxAge))) throw bad();
    return {
      AllowedOrigin: strings(o.allowedOrigin),
      AllowedMethod: strings(o.allowedMethods),
      AllowedHeader: strings(o.allowedHeaders),
      ExposeHeader: strings(o.exposeHeaders),
      ...(o.maxAge !== undefined ? { MaxAgeSeconds: String(o.maxAge) } : {}),
    };
  });
  validateRules(parsed);
  return parsed;
}

export async function putBucketCors(ctx: Ctx): Promise<void> {
  const bucket = requireBucket(ctx);
  const rules = parseCorsConfiguration((await readSmallBody(ctx, 64 * 1024)).toString("utf8"));
  await ctx.store.meta.write(() => ctx.store.meta.setCors(bucket, JSON.stringify(rules)));
  send(ctx, 200);
}

export function getBucketCors(ctx: Ctx): void {
  discardBody(ctx);
  const bucket = requireBucket(ctx);
  const rules = rulesOf(bucket);
  if (!rules) {
    throw new S3Error("NoSuchCORSConfiguration", "The CORS configuration does not exist", 404, {
      BucketName: bucket.name,
    });
  }
  sendXml(ctx, 200, "CORSConfiguration", {
    CORSRule: rules.map((r) => ({
      ...(r.ID !== undefined ? { ID: r.ID } : {}),
      AllowedHeader: r.AllowedHeader,
      AllowedMethod: r.AllowedMethod,
      AllowedOrigin: r.AllowedOrigin,
      ExposeHeader: r.ExposeHeader,
      ...(r.MaxAgeSeconds !== undefined ? { MaxAgeSeconds: r.MaxAgeSeconds } : {}),
    })),
  });
}

export async function deleteBucketCors(ctx: Ctx): Promise<void> {
  discardBody(ctx);
  const bucket = requireBucket(ctx);
  await ctx.store.meta.write(() => ctx.store.meta.setCors(bucket, null));
  send(ctx, 204);
}

function rulesOf(bucket: Bucket): CorsRule[] | undefined {
  if (!bucket.cors) return undefined;
  try {
    return JSON.parse(bucket.cors) as CorsRule[];
  } catch {
    return undefined;
  }
}

/** `*` matches any run of characters (at most one `*` per pattern, checked on Put). */
export function wildcardMatch(pattern: string, value: string, ignoreCase = false): boolean {
  const p = ignoreCase ? pattern.toLowerCase() : pattern;
  const v = ignoreCase ? value.toLowerCase() : value;
  const star = p.indexOf("*");
  if (star < 0) return p === v;
  const head = p.slice(0, star);
  const tail = p.slice(star + 1);
  return v.length >= head.length + tail.length && v.startsWith(head) && v.endsWith(tail);
}

function splitHeaderList(value: string | undefined): string[] {
  return (value ?? "")
    .split(",")
    .map((h) => h.trim().toLowerCase())
    .filter((h) => h !== "");
}

/** The first rule allowing `origin` and `method` (and every requested header, for preflights). */
export function matchRule(
  rules: readonly CorsRule[],
  origin: string,
  method: string,
  requestHeaders: readonly string[] = [],
): CorsRule | undefined {
  return rules.find(
    (r) =>
      r.AllowedOrigin.some((o) => wildcardMatch(o, origin)) &&
      r.AllowedMethod.includes(method) &&
      requestHeaders.every((h) => r.AllowedHeader.some((a) => wildcardMatch(a, h, true))),
  );
}

const VARY = "Origin, Access-Control-Request-Headers, Access-Control-Request-Method";

function allowHeaders(rule: CorsRule, origin: string): Record<string, string> {
  // A rule for any origin answers `*` (and so no credentials), as S3 does.
  const wildcard = rule.AllowedOrigin.includes("*");
  const h: Record<string, string> = {
    "Access-Control-Allow-Origin": wildcard ? "*" : origin,
    "Access-Control-Allow-Methods": rule.AllowedMethod.join(", "),
    Vary: VARY,
  };
  if (!wildcard) h["Access-Control-Allow-Credentials"] = "true";
  if (rule.ExposeHeader.length > 0) h["Access-Control-Expose-Headers"] = rule.ExposeHeader.join(", ");
  if (rule.MaxAgeSeconds !== undefined) h["Access-Control-Max-Age"] = rule.MaxAgeSeconds;
  return h;
}

/**
 * CORS headers for an actual (non-preflight) request to a bucket or object, computed once per
 * request so error responses carry them too (a browser app can then read S3's error). As S3 does,
 * an `Access-Control-Request-Method` on an actual request is what the rule is matched against.
 */
export function corsResponseHeaders(ctx: Ctx): Record<string, string> | undefined {
  const origin = header(ctx, "origin");
  if (ctx.bucketName === undefined) return undefined;
  // Without an Origin only cacheable reads need an answer: their Vary keeps a browser from reusing
  // a response fetched without CORS (an <img>) for a later CORS fetch of the same URL.
  if (origin === undefined && ctx.method !== "GET" && ctx.method !== "HEAD") return undefined;
  const bucket = ctx.store.meta.getBucket(ctx.bucketName);
  const rules = bucket && rulesOf(bucket);
  if (!rules) return undefined;
  if (origin === undefined) return { Vary: VARY };
  const method = header(ctx, "access-control-request-method")?.trim() || ctx.method;
  const rule = matchRule(rules, origin, method);
  return rule ? allowHeaders(rule, origin) : { Vary: VARY };
}

function forbidden(message: string, ctx: Ctx, method: string): S3Error {
  return new S3Error("AccessForbidden", `CORSResponse: ${message}`, 403, {
    Method: method,
    ResourceType: ctx.key === undefined ? "BUCKET" : "OBJECT",
  });
}

/** An `OPTIONS` preflight (never authenticated: browsers send no credentials with it). */
export function preflight(ctx: Ctx): void {
  discardBody(ctx);
  const origin = header(ctx, "origin");
  if (origin === undefined || origin === "") {
    throw new S3Error("BadRequest", "Insufficient information. Origin request header needed.", 400);
  }
  const method = header(ctx, "access-control-request-method")?.trim();
  if (method === undefined || !METHODS.includes(method)) {
    throw new S3Error("BadRequest", `Invalid Access-Control-Request-Method: ${method ?? "null"}`, 400);
  }
  if (ctx.bucketName === undefined) throw forbidden("This CORS request is not allowed.", ctx, method);
  const rules = rulesOf(requireBucket(ctx));
  if (!rules) throw forbidden("CORS is not enabled for this bucket.", ctx, method);
  const requested = splitHeaderList(header(ctx, "access-control-request-headers"));
  const rule = matchRule(rules, origin, method, requested);
  if (!rule) {
    throw forbidden(
      "This CORS request is not allowed. This is usually because the evalution of Origin, request method / " +
        "Access-Control-Request-Method or Access-Control-Request-Headers are not whitelisted by the resource's CORS spec.",
      ctx,
      method,
    );
  }
  const headers = allowHeaders(rule, origin);
  if (requested.length > 0) headers["Access-Control-Allow-Headers"] = requested.join(", ");
  ctx.cors = headers;
  send(ctx, 200);
}
