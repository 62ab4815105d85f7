/**
 * @module providers/storage/_copy-fork
 * A fork where the backend has none (S3, R2): every object of the parent's bucket is copied into the
 * child's server-side, never through this machine (docs/storage.md, `s3` and `r2`). The listing (pages of
 * 1,000) runs ahead of the copies, which run `concurrency` at a time: `CopyObject` (`_copy-object.ts`) up to
 * `multipartThreshold` (S3's single-copy limit is 5 GB), above it CreateMultipartUpload + `UploadPartCopy`
 * of equal-sized ranges (R2 wants every part but the last the same size) + CompleteMultipartUpload,
 * with the object's headers and metadata carried over (a multipart copy does not copy them itself).
 *
 * Progress (objects, bytes, both totals once the listing is done) goes to `onProgress` a few times a
 * second; the CLI turns it into rate and ETA. The copy is not a snapshot: an object written to the
 * parent while it runs may or may not reach the child (docs/storage.md).
 *
 * `emptyAndDelete` is the other half: every object version and delete marker (where the bucket keeps
 * versions), every unfinished multipart upload, then the bucket.
 */
import { setMaxListeners } from "node:events";
import type * as S3Sdk from "@aws-sdk/client-s3";
import { InterruptedError } from "../../errors.js";
import { failpoint } from "../../core/failpoints.js";
import { limit } from "../_limit.js";
import type { CopyProgress } from "../types.js";
import type { S3Module } from "./_s3-sdk.js";
import { s3Code } from "./_s3-sdk.js";

export const GB = 1024 ** 3;
export const MB = 1024 ** 2;

export interface CopyOptions {
  /** Objects copied at once. */
  readonly concurrency: number;
  /** Objects larger than this are copied in parts. At most 5 GB (S3's CopyObject limit). */
  readonly multipartThreshold: number;
  /** Size of each copied part (raised so that no object needs more than 10,000 parts). */
  readonly partSize: number;
  readonly signal?: AbortSignal | undefined;
  readonly onProgress?: ((progress: CopyProgress) => void) | undefined;
  /** How one object up to the threshold is copied: `_copy-object.ts`, without the SDK's per-call cost. */
  readonly copyObject: (bucket: string, key: string, source: string, signal: AbortSignal) => Promise<void>;
}

export interface CopyResult {
  readonly objects: number;
  readonly bytes: number;
}

interface Item {
  readonly key: string;
  readonly size: number;
}

const PROGRESS_EVERY_MS = 250;
const MAX_PARTS = 10_000;
const PARTS_AT_ONCE = 8;
const QUEUE_HIGH = 10_000;
const QUEUE_LOW = 2_000;

/** `x-amz-copy-source` is URL-encoded (`a b+c` → `a%20b%2Bc`), with the key's slashes kept. */
export function copySource(bucket: string, key: string): string {
  return `${bucket}/${encodeURIComponent(key).replace(/%2F/g, "/")}`;
}

/** The ranges of a multipart copy: equal parts, the last one shorter. */
export function partRanges(size: number, partSize: number): { start: number; end: number }[] {
  const least = Math.ceil(size / MAX_PARTS);
  const step = partSize >= least ? partSize : Math.ceil(least / MB) * MB;
  const ranges: { start: number; end: number }[] = [];
  for (let start = 0; start < size; start += step)
    ranges.push({ start, end: Math.min(size, start + step) - 1 });
  return ranges;
}

/**
 * Copy every object of `pairs[i].from` into `pairs[i].to` (existing, empty buckets). Stops at the first
 * failure or abort, waiting for the copies in flight, and throws it: the caller removes the buckets.
 */
export async function copyBuckets(
  sdk: S3Module,
  s3: S3Sdk.S3Client,
  pairs: readonly { from: string; to: string }[],
  options: CopyOptions,
): Promise<CopyResult> {
  const stop = new AbortController();
  const signal = options.signal ? AbortSignal.any([options.signal, stop.signal]) : stop.signal;
  // Every request in flight listens to it: hundreds at once are expected, not a leak.
  setMaxListeners(0, signal);
  const progress = { objects: 0, bytes: 0, totalObjects: 0, totalBytes: 0, listed: false };
  const started = performance.now();
  let reported = 0;
  const report = (force = false) => {
    const now = performance.now();
    if (!options.onProgress || (!force && now - reported < PROGRESS_EVERY_MS)) return;
    reported = now;
    options.onProgress({ ...progress, elapsedMs: now - started } satisfies CopyProgress);
  };
  let failure: unknown;
  const fail = (error: unknown) => {
    failure ??= error;
    stop.abort();
  };

  const copyOne = async (from: string, to: string, item: Item) => {
    try {
      if (item.size > options.multipartThreshold)
        await copyInParts(sdk, s3, from, to, item, options.partSize, signal);
      else await options.copyObject(to, item.key, copySource(from, item.key), signal);
    } catch (error) {
      // Deleted from the parent since it was listed: the child does not get it either.
      if (s3Code(error) === "NoSuchKey") return;
      throw error;
    }
    progress.objects++;
    progress.bytes += item.size;
    // Tests kill or fail the process after n objects (`FORKSTACK_FAILPOINT=storage-copy:500`).
    failpoint(`storage-copy:${progress.objects}`);
    report();
  };

  // The listing fills a queue that `concurrency` workers drain; it pauses while the queue is long, so
  // a bucket of millions of keys never sits in memory at once.
  const queue: { from: string; to: string; item: Item }[] = [];
  let listed = false;
  // Workers waiting for items and the lister waiting for room all wake on any change and look again.
  let waiting: (() => void)[] = [];
  const notify = () => {
    const woken = waiting;
    waiting = [];
    for (const wake of woken) wake();
  };
  const waitForChange = () => new Promise<void>((resolve) => waiting.push(resolve));
  const worker = async () => {
    while (!signal.aborted) {
      const next = queue.shift();
      if (!next) {
        if (listed) return;
        await waitForChange();
        continue;
      }
      if (queue.length < QUEUE_LOW) notify();
      await copyOne(next.from, next.to, next.item).catch(fail);
    }
  };
  const lister = async () => {
    try {
      for (const { from, to } of pairs) {
        let token: string | undefined;
        do {
          const page = await s3.send(
            new sdk.ListObjectsV2Command({ Bucket: from, ContinuationToken: token }),
            {
              abortSignal: signal,
            },
          );
          for (const { Key, Size } of page.Contents ?? []) {
            if (Key === undefined) continue;
            queue.push({ from, to, item: { key: Key, size: Size ?? 0 } });
            progress.totalObjects++;
            progress.totalBytes += Size ?? 0;
          }
          notify();
          report();
          token = page.IsTruncated ? page.NextContinuationToken : undefined;
          while (queue.length > QUEUE_HIGH && !signal.aborted) await waitForChange();
        } while (token && !signal.aborted);
      }
      progress.listed = true;
    } catch (error) {
      fail(error);
    } finally {
      listed = true;
      notify();
    }
  };
  const abortWake = () => notify();
  signal.addEventListener("abort", abortWake);
  try {
    await Promise.all([lister(), ...Array.from({ length: options.concurrency }, worker)]);
  } finally {
    signal.removeEventListener("abort", abortWake);
  }
  if (options.signal?.aborted) throw new InterruptedError();
  if (failure !== undefined) throw failure;
  report(true);
  return { objects: progress.objects, bytes: progress.bytes };
}

/** One object over the threshold: parts copied by range, the upload aborted if anything fails. */
async function copyInParts(
  sdk: S3Module,
  s3: S3Sdk.S3Client,
  from: string,
  to: string,
  item: Item,
  partSize: number,
  signal: AbortSignal,
): Promise<void> {
  const source = copySource(from, item.key);
  const head = await s3.send(new sdk.HeadObjectCommand({ Bucket: from, Key: item.key }), {
    abortSignal: signal,
  });
  const { UploadId } = await s3.send(
    new sdk.CreateMultipartUploadCommand({
      Bucket: to,
      Key: item.key,
      ...(head.ContentType ? { ContentType: head.ContentType } : {}),
      ...(head.ContentEncoding ? { ContentEncoding: head.ContentEncoding } : {}),
      ...(head.ContentDisposition ? { ContentDisposition: head.ContentDisposition } : {}),
      ...(head.ContentLanguage ? { ContentLanguage: head.ContentLanguage } : {}),
      ...(head.CacheControl ? { CacheControl: head.CacheControl } : {}),
      ...(head.Metadata ? { Metadata: head.Metadata } : {}),
    }),
    { abortSignal: signal },
  );
  try {
    const run = limit(PARTS_AT_ONCE);
    const parts = await Promise.all(
      partRanges(item.size, partSize).map(({ start, end }, i) =>
        run(async () => {
          const { CopyPartResult } = await s3.send(
            new sdk.UploadPartCopyCommand({
              Bucket: to,
              Key: item.key,
              UploadId,
              PartNumber: i + 1,
              CopySource: source,
              CopySourceRange: `bytes=${start}-${end}`,
            }),
            { abortSignal: signal },
          );
          return { PartNumber: i + 1, ETag: CopyPartResult?.ETag };
        }, signal),
      ),
    );
    await s3.send(
      new sdk.CompleteMultipartUploadCommand({
        Bucket: to,
        Key: item.key,
        UploadId,
        MultipartUpload: { Parts: parts },
      }),
      { abortSignal: signal },
    );
  } catch (error) {
    await s3
      .send(new sdk.AbortMultipartUploadCommand({ Bucket: to, Key: item.key, UploadId }))
      .catch(() => undefined);
    throw error;
  }
}

/**
 * Delete `bucket` with everything in it: all versions and delete markers when `versions` (S3; R2 has no
 * versioning API), else the current objects; unfinished multipart uploads; then the bucket itself,
 * again if something was written meanwhile. A bucket that does not exist is fine (false).
 */
export async function emptyAndDelete(
  sdk: S3Module,
  s3: S3Sdk.S3Client,
  bucket: string,
  options: { versions: boolean; concurrency: number },
): Promise<boolean> {
  const run = limit(Math.max(1, Math.min(options.concurrency, 16)));
  try {
    for (let attempt = 0; ; attempt++) {
      const batches: Promise<unknown>[] = [];
      const remove = (Objects: { Key: string; VersionId?: string }[]) => {
        if (Objects.length === 0) return;
        batches.push(
          run(async () => {
            const out = await s3.send(
              new sdk.DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects, Quiet: true } }),
            );
            const error = out.Errors?.[0];
            if (error)
              throw new Error(`could not delete ${error.Key}: ${error.Code} ${error.Message ?? ""}`.trim());
          }),
        );
      };
      if (options.versions) {
        let keyMarker: string | undefined;
        let versionMarker: string | undefined;
        do {
          const page = await s3.send(
            new sdk.ListObjectVersionsCommand({
              Bucket: bucket,
              KeyMarker: keyMarker,
              VersionIdMarker: versionMarker,
            }),
          );
          remove(
            [...(page.Versions ?? []), ...(page.DeleteMarkers ?? [])].map((v) => ({
              Key: v.Key!,
              ...(v.VersionId ? { VersionId: v.VersionId } : {}),
            })),
          );
          keyMarker = page.IsTruncated ? page.NextKeyMarker : undefined;
          versionMarker = page.IsTruncated ? page.NextVersionIdMarker : undefined;
        } while (keyMarker !== undefined || versionMarker !== undefined);
      } else {
        let token: string | undefined;
        do {
          const page = await s3.send(
            new sdk.ListObjectsV2Command({ Bucket: bucket, ContinuationToken: token }),
          );
          remove((page.Contents ?? []).map((o) => ({ Key: o.Key! })));
          token = page.IsTruncated ? page.NextContinuationToken : undefined;
        } while (token);
      }
      await Promise.all(batches);
      await abortUploads(sdk, s3, bucket);
      try {
        await s3.send(new sdk.DeleteBucketCommand({ Bucket: bucket }));
        return true;
      } catch (error) {
        // Written to while we emptied it (an app still running): empty it again, a few times.
        if (s3Code(error) !== "BucketNotEmpty" || attempt >= 3) throw error;
      }
    }
  } catch (error) {
    if (s3Code(error) === "NoSuchBucket") return false;
    throw error;
  }
}

async function abortUploads(sdk: S3Module, s3: S3Sdk.S3Client, bucket: string): Promise<void> {
  let keyMarker: string | undefined;
  let uploadMarker: string | undefined;
  do {
    const page = await s3.send(
      new sdk.ListMultipartUploadsCommand({
        Bucket: bucket,
        KeyMarker: keyMarker,
        UploadIdMarker: uploadMarker,
      }),
    );
    await Promise.all(
      (page.Uploads ?? []).map((u) =>
        s3
          .send(new sdk.AbortMultipartUploadCommand({ Bucket: bucket, Key: u.Key!, UploadId: u.UploadId! }))
          .catch((error: unknown) => {
            if (s3Code(error) !== "NoSuchUpload") throw error;
          }),
      ),
    );
    keyMarker = page.IsTruncated ? page.NextKeyMarker : undefined;
    uploadMarker = page.IsTruncated ? page.NextUploadIdMarker : undefined;
  } while (keyMarker !== undefined || uploadMarker !== undefined);
}
