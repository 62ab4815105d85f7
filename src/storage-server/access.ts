/**
 * @module storage-server/access
 * Authorization, after authentication (auth/ says who signed; this says what that key may do).
 *
 * The project's key (`credentials.json`) may do anything. Any other key (store/access-keys.ts; the
 * `local` provider makes one per env) may use the S3 API on the buckets in its scope, and nothing else:
 * - every request naming a bucket must name one in its scope. A bucket out of scope is 403 whether it
 *   exists or not, so a key cannot even learn which other buckets there are;
 * - a copy (CopyObject, UploadPartCopy) also needs its source bucket in scope;
 * - ListBuckets shows only its buckets;
 * - creating and deleting buckets, the Tigris surface (forks, snapshots, reads at a snapshot, bucket
 *   settings: any `x-tigris-*` or `tigris-*` header, PATCH, `?metadata`) and the admin API
 *   (handlers/access-keys.ts) are the project key's alone.
 * Presigned URLs and POST policies carry their signer's key id, so they get exactly the signer's scope.
 * Anonymous requests are handlers/acl.ts's business (public objects only) and never reach this.
 */
import { S3Error } from "./errors.js";
import type { Ctx } from "./http.js";
import { header } from "./http.js";
import { parseCopySource } from "./handlers/common.js";
import { accessKeyScope } from "./store/access-keys.js";
import type { Bucket } from "./store/types.js";

function accessDenied(): S3Error {
  return new S3Error("AccessDenied", "Access Denied", 403);
}

/**
 * The scope of the key that signed the request: undefined for the project's key (everything). A key
 * revoked between the signature check and here is refused like an unknown one.
 */
export function scopeOf(
  ctx: Ctx,
  accessKeyId: string,
  isProjectKey: (accessKeyId: string) => boolean,
): ReadonlySet<number> | undefined {
  if (isProjectKey(accessKeyId)) return undefined;
  const scope = accessKeyScope(ctx.store.meta, accessKeyId);
  if (!scope) {
    throw new S3Error(
      "InvalidAccessKeyId",
      "The AWS Access Key Id you provided does not exist in our records.",
      403,
      { AWSAccessKeyId: accessKeyId },
    );
  }
  return scope;
}

/** Throws AccessDenied unless the request's key may reach bucket `name`. */
export function requireInScope(ctx: Ctx, name: string): void {
  if (!ctx.scope) return;
  const bucket = ctx.store.meta.getBucket(name);
  if (!bucket || !ctx.scope.has(bucket.id)) throw accessDenied();
}

/** Throws AccessDenied unless the request was signed with the project's key. */
export function requireProjectKey(ctx: Ctx): void {
  if (ctx.scope) throw accessDenied();
}

/** The buckets a listing shows this request: all of them for the project's key, else its scope's. */
export function visibleBuckets(ctx: Ctx): Bucket[] {
  const all = ctx.store.meta.listBuckets();
  const scope = ctx.scope;
  return scope ? all.filter((b) => scope.has(b.id)) : all;
}

/**
 * What an access key with a scope may not do whatever the bucket: the Tigris surface. Then the bucket
 * the request names, and the source of a copy. Creating and deleting a bucket are refused where the
 * router picks them (`requireProjectKey`), since only it knows a PUT on a bucket is a CreateBucket.
 */
export function authorize(ctx: Ctx): void {
  if (!ctx.scope) return;
  // The headers the handlers act on (`ctx.head`, which is where `header()` reads them).
  if (Object.keys(ctx.head.headers).some((name) => /^(x-)?tigris-/.test(name))) throw accessDenied();
  if (ctx.method === "PATCH") throw accessDenied();
  if (ctx.bucketName === undefined) return;
  requireInScope(ctx, ctx.bucketName);
  if (ctx.key === undefined && ctx.query.has("metadata")) throw accessDenied();
  const copySource = ctx.key !== undefined && ctx.method === "PUT" && header(ctx, "x-amz-copy-source");
  if (copySource) requireInScope(ctx, parseCopySource(copySource).bucket);
}
