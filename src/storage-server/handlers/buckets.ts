/**
 * @module storage-server/handlers/buckets
 * Bucket-level S3 operations: ListBuckets, CreateBucket (incl. Tigris fork / snapshot-enabled
 * creation), HeadBucket (with Tigris fork headers), DeleteBucket, location, versioning.
 */
import { visibleBuckets } from "../access.js";
import { S3Error } from "../errors.js";
import type { Ctx } from "../http.js";
import { discardBody, header, readSmallBody, send, sendXml } from "../http.js";
import { validateBucketName } from "../names.js";
import { versionOfSeq } from "../store/clock.js";
import { isEmpty } from "../store/listing.js";
import { tx } from "../store/db.js";
import { isDetached } from "../store/metadata.js";
import { getSetting, setSetting } from "../store/settings.js";
import type { Bucket } from "../store/types.js";
import { isoDate, parseXml, text } from "../xml.js";
import { initBucketAccess, requestBucketAccess } from "./acl.js";
import { requireBucket } from "./common.js";
import { OWNER } from "./list.js";

/** The region the client signed for (any region is accepted; it is only echoed back). */
function signingRegion(ctx: Ctx): string | undefined {
  const auth = header(ctx, "authorization") ?? "";
  const m = /Credential=[^/,\s]+\/\d{8}\/([^/,\s]+)\//.exec(auth);
  if (m) return m[1];
  const cred = ctx.query.get("X-Amz-Credential");
  return cred?.split("/")[2];
}

export function listBuckets(ctx: Ctx): void {
  discardBody(ctx);
  const prefix = ctx.query.get("prefix") ?? "";
  const after = ctx.query.get("continuation-token") ?? "";
  const max = Math.min(Number(ctx.query.get("max-buckets") ?? "10000") || 10000, 10000);
  const all = visibleBuckets(ctx).filter((b) => b.name.startsWith(prefix) && b.name > after);
  const shown = all.slice(0, max);
  sendXml(ctx, 200, "ListAllMyBucketsResult", {
    Owner: OWNER,
    Buckets: {
      Bucket: shown.map((b) => ({
        Name: b.name,
        CreationDate: isoDate(b.createdMs),
        BucketRegion: b.region,
      })),
    },
    ...(all.length > max ? { ContinuationToken: shown[shown.length - 1]!.name } : {}),
    ...(prefix ? { Prefix: prefix } : {}),
  });
}

export async function createBucket(ctx: Ctx): Promise<void> {
  const name = ctx.bucketName!;
  validateBucketName(name);
  const body = (await readSmallBody(ctx)).toString("utf8");
  let location: string | undefined;
  if (body.trim() !== "") {
    const doc = parseXml(body, "CreateBucketConfiguration");
    location = text(doc, "LocationConstraint")?.trim() || undefined;
  }
  const forkSource = header(ctx, "x-tigris-fork-source-bucket")?.trim();
  const forkSnapshot = header(ctx, "x-tigris-fork-source-bucket-snapshot")?.trim();
  if (forkSnapshot && !forkSource) {
    throw new S3Error(
      "InvalidArgument",
      "X-Tigris-Fork-Source-Bucket-Snapshot needs X-Tigris-Fork-Source-Bucket.",
      400,
    );
  }
  const region = location ?? signingRegion(ctx) ?? ctx.server.region;
  const existing = ctx.store.meta.getBucket(name);
  if (existing) {
    bucketExists(ctx, existing, region, forkSource !== undefined && forkSource !== "");
    return;
  }
  const access = requestBucketAccess(ctx);
  const meta = ctx.store.meta;
  const bucket = tx(meta.db, () => {
    const created = meta.createBucket(name, {
      region,
      snapshotEnabled: header(ctx, "x-tigris-enable-snapshot")?.trim().toLowerCase() === "true",
      ...(forkSource
        ? { fork: { source: forkSource, ...(forkSnapshot ? { snapshotVersion: forkSnapshot } : {}) } }
        : {}),
    });
    if (ctx.auth.accessKeyId !== "") setSetting(meta, created.id, "owner", ctx.auth.accessKeyId);
    return created;
  });
  initBucketAccess(ctx, bucket, access);
  const extra: Record<string, string> = { Location: `/${bucket.name}` };
  if (bucket.parentSeq !== null)
    extra["X-Tigris-Fork-Source-Bucket-Snapshot"] = versionOfSeq(bucket.parentSeq);
  send(ctx, 200, undefined, extra);
}

/**
 * CreateBucket of a name that exists, as S3 answers it: another owner's bucket (created with another
 * access key) is 409 BucketAlreadyExists; your own is 409 BucketAlreadyOwnedByYou, except that S3
 * keeps answering 200 for a us-east-1 bucket re-created in us-east-1 (legacy behaviour it documents).
 * Buckets created before owners were recorded count as yours. A fork request is never answered 200:
 * the existing bucket is not the fork asked for.
 */
function bucketExists(ctx: Ctx, existing: Bucket, region: string, fork: boolean): void {
  const owner = getSetting(ctx.store.meta, existing.id, "owner");
  if (owner !== undefined && owner !== ctx.auth.accessKeyId) {
    throw new S3Error(
      "BucketAlreadyExists",
      "The requested bucket name is not available. The bucket namespace is shared by all users of the system. Please select a different name and try again.",
      409,
      { BucketName: existing.name },
    );
  }
  if (!fork && region === "us-east-1" && existing.region === "us-east-1") {
    send(ctx, 200, undefined, { Location: `/${existing.name}` });
    return;
  }
  throw new S3Error(
    "BucketAlreadyOwnedByYou",
    "Your previous request to create the named bucket succeeded and you already own it.",
    409,
    { BucketName: existing.name },
  );
}

export function headBucket(ctx: Ctx): void {
  discardBody(ctx);
  const bucket = requireBucket(ctx);
  const meta = ctx.store.meta;
  const h: Record<string, string> = {
    "x-amz-bucket-region": bucket.region,
    "X-Tigris-Enable-Snapshot": String(bucket.snapshotEnabled),
  };
  if (bucket.parentId !== null) {
    const parent = meta.getBucketById(bucket.parentId);
    // A detached parent has no name a client could use any more (see DETACHED_PREFIX).
    if (parent && !isDetached(parent.name)) h["X-Tigris-Fork-Source-Bucket"] = parent.name;
    h["X-Tigris-Fork-Source-Bucket-Snapshot"] = versionOfSeq(bucket.parentSeq ?? 0);
  }
  if (meta.hasChildren(bucket.id)) h["X-Tigris-Is-Fork-Parent"] = "true";
  send(ctx, 200, undefined, h);
}

export function deleteBucket(ctx: Ctx): void {
  discardBody(ctx);
  const bucket = requireBucket(ctx);
  const meta = ctx.store.meta;
  const force = header(ctx, "tigris-force-delete")?.trim().toLowerCase() === "true";
  meta.deleteBucket(bucket, () => isEmpty(meta, meta.chain(bucket)), force);
  send(ctx, 204);
}

export function getBucketLocation(ctx: Ctx): void {
  discardBody(ctx);
  const bucket = requireBucket(ctx);
  // S3 reports us-east-1 as an empty constraint; clients map "" back to us-east-1.
  sendXml(ctx, 200, "LocationConstraint", { "#text": bucket.region === "us-east-1" ? "" : bucket.region });
}

export function getBucketVersioning(ctx: Ctx): void {
  discardBody(ctx);
  requireBucket(ctx);
  sendXml(ctx, 200, "VersioningConfiguration", {});
}

/** Bucket sub-resources we do not store: answer like an unconfigured S3 bucket. */
export function notConfigured(ctx: Ctx, code: string, message: string): void {
  discardBody(ctx);
  const bucket = requireBucket(ctx);
  throw new S3Error(code, message, 404, { BucketName: bucket.name });
}
