/**
 * @module storage-server/handlers/tigris
 * The Tigris-only surface (docs/storage.md, "The Tigris fork API"): snapshots through CreateBucket / ListBuckets /
 * DeleteBucket headers, and the JSON endpoints `@tigrisdata/storage` calls for bucket info, fork
 * listing and bucket settings. Shapes follow what that SDK reads.
 */
import { visibleBuckets } from "../access.js";
import { S3Error } from "../errors.js";
import type { Ctx } from "../http.js";
import { discardBody, readSmallBody, send, sendJson, sendXml } from "../http.js";
import { getBucketAccess, setBucketAccess } from "../store/acl.js";
import { seqOfVersion, versionOfSeq } from "../store/clock.js";
import { listObjects } from "../store/listing.js";
import { isDetached } from "../store/metadata.js";
import type { Bucket } from "../store/types.js";
import { isoDate } from "../xml.js";
import { requestBucketAccess } from "./acl.js";
import { requireBucket } from "./common.js";
import { corsRulesFromTigrisJson } from "./cors.js";
import { OWNER } from "./list.js";

/** `X-Tigris-Snapshot: true` or `true; name=<name>` on CreateBucket of an existing bucket. */
export function takeSnapshot(ctx: Ctx, value: string): void {
  discardBody(ctx);
  const bucket = requireBucket(ctx);
  const [flag, ...rest] = value.split(";").map((s) => s.trim());
  if (flag?.toLowerCase() !== "true") {
    throw new S3Error("InvalidArgument", `Invalid X-Tigris-Snapshot value "${value}"`, 400);
  }
  const nameParam = rest.find((p) => p.toLowerCase().startsWith("name="));
  const name = nameParam ? nameParam.slice("name=".length).trim() || null : null;
  const snap = ctx.store.meta.createSnapshot(bucket, name);
  send(ctx, 200, undefined, { "X-Tigris-Snapshot-Version": snap.version, Location: `/${bucket.name}` });
}

/** ListBuckets + `X-Tigris-Snapshot: <bucket>`: each "bucket" is `<version>[; name=<name>]`. */
export function listSnapshots(ctx: Ctx, bucketName: string): void {
  discardBody(ctx);
  const bucket = ctx.store.meta.requireBucket(bucketName);
  const token = ctx.query.get("continuation-token");
  const max = Math.min(Number(ctx.query.get("max-buckets") ?? "1000") || 1000, 10000);
  let snaps = ctx.store.meta.listSnapshots(bucket); // newest first
  if (token) {
    const below = seqOfVersion(token);
    snaps = snaps.filter((s) => s.seq < below);
  }
  const shown = snaps.slice(0, max);
  sendXml(ctx, 200, "ListAllMyBucketsResult", {
    Owner: OWNER,
    Buckets: {
      Bucket: shown.map((s) => ({
        Name: s.name ? `${s.version}; name=${s.name}` : s.version,
        CreationDate: isoDate(s.createdMs),
      })),
    },
    ...(snaps.length > max ? { ContinuationToken: shown[shown.length - 1]!.version } : {}),
  });
}

/** DeleteBucket + `X-Tigris-Snapshot-Version`: drops one snapshot, not the bucket. */
export function deleteSnapshot(ctx: Ctx, version: string): void {
  discardBody(ctx);
  ctx.store.meta.deleteSnapshot(requireBucket(ctx), version);
  send(ctx, 204);
}

function forkInfo(ctx: Ctx, b: Bucket): Record<string, unknown> {
  const meta = ctx.store.meta;
  const parents: Record<string, unknown>[] = [];
  if (b.parentId !== null && b.parentSeq !== null) {
    const parent = meta.getBucketById(b.parentId);
    parents.push({
      BucketName: parent && !isDetached(parent.name) ? parent.name : "",
      ForkCreatedAt: isoDate(b.forkCreatedMs ?? b.createdMs),
      Snapshot: versionOfSeq(b.parentSeq),
      SnapshotCreatedAt: isoDate(meta.snapshotCreatedMs(b.parentId, b.parentSeq)),
    });
  }
  return { HasChildren: meta.hasChildren(b.id), Parents: parents };
}

/** `GET /{bucket}?metadata[&with-size=true]` with `Accept: application/json`. */
export function bucketInfo(ctx: Ctx): void {
  discardBody(ctx);
  const bucket = requireBucket(ctx);
  const body: Record<string, unknown> = {
    name: bucket.name,
    type: bucket.snapshotEnabled ? 1 : 0,
    created_at: isoDate(bucket.createdMs),
    object_regions: "",
    storage_class: "STANDARD",
    ForkInfo: forkInfo(ctx, bucket),
  };
  if (ctx.query.get("with-size") === "true") {
    // A full walk of the visible view; this is an informational endpoint, not a hot path.
    const meta = ctx.store.meta;
    const layers = meta.chain(bucket);
    let count = 0;
    let size = 0;
    let after: string | undefined;
    for (;;) {
      const page = listObjects(meta, layers, {
        prefix: "",
        delimiter: "",
        maxKeys: 1000,
        ...(after ? { after } : {}),
      });
      for (const c of page.contents) {
        count++;
        size += c.size;
      }
      if (!page.isTruncated) break;
      after = page.last;
    }
    Object.assign(body, { estimated_unique_rows: count, estimated_rows: count, estimated_size: size });
  }
  sendJson(ctx, 200, body);
}

function bucketJson(ctx: Ctx, b: Bucket, withForkInfo: boolean, withType: boolean): Record<string, unknown> {
  return {
    Name: b.name,
    CreationDate: isoDate(b.createdMs),
    ...(withType ? { Type: b.snapshotEnabled ? "Snapshot" : "Regular" } : {}),
    ...(withForkInfo ? { ForkInfo: forkInfo(ctx, b) } : {}),
  };
}

function page<T extends Bucket>(ctx: Ctx, all: T[]): { shown: T[]; token?: string } {
  const after = ctx.query.get("continuation-token") ?? "";
  const max = Math.min(Number(ctx.query.get("max-buckets") ?? "1000") || 1000, 10000);
  const rest = all.filter((b) => b.name > after);
  const shown = rest.slice(0, max);
  return rest.length > max ? { shown, token: shown[shown.length - 1]!.name } : { shown };
}

/** `GET /` + `X-Tigris-Fork: <src>` (JSON): the direct forks of a bucket. */
export function listForks(ctx: Ctx, source: string): void {
  discardBody(ctx);
  const src = ctx.store.meta.requireBucket(source);
  const forks = ctx.store.meta.children(src.id).filter((b) => !isDetached(b.name));
  const { shown, token } = page(ctx, forks);
  sendJson(ctx, 200, {
    Buckets: { Bucket: shown.map((b) => bucketJson(ctx, b, true, true)) },
    ...(token ? { ContinuationToken: token } : {}),
  });
}

/** `GET /` with `Accept: application/json`: Tigris' JSON bucket listing (flags select extra fields). */
export function listBucketsJson(ctx: Ctx): void {
  discardBody(ctx);
  const q = ctx.query;
  const { shown, token } = page(ctx, visibleBuckets(ctx));
  sendJson(ctx, 200, {
    Owner: OWNER,
    Buckets: {
      Bucket: shown.map((b) =>
        bucketJson(ctx, b, q.get("IncludeForkInfo") === "true", q.get("IncludeTypeInfo") === "true"),
      ),
    },
    ...(token ? { ContinuationToken: token } : {}),
  });
}

/** `PATCH /{bucket}` (JSON settings). Only the bucket type (0 regular, 1 snapshot) is stored here. */
export async function patchBucket(ctx: Ctx): Promise<void> {
  const bucket = requireBucket(ctx);
  const raw = (await readSmallBody(ctx)).toString("utf8");
  let body: Record<string, unknown> = {};
  if (raw.trim() !== "") {
    try {
      body = JSON.parse(raw) as Record<string, unknown>;
    } catch {
      throw new S3Error("MalformedJSON", "The JSON you provided was not well-formed", 400);
    }
  }
  if (body.type !== undefined) {
    if (body.type !== 0 && body.type !== 1) throw new S3Error("InvalidArgument", "type must be 0 or 1", 400);
    ctx.store.meta.setSnapshotEnabled(bucket, body.type === 1);
  }
  if (body.cors === null) ctx.store.meta.setCors(bucket, null);
  else if (body.cors !== undefined) {
    ctx.store.meta.setCors(bucket, JSON.stringify(corsRulesFromTigrisJson(body.cors)));
  }
  // updateBucket({ access, disableDirectoryListing }) sends these as headers.
  const access = requestBucketAccess(ctx);
  if (access.acl !== undefined || access.publicList !== undefined) {
    const meta = ctx.store.meta;
    setBucketAccess(meta, bucket.id, { ...getBucketAccess(meta, bucket.id), ...access });
  }
  sendJson(ctx, 200, { status: "success" });
}
