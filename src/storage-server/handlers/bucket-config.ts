/**
 * @module storage-server/handlers/bucket-config
 * Bucket sub-resources apps set at startup and read back: tagging (Put/Get/DeleteBucketTagging) and
 * the public access block (Put/Get/DeletePublicAccessBlock). Both are stored and returned as S3 does;
 * `publicAccessBlockOf` lets access decisions consult the stored block.
 */
import { S3Error } from "../errors.js";
import type { Ctx } from "../http.js";
import { discardBody, readSmallBody, send, sendXml } from "../http.js";
import { getSetting, setSetting } from "../store/settings.js";
import type { Metadata } from "../store/metadata.js";
import type { Bucket, Tag } from "../store/types.js";
import { list, malformed, parseXml, text } from "../xml.js";
import { requireBucket } from "./common.js";

const MAX_BUCKET_TAGS = 50;

function invalidTag(message: string): S3Error {
  return new S3Error("InvalidTag", message, 400);
}

/** S3's rules for a bucket tag set (object tags allow 10, buckets 50). */
function validateBucketTags(tags: readonly Tag[]): void {
  if (tags.length > MAX_BUCKET_TAGS)
    throw invalidTag(`Bucket tag count cannot be greater than ${MAX_BUCKET_TAGS}`);
  const seen = new Set<string>();
  for (const t of tags) {
    if (t.Key.length === 0 || t.Key.length > 128) {
      throw invalidTag("The TagKey you have provided is invalid");
    }
    if (t.Value.length > 256) throw invalidTag("The TagValue you have provided is invalid");
    if (t.Key.toLowerCase().startsWith("aws:")) {
      throw invalidTag("System tags cannot be added/updated by requester");
    }
    if (seen.has(t.Key)) throw invalidTag("Cannot provide multiple Tags with the same key");
    seen.add(t.Key);
  }
}

export async function putBucketTagging(ctx: Ctx): Promise<void> {
  const bucket = requireBucket(ctx);
  const doc = parseXml((await readSmallBody(ctx)).toString("utf8"), "Tagging");
  const tagSet = doc.TagSet;
  if (tagSet === undefined) throw malformed();
  const tags =
    tagSet === ""
      ? []
      : list(tagSet as Record<string, unknown>, "Tag").map((t) => {
          const key = text(t, "Key");
          if (key === undefined) throw malformed();
          return { Key: key, Value: text(t, "Value") ?? "" };
        });
  validateBucketTags(tags);
  await ctx.store.meta.write(() =>
    setSetting(ctx.store.meta, bucket.id, "tagging", tags.length > 0 ? JSON.stringify(tags) : undefined),
  );
  send(ctx, 204);
}

export function getBucketTagging(ctx: Ctx): void {
  discardBody(ctx);
  const bucket = requireBucket(ctx);
  const stored = getSetting(ctx.store.meta, bucket.id, "tagging");
  if (stored === undefined) {
    throw new S3Error("NoSuchTagSet", "The TagSet does not exist", 404, { BucketName: bucket.name });
  }
  const tags = JSON.parse(stored) as Tag[];
  sendXml(ctx, 200, "Tagging", { TagSet: { Tag: tags.map((t) => ({ Key: t.Key, Value: t.Value })) } });
}

export async function deleteBucketTagging(ctx: Ctx): Promise<void> {
  discardBody(ctx);
  const bucket = requireBucket(ctx);
  await ctx.store.meta.write(() => setSetting(ctx.store.meta, bucket.id, "tagging", undefined));
  send(ctx, 204);
}

export interface PublicAccessBlock {
  readonly BlockPublicAcls: boolean;
  readonly IgnorePublicAcls: boolean;
  readonly BlockPublicPolicy: boolean;
  readonly RestrictPublicBuckets: boolean;
}

const PAB_FIELDS = [
  "BlockPublicAcls",
  "IgnorePublicAcls",
  "BlockPublicPolicy",
  "RestrictPublicBuckets",
] as const;

/** The bucket's stored public access block, or undefined when none is configured. */
export function publicAccessBlockOf(meta: Metadata, bucket: Bucket): PublicAccessBlock | undefined {
  const stored = getSetting(meta, bucket.id, "public-access-block");
  return stored === undefined ? undefined : (JSON.parse(stored) as PublicAccessBlock);
}

export async function putPublicAccessBlock(ctx: Ctx): Promise<void> {
  const bucket = requireBucket(ctx);
  const doc = parseXml((await readSmallBody(ctx)).toString("utf8"), "PublicAccessBlockConfiguration");
  const config: Record<string, boolean> = {};
  for (const field of PAB_FIELDS) {
    const value = text(doc, field)?.trim().toLowerCase();
    // Absent means false (S3); anything but true/false does not validate against the schema.
    if (value !== undefined && value !== "true" && value !== "false") throw malformed();
    config[field] = value === "true";
  }
  await ctx.store.meta.write(() =>
    setSetting(ctx.store.meta, bucket.id, "public-access-block", JSON.stringify(config)),
  );
  send(ctx, 200);
}

export function getPublicAccessBlock(ctx: Ctx): void {
  discardBody(ctx);
  const bucket = requireBucket(ctx);
  const config = publicAccessBlockOf(ctx.store.meta, bucket);
  if (config === undefined) {
    throw new S3Error(
      "NoSuchPublicAccessBlockConfiguration",
      "The public access block configuration was not found",
      404,
      { BucketName: bucket.name },
    );
  }
  sendXml(ctx, 200, "PublicAccessBlockConfiguration", { ...config });
}

export async function deletePublicAccessBlock(ctx: Ctx): Promise<void> {
  discardBody(ctx);
  const bucket = requireBucket(ctx);
  await ctx.store.meta.write(() => setSetting(ctx.store.meta, bucket.id, "public-access-block", undefined));
  send(ctx, 204);
}
