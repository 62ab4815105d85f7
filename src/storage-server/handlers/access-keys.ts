/**
 * @module storage-server/handlers/access-keys
 * The admin API for access keys (docs/storage.md, "Access keys"), on the S3 endpoint itself and signed
 * with SigV4 like any request, by the project's key only. JSON in and out:
 *
 *     GET    /_forkstack/access-keys[?bucket=<name>]  → 200 {"accessKeys":[{accessKeyId,label,buckets,createdAt}]}
 *     POST   /_forkstack/access-keys  {label,buckets}  → 200 {accessKeyId,secretAccessKey,label,buckets,createdAt}
 *     GET    /_forkstack/access-keys/<id>              → 200 {accessKeyId,secretAccessKey,label,buckets,createdAt}
 *     PUT    /_forkstack/access-keys/<id>  {buckets[,label]} → 200 {accessKeyId,label,buckets,createdAt}
 *     DELETE /_forkstack/access-keys/<id>              → 204
 *
 * `/_forkstack/` can never be a bucket (bucket names start with a letter or digit), so the router
 * sends it here before it parses a bucket and key. Buckets are named in requests and answers but
 * stored by identity (store/access-keys.ts): naming a bucket that does not exist is 404 NoSuchBucket.
 */
import { S3Error } from "../errors.js";
import type { Ctx } from "../http.js";
import { discardBody, readSmallBody, send, sendJson } from "../http.js";
import {
  createAccessKey,
  deleteAccessKey,
  getAccessKey,
  listAccessKeys,
  updateAccessKey,
  type AccessKey,
} from "../store/access-keys.js";
import { isoDate } from "../xml.js";

export const ADMIN_PATH_PREFIX = "/_forkstack/";
const COLLECTION = "/_forkstack/access-keys";
const MAX_LABEL = 200;

function noSuchKey(id: string): S3Error {
  return new S3Error("NoSuchAccessKey", `There is no access key ${id}.`, 404);
}

function invalid(message: string): S3Error {
  return new S3Error("InvalidArgument", message, 400);
}

async function readJson(ctx: Ctx): Promise<Record<string, unknown>> {
  const raw = (await readSmallBody(ctx, 256 * 1024)).toString("utf8");
  let body: unknown;
  try {
    body = JSON.parse(raw);
  } catch {
    throw new S3Error("MalformedJSON", "The JSON you provided was not well-formed", 400);
  }
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw new S3Error("MalformedJSON", "The body must be a JSON object", 400);
  }
  return body as Record<string, unknown>;
}

function labelOf(value: unknown): string {
  if (typeof value !== "string" || value === "" || value.length > MAX_LABEL) {
    throw invalid(`"label" must be a string of 1 to ${MAX_LABEL} characters.`);
  }
  return value;
}

/** Bucket names to ids; every name must be a bucket that exists now. */
function bucketIdsOf(ctx: Ctx, value: unknown): number[] {
  if (!Array.isArray(value) || value.some((v) => typeof v !== "string")) {
    throw invalid('"buckets" must be an array of bucket names.');
  }
  return (value as string[]).map((name) => ctx.store.meta.requireBucket(name).id);
}

function view(ctx: Ctx, key: AccessKey): Record<string, unknown> {
  const meta = ctx.store.meta;
  return {
    accessKeyId: key.accessKeyId,
    label: key.label,
    // Ids always name live buckets: a deleted bucket leaves every scope at once.
    buckets: key.bucketIds.map((id) => meta.getBucketById(id)?.name ?? "").filter((n) => n !== ""),
    createdAt: isoDate(key.createdMs),
  };
}

/**
 * Answers one admin request. `isProjectKey` tells the project's key id from every other; `rawPath`
 * starts with ADMIN_PATH_PREFIX.
 */
export async function accessKeysApi(
  ctx: Ctx,
  rawPath: string,
  isProjectKey: (accessKeyId: string) => boolean,
): Promise<void> {
  if (!isProjectKey(ctx.auth.accessKeyId)) throw new S3Error("AccessDenied", "Access Denied", 403);
  const meta = ctx.store.meta;
  if (rawPath === COLLECTION || rawPath === `${COLLECTION}/`) {
    if (ctx.method === "GET") {
      discardBody(ctx);
      const bucket = ctx.query.get("bucket");
      const keys =
        bucket === null ? listAccessKeys(meta) : listAccessKeys(meta, meta.requireBucket(bucket).id);
      return sendJson(ctx, 200, { accessKeys: keys.map((k) => view(ctx, k)) });
    }
    if (ctx.method === "POST") {
      const body = await readJson(ctx);
      const label = labelOf(body.label);
      const made = createAccessKey(meta, label, bucketIdsOf(ctx, body.buckets), isProjectKey);
      const key = getAccessKey(meta, made.accessKeyId)!;
      return sendJson(ctx, 200, { ...view(ctx, key), secretAccessKey: made.secretAccessKey });
    }
    throw methodNotAllowed();
  }
  // Key ids are plain A-Z0-9, so the raw path needs no decoding.
  const id = rawPath.startsWith(`${COLLECTION}/`) ? rawPath.slice(COLLECTION.length + 1) : "";
  if (!/^[A-Z0-9]{16,128}$/.test(id)) {
    discardBody(ctx);
    throw new S3Error("NotFound", `No admin endpoint at ${rawPath}.`, 404);
  }
  switch (ctx.method) {
    case "GET": {
      discardBody(ctx);
      const key = getAccessKey(meta, id);
      if (!key) throw noSuchKey(id);
      return sendJson(ctx, 200, { ...view(ctx, key), secretAccessKey: key.secret });
    }
    case "PUT": {
      const body = await readJson(ctx);
      const change = {
        bucketIds: bucketIdsOf(ctx, body.buckets),
        ...(body.label !== undefined ? { label: labelOf(body.label) } : {}),
      };
      if (!updateAccessKey(meta, id, change)) throw noSuchKey(id);
      return sendJson(ctx, 200, view(ctx, getAccessKey(meta, id)!));
    }
    case "DELETE":
      discardBody(ctx);
      if (!deleteAccessKey(meta, id)) throw noSuchKey(id);
      return send(ctx, 204);
    default:
      throw methodNotAllowed();
  }
}

function methodNotAllowed(): S3Error {
  return new S3Error("MethodNotAllowed", "The specified method is not allowed against this resource.", 405);
}
