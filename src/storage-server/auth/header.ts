/**
 * @module storage-server/auth/header
 * SigV4 with an `Authorization: AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…` header,
 * and the payload mode the client declared in `x-amz-content-sha256`.
 */
import type { AuthResult, Credentials, PayloadMode, RequestHead } from "./types.js";
import { S3Error } from "../errors.js";
import { refuseUnsignedHeaders } from "./signed-headers.js";
import {
  ALGORITHM,
  EMPTY_SHA256,
  canonicalRequests,
  checkSkew,
  formatAmzDate,
  parseAmzDate,
  credentialsOf,
  parseCredential,
  signingKey,
  splitRawUrl,
  verifySignature,
  type SigningState,
} from "./sigv4.js";

const MALFORMED = "AuthorizationHeaderMalformed";

/** Maps an `x-amz-content-sha256` value to how the body must be read and checked. */
export function payloadModeFor(value: string): PayloadMode {
  if (/^[0-9a-fA-F]{64}$/.test(value)) return { kind: "sha256", hex: value.toLowerCase() };
  switch (value) {
    case "UNSIGNED-PAYLOAD":
      return { kind: "unsigned" };
    case "STREAMING-AWS4-HMAC-SHA256-PAYLOAD":
      return { kind: "aws-chunked", signed: true, trailer: false };
    case "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER":
      return { kind: "aws-chunked", signed: true, trailer: true };
    case "STREAMING-UNSIGNED-PAYLOAD-TRAILER":
      return { kind: "aws-chunked", signed: false, trailer: true };
    case "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD":
    case "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD-TRAILER":
      // SigV4a needs ECDSA key derivation from the secret; no local client needs it.
      throw new S3Error("NotImplemented", "SigV4a (ECDSA) streaming payloads are not implemented.", 501);
    default:
      throw new S3Error(
        "InvalidArgument",
        "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-UNSIGNED-PAYLOAD-TRAILER, " +
          "STREAMING-AWS4-HMAC-SHA256-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER or a valid sha256 value.",
        400,
        { ArgumentName: "x-amz-content-sha256", ArgumentValue: value },
      );
  }
}

function header(head: RequestHead, name: string): string | undefined {
  const v = head.headers[name];
  return Array.isArray(v) ? v.join(",") : v;
}

/** True when the request cannot carry a body, so an omitted payload hash can only mean "empty". */
function hasNoBody(head: RequestHead): boolean {
  const length = header(head, "content-length");
  return header(head, "transfer-encoding") === undefined && (length === undefined || length === "0");
}

function parseAuthorization(value: string): {
  credential: string;
  signedHeaders: string[];
  signature: string;
} {
  if (value.startsWith("AWS ")) {
    throw new S3Error(
      "InvalidRequest",
      "The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256.",
      400,
    );
  }
  if (value.startsWith("AWS4-ECDSA-P256-SHA256")) {
    throw new S3Error("NotImplemented", "SigV4a (AWS4-ECDSA-P256-SHA256) is not implemented.", 501);
  }
  if (!value.startsWith(`${ALGORITHM} `))
    throw new S3Error("InvalidArgument", "Unsupported Authorization Type", 400);
  const fields = new Map<string, string>();
  for (const part of value.slice(ALGORITHM.length + 1).split(",")) {
    const eq = part.indexOf("=");
    if (eq > 0) fields.set(part.slice(0, eq).trim(), part.slice(eq + 1).trim());
  }
  const credential = fields.get("Credential");
  const signedHeaders = fields.get("SignedHeaders");
  const signature = fields.get("Signature");
  if (credential === undefined || signedHeaders === undefined || signature === undefined) {
    throw new S3Error(
      MALFORMED,
      "The authorization header is malformed; it must contain Credential, SignedHeaders and Signature.",
      400,
    );
  }
  if (!/^[0-9a-fA-F]{64}$/.test(signature)) {
    throw new S3Error(
      MALFORMED,
      "The authorization header is malformed; the Signature must be 64 hex characters.",
      400,
    );
  }
  return {
    credential,
    signedHeaders: signedHeaders.split(";").map((h) => h.trim().toLowerCase()),
    signature,
  };
}

/** Verifies header-based SigV4. Throws an S3Error on any failure. */
export function authenticateHeader(
  head: RequestHead,
  authorization: string,
  lookup: (accessKeyId: string) => Credentials | undefined,
  now: Date,
): AuthResult {
  const parsed = parseAuthorization(authorization);
  const scope = parseCredential(parsed.credential, MALFORMED);
  const creds = credentialsOf(lookup, scope.accessKeyId);

  // x-amz-date wins; a plain Date header (RFC 1123) is the documented alternative.
  const amzDateHeader = header(head, "x-amz-date");
  const dateHeader = header(head, "date");
  const requestTime =
    amzDateHeader !== undefined
      ? parseAmzDate(amzDateHeader)
      : dateHeader !== undefined && !Number.isNaN(Date.parse(dateHeader))
        ? new Date(Date.parse(dateHeader))
        : undefined;
  if (requestTime === undefined) {
    throw new S3Error("AccessDenied", "AWS authentication requires a valid Date or x-amz-date header", 403);
  }
  const amzDate = amzDateHeader ?? formatAmzDate(requestTime);
  checkSkew(requestTime, now);
  if (scope.date !== amzDate.slice(0, 8)) {
    throw new S3Error(
      MALFORMED,
      `Invalid credential date "${scope.date}". This date is not the same as X-Amz-Date: "${amzDate.slice(0, 8)}".`,
      400,
    );
  }
  // Signing the Host header is what binds the signature to this server; every SigV4 client does it.
  if (!parsed.signedHeaders.includes("host")) {
    throw new S3Error(
      MALFORMED,
      "The authorization header is malformed; the Host header must be signed.",
      400,
    );
  }

  // Every x-amz-* and Tigris header present must be signed (signed-headers.ts): unsigned, it could be
  // added or swapped in transit, e.g. to disable the payload check or to turn a PUT into a copy.
  refuseUnsignedHeaders(head.headers, (name) => parsed.signedHeaders.includes(name));

  const declared = header(head, "x-amz-content-sha256");
  if (declared === undefined && !hasNoBody(head)) {
    throw new S3Error(
      "InvalidRequest",
      "Missing required header for this request: x-amz-content-sha256",
      400,
    );
  }
  const payloadHash = declared ?? EMPTY_SHA256;
  const payload = payloadModeFor(payloadHash);

  const { path, query } = splitRawUrl(head.rawUrl);
  const key = signingKey(creds.secretAccessKey, scope.date, scope.region, scope.service);
  const candidates = canonicalRequests({
    method: head.method,
    rawPath: path,
    rawQuery: query,
    headers: head.headers,
    signedHeaders: parsed.signedHeaders,
    payloadHash,
  });
  verifySignature(
    { key, amzDate, scope: scope.scope, provided: parsed.signature, accessKeyId: scope.accessKeyId },
    candidates,
  );

  const signing: SigningState = {
    key,
    amzDate,
    scope: scope.scope,
    seedSignature: parsed.signature.toLowerCase(),
    hoisted: {},
  };
  return { accessKeyId: scope.accessKeyId, payload, signing };
}
