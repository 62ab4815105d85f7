/**
 * An in-memory S3 bucket with versions and unfinished multipart uploads, for what the embedded server
 * does not keep (versions): a stand-in for the `S3Client` that `emptyAndDelete` is given. Its listings
 * page as Amazon S3 documents them, with a page size the test picks (S3's is 1,000) so that a handful of
 * entries already spans many pages:
 *
 * - ListObjectVersions: by key ascending, each key's versions and delete markers newest first; a page
 *   resumes after `KeyMarker` (every version of a later key), or, with `VersionIdMarker` too, after that
 *   version of that key; `VersionIdMarker` without `KeyMarker` is S3's 400 InvalidArgument. A truncated
 *   page says so (`IsTruncated`) and names the last entry in `NextKeyMarker`/`NextVersionIdMarker`.
 * - ListMultipartUploads: by key, then by when each upload started; `KeyMarker` alone resumes at the next
 *   key, with `UploadIdMarker` after that upload of that key (`UploadIdMarker` without `KeyMarker` is
 *   ignored); `NextKeyMarker`/`NextUploadIdMarker` on a truncated page.
 * - DeleteObjects by key and version, AbortMultipartUpload, and DeleteBucket, which is S3's 409
 *   BucketNotEmpty while a version or a delete marker is left (and here, stricter, an upload too).
 */
import * as sdk from "@aws-sdk/client-s3";

export interface FakeVersion {
  readonly Key: string;
  readonly VersionId: string;
  readonly deleteMarker?: boolean;
}

export interface FakeUpload {
  readonly Key: string;
  readonly UploadId: string;
}

/** Command names in the order they were sent, with their marker inputs, for assertions. */
export interface FakeCall {
  readonly command: string;
  readonly input: Record<string, unknown>;
}

function s3Error(status: number, code: string, message: string): Error {
  return Object.assign(new Error(message), { name: code, Code: code, $metadata: { httpStatusCode: status } });
}

/**
 * `versions` newest last per key (as they were written), `uploads` in the order they were started.
 * `pageSize` stands for S3's 1,000 entries per page.
 */
export function fakeS3(options: { versions: FakeVersion[]; uploads: FakeUpload[]; pageSize: number }) {
  // Every entry ever listed keeps its place in S3's order (key ascending; a key's versions newest first,
  // its uploads oldest first): a marker names a place in that order even once its entry is deleted,
  // as an S3 version id or upload id does.
  const byKey =
    <T extends { Key: string; seq: number }>(newestFirst: boolean) =>
    (a: T, b: T) =>
      a.Key === b.Key ? (newestFirst ? b.seq - a.seq : a.seq - b.seq) : a.Key < b.Key ? -1 : 1;
  const versions = options.versions.map((v, i) => ({ ...v, seq: i, gone: false })).sort(byKey(true));
  const uploads = options.uploads.map((u, i) => ({ ...u, seq: i, gone: false })).sort(byKey(false));
  let bucketGone = false;
  const calls: FakeCall[] = [];

  /** The page after the place `(key, id)` names: up to `max` entries that still exist. */
  function pageAfter<T extends { Key: string; gone: boolean }>(
    all: T[],
    key: string | undefined,
    at: (entry: T) => boolean,
    max: number,
  ): { page: T[]; truncated: boolean } {
    let from = 0;
    if (key !== undefined) {
      const marked = all.findIndex(at);
      // After that entry of that key; with no id marker (or an unknown one), after every entry of the key.
      from = marked >= 0 ? marked + 1 : all.findIndex((e) => e.Key > key);
      if (from < 0) from = all.length;
    }
    const rest = all.slice(from).filter((e) => !e.gone);
    return { page: rest.slice(0, max), truncated: rest.length > max };
  }

  function listVersions(input: sdk.ListObjectVersionsCommandInput) {
    const { KeyMarker: key, VersionIdMarker: version } = input;
    if (version !== undefined && key === undefined) {
      throw s3Error(400, "InvalidArgument", "A version-id marker cannot be specified without a key marker.");
    }
    const max = Math.min(options.pageSize, input.MaxKeys ?? Infinity);
    const { page, truncated } = pageAfter(
      versions,
      key,
      (v) => version !== undefined && v.Key === key && v.VersionId === version,
      max,
    );
    const last = page.at(-1);
    return {
      Versions: page.filter((v) => !v.deleteMarker).map(({ Key, VersionId }) => ({ Key, VersionId })),
      DeleteMarkers: page.filter((v) => v.deleteMarker).map(({ Key, VersionId }) => ({ Key, VersionId })),
      IsTruncated: truncated,
      ...(truncated && last ? { NextKeyMarker: last.Key, NextVersionIdMarker: last.VersionId } : {}),
    };
  }

  function listUploads(input: sdk.ListMultipartUploadsCommandInput) {
    const { KeyMarker: key, UploadIdMarker: upload } = input;
    const max = Math.min(options.pageSize, input.MaxUploads ?? Infinity);
    const { page, truncated } = pageAfter(
      uploads,
      key,
      (u) => upload !== undefined && u.Key === key && u.UploadId === upload,
      max,
    );
    const last = page.at(-1);
    return {
      Uploads: page.map(({ Key, UploadId }) => ({ Key, UploadId })),
      IsTruncated: truncated,
      ...(truncated && last ? { NextKeyMarker: last.Key, NextUploadIdMarker: last.UploadId } : {}),
    };
  }

  const left = () => ({
    versions: versions.filter((v) => !v.gone).length,
    uploads: uploads.filter((u) => !u.gone).length,
  });

  const client = {
    async send(command: { input: object }): Promise<unknown> {
      const input = command.input as Record<string, unknown>;
      calls.push({ command: command.constructor.name, input });
      if (bucketGone) throw s3Error(404, "NoSuchBucket", "The specified bucket does not exist");
      if (command instanceof sdk.ListObjectVersionsCommand) return listVersions(command.input);
      if (command instanceof sdk.ListMultipartUploadsCommand) return listUploads(command.input);
      if (command instanceof sdk.DeleteObjectsCommand) {
        const objects = command.input.Delete?.Objects ?? [];
        if (objects.length > 1000) throw s3Error(400, "MalformedXML", "more than 1,000 keys");
        for (const o of objects) {
          for (const v of versions) if (v.Key === o.Key && v.VersionId === o.VersionId) v.gone = true;
        }
        return {};
      }
      if (command instanceof sdk.AbortMultipartUploadCommand) {
        const upload = uploads.find((u) => !u.gone && u.UploadId === command.input.UploadId);
        if (!upload) throw s3Error(404, "NoSuchUpload", "The upload does not exist");
        upload.gone = true;
        return {};
      }
      if (command instanceof sdk.DeleteBucketCommand) {
        const { versions: v, uploads: u } = left();
        if (v > 0 || u > 0)
          throw s3Error(409, "BucketNotEmpty", "The bucket you tried to delete is not empty");
        bucketGone = true;
        return {};
      }
      throw new Error(`the fake S3 does not answer ${command.constructor.name}`);
    },
  };
  return {
    client,
    calls,
    /** What is still in the bucket. */
    left,
    bucketGone: () => bucketGone,
  };
}
