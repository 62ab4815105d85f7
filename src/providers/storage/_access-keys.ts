/**
 * @module providers/storage/_access-keys
 * The embedded server's admin API for access keys (`storage-server/handlers/access-keys.ts`,
 * docs/storage.md "Access keys"), called with the project's key through the same small signed client as
 * the bucket calls (`_tigris-client.ts`): no SDK, so `new` stays fast.
 */
import type { Credentials } from "../../storage-server/auth/types.js";
import { failedCall } from "./_tigris-client.js";
import type { ApiResponse, SignedRequest } from "./_tigris-client.js";

const PATH = "/_forkstack/access-keys";

export interface AccessKeyInfo {
  readonly accessKeyId: string;
  readonly label: string;
  /** Names of the buckets the key may reach. */
  readonly buckets: readonly string[];
  readonly createdAt: string;
}

export interface AccessKeysApi {
  /** A new key pair reaching `buckets` (which must exist). */
  create(label: string, buckets: readonly string[]): Promise<Credentials>;
  /** The key pair of a key, or null if there is no such key (it was revoked). */
  get(accessKeyId: string): Promise<Credentials | null>;
  /** Replace a key's scope; false if there is no such key. */
  setBuckets(accessKeyId: string, buckets: readonly string[]): Promise<boolean>;
  /** Revoke a key; false if there was no such key. */
  revoke(accessKeyId: string): Promise<boolean>;
  /** Every key, or those whose scope holds `bucket` (none when there is no such bucket). */
  list(bucket?: string): Promise<AccessKeyInfo[]>;
}

function json<T>(res: ApiResponse): T {
  return JSON.parse(res.body) as T;
}

/** The error code of a JSON error answer, if it is one. */
function errorCode(res: ApiResponse): string | undefined {
  try {
    return json<{ Code?: string }>(res).Code;
  } catch {
    return undefined;
  }
}

export function accessKeysApi(request: SignedRequest): AccessKeysApi {
  const headers = { accept: "application/json", "content-type": "application/json" };
  const call = (method: string, path: string, body?: unknown) =>
    request(
      method,
      path,
      headers,
      undefined,
      body === undefined ? undefined : Buffer.from(JSON.stringify(body)),
    );
  const keyPath = (id: string) => `${PATH}/${encodeURIComponent(id)}`;
  return {
    async create(label, buckets) {
      const res = await call("POST", PATH, { label, buckets });
      if (!res.ok) failedCall(res, `create an access key for ${label}`);
      const { accessKeyId, secretAccessKey } = json<Credentials>(res);
      return { accessKeyId, secretAccessKey };
    },
    async get(accessKeyId) {
      const res = await call("GET", keyPath(accessKeyId));
      if (errorCode(res) === "NoSuchAccessKey") return null;
      if (!res.ok) failedCall(res, `read access key ${accessKeyId}`);
      const { secretAccessKey } = json<Credentials>(res);
      return { accessKeyId, secretAccessKey };
    },
    async setBuckets(accessKeyId, buckets) {
      const res = await call("PUT", keyPath(accessKeyId), { buckets });
      if (errorCode(res) === "NoSuchAccessKey") return false;
      if (!res.ok) failedCall(res, `change the buckets of access key ${accessKeyId}`);
      return true;
    },
    async revoke(accessKeyId) {
      const res = await call("DELETE", keyPath(accessKeyId));
      if (errorCode(res) === "NoSuchAccessKey") return false;
      if (!res.ok) failedCall(res, `revoke access key ${accessKeyId}`);
      return true;
    },
    async list(bucket) {
      const res = await call(
        "GET",
        bucket === undefined ? PATH : `${PATH}?bucket=${encodeURIComponent(bucket)}`,
      );
      if (bucket !== undefined && errorCode(res) === "NoSuchBucket") return []; // no bucket: no key reaches it
      if (!res.ok) failedCall(res, "list access keys");
      return json<{ accessKeys: AccessKeyInfo[] }>(res).accessKeys;
    },
  };
}
