/**
 * @module storage-server/auth/presign
 * SigV4 query-string authentication (presigned URLs): `X-Amz-Algorithm`, `X-Amz-Credential`,
 * `X-Amz-Date`, `X-Amz-Expires`, `X-Amz-SignedHeaders`, `X-Amz-Signature`.
 */
import type { AuthResult, Credentials, RequestHead } from "./types.js";
import { S3Error } from "../errors.js";
import { refuseUnsignedHeaders } from "./signed-headers.js";
import {
  ALGORITHM,
  MAX_SKEW_MS,
  canonicalRequests,
  parseAmzDate,
  credentialsOf,
  parseCredential,
  parseQuery,
  signingKey,
  splitRawUrl,
  verifySignature,
  type SigningState,
} from "./sigv4.js";

const QUERY_ERROR = "AuthorizationQueryParametersError";
/** S3's ceiling for X-Amz-Expires: seven days. */
const MAX_EXPIRES_SECONDS = 604_800;
/** Query parameters that are the signature itself, not `x-amz-*` headers moved into the query. */
const AUTH_PARAMS = new Set([
  "x-amz-algorithm",
  "x-amz-credential",
  "x-amz-date",
  "x-amz-expires",
  "x-amz-signedheaders",
  "x-amz-signature",
  "x-amz-security-token",
  "x-amz-content-sha256",
]);

/** True when the URL carries SigV4 query authentication. */
export function isPresigned(rawUrl: string): boolean {
  return parseQuery(splitRawUrl(rawUrl).query).some(([name]) => name === "X-Amz-Algorithm");
}

export function authenticatePresigned(
  head: RequestHead,
  lookup: (accessKeyId: string) => Credentials | undefined,
  now: Date,
): AuthResult {
  const { path, query } = splitRawUrl(head.rawUrl);
  const params = new Map<string, string>();
  const hoisted: Record<string, string> = {};
  for (const [name, value] of parseQuery(query)) {
    if (!params.has(name)) params.set(name, value);
    const lower = name.toLowerCase();
    if (lower.startsWith("x-amz-") && !AUTH_PARAMS.has(lower)) hoisted[lower] ??= value;
  }

  const algorithm = params.get("X-Amz-Algorithm");
  if (algorithm === "AWS4-ECDSA-P256-SHA256") {
    throw new S3Error("NotImplemented", "SigV4a (AWS4-ECDSA-P256-SHA256) is not implemented.", 501);
  }
  if (algorithm !== ALGORITHM) {
    throw new S3Error(QUERY_ERROR, `X-Amz-Algorithm only supports "${ALGORITHM}"`, 400);
  }
  const credential = params.get("X-Amz-Credential");
  const dateParam = params.get("X-Amz-Date");
  const expiresParam = params.get("X-Amz-Expires");
  const signedHeadersParam = params.get("X-Amz-SignedHeaders");
  const signature = params.get("X-Amz-Signature");
  if (
    credential === undefined ||
    dateParam === undefined ||
    expiresParam === undefined ||
    signedHeadersParam === undefined ||
    signature === undefined
  ) {
    throw new S3Error(
      QUERY_ERROR,
      "Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, X-Amz-Signature, " +
        "X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters.",
      400,
    );
  }
  if (!/^[0-9a-fA-F]{64}$/.test(signature)) {
    throw new S3Error(QUERY_ERROR, "X-Amz-Signature must be 64 hex characters.", 400);
  }
  const scope = parseCredential(credential, QUERY_ERROR);
  const creds = credentialsOf(lookup, scope.accessKeyId);
  const signedAt = parseAmzDate(dateParam);
  if (signedAt === undefined) {
    throw new S3Error(
      QUERY_ERROR,
      `X-Amz-Date must be in the ISO8601 Long Format "yyyyMMdd'T'HHmmss'Z'"`,
      400,
    );
  }
  // S3's answers, in its order: not an integer, negative, over a week → 400 with these messages. Zero
  // is in range syntactically but a URL valid for 0 s has expired on arrival → 403 below.
  if (!/^-?\d+$/.test(expiresParam)) throw new S3Error(QUERY_ERROR, "X-Amz-Expires should be a number", 400);
  const expires = Number(expiresParam);
  if (expires < 0) throw new S3Error(QUERY_ERROR, "X-Amz-Expires must be non-negative", 400);
  if (expires > MAX_EXPIRES_SECONDS) {
    throw new S3Error(
      QUERY_ERROR,
      "X-Amz-Expires must be less than a week (in seconds); that is, the given X-Amz-Expires must be " +
        `less than ${MAX_EXPIRES_SECONDS} seconds`,
      400,
    );
  }
  if (scope.date !== dateParam.slice(0, 8)) {
    throw new S3Error(
      QUERY_ERROR,
      `Invalid credential date "${scope.date}". This date is not the same as X-Amz-Date: "${dateParam.slice(0, 8)}".`,
      400,
    );
  }
  // A URL signed by a clock far ahead of ours is refused like a skewed header request would be.
  if (signedAt.getTime() - now.getTime() > MAX_SKEW_MS) {
    throw new S3Error("AccessDenied", "Request is not valid yet", 403, {
      "X-Amz-Date": dateParam,
      ServerTime: now.toISOString(),
    });
  }
  const expiresAt = new Date(signedAt.getTime() + expires * 1000);
  if (expires === 0 || now.getTime() > expiresAt.getTime()) {
    throw new S3Error("AccessDenied", "Request has expired", 403, {
      "X-Amz-Expires": expiresParam,
      Expires: expiresAt.toISOString(),
      ServerTime: now.toISOString(),
    });
  }

  const signedHeaders = signedHeadersParam.split(";").map((h) => h.trim().toLowerCase());
  if (!signedHeaders.includes("host")) throw new S3Error(QUERY_ERROR, "The Host header must be signed.", 400);
  // Every x-amz-* and Tigris header present must be signed (signed-headers.ts): named in
  // X-Amz-SignedHeaders, or equal to the query parameter of that name, which the signature covers
  // (a presigner moves most x-amz-* headers there, and a client may send them as headers too).
  const signedQuery = new Map<string, string>();
  for (const [name, value] of params) {
    if (name !== "X-Amz-Signature" && !signedQuery.has(name.toLowerCase())) {
      signedQuery.set(name.toLowerCase(), value.trim());
    }
  }
  refuseUnsignedHeaders(
    head.headers,
    (name, value) => signedHeaders.includes(name) || signedQuery.get(name) === value,
  );
  // S3 presigned URLs sign UNSIGNED-PAYLOAD unless the signer put a hash in X-Amz-Content-Sha256.
  const declared = params.get("X-Amz-Content-Sha256") ?? "UNSIGNED-PAYLOAD";
  const payloadIsHash = /^[0-9a-fA-F]{64}$/.test(declared);
  if (!payloadIsHash && declared !== "UNSIGNED-PAYLOAD") {
    throw new S3Error(QUERY_ERROR, "X-Amz-Content-Sha256 must be UNSIGNED-PAYLOAD or a sha256 value.", 400);
  }

  const key = signingKey(creds.secretAccessKey, scope.date, scope.region, scope.service);
  const candidates = canonicalRequests({
    method: head.method,
    rawPath: path,
    rawQuery: query,
    headers: head.headers,
    signedHeaders,
    payloadHash: declared,
    excludeQuery: "X-Amz-Signature",
  });
  verifySignature(
    { key, amzDate: dateParam, scope: scope.scope, provided: signature, accessKeyId: scope.accessKeyId },
    candidates,
  );

  const signing: SigningState = {
    key,
    amzDate: dateParam,
    scope: scope.scope,
    seedSignature: signature.toLowerCase(),
    hoisted,
  };
  return {
    accessKeyId: scope.accessKeyId,
    payload: payloadIsHash ? { kind: "sha256", hex: declared.toLowerCase() } : { kind: "unsigned" },
    signing,
  };
}
