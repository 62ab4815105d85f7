/**
 * @module storage-server/handlers/tagging
 * Object tagging and DeleteObjects (the two object operations that carry an XML request body).
 */
import { verifyDeleteObjectsBody } from "../auth/index.js";
import { S3Error } from "../errors.js";
import type { Ctx } from "../http.js";
import { discardBody, readSmallBody, send, sendXml } from "../http.js";
import { validateKey } from "../names.js";
import { putObject, removeKey, resolveObject } from "../store/objects.js";
import type { Tag } from "../store/types.js";
import { list, malformed, parseXml, text } from "../xml.js";
import {
  isNullVersion,
  lookupObject,
  noSuchKey,
  readSeq,
  requireBucket,
  requireKey,
  requireNullVersion,
  validateTags,
} from "./common.js";

export function getObjectTagging(ctx: Ctx): void {
  discardBody(ctx);
  const bucket = requireBucket(ctx);
  const key = requireKey(ctx);
  const v = lookupObject(ctx, ctx.store.meta.chain(bucket, readSeq(ctx)), key, ctx.query.get("versionId"));
  sendXml(ctx, 200, "Tagging", { TagSet: { Tag: v.tags.map((t) => ({ Key: t.Key, Value: t.Value })) } });
}

/**
 * Tags are part of a version, so changing them writes a new version pointing at the same blob: a
 * fork changing tags of an inherited object never touches its parent, and snapshots keep old tags.
 */
async function replaceTags(ctx: Ctx, tags: readonly Tag[]): Promise<void> {
  const bucket = requireBucket(ctx);
  const key = requireKey(ctx);
  requireNullVersion(key, ctx.query.get("versionId"));
  const meta = ctx.store.meta;
  await meta.write(() => {
    const current = resolveObject(meta, meta.chain(bucket), key);
    if (!current) throw noSuchKey(key);
    putObject(meta, bucket, key, {
      blob: current.blob!,
      size: current.size,
      etag: current.etag,
      mtimeMs: current.mtimeMs,
      headers: current.headers,
      tags,
      checksums: current.checksums,
      parts: current.parts,
      partChecksums: current.partChecksums,
    });
  });
}

export async function putObjectTagging(ctx: Ctx): Promise<void> {
  requireBucket(ctx);
  requireKey(ctx);
  const doc = parseXml((await readSmallBody(ctx)).toString("utf8"), "Tagging");
  const tagSet = doc.TagSet;
  if (tagSet === undefined) throw malformed();
  const tags =
    tagSet === ""
      ? []
      : list(tagSet as Record<string, unknown>, "Tag").map((t) => ({
          Key: text(t, "Key") ?? "",
          Value: text(t, "Value") ?? "",
        }));
  validateTags(tags);
  await replaceTags(ctx, tags);
  send(ctx, 200);
}

export async function deleteObjectTagging(ctx: Ctx): Promise<void> {
  discardBody(ctx);
  await replaceTags(ctx, []);
  send(ctx, 204);
}

export async function deleteObjects(ctx: Ctx): Promise<void> {
  const bucket = requireBucket(ctx);
  const body = await readSmallBody(ctx);
  // Integrity is mandatory here: Content-MD5 (older clients) or any x-amz-checksum-* (current SDKs).
  await verifyDeleteObjectsBody(ctx.head, body, ctx.auth);
  const doc = parseXml(body.toString("utf8"), "Delete");
  const objects = list(doc, "Object");
  if (objects.length === 0) throw malformed();
  if (objects.length > 1000) {
    throw new S3Error("MalformedXML", "The request must contain at most 1000 keys", 400);
  }
  const quiet = (text(doc, "Quiet") ?? "false").trim().toLowerCase() === "true";
  const deleted: { Key: string; VersionId?: string }[] = [];
  const errors: { Key: string; Code: string; Message: string }[] = [];
  const keys = objects.map((o) => {
    const key = text(o, "Key");
    if (key === undefined) throw malformed();
    return { key, versionId: text(o, "VersionId") };
  });
  // One commit (one fsync) for the whole batch instead of one per key.
  await ctx.store.meta.write(() => {
    for (const { key, versionId } of keys) {
      try {
        validateKey(key);
        // Only the "null" version exists: naming another one deletes nothing (never the live object).
        if (isNullVersion(versionId)) removeKey(ctx.store.meta, bucket, key);
        // S3 reports keys (and versions) that did not exist as deleted too.
        deleted.push(versionId ? { Key: key, VersionId: versionId } : { Key: key });
      } catch (error) {
        if (!(error instanceof S3Error)) throw error;
        errors.push({ Key: key, Code: error.code, Message: error.message });
      }
    }
  });
  sendXml(ctx, 200, "DeleteResult", {
    ...(quiet ? {} : { Deleted: deleted }),
    ...(errors.length ? { Error: errors } : {}),
  });
}
