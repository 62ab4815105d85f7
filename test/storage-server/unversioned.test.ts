/**
 * Buckets are unversioned, and every versioned call answers as on an unversioned S3 bucket: the only
 * version of an object is "null". Above all, naming any other version never touches the live object.
 */
import {
  CopyObjectCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetBucketVersioningCommand,
  GetObjectCommand,
  GetObjectTaggingCommand,
  HeadObjectCommand,
  ListObjectVersionsCommand,
  PutBucketVersioningCommand,
  PutObjectCommand,
  PutObjectTaggingCommand,
} from "@aws-sdk/client-s3";
import { describe, expect, test } from "vitest";
import { harnessWithBucket, s3Error } from "./helpers.js";
import type { Harness } from "./helpers.js";

let h: Harness;
let bucket: string;
harnessWithBucket("unv", (harness, name) => ([h, bucket] = [harness, name]));

async function text(key: string): Promise<string> {
  const r = await h.s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return r.Body!.transformToString();
}

// What a client could take for a version id: an S3-style id, and what our internal seqs look like.
const OTHER_IDS = ["3HL4kqtJlcpXroDTDmJ-rmSpXd3dIbrHY", "1764471234567890", "1"];

describe("versioned calls on an unversioned bucket", () => {
  test("GetBucketVersioning is the empty configuration; enabling it is refused as not implemented", async () => {
    const v = await h.s3.send(new GetBucketVersioningCommand({ Bucket: bucket }));
    expect(v.Status).toBeUndefined();
    expect(v.MFADelete).toBeUndefined();
    const e = await s3Error(
      h.s3.send(
        new PutBucketVersioningCommand({ Bucket: bucket, VersioningConfiguration: { Status: "Enabled" } }),
      ),
    );
    expect(e.$metadata.httpStatusCode).toBe(501);
  });

  test("DeleteObjects with a VersionId other than null deletes nothing; with null it deletes", async () => {
    for (const k of ["keep-1", "keep-2", "gone"]) {
      await h.s3.send(new PutObjectCommand({ Bucket: bucket, Key: k, Body: `body of ${k}` }));
    }
    const r = await h.s3.send(
      new DeleteObjectsCommand({
        Bucket: bucket,
        Delete: {
          Objects: [
            { Key: "keep-1", VersionId: OTHER_IDS[0] },
            { Key: "keep-2", VersionId: OTHER_IDS[1] },
            { Key: "gone", VersionId: "null" },
          ],
        },
      }),
    );
    // S3 reports a version that does not exist as deleted, and deletes nothing for it.
    expect(r.Deleted?.map((d) => [d.Key, d.VersionId]).sort()).toEqual([
      ["gone", "null"],
      ["keep-1", OTHER_IDS[0]],
      ["keep-2", OTHER_IDS[1]],
    ]);
    expect(r.Errors).toBeUndefined();
    expect(await text("keep-1")).toBe("body of keep-1");
    expect(await text("keep-2")).toBe("body of keep-2");
    const gone = await s3Error(h.s3.send(new GetObjectCommand({ Bucket: bucket, Key: "gone" })));
    expect(gone.name).toBe("NoSuchKey");
  });

  test("DeleteObject with another versionId → 204 and the object stays; versionId=null deletes it", async () => {
    await h.s3.send(new PutObjectCommand({ Bucket: bucket, Key: "single", Body: "live" }));
    for (const id of OTHER_IDS) {
      const r = await h.s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: "single", VersionId: id }));
      expect(r.$metadata.httpStatusCode).toBe(204);
    }
    expect(await text("single")).toBe("live");
    await h.s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: "single", VersionId: "null" }));
    expect((await s3Error(h.s3.send(new HeadObjectCommand({ Bucket: bucket, Key: "single" })))).name).toBe(
      "NotFound",
    );
  });

  test("GET/HEAD/tagging/copy with another versionId → 404 NoSuchVersion; versionId=null is the object", async () => {
    await h.s3.send(new PutObjectCommand({ Bucket: bucket, Key: "read", Body: "current" }));
    for (const id of OTHER_IDS) {
      const get = await s3Error(
        h.s3.send(new GetObjectCommand({ Bucket: bucket, Key: "read", VersionId: id })),
      );
      expect(get.name).toBe("NoSuchVersion");
      expect(get.$metadata.httpStatusCode).toBe(404);
      const head = await s3Error(
        h.s3.send(new HeadObjectCommand({ Bucket: bucket, Key: "read", VersionId: id })),
      );
      expect(head.$metadata.httpStatusCode).toBe(404);
      const tags = await s3Error(
        h.s3.send(new GetObjectTaggingCommand({ Bucket: bucket, Key: "read", VersionId: id })),
      );
      expect(tags.name).toBe("NoSuchVersion");
      const putTags = await s3Error(
        h.s3.send(
          new PutObjectTaggingCommand({
            Bucket: bucket,
            Key: "read",
            VersionId: id,
            Tagging: { TagSet: [{ Key: "a", Value: "b" }] },
          }),
        ),
      );
      expect(putTags.name).toBe("NoSuchVersion");
      const copy = await s3Error(
        h.s3.send(
          new CopyObjectCommand({
            Bucket: bucket,
            Key: "copy",
            CopySource: `${bucket}/read?versionId=${id}`,
          }),
        ),
      );
      expect(copy.name).toBe("NoSuchVersion");
    }
    const got = await h.s3.send(new GetObjectCommand({ Bucket: bucket, Key: "read", VersionId: "null" }));
    expect(await got.Body!.transformToString()).toBe("current");
    expect(got.VersionId).toBe("null");
    const empty = await s3Error(
      h.s3.send(new GetObjectCommand({ Bucket: bucket, Key: "read", VersionId: "" })),
    );
    expect(empty.$metadata.httpStatusCode).toBeGreaterThanOrEqual(400);
  });

  test("ListObjectVersions: every object once, VersionId null; a version-id marker needs a key marker", async () => {
    const r = await h.s3.send(new ListObjectVersionsCommand({ Bucket: bucket, Prefix: "read" }));
    expect(r.Versions?.map((v) => [v.Key, v.VersionId, v.IsLatest])).toEqual([["read", "null", true]]);
    expect(r.DeleteMarkers).toBeUndefined();
    const e = await s3Error(
      h.s3.send(new ListObjectVersionsCommand({ Bucket: bucket, VersionIdMarker: "null" })),
    );
    expect(e.name).toBe("InvalidArgument");
  });
});
