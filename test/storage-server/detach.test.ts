/**
 * Force-deleting a bucket that still has forks ("detach"): the name is released at once, the forks keep
 * reading the parent's data as of their fork point, and GC reclaims the hidden layer with its last fork.
 * A plain DeleteBucket of a parent keeps Tigris' refusal (forks.test.ts).
 */
import { createHash } from "node:crypto";
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import {
  CreateBucketCommand,
  DeleteBucketCommand,
  GetObjectCommand,
  HeadBucketCommand,
  ListBucketsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3ServiceException,
} from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { errorCode, signedRaw, startHarness, uniqueBucket } from "./helpers.js";
import type { Harness } from "./helpers.js";

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h.close();
});

/** Adds Tigris headers to one SDK command, as @tigrisdata/storage does. */
function withHeaders<T extends { middlewareStack: unknown }>(cmd: T, headers: Record<string, string>): T {
  type Args = { request: { headers: Record<string, string> } };
  (
    cmd.middlewareStack as {
      add(mw: (next: (a: Args) => Promise<unknown>) => (a: Args) => Promise<unknown>, o: object): void;
    }
  ).add(
    (next) => (args) => {
      Object.assign(args.request.headers, headers);
      return next(args);
    },
    { step: "build" },
  );
  return cmd;
}

const createSource = (Bucket: string) =>
  h.s3.send(withHeaders(new CreateBucketCommand({ Bucket }), { "X-Tigris-Enable-Snapshot": "true" }));
const fork = (Bucket: string, source: string) =>
  h.s3.send(withHeaders(new CreateBucketCommand({ Bucket }), { "X-Tigris-Fork-Source-Bucket": source }));
const forceDelete = (Bucket: string) =>
  h.s3.send(withHeaders(new DeleteBucketCommand({ Bucket }), { "Tigris-Force-Delete": "true" }));
const put = (Bucket: string, Key: string, Body: string) =>
  h.s3.send(new PutObjectCommand({ Bucket, Key, Body }));

async function get(Bucket: string, Key: string): Promise<string | undefined> {
  try {
    return await (await h.s3.send(new GetObjectCommand({ Bucket, Key }))).Body!.transformToString();
  } catch (error) {
    if (error instanceof S3ServiceException && error.name === "NoSuchKey") return undefined;
    throw error;
  }
}

async function keys(Bucket: string): Promise<string[]> {
  const r = await h.s3.send(new ListObjectsV2Command({ Bucket }));
  return (r.Contents ?? []).map((c) => c.Key!);
}

async function bucketNames(): Promise<string[]> {
  return ((await h.s3.send(new ListBucketsCommand({}))).Buckets ?? []).map((b) => b.Name!);
}

async function blobFiles(): Promise<Set<string>> {
  const out = new Set<string>();
  const dir = join(h.root, "blobs");
  // Layout v2 (store/blob-layout.ts): blobs/<sha[0..2]>/<sha>.
  for (const a of await readdir(dir, { withFileTypes: true }))
    if (a.isDirectory()) for (const f of await readdir(join(dir, a.name))) out.add(f);
  return out;
}

const tag = Math.random().toString(36).slice(2);
const body = (name: string) => `${name}-${tag}`;
const shaOf = (name: string) => createHash("sha256").update(body(name)).digest("hex");

describe("force-deleting a bucket with forks (detach)", () => {
  test("the fork keeps reading the parent, the name is reusable, GC reclaims the layer with the fork", async () => {
    const parent = uniqueBucket("alice");
    const child = uniqueBucket("bob");
    await createSource(parent);
    await put(parent, "photo", body("photo"));
    await put(parent, "shared", body("shared-v1"));
    await fork(child, parent);
    await put(parent, "after-fork", body("after-fork"));
    await put(child, "own", body("own"));

    // Plain DeleteBucket still refuses, as on Tigris.
    const refused = await h.s3.send(new DeleteBucketCommand({ Bucket: parent })).catch((e: unknown) => e);
    expect((refused as S3ServiceException).name).toBe("BucketNotEmpty");

    await forceDelete(parent);
    expect(await bucketNames()).not.toContain(parent);
    expect((await bucketNames()).some((n) => n.includes(parent))).toBe(false);
    const head = await h.s3.send(new HeadBucketCommand({ Bucket: parent })).catch((e: unknown) => e);
    expect((head as S3ServiceException).$metadata.httpStatusCode).toBe(404);

    // The fork still sees the parent as of the fork point, and only that.
    expect(await keys(child)).toEqual(["own", "photo", "shared"]);
    expect(await get(child, "photo")).toBe(body("photo"));
    // Its source has no name any more, so HeadBucket does not report one; the fork point stays.
    const forkHead = await signedRaw(h.server.url, { method: "HEAD", path: `/${child}` });
    expect(forkHead.status).toBe(200);
    expect(forkHead.headers["x-tigris-fork-source-bucket"]).toBeUndefined();
    expect(forkHead.headers["x-tigris-fork-source-bucket-snapshot"]).toMatch(/^\d+$/);

    // The name can be taken again, by an unrelated bucket that starts empty.
    await createSource(parent);
    expect(await keys(parent)).toEqual([]);
    await put(parent, "shared", body("shared-v2"));
    expect(await get(child, "shared")).toBe(body("shared-v1"));

    // What nobody can read any more (written to the parent after the last fork) is reclaimed right away;
    // what the fork reads is kept.
    await h.server.gc();
    let files = await blobFiles();
    expect(files.has(shaOf("after-fork"))).toBe(false);
    for (const live of ["photo", "shared-v1", "own", "shared-v2"])
      expect(files.has(shaOf(live)), live).toBe(true);

    await forceDelete(child);
    const report = await h.server.gc();
    expect(report.droppedLayers).toBe(1);
    files = await blobFiles();
    for (const gone of ["photo", "shared-v1", "own"]) expect(files.has(shaOf(gone)), gone).toBe(false);
    expect(files.has(shaOf("shared-v2"))).toBe(true);
    expect(await get(parent, "shared")).toBe(body("shared-v2"));
  });

  test("a chain of detached layers serves the leaf and is dropped in one GC pass", async () => {
    const dev = uniqueBucket("dev");
    const alice = uniqueBucket("alice");
    const bob = uniqueBucket("bob");
    await createSource(dev);
    await put(dev, "root", body("root"));
    await fork(alice, dev);
    await put(alice, "middle", body("middle"));
    await fork(bob, alice);
    await forceDelete(alice);
    await forceDelete(dev);
    expect(await keys(bob)).toEqual(["middle", "root"]);
    expect(await get(bob, "root")).toBe(body("root"));
    expect((await h.server.gc()).droppedLayers).toBe(0);

    await forceDelete(bob);
    expect((await h.server.gc()).droppedLayers).toBe(2);
    const files = await blobFiles();
    for (const gone of ["root", "middle"]) expect(files.has(shaOf(gone)), gone).toBe(false);
  });

  test("a detached layer cannot be reached by its hidden name", async () => {
    const parent = uniqueBucket("p");
    const child = uniqueBucket("c");
    await createSource(parent);
    await put(parent, "secret", body("secret"));
    await fork(child, parent);
    await forceDelete(parent);
    for (const path of ["/%2Fdetached%2F1%2F" + parent, `/%2Fdetached%2F1%2F${parent}/secret`]) {
      const r = await signedRaw(h.server.url, { method: "GET", path });
      expect(r.status, path).toBe(404);
      expect(errorCode(r.body)).toBe("NoSuchBucket");
    }
    await forceDelete(child);
  });
});
