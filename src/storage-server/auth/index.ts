/**
 * @module storage-server/auth
 * Request authentication (SigV4 header and presigned URLs) and body integrity for the embedded S3
 * server. The router calls `authenticate` on every request, then `decodeBody` for requests with a
 * body, and stores the object only once the decoded stream has ended without error.
 */
import type { IncomingHttpHeaders } from "node:http";
import type { AuthResult, Credentials, RequestHead } from "./types.js";
import { S3Error } from "../errors.js";
import { authenticateHeader } from "./header.js";
import { authenticatePresigned } from "./presign.js";
import { isSigningState, parseQuery, splitRawUrl } from "./sigv4.js";

export type {
  AuthResult,
  BodyChecksums,
  ChecksumAlgorithm,
  Credentials,
  DecodedBody,
  PayloadMode,
  RequestHead,
} from "./types.js";
export { decodeBody, verifyDeleteObjectsBody, type DecodeOptions } from "./body.js";
export { generateCredentials, loadOrCreateCredentials } from "./credentials.js";
export { CHECKSUM_ALGORITHMS } from "./checksums.js";
export { isTigrisHeader, refuseUnsignedHeaders } from "./signed-headers.js";

/**
 * Verifies a request's SigV4 signature (Authorization header or presigned query) against the key
 * `lookup` returns. Throws an S3Error (`AccessDenied`, `InvalidAccessKeyId`, `SignatureDoesNotMatch`,
 * `RequestTimeTooSkewed`, …) when the request is not authentic.
 */
export function authenticate(
  head: RequestHead,
  lookup: (accessKeyId: string) => Credentials | undefined,
  now: Date = new Date(),
): AuthResult {
  const authorization = head.headers.authorization;
  const params = parseQuery(splitRawUrl(head.rawUrl).query).map(([name]) => name);
  const presigned = params.includes("X-Amz-Algorithm");
  if (authorization !== undefined && authorization !== "") {
    if (presigned) {
      throw new S3Error(
        "InvalidArgument",
        "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query string " +
          "parameter or the Authorization header should be specified",
        400,
      );
    }
    return authenticateHeader(head, authorization, lookup, now);
  }
  if (presigned) return authenticatePresigned(head, lookup, now);
  if (params.includes("AWSAccessKeyId") && params.includes("Signature")) {
    throw new S3Error(
      "InvalidRequest",
      "The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256.",
      400,
    );
  }
  throw new S3Error("AccessDenied", "Access Denied", 403);
}

/**
 * The headers an authenticated request stands for: the ones it sent, plus the `x-amz-*` parameters a
 * presigned URL carries in its signed query, which S3 reads as the request's headers (a presigner
 * moves `x-amz-acl`, `x-amz-meta-*`, `x-amz-copy-source`, checksums … there). A header sent as well
 * wins; `authenticate` let it through only if it is signed itself or equal to the parameter. Values
 * are given as Node delivers header values (UTF-8 bytes as latin1 characters), so handlers read both
 * kinds the same way.
 */
export function requestHeaders(head: RequestHead, auth: AuthResult): IncomingHttpHeaders {
  const hoisted = isSigningState(auth.signing) ? Object.entries(auth.signing.hoisted) : [];
  if (hoisted.length === 0) return head.headers;
  const headers: IncomingHttpHeaders = {};
  for (const [name, value] of hoisted) headers[name] = Buffer.from(value, "utf8").toString("latin1");
  return { ...headers, ...head.headers };
}
