/**
 * `@tigrisdata/storage`, unchanged, against the local server: snapshot-enabled bucket, fork, snapshot,
 * list snapshots, list forks, bucket info, snapshot reads, delete snapshot, remove buckets.
 */
import {
  createBucket,
  createBucketSnapshot,
  deleteBucketSnapshot,
  get,
  getBucketInfo,
  list,
  listBucketSnapshots,
  listForks,
  put,
  removeBucket,
} from "@tigrisdata/storage";
import { afterAll, beforeAll, expect, test } from "vitest";
import { CREDS, startHarness, uniqueBucket } from "./helpers.js";
import type { Harness } from "./helpers.js";

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h.close();
});

/** Every SDK call returns `{ data }` or `{ error }`; unwrap and fail loudly on errors. */
function ok<T>(r: { data?: T; error?: Error }): T {
  if (r.error) throw r.error;
  return r.data as T;
}

test("@tigrisdata/storage drives forks and snapshots end to end", async () => {
  const config = {
    endpoint: h.server.url,
    accessKeyId: CREDS.accessKeyId,
    secretAccessKey: CREDS.secretAccessKey,
  };
  const source = uniqueBucket("tsrc");
  const forkName = uniqueBucket("tfork");

  const created = ok(await createBucket(source, { enableSnapshot: true, config }));
  expect(created.isSnapshotEnabled).toBe(true);
  ok(await put("hello.txt", "v1", { config: { ...config, bucket: source } }));

  const snap = ok(await createBucketSnapshot(source, { name: "before-v2", config }));
  expect(snap.snapshotVersion).toMatch(/^\d{19}$/);
  ok(await put("hello.txt", "v2", { config: { ...config, bucket: source } }));

  const forked = ok(await createBucket(forkName, { sourceBucketName: source, config }));
  expect(forked.sourceBucketName).toBe(source);

  // Reads: live vs. snapshot, and the fork sees the source at fork time.
  expect(ok(await get("hello.txt", "string", { config: { ...config, bucket: source } }))).toBe("v2");
  expect(
    ok(
      await get("hello.txt", "string", {
        snapshotVersion: snap.snapshotVersion,
        config: { ...config, bucket: source },
      }),
    ),
  ).toBe("v1");
  expect(ok(await get("hello.txt", "string", { config: { ...config, bucket: forkName } }))).toBe("v2");
  const listed = ok(await list({ config: { ...config, bucket: forkName } }));
  expect(listed.items.map((i) => i.name)).toEqual(["hello.txt"]);

  const snaps = ok(await listBucketSnapshots(source, { config }));
  expect(snaps.snapshots).toEqual([
    { name: "before-v2", version: snap.snapshotVersion, creationDate: expect.any(Date) },
  ]);

  const forks = ok(await listForks(source, { config }));
  expect(forks.forks.map((f) => f.name)).toEqual([forkName]);
  expect(forks.forks[0]!.snapshot).toMatch(/^\d{19}$/);
  expect(forks.forks[0]!.forkCreatedAt).toBeInstanceOf(Date);

  const info = ok(await getBucketInfo(forkName, { config }));
  expect(info.isSnapshotEnabled).toBe(true);
  expect(info.forkInfo?.hasChildren).toBe(false);
  expect(info.forkInfo?.parents.map((p) => p.bucketName)).toEqual([source]);
  expect(info.sizeInfo.numberOfObjects).toBe(1);
  const srcInfo = ok(await getBucketInfo(source, { config }));
  expect(srcInfo.forkInfo?.hasChildren).toBe(true);

  // The parent cannot go while the fork exists.
  const refused = await removeBucket(source, { config });
  expect(refused.error?.message).toMatch(/fork/i);

  ok(await deleteBucketSnapshot(source, snap.snapshotVersion, { config }));
  expect(ok(await listBucketSnapshots(source, { config })).snapshots).toEqual([]);

  ok(await removeBucket(forkName, { force: true, config }));
  expect(ok(await listForks(source, { config })).forks).toEqual([]);
  ok(await removeBucket(source, { force: true, config }));
  const gone = await getBucketInfo(source, { config });
  expect(gone.error).toBeInstanceOf(Error);
});
