/**
 * @module storage-server/router
 * Request handling, independent of the listening socket: find bucket and key (path-style or
 * virtual-host), authenticate, pick the operation from method + sub-resource + Tigris headers, and turn
 * every failure into the S3 error document in one place.
 */
import { randomBytes } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { isIP } from "node:net";
import { authorize, requireInScope, requireProjectKey, scopeOf } from "./access.js";
import { authenticate, requestHeaders } from "./auth/index.js";
import type { AuthResult, Credentials, RequestHead } from "./auth/index.js";
import { S3Error } from "./errors.js";
import { faultToS3Error } from "./faults.js";
import { answerChallenge } from "./proof.js";
import type { Ctx, ServerInfo } from "./http.js";
import { discardBody, header, send, sendError, sendJson } from "./http.js";
import * as acl from "./handlers/acl.js";
import { ADMIN_PATH_PREFIX, accessKeysApi } from "./handlers/access-keys.js";
import { getObjectAttributes } from "./handlers/attributes.js";
import * as bucketConfig from "./handlers/bucket-config.js";
import * as cors from "./handlers/cors.js";
import { postObject } from "./handlers/post-object.js";
import * as buckets from "./handlers/buckets.js";
import { listObjectsV1, listObjectsV2, listObjectVersions } from "./handlers/list.js";
import * as mpu from "./handlers/multipart.js";
import {
  copyObjectHandler,
  deleteObjectHandler,
  getObjectHandler,
  putObjectHandler,
} from "./handlers/objects.js";
import {
  deleteObjectTagging,
  deleteObjects,
  getObjectTagging,
  putObjectTagging,
} from "./handlers/tagging.js";
import * as tigris from "./handlers/tigris.js";
import { bucketNameProblem } from "./names.js";
import { accessKeyCredentials } from "./store/access-keys.js";
import type { Store } from "./store/index.js";

export interface RouterOptions {
  readonly store: Store;
  readonly server: ServerInfo;
  /**
   * The project's keys, which may do anything. Keys made through the admin API (store/access-keys.ts)
   * are found in the store and reach only their scope (access.ts).
   */
  readonly lookup: (accessKeyId: string) => Credentials | undefined;
  /** Where unexpected (500) errors are reported; silent by default. */
  readonly log?: (line: string) => void;
}

export type Handler = (req: IncomingMessage, res: ServerResponse, expectContinue?: boolean) => Promise<void>;

const NO_AUTH: AuthResult = { accessKeyId: "", payload: { kind: "unsigned" } };

function decode(raw: string): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    throw new S3Error("InvalidURI", "Couldn't parse the specified URI.", 400);
  }
}

/**
 * Virtual-host addressing: `bucket.localhost:9000`, `bucket.127.0.0.1.nip.io`. The first Host label
 * is a bucket when the host is not an IP or our own name and that bucket exists (or is being created
 * with `PUT /`, which means nothing in path style).
 */
function virtualHostBucket(
  opts: RouterOptions,
  hostHeader: string | undefined,
  method: string,
  path: string,
): string | undefined {
  if (!hostHeader) return undefined;
  const hostname = hostHeader
    .toLowerCase()
    .replace(/:\d+$/, "")
    .replace(/^\[|\]$/g, "");
  if (isIP(hostname) || hostname === opts.server.host.toLowerCase() || hostname === "localhost")
    return undefined;
  const dot = hostname.indexOf(".");
  if (dot <= 0) return undefined;
  const label = hostname.slice(0, dot);
  if (opts.store.meta.getBucket(label)) return label;
  if (method === "PUT" && path === "/" && bucketNameProblem(label) === undefined) return label;
  return undefined;
}

/**
 * RFC 9112 §3.2.2: a request target may come in absolute form (`GET http://host/b/k HTTP/1.1`, what
 * clients configured with a proxy send). The server must accept it, route by its path, and take the
 * host from it rather than from the Host header. Returns the origin-form target and that authority.
 */
export function originForm(url: string): { url: string; authority?: string } {
  const m = /^[a-zA-Z][a-zA-Z0-9+.-]*:\/\/([^/?#]*)([^#]*)/.exec(url);
  if (!m) return { url };
  const rest = m[2] ?? "";
  return { url: rest.startsWith("/") ? rest : `/${rest}`, authority: m[1] ?? "" };
}

function target(
  opts: RouterOptions,
  req: IncomingMessage,
  rawPath: string,
  authority: string | undefined,
): { bucket?: string; key?: string } {
  const vhost = virtualHostBucket(opts, authority ?? req.headers.host, req.method ?? "GET", rawPath);
  if (vhost !== undefined) {
    const key = decode(rawPath.slice(1));
    return key === "" ? { bucket: vhost } : { bucket: vhost, key };
  }
  const rest = rawPath.slice(1);
  if (rest === "") return {};
  const slash = rest.indexOf("/");
  if (slash < 0) return { bucket: decode(rest) };
  const key = decode(rest.slice(slash + 1));
  // `PUT /bucket/` (s3cmd) is a bucket request, not an empty key.
  return key === ""
    ? { bucket: decode(rest.slice(0, slash)) }
    : { bucket: decode(rest.slice(0, slash)), key };
}

export function createRouter(opts: RouterOptions): Handler {
  const isProjectKey = (accessKeyId: string) => opts.lookup(accessKeyId) !== undefined;
  // Read from the store on every request: a revoked key is refused from the next request on.
  const lookup = (accessKeyId: string): Credentials | undefined =>
    opts.lookup(accessKeyId) ?? accessKeyCredentials(opts.store.meta, accessKeyId);
  return async (req, res, expectContinue = false) => {
    const { url: rawUrl, authority } = originForm(req.url ?? "/");
    const q = rawUrl.indexOf("?");
    const rawPath = q >= 0 ? rawUrl.slice(0, q) : rawUrl;
    const head: RequestHead = { method: req.method ?? "GET", rawUrl, headers: req.headers };
    const ctx: Ctx = {
      req,
      res,
      store: opts.store,
      server: opts.server,
      requestId: randomBytes(8).toString("hex").toUpperCase(),
      method: head.method,
      head,
      bucketName: undefined,
      key: undefined,
      query: new URLSearchParams(q >= 0 ? rawUrl.slice(q + 1) : ""),
      auth: NO_AUTH,
      scope: undefined,
      bodyUsed: false,
      expectContinue,
      cors: undefined,
    };
    try {
      if (rawPath.startsWith(ADMIN_PATH_PREFIX) && isAdminRequest(opts, req, authority, rawPath)) {
        ctx.auth = authenticate(head, lookup);
        await accessKeysApi(ctx, rawPath, isProjectKey);
        return;
      }
      const t = target(opts, req, rawPath, authority);
      ctx.bucketName = t.bucket;
      ctx.key = t.key;
      if (ctx.method === "OPTIONS") {
        cors.preflight(ctx);
        return;
      }
      ctx.cors = cors.corsResponseHeaders(ctx);
      if (isPostObject(ctx)) {
        // A browser form upload authenticates with the signed policy in its body, never a header; the
        // bucket must be in the signer's scope.
        await postObject(ctx, lookup, (signer) => {
          ctx.scope = scopeOf(ctx, signer, isProjectKey);
          requireInScope(ctx, ctx.bucketName!);
        });
        return;
      }
      if (acl.isAnonymous(ctx)) acl.authorizeAnonymous(ctx);
      else {
        ctx.auth = authenticate(head, lookup);
        // A presigned URL's signed x-amz-* parameters count as its headers, for authorization too.
        ctx.head = { ...head, headers: requestHeaders(head, ctx.auth) };
        ctx.scope = scopeOf(ctx, ctx.auth.accessKeyId, isProjectKey);
        authorize(ctx);
      }
      // Only a request signed with the project's key gets a proof: it proves the server holds that key.
      answerChallenge(req, res, ctx.auth.accessKeyId, opts.lookup);
      await dispatch(ctx);
    } catch (error) {
      let e: S3Error;
      const fault = error instanceof S3Error ? undefined : faultToS3Error(error);
      if (error instanceof S3Error) {
        e = error;
      } else if (fault) {
        e = fault;
      } else {
        opts.log?.(
          `storage-server: ${ctx.method} ${rawUrl}: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`,
        );
        e = new S3Error("InternalError", "We encountered an internal error. Please try again.", 500);
      }
      if (res.headersSent) {
        res.destroy();
        return;
      }
      if (header(ctx, "accept")?.includes("application/json") && ctx.method !== "HEAD") {
        // The Tigris JSON endpoints report errors as JSON with a `Message` field.
        if (!ctx.bodyUsed) discardBody(ctx);
        sendJson(ctx, e.status, { Code: e.code, Message: e.message, RequestId: ctx.requestId });
      } else {
        sendError(ctx, e);
      }
    }
  };
}

/**
 * `/_forkstack/…` in path style is the admin API; in virtual-host style it is an object key like any
 * other (the Host names the bucket).
 */
function isAdminRequest(
  opts: RouterOptions,
  req: IncomingMessage,
  authority: string | undefined,
  rawPath: string,
): boolean {
  return virtualHostBucket(opts, authority ?? req.headers.host, req.method ?? "GET", rawPath) === undefined;
}

/** `POST /{bucket}` without a sub-resource is PostObject (an HTML form upload). */
function isPostObject(ctx: Ctx): boolean {
  return (
    ctx.method === "POST" && ctx.bucketName !== undefined && ctx.key === undefined && !ctx.query.has("delete")
  );
}

function notImplemented(what: string): S3Error {
  return new S3Error("NotImplemented", `${what} is not implemented by this server.`, 501);
}

function dispatch(ctx: Ctx): Promise<void> | void {
  if (ctx.bucketName === undefined) return serviceOp(ctx);
  if (ctx.key === undefined) return bucketOp(ctx);
  return objectOp(ctx);
}

function serviceOp(ctx: Ctx): void {
  if (ctx.method !== "GET") {
    throw new S3Error("MethodNotAllowed", "The specified method is not allowed against this resource.", 405);
  }
  const snapshotOf = header(ctx, "x-tigris-snapshot");
  if (snapshotOf) return tigris.listSnapshots(ctx, snapshotOf.trim());
  const forksOf = header(ctx, "x-tigris-fork");
  if (forksOf) return tigris.listForks(ctx, forksOf.trim());
  if (header(ctx, "accept")?.includes("application/json")) return tigris.listBucketsJson(ctx);
  return buckets.listBuckets(ctx);
}

/** Bucket sub-resources answered as "not configured" (404 with S3's code), as an empty S3 bucket would. */
const UNCONFIGURED: Record<string, [string, string]> = {
  policy: ["NoSuchBucketPolicy", "The bucket policy does not exist"],
  lifecycle: ["NoSuchLifecycleConfiguration", "The lifecycle configuration does not exist"],
  website: ["NoSuchWebsiteConfiguration", "The specified bucket does not have a website configuration"],
  encryption: [
    "ServerSideEncryptionConfigurationNotFoundError",
    "The server side encryption configuration was not found",
  ],
  "object-lock": [
    "ObjectLockConfigurationNotFoundError",
    "Object Lock configuration does not exist for this bucket",
  ],
  replication: ["ReplicationConfigurationNotFoundError", "The replication configuration was not found"],
};
const UNSUPPORTED = [
  "notification",
  "logging",
  "requestPayment",
  "accelerate",
  "analytics",
  "inventory",
  "metrics",
  "ownershipControls",
  "intelligent-tiering",
  "policyStatus",
];

function bucketOp(ctx: Ctx): Promise<void> | void {
  const q = ctx.query;
  switch (ctx.method) {
    case "GET": {
      if (q.has("location")) return buckets.getBucketLocation(ctx);
      if (q.has("versioning")) return buckets.getBucketVersioning(ctx);
      if (q.has("cors")) return cors.getBucketCors(ctx);
      if (q.has("acl")) return acl.getBucketAclHandler(ctx);
      if (q.has("metadata")) return tigris.bucketInfo(ctx);
      if (q.has("versions")) return listObjectVersions(ctx);
      if (q.has("tagging")) return bucketConfig.getBucketTagging(ctx);
      if (q.has("publicAccessBlock")) return bucketConfig.getPublicAccessBlock(ctx);
      if (q.has("uploads")) return mpu.listMultipartUploads(ctx);
      for (const [name, [code, message]] of Object.entries(UNCONFIGURED)) {
        if (q.has(name)) return buckets.notConfigured(ctx, code, message);
      }
      if (UNSUPPORTED.some((s) => q.has(s))) throw notImplemented("This bucket sub-resource");
      if (q.get("list-type") === "2") return listObjectsV2(ctx);
      return listObjectsV1(ctx);
    }
    case "HEAD":
      return buckets.headBucket(ctx);
    case "PUT": {
      if (q.has("cors")) return cors.putBucketCors(ctx);
      if (q.has("acl")) return acl.putBucketAclHandler(ctx);
      if (q.has("tagging")) return bucketConfig.putBucketTagging(ctx);
      if (q.has("publicAccessBlock")) return bucketConfig.putPublicAccessBlock(ctx);
      if (q.has("versioning")) {
        // Buckets stay unversioned (README, "Versioning"); GetBucketVersioning keeps saying so.
        throw notImplemented("Enabling versioning (buckets of this server are always unversioned)");
      }
      if (q.has("policy") || q.has("lifecycle") || UNSUPPORTED.some((s) => q.has(s))) {
        throw notImplemented("Configuring this bucket sub-resource");
      }
      // A snapshot request never creates a bucket: on a missing one it is NoSuchBucket.
      const snapshot = header(ctx, "x-tigris-snapshot");
      if (snapshot !== undefined) return tigris.takeSnapshot(ctx, snapshot);
      if (
        header(ctx, "x-tigris-merge-source-bucket") !== undefined ||
        header(ctx, "x-tigris-rebase") !== undefined
      ) {
        throw notImplemented("Fork merge/rebase");
      }
      requireProjectKey(ctx);
      return buckets.createBucket(ctx);
    }
    case "DELETE": {
      if (q.has("cors")) return cors.deleteBucketCors(ctx);
      if (q.has("tagging")) return bucketConfig.deleteBucketTagging(ctx);
      if (q.has("publicAccessBlock")) return bucketConfig.deletePublicAccessBlock(ctx);
      if (q.has("policy") || q.has("lifecycle")) {
        discardBody(ctx);
        ctx.store.meta.requireBucket(ctx.bucketName!);
        return send(ctx, 204);
      }
      const version = header(ctx, "x-tigris-snapshot-version");
      if (version) return tigris.deleteSnapshot(ctx, version.trim());
      requireProjectKey(ctx);
      return buckets.deleteBucket(ctx);
    }
    case "POST":
      return deleteObjects(ctx); // any other bucket POST is PostObject, routed before auth
    case "PATCH":
      return tigris.patchBucket(ctx);
    default:
      throw new S3Error(
        "MethodNotAllowed",
        "The specified method is not allowed against this resource.",
        405,
      );
  }
}

function objectOp(ctx: Ctx): Promise<void> | void {
  const q = ctx.query;
  const copySource = header(ctx, "x-amz-copy-source");
  switch (ctx.method) {
    case "PUT":
      if (q.has("uploadId") || q.has("partNumber")) {
        return copySource ? mpu.uploadPartCopy(ctx, copySource) : mpu.uploadPart(ctx);
      }
      if (q.has("tagging")) return putObjectTagging(ctx);
      if (q.has("acl")) return acl.putObjectAclHandler(ctx);
      if (copySource) return copyObjectHandler(ctx, copySource);
      return putObjectHandler(ctx);
    case "GET":
    case "HEAD":
      if (ctx.method === "GET" && q.has("uploadId")) return mpu.listPartsHandler(ctx);
      if (ctx.method === "GET" && q.has("tagging")) return getObjectTagging(ctx);
      if (ctx.method === "GET" && q.has("acl")) return acl.getObjectAclHandler(ctx);
      if (ctx.method === "GET" && q.has("attributes")) return getObjectAttributes(ctx);
      return getObjectHandler(ctx);
    case "DELETE":
      if (q.has("uploadId")) return mpu.abortMultipartUpload(ctx);
      if (q.has("tagging")) return deleteObjectTagging(ctx);
      return deleteObjectHandler(ctx);
    case "POST":
      if (q.has("uploads")) return mpu.createMultipartUpload(ctx);
      if (q.has("uploadId")) return mpu.completeMultipartUpload(ctx);
      throw notImplemented("This POST operation");
    default:
      throw new S3Error(
        "MethodNotAllowed",
        "The specified method is not allowed against this resource.",
        405,
      );
  }
}
