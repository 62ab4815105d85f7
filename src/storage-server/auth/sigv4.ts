/**
 * @module storage-server/auth/sigv4
 * SigV4 building blocks shared by header auth, presigned URLs and aws-chunked bodies: the S3-style
 * canonical request, the signing key and signature comparison. Only node:crypto primitives are used.
 */
import { createHash, createHmac, timingSafeEqual } from "node:crypto";
import type { IncomingHttpHeaders } from "node:http";
import { S3Error } from "../errors.js";
import type { Credentials } from "./types.js";

export const ALGORITHM = "AWS4-HMAC-SHA256";
export const EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
/** AWS allows 15 minutes between the client's clock and ours. */
export const MAX_SKEW_MS = 15 * 60 * 1000;

export function sha256Hex(data: string | Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

export function hmac(key: string | Uint8Array, data: string): Buffer {
  return createHmac("sha256", key).update(data, "utf8").digest();
}

/** kSigning = HMAC chain over date, region, service and the `aws4_request` terminator. */
export function signingKey(secret: string, date: string, region: string, service: string): Buffer {
  const kDate = hmac(`AWS4${secret}`, date);
  return hmac(hmac(hmac(kDate, region), service), "aws4_request");
}

/** Constant-time comparison of two lowercase hex signatures. */
export function signaturesEqual(expectedHex: string, providedHex: string): boolean {
  const a = Buffer.from(expectedHex, "utf8");
  const b = Buffer.from(providedHex.toLowerCase(), "utf8");
  return a.length === b.length && timingSafeEqual(a, b);
}

/** The credential scope `<date>/<region>/<service>/aws4_request`, parsed from `Credential=`. */
export interface CredentialScope {
  readonly accessKeyId: string;
  readonly date: string;
  readonly region: string;
  readonly service: string;
  /** `date/region/service/aws4_request`, as it goes into the string to sign. */
  readonly scope: string;
}

/**
 * Parses `AKID/20240101/region/s3/aws4_request`. The access key id cannot contain `/`, so the last
 * four components are the scope. `errorCode` differs between header and presigned auth.
 */
export function parseCredential(value: string, errorCode: string): CredentialScope {
  const parts = value.split("/");
  const bad = (why: string): S3Error =>
    new S3Error(errorCode, `Error parsing the X-Amz-Credential parameter; ${why}`, 400);
  if (parts.length < 5)
    throw bad('the Credential is mal-formed; expecting "<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request".');
  const [date, region, service, terminator] = parts.slice(-4) as [string, string, string, string];
  const accessKeyId = parts.slice(0, -4).join("/");
  if (accessKeyId === "") throw bad("the access key id is empty.");
  if (!/^\d{8}$/.test(date))
    throw bad(
      `incorrect date format "${date}". This date in the credential must be in the format "yyyyMMdd".`,
    );
  if (region === "") throw bad("the region is empty.");
  // S3 (and the Tigris JSON endpoints, which reuse S3 signing) only ever sign for service "s3".
  if (service !== "s3") throw bad(`incorrect service "${service}". This endpoint belongs to "s3".`);
  if (terminator !== "aws4_request")
    throw bad(`incorrect terminal "${terminator}". This endpoint uses "aws4_request".`);
  return { accessKeyId, date, region, service, scope: `${date}/${region}/${service}/aws4_request` };
}

/** The key pair of `accessKeyId`, or S3's InvalidAccessKeyId: one answer for every way of signing. */
export function credentialsOf(
  lookup: (accessKeyId: string) => Credentials | undefined,
  accessKeyId: string,
): Credentials {
  const creds = lookup(accessKeyId);
  if (creds === undefined) {
    throw new S3Error(
      "InvalidAccessKeyId",
      "The AWS Access Key Id you provided does not exist in our records.",
      403,
      { AWSAccessKeyId: accessKeyId },
    );
  }
  return creds;
}

/** Parses the ISO 8601 basic timestamp SigV4 uses (`20240101T000000Z`). */
export function parseAmzDate(value: string | undefined): Date | undefined {
  const m = value === undefined ? null : /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(value);
  if (m === null) return undefined;
  const [, y, mo, d, h, mi, s] = m.map(Number) as [number, number, number, number, number, number, number];
  const t = Date.UTC(y, mo - 1, d, h, mi, s);
  return Number.isNaN(t) ? undefined : new Date(t);
}

/** RFC 3986 encoding as SigV4 wants it: everything but `A-Za-z0-9-._~` is percent-encoded. */
export function uriEncode(value: string, encodeSlash = true): string {
  const out = encodeURIComponent(value).replace(
    /[!'()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
  return encodeSlash ? out : out.replace(/%2F/g, "/");
}

function tryDecode(value: string): string | undefined {
  try {
    return decodeURIComponent(value);
  } catch {
    return undefined;
  }
}

/** Splits `rawUrl` into its still-encoded path and query (absolute-form URLs included). */
export function splitRawUrl(rawUrl: string): { path: string; query: string } {
  let url = rawUrl;
  const scheme = /^[a-z][a-z0-9+.-]*:\/\/[^/?]*/i.exec(url);
  if (scheme !== null) url = url.slice(scheme[0].length) || "/";
  const q = url.indexOf("?");
  return q === -1 ? { path: url, query: "" } : { path: url.slice(0, q), query: url.slice(q + 1) };
}

/**
 * Canonical URI candidates. S3 encodes the key once (no double encoding, no dot-segment
 * normalisation), but clients disagree on which characters to escape on the wire (`~`, `!`, `+`,
 * `'`…): decoding each segment and re-encoding it with the SigV4 rule gives what a conforming
 * signer computed from the unencoded key. The raw path is the fallback for a client that signed
 * exactly what it sent. Both describe the same key, so accepting either grants nothing extra.
 */
export function canonicalUriCandidates(rawPath: string): string[] {
  const path = rawPath === "" ? "/" : latin1ToUtf8(rawPath);
  const normalised = path
    .split("/")
    .map((segment) => {
      const decoded = tryDecode(segment);
      return decoded === undefined ? segment : uriEncode(decoded);
    })
    .join("/");
  return normalised === path ? [normalised] : [normalised, path];
}

/** Query parameters decoded, in wire order; `plusIsSpace` reads `+` the form-encoding way. */
export function parseQuery(rawQuery: string, plusIsSpace = false): Array<[string, string]> {
  if (rawQuery === "") return [];
  return rawQuery
    .split("&")
    .filter((p) => p !== "")
    .map((pair) => {
      const eq = pair.indexOf("=");
      const rawName = eq === -1 ? pair : pair.slice(0, eq);
      const rawValue = eq === -1 ? "" : pair.slice(eq + 1);
      const decode = (s: string): string => {
        const t = plusIsSpace ? s.replace(/\+/g, " ") : s;
        return tryDecode(t) ?? t;
      };
      return [decode(rawName), decode(rawValue)];
    });
}

/**
 * Canonical query string candidates: every parameter (minus `X-Amz-Signature` for presigned URLs)
 * re-encoded with the SigV4 rule and sorted by encoded name, then value; valueless flags such as
 * `?uploads` become `uploads=`. A literal `+` is read as `+` first and, failing that, as a space.
 */
export function canonicalQueryCandidates(rawQuery: string, exclude?: string): string[] {
  const build = (plusIsSpace: boolean): string =>
    parseQuery(rawQuery, plusIsSpace)
      .filter(([name]) => name !== exclude)
      .map(([name, value]) => [uriEncode(name), uriEncode(value)] as const)
      .sort(([an, av], [bn, bv]) => (an < bn ? -1 : an > bn ? 1 : av < bv ? -1 : av > bv ? 1 : 0))
      .map(([name, value]) => `${name}=${value}`)
      .join("&");
  const literal = build(false);
  return rawQuery.includes("+") ? [literal, build(true)] : [literal];
}

/**
 * Node decodes header values and the request target as latin1, one char per byte, while clients
 * sign the UTF-8 text. Turn such a string back into the text its bytes spell when they are valid
 * UTF-8, so non-ASCII metadata or unescaped paths hash to the bytes the client signed.
 */
export function latin1ToUtf8(value: string): string {
  // Only a string of byte-sized chars containing high bytes can be latin1-decoded UTF-8.
  if (!/[\x80-\xff]/.test(value) || /[\u0100-\uffff]/.test(value)) return value;
  const text = Buffer.from(value, "latin1").toString("utf8");
  return text.includes("\ufffd") ? value : text;
}

/** `name:value\n` for each signed header, values trimmed with inner whitespace runs collapsed. */
export function canonicalHeaders(headers: IncomingHttpHeaders, signedHeaders: readonly string[]): string {
  return signedHeaders
    .map((name) => {
      const raw = headers[name];
      const value = latin1ToUtf8(Array.isArray(raw) ? raw.join(",") : (raw ?? ""));
      return `${name}:${value.trim().replace(/\s+/g, " ")}\n`;
    })
    .join("");
}

export interface CanonicalInput {
  readonly method: string;
  readonly rawPath: string;
  readonly rawQuery: string;
  readonly headers: IncomingHttpHeaders;
  readonly signedHeaders: readonly string[];
  readonly payloadHash: string;
  /** Query parameter left out of the canonical query (`X-Amz-Signature` for presigned URLs). */
  readonly excludeQuery?: string;
}

/** All canonical requests a conforming client could have signed for this request (1 to 4). */
export function canonicalRequests(input: CanonicalInput): string[] {
  const headerBlock = canonicalHeaders(input.headers, input.signedHeaders);
  const out: string[] = [];
  for (const uri of canonicalUriCandidates(input.rawPath)) {
    for (const query of canonicalQueryCandidates(input.rawQuery, input.excludeQuery)) {
      out.push(
        [
          input.method.toUpperCase(),
          uri,
          query,
          headerBlock,
          input.signedHeaders.join(";"),
          input.payloadHash,
        ].join("\n"),
      );
    }
  }
  return out;
}

export function stringToSign(amzDate: string, scope: string, canonicalRequest: string): string {
  return `${ALGORITHM}\n${amzDate}\n${scope}\n${sha256Hex(canonicalRequest)}`;
}

export interface SignatureCheck {
  readonly key: Buffer;
  readonly amzDate: string;
  readonly scope: string;
  readonly provided: string;
  readonly accessKeyId: string;
}

/**
 * Tries each canonical request; throws SignatureDoesNotMatch with the first candidate's string to
 * sign and canonical request in the error details (as S3 does) so client bugs can be diagnosed.
 */
export function verifySignature(check: SignatureCheck, candidates: readonly string[]): void {
  for (const canonical of candidates) {
    const sig = hmac(check.key, stringToSign(check.amzDate, check.scope, canonical)).toString("hex");
    if (signaturesEqual(sig, check.provided)) return;
  }
  const first = candidates[0] ?? "";
  throw new S3Error(
    "SignatureDoesNotMatch",
    "The request signature we calculated does not match the signature you provided. Check your key and signing method.",
    403,
    {
      AWSAccessKeyId: check.accessKeyId,
      StringToSign: stringToSign(check.amzDate, check.scope, first),
      SignatureProvided: check.provided,
      CanonicalRequest: first,
    },
  );
}

/** Rejects timestamps more than 15 minutes from our clock, as S3 does. */
export function checkSkew(requestTime: Date, now: Date): void {
  if (Math.abs(now.getTime() - requestTime.getTime()) > MAX_SKEW_MS) {
    throw new S3Error(
      "RequestTimeTooSkewed",
      "The difference between the request time and the current time is too large.",
      403,
      {
        RequestTime: requestTime.toISOString(),
        ServerTime: now.toISOString(),
        MaxAllowedSkewMilliseconds: String(MAX_SKEW_MS),
      },
    );
  }
}

/** Formats a Date as the SigV4 basic timestamp. */
export function formatAmzDate(d: Date): string {
  return d
    .toISOString()
    .replace(/[-:]/g, "")
    .replace(/\.\d{3}/, "");
}

/**
 * What `authenticate` leaves in `AuthResult.signing` for the body decoder: the derived key and scope
 * to verify chunk and trailer signatures chained from the request's (seed) signature, and any
 * `x-amz-*` parameters a presigned URL carried in its query (they count as headers, e.g. checksums).
 */
export interface SigningState {
  readonly key: Buffer;
  readonly amzDate: string;
  readonly scope: string;
  readonly seedSignature: string;
  readonly hoisted: Readonly<Record<string, string>>;
}

export function isSigningState(value: unknown): value is SigningState {
  return (
    typeof value === "object" &&
    value !== null &&
    Buffer.isBuffer((value as SigningState).key) &&
    typeof (value as SigningState).seedSignature === "string"
  );
}
