/**
 * @module providers/storage/_copy-object
 * `CopyObject` without the SDK, for the one call a copy fork makes per object. The SDK spends about
 * 1.5 ms of CPU on each command (middleware stack, endpoint rules, schema serde: measured with
 * --cpu-prof), which made a 10,000-object copy no faster than `aws s3 sync`; this is a signed `PUT`
 * on a keep-alive socket, the same SigV4 code as `_tigris-client.ts` (`storage-server/auth/sign.ts`),
 * ~0.1 ms. Everything else (listing with a real XML parser, multipart, deletes) stays on the SDK.
 *
 * The request matches the SDK's: the key URI-encoded once with its slashes kept, on the path
 * (path-style) or after the bucket host (virtual-hosted), and `x-amz-copy-source` URL-encoded. A
 * 200 whose body is an `<Error>` (S3 may answer a long copy so) is a failure too.
 */
import type { Agent as HttpAgent, IncomingMessage, request as httpRequest } from "node:http";
import type { Agent as HttpsAgent } from "node:https";
import { signRequest } from "../../storage-server/auth/sign.js";
import { uriEncode } from "../../storage-server/auth/sigv4.js";
import type { StorageKeys } from "./_keys.js";

export interface CopyObjectTarget {
  readonly endpoint: URL;
  readonly region: string;
  readonly forcePathStyle: boolean;
  readonly keys: StorageKeys;
  readonly agent: HttpAgent | HttpsAgent;
  /** `node:http` or `node:https`, loaded by the caller for the endpoint's protocol. */
  readonly transport: { request: typeof httpRequest };
}

/** A failed call shaped like the SDK's errors (`name` = S3 code, `$metadata.httpStatusCode`). */
export class CopyObjectError extends Error {
  readonly $metadata: { httpStatusCode: number };
  readonly Code: string;
  constructor(code: string, status: number, message: string) {
    super(message);
    this.name = code;
    this.Code = code;
    this.$metadata = { httpStatusCode: status };
  }
}

const RETRIES = 4;
const tag = (body: string, name: string) => new RegExp(`<${name}>([^<]*)</${name}>`).exec(body)?.[1];

/** Copy `source` (already `bucket/encoded-key`) to `bucket`/`key`. Retries 5xx, 429 and reset sockets. */
export async function copyObject(
  target: CopyObjectTarget,
  bucket: string,
  key: string,
  source: string,
  signal?: AbortSignal,
): Promise<void> {
  const { endpoint } = target;
  const host = target.forcePathStyle ? endpoint.host : `${bucket}.${endpoint.host}`;
  const path = target.forcePathStyle ? `/${bucket}/${uriEncode(key, false)}` : `/${uriEncode(key, false)}`;
  for (let attempt = 0; ; attempt++) {
    const headers = signRequest({
      method: "PUT",
      url: new URL(`${endpoint.protocol}//${host}/`),
      rawPath: path,
      headers: {
        "x-amz-copy-source": source,
        "content-length": "0",
        ...(target.keys.sessionToken ? { "x-amz-security-token": target.keys.sessionToken } : {}),
      },
      accessKeyId: target.keys.accessKeyId,
      secretAccessKey: target.keys.secretAccessKey,
      region: target.region,
    });
    let status: number;
    let body: string;
    try {
      ({ status, body } = await put(target, host, path, headers, signal));
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (!signal?.aborted && attempt < RETRIES && (code === "ECONNRESET" || code === "EPIPE")) continue;
      throw error;
    }
    const failed = status < 200 || status >= 300 || !body.includes("CopyObjectResult");
    if (!failed) return;
    const code = tag(body, "Code") ?? `HTTP${status}`;
    const retryable = status === 429 || status >= 500 || (status === 200 && code === "InternalError");
    if (retryable && attempt < RETRIES && !signal?.aborted) {
      await new Promise((resolve) => setTimeout(resolve, 100 * 2 ** attempt));
      continue;
    }
    const message = tag(body, "Message") ?? `status ${status}`;
    throw new CopyObjectError(code, status === 200 ? 500 : status, `CopyObject ${bucket}/${key}: ${message}`);
  }
}

function put(
  target: CopyObjectTarget,
  host: string,
  path: string,
  headers: Record<string, string>,
  signal?: AbortSignal,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = target.transport.request(
      {
        host: host.replace(/:\d+$/, "").replace(/^\[|\]$/g, ""),
        port: target.endpoint.port || undefined,
        method: "PUT",
        path,
        headers,
        agent: target.agent,
        ...(signal ? { signal } : {}),
      },
      (res: IncomingMessage) => {
        const chunks: Buffer[] = [];
        res.on("data", (chunk: Buffer) => chunks.push(chunk));
        res.on("error", reject);
        res.on("end", () =>
          resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8") }),
        );
      },
    );
    req.on("error", reject);
    req.end();
  });
}
