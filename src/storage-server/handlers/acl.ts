/**
 * @module storage-server/handlers/acl
 * Canned ACLs on buckets and objects, and the one place that decides what an anonymous (unsigned)
 * request may do. Apps serve avatars and assets by plain URL from `public-read` objects or buckets;
 * everything else stays owner-only, so an anonymous write or a listing of a private bucket is 403.
 *
 * Semantics follow Tigris (the service forkstack emulates) at its defaults: every object of a
 * `public-read` bucket is readable by anyone, whatever ACL the object was written with (Tigris ignores
 * object ACLs unless a bucket opts in, and its SDK sends `private` on every put), and a `public-read`
 * object is readable in a private bucket too (S3's object ACL). On AWS the bucket ACL alone only
 * allows listing; reading needs object ACLs or a bucket policy.
 */
import { isTigrisHeader, refuseUnsignedHeaders } from "../auth/index.js";
import { S3Error } from "../errors.js";
import type { Ctx } from "../http.js";
import { discardBody, header, readSmallBody, send, sendXml } from "../http.js";
import { getBucketAccess, setBucketAccess } from "../store/acl.js";
import type { BucketAccess } from "../store/acl.js";
import { putObject, resolveObject } from "../store/objects.js";
import type { Bucket, CannedAcl, ObjectVersion } from "../store/types.js";
import type { XmlObject } from "../xml.js";
import { parseXml } from "../xml.js";
import { lookupObject, noSuchKey, readSeq, requireBucket, requireKey } from "./common.js";
import { publicAccessBlockOf } from "./bucket-config.js";
import { OWNER } from "./list.js";

const BUCKET_ACLS: readonly string[] = ["private", "public-read", "public-read-write", "authenticated-read"];
const OBJECT_ACLS: readonly string[] = [
  ...BUCKET_ACLS,
  "aws-exec-read",
  "bucket-owner-read",
  "bucket-owner-full-control",
];
const ALL_USERS = "http://acs.amazonaws.com/groups/global/AllUsers";
const AUTHENTICATED_USERS = "http://acs.amazonaws.com/groups/global/AuthenticatedUsers";

export function isPublicRead(acl: CannedAcl | undefined): boolean {
  return acl === "public-read" || acl === "public-read-write";
}

function publicWriteUnsupported(): S3Error {
  return new S3Error(
    "NotImplemented",
    "Anonymous writes (public-read-write) are not supported by this server; upload with a presigned URL or a POST policy instead.",
    501,
  );
}

/**
 * Validates a canned ACL value (`x-amz-acl`, a POST form's `acl`). `log-delivery-write` only grants
 * S3's log-delivery group, which does not exist here, so it is private.
 */
export function parseCannedAcl(
  value: string | undefined,
  target: "bucket" | "object",
): CannedAcl | undefined {
  if (value === undefined) return undefined;
  const v = value.trim();
  if (target === "bucket" && v === "log-delivery-write") return "private";
  if (!(target === "bucket" ? BUCKET_ACLS : OBJECT_ACLS).includes(v)) {
    throw new S3Error("InvalidArgument", `Invalid canned ACL: ${v}`, 400, {
      ArgumentName: "x-amz-acl",
      ArgumentValue: v,
    });
  }
  if (v === "public-read-write") throw publicWriteUnsupported();
  return v as CannedAcl;
}

/** The canned ACL a write asks for. Explicit grants (`x-amz-grant-*`) are refused rather than ignored. */
export function requestAcl(ctx: Ctx, target: "bucket" | "object"): CannedAcl | undefined {
  const grant = Object.keys(ctx.head.headers).find((h) => h.startsWith("x-amz-grant-"));
  if (grant !== undefined) {
    throw new S3Error(
      "NotImplemented",
      `${grant} is not implemented by this server; use a canned ACL (x-amz-acl).`,
      501,
    );
  }
  return refuseBlockedPublicAcl(ctx, parseCannedAcl(header(ctx, "x-amz-acl"), target));
}

/**
 * The bucket's public access block, as S3 applies it to ACLs: `BlockPublicAcls` refuses a request that
 * would make something public (403 AccessDenied); `IgnorePublicAcls` makes public ACLs grant nothing
 * (see `authorizeAnonymous`). A bucket being created has no block yet.
 */
function refuseBlockedPublicAcl<A extends CannedAcl | undefined>(ctx: Ctx, acl: A): A {
  if (!isPublicRead(acl) || ctx.bucketName === undefined) return acl;
  const bucket = ctx.store.meta.getBucket(ctx.bucketName);
  if (bucket && publicAccessBlockOf(ctx.store.meta, bucket)?.BlockPublicAcls) throw accessDenied();
  return acl;
}

/** Who may read `v`: public when the object or its bucket is public-read (see the module comment). */
export function effectiveObjectAcl(ctx: Ctx, bucket: Bucket, v: ObjectVersion): CannedAcl {
  if (isPublicRead(v.headers.acl)) return "public-read";
  if (isPublicRead(getBucketAccess(ctx.store.meta, bucket.id).acl)) return "public-read";
  return v.headers.acl ?? "private";
}

function grantsOf(acl: CannedAcl): XmlObject[] {
  const group = (uri: string, permission: string): XmlObject => ({
    Grantee: {
      "@_xmlns:xsi": "http://www.w3.org/2001/XMLSchema-instance",
      "@_xsi:type": "Group",
      URI: uri,
    },
    Permission: permission,
  });
  const grants: XmlObject[] = [
    {
      Grantee: {
        "@_xmlns:xsi": "http://www.w3.org/2001/XMLSchema-instance",
        "@_xsi:type": "CanonicalUser",
        ...OWNER,
      },
      Permission: "FULL_CONTROL",
    },
  ];
  if (isPublicRead(acl)) grants.push(group(ALL_USERS, "READ"));
  if (acl === "public-read-write") grants.push(group(ALL_USERS, "WRITE"));
  if (acl === "authenticated-read") grants.push(group(AUTHENTICATED_USERS, "READ"));
  return grants;
}

function sendAcl(ctx: Ctx, acl: CannedAcl): void {
  sendXml(ctx, 200, "AccessControlPolicy", { Owner: OWNER, AccessControlList: { Grant: grantsOf(acl) } });
}

function asList(v: unknown): unknown[] {
  return Array.isArray(v) ? v : v === undefined || v === "" ? [] : [v];
}

function malformedAcl(): S3Error {
  return new S3Error(
    "MalformedACLError",
    "The XML you provided was not well-formed or did not validate against our published schema",
    400,
  );
}

/**
 * An `AccessControlPolicy` body, reduced to the canned ACL it amounts to. Grants to the owner are
 * implied; grants to other principals cannot be represented and are refused.
 */
function aclFromPolicy(xml: string): CannedAcl {
  let doc: Record<string, unknown>;
  try {
    doc = parseXml(xml, "AccessControlPolicy");
  } catch {
    throw malformedAcl();
  }
  const list = doc.AccessControlList;
  if (list === undefined || (list !== "" && (typeof list !== "object" || list === null)))
    throw malformedAcl();
  const allUsers = new Set<string>();
  const authUsers = new Set<string>();
  for (const g of asList(list === "" ? undefined : (list as Record<string, unknown>).Grant)) {
    if (typeof g !== "object" || g === null) throw malformedAcl();
    const grant = g as Record<string, unknown>;
    const grantee = grant.Grantee as Record<string, unknown> | undefined;
    const permission = grant.Permission;
    if (typeof grantee !== "object" || grantee === null || typeof permission !== "string")
      throw malformedAcl();
    if (typeof grantee.URI === "string") {
      const uri = grantee.URI.trim();
      if (uri === ALL_USERS) allUsers.add(permission.trim());
      else if (uri === AUTHENTICATED_USERS) authUsers.add(permission.trim());
      else throw new S3Error("NotImplemented", `Grants to ${uri} are not implemented by this server.`, 501);
    } else if (grantee.ID === undefined) {
      throw new S3Error("NotImplemented", "Only canonical-user and group grants are implemented.", 501);
    }
  }
  if (allUsers.has("WRITE") || allUsers.has("FULL_CONTROL")) throw publicWriteUnsupported();
  if ([...allUsers, ...authUsers].some((p) => p !== "READ")) {
    throw new S3Error("NotImplemented", "Only READ grants to groups are implemented by this server.", 501);
  }
  if (allUsers.has("READ")) return "public-read";
  if (authUsers.has("READ")) return "authenticated-read";
  return "private";
}

/** PutBucketAcl / PutObjectAcl take either `x-amz-acl` or an AccessControlPolicy body, never both. */
async function aclOfPutRequest(ctx: Ctx, target: "bucket" | "object"): Promise<CannedAcl> {
  const canned = requestAcl(ctx, target);
  const body = (await readSmallBody(ctx, 64 * 1024)).toString("utf8");
  if (canned !== undefined) {
    if (body.trim() !== "") {
      throw new S3Error("UnexpectedContent", "This request does not support content", 400);
    }
    return canned;
  }
  if (body.trim() === "") throw malformedAcl();
  return refuseBlockedPublicAcl(ctx, aclFromPolicy(body));
}

/** Tigris's switch for listing a public bucket anonymously; undefined when the request leaves it alone. */
function publicListHeader(ctx: Ctx): boolean | undefined {
  const v = header(ctx, "x-amz-acl-public-list-objects-enabled")?.trim().toLowerCase();
  if (v === undefined || v === "") return undefined;
  if (v !== "true" && v !== "false") {
    throw new S3Error("InvalidArgument", "X-Amz-Acl-Public-List-Objects-Enabled must be true or false", 400, {
      ArgumentName: "X-Amz-Acl-Public-List-Objects-Enabled",
      ArgumentValue: v,
    });
  }
  return v === "true";
}

export function getBucketAclHandler(ctx: Ctx): void {
  discardBody(ctx);
  const bucket = requireBucket(ctx);
  sendAcl(ctx, getBucketAccess(ctx.store.meta, bucket.id).acl);
}

export async function putBucketAclHandler(ctx: Ctx): Promise<void> {
  const bucket = requireBucket(ctx);
  const list = publicListHeader(ctx);
  const acl = await aclOfPutRequest(ctx, "bucket");
  const meta = ctx.store.meta;
  await meta.write(() =>
    setBucketAccess(meta, bucket.id, {
      acl,
      publicList: list ?? getBucketAccess(meta, bucket.id).publicList,
    }),
  );
  send(ctx, 200);
}

export function getObjectAclHandler(ctx: Ctx): void {
  discardBody(ctx);
  const bucket = requireBucket(ctx);
  const key = requireKey(ctx);
  const v = lookupObject(ctx, ctx.store.meta.chain(bucket, readSeq(ctx)), key, ctx.query.get("versionId"));
  sendAcl(ctx, effectiveObjectAcl(ctx, bucket, v));
}

/**
 * The ACL is part of a version (like tags), so changing it writes a new version over the same blob:
 * a fork making an inherited object public never changes its parent.
 */
export async function putObjectAclHandler(ctx: Ctx): Promise<void> {
  const bucket = requireBucket(ctx);
  const key = requireKey(ctx);
  const versionId = ctx.query.get("versionId");
  const acl = await aclOfPutRequest(ctx, "object");
  const meta = ctx.store.meta;
  await meta.write(() => {
    const current = resolveObject(meta, meta.chain(bucket), key);
    if (!current) throw noSuchKey(key);
    if (versionId !== null && versionId !== "null" && versionId !== String(current.seq)) {
      lookupObject(ctx, meta.chain(bucket), key, versionId); // NoSuchVersion / InvalidArgument first
      throw new S3Error("NotImplemented", "Setting the ACL of a noncurrent version is not implemented.", 501);
    }
    putObject(meta, bucket, key, {
      blob: current.blob!,
      size: current.size,
      etag: current.etag,
      mtimeMs: current.mtimeMs,
      headers: { ...current.headers, acl },
      tags: current.tags,
      checksums: current.checksums,
      parts: current.parts,
    });
  });
  send(ctx, 200);
}

/**
 * After CreateBucket: the requested ACL, or for a fork its source's ACL and CORS rules (a fork
 * serves the same app as its source, so its browser access should not silently change).
 */
export function requestBucketAccess(ctx: Ctx): Partial<BucketAccess> {
  const acl = requestAcl(ctx, "bucket");
  const publicList = publicListHeader(ctx);
  return { ...(acl !== undefined ? { acl } : {}), ...(publicList !== undefined ? { publicList } : {}) };
}

export function initBucketAccess(ctx: Ctx, bucket: Bucket, requested: Partial<BucketAccess>): void {
  const meta = ctx.store.meta;
  const parent = bucket.parentId === null ? undefined : meta.getBucketById(bucket.parentId);
  const inherited = parent ? getBucketAccess(meta, parent.id) : undefined;
  setBucketAccess(meta, bucket.id, {
    acl: requested.acl ?? inherited?.acl ?? "private",
    publicList: requested.publicList ?? inherited?.publicList ?? true,
  });
  if (parent?.cors) meta.setCors(bucket, parent.cors);
}

// ---- anonymous requests ---------------------------------------------------------------------

/** Query parameters a plain anonymous object read or bucket listing may carry. */
const READ_PARAMS = new Set(["versionId", "partNumber", "x-id"]);
const LIST_PARAMS = new Set([
  "list-type",
  "prefix",
  "delimiter",
  "max-keys",
  "continuation-token",
  "start-after",
  "fetch-owner",
  "encoding-type",
  "marker",
  "x-id",
]);

function accessDenied(): S3Error {
  return new S3Error("AccessDenied", "Access Denied", 403);
}

/** True when a request carries no credentials of any kind (no header, no presign, no SigV2 query). */
export function isAnonymous(ctx: Ctx): boolean {
  const auth = header(ctx, "authorization");
  if (auth !== undefined && auth !== "") return false;
  for (const name of ctx.query.keys()) {
    if (
      /^x-amz-(algorithm|credential|signature)$/i.test(name) ||
      name === "AWSAccessKeyId" ||
      name === "Signature"
    ) {
      return false;
    }
  }
  return true;
}

/**
 * Throws unless an unsigned request only reads something public: GET/HEAD of an object whose
 * effective ACL is public-read, or a listing / HEAD of a public-read bucket. Runs in the same tick as
 * the handler's own lookup, so the object it checked is the one that is served.
 */
export function authorizeAnonymous(ctx: Ctx): void {
  // A Tigris header acts only for a signed request: a snapshot read would show what the object was,
  // even if it is private now (S3's own x-amz-* read headers, e.g. checksum mode, widen nothing).
  refuseUnsignedHeaders(ctx.head.headers, () => false, isTigrisHeader);
  if (ctx.bucketName === undefined || (ctx.method !== "GET" && ctx.method !== "HEAD")) throw accessDenied();
  const bucket = requireBucket(ctx); // S3 says NoSuchBucket to anyone
  if (publicAccessBlockOf(ctx.store.meta, bucket)?.IgnorePublicAcls) throw accessDenied();
  const params = [...ctx.query.keys()];
  const access = getBucketAccess(ctx.store.meta, bucket.id);
  const mayList = isPublicRead(access.acl) && access.publicList;
  if (ctx.key === undefined) {
    if (!mayList || !params.every((p) => LIST_PARAMS.has(p))) throw accessDenied();
    return;
  }
  if (params.some((p) => p.startsWith("response-"))) {
    throw new S3Error(
      "InvalidRequest",
      "Request specific response headers cannot be used for anonymous GET requests.",
      400,
    );
  }
  if (!params.every((p) => READ_PARAMS.has(p))) throw accessDenied();
  let v: ObjectVersion;
  try {
    v = lookupObject(
      ctx,
      ctx.store.meta.chain(bucket, readSeq(ctx)),
      requireKey(ctx),
      ctx.query.get("versionId"),
    );
  } catch (error) {
    // Whether a key exists is only told to those who may list the bucket (S3 answers 403 otherwise).
    if (error instanceof S3Error && error.status === 404 && mayList) throw error;
    throw accessDenied();
  }
  if (!isPublicRead(effectiveObjectAcl(ctx, bucket, v))) throw accessDenied();
}
