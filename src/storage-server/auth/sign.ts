/**
 * @module storage-server/auth/sign
 * The client side of SigV4, from the same building blocks the server verifies with: used by the
 * storage providers for their few bucket calls. A signing library would do (aws4fetch, @smithy), but
 * both cost more to load than a whole `forkstack new` should spend (aws4fetch needs `fetch`'s
 * `Headers`, which loads undici: ~35 ms; @smithy/signature-v4: ~100 ms), and these lines are the
 * exact inverse of `verifySignature`, tested against it.
 */
import {
  ALGORITHM,
  EMPTY_SHA256,
  canonicalRequests,
  formatAmzDate,
  hmac,
  signingKey,
  stringToSign,
} from "./sigv4.js";

export interface SignInput {
  readonly method: string;
  readonly url: URL;
  /**
   * The path exactly as sent, when `url.pathname` would not be: a URL resolves `.`/`..` segments,
   * which object keys may hold. @default url.pathname
   */
  readonly rawPath?: string;
  /** Extra headers to send and sign (any case). */
  readonly headers?: Readonly<Record<string, string>>;
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly region: string;
  /** @default "s3" */
  readonly service?: string;
  /** Hex SHA-256 of the body. @default the hash of an empty body */
  readonly payloadHash?: string;
  readonly now?: Date;
}

/** The headers to send: the caller's, plus host, x-amz-date, x-amz-content-sha256 and authorization. */
export function signRequest(input: SignInput): Record<string, string> {
  const amzDate = formatAmzDate(input.now ?? new Date());
  const date = amzDate.slice(0, 8);
  const service = input.service ?? "s3";
  const payloadHash = input.payloadHash ?? EMPTY_SHA256;
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(input.headers ?? {})) headers[name.toLowerCase()] = value;
  Object.assign(headers, {
    host: input.url.host,
    "x-amz-date": amzDate,
    "x-amz-content-sha256": payloadHash,
  });
  const signedHeaders = Object.keys(headers).sort();
  const [canonical] = canonicalRequests({
    method: input.method,
    rawPath: input.rawPath ?? input.url.pathname,
    rawQuery: input.url.search.replace(/^\?/, ""),
    headers,
    signedHeaders,
    payloadHash,
  });
  const scope = `${date}/${input.region}/${service}/aws4_request`;
  const signature = hmac(
    signingKey(input.secretAccessKey, date, input.region, service),
    stringToSign(amzDate, scope, canonical!),
  ).toString("hex");
  headers.authorization = `${ALGORITHM} Credential=${input.accessKeyId}/${scope}, SignedHeaders=${signedHeaders.join(";")}, Signature=${signature}`;
  return headers;
}
