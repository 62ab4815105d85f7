/**
 * Fork and snapshot semantics through the Tigris wire API (CreateBucket + X-Tigris-* headers) with
 * @aws-sdk/client-s3, and garbage collection of blobs.
 */
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import {
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  UploadPartCommand,
  DeleteBucketCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  GetObjectTaggingCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  PutObjectTaggingCommand,
  S3ServiceException,
} from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { s3Error, signedRaw, startHarness, uniqueBucket } from "./helpers.js";
import type { Harness } from "./helpers.js";
import { waitFor } from "../helpers/wait.js";

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h.close();
});

interface HasMiddleware {
  middlewareStack: {
    add(
      mw: (
        next: (a: { request: { headers: Record<string, string> } }) => Promise<unknown>,
      ) => (a: { request: { headers: Record<string, string> } }) => Promise<unknown>,
      o: { step: "build" },
    ): void;
  };
}

/** Adds Tigris headers to an SDK command, the way @tigrisdata/storage does (build-step middleware). */
function withHeaders<T>(cmd: T, headers: Record<string, string>): T {
  (cmd as unknown as HasMiddleware).middlewareStack.add(
    (next) => async (args) => {
      Object.assign(args.request.headers, headers);
      return next(args);
    },
    { step: "build" },
  );
  return cmd;
}

async function createSource(name: string): Promise<void> {
  await h.s3.send(
    withHeaders(new CreateBucketCommand({ Bucket: name }), { "X-Tigris-Enable-Snapshot": "true" }),
  );
}

async function fork(name: string, source: string, snapshot?: string): Promise<void> {
  await h.s3.send(
    withHeaders(new CreateBucketCommand({ Bucket: name }), {
      "X-Tigris-Fork-Source-Bucket": source,
      ...(snapshot ? { "X-Tigris-Fork-Source-Bucket-Snapshot": snapshot } : {}),
    }),
  );
}

async function snapshot(bucket: string, name?: string): Promise<string> {
  let version = "";
  const cmd = withHeaders(new CreateBucketCommand({ Bucket: bucket }), {
    "X-Tigris-Snapshot": name ? `true; name=${name}` : "true",
  });
  cmd.middlewareStack.add(
    (next) => async (args) => {
      const out = await next(args);
      const headers = (out.response as { headers: Record<string, string> }).headers;
      version = headers["x-tigris-snapshot-version"] ?? "";
      return out;
    },
    { step: "build" },
  );
  await h.s3.send(cmd);
  return version;
}

const put = (Bucket: string, Key: string, Body: string) =>
  h.s3.send(new PutObjectCommand({ Bucket, Key, Body }));
const del = (Bucket: string, Key: string) => h.s3.send(new DeleteObjectCommand({ Bucket, Key }));

async function get(Bucket: string, Key: string, version?: string): Promise<string | undefined> {
  try {
    const cmd = new GetObjectCommand({ Bucket, Key });
    const r = await h.s3.send(version ? withHeaders(cmd, { "X-Tigris-Snapshot-Version": version }) : cmd);
    return await r.Body!.transformToString();
  } catch (error) {
    if (error instanceof S3ServiceException && error.name === "NoSuchKey") return undefined;
    throw error;
  }
}

async function keys(Bucket: string, version?: string, Prefix?: string): Promise<string[]> {
  const out: string[] = [];
  let token: string | undefined;
  do {
    const cmd = new ListObjectsV2Command({ Bucket, Prefix, ContinuationToken: token, MaxKeys: 3 });
    const r = await h.s3.send(version ? withHeaders(cmd, { "X-Tigris-Snapshot-Version": version }) : cmd);
    out.push(...(r.Contents ?? []).map((c) => c.Key!));
    token = r.NextContinuationToken;
  } while (token);
  return out;
}

describe("forks", () => {
  test("a fork sees the parent as of the fork; later writes on either side do not leak", async () => {
    const parent = uniqueBucket("parent");
    const child = uniqueBucket("child");
    await createSource(parent);
    await put(parent, "shared.txt", "p1");
    await put(parent, "to-delete-in-child", "p1");
    await put(parent, "to-overwrite-in-child", "p1");
    await put(parent, "to-delete-in-parent", "p1");
    await fork(child, parent);
    expect(await keys(child)).toEqual([
      "shared.txt",
      "to-delete-in-child",
      "to-delete-in-parent",
      "to-overwrite-in-child",
    ]);

    // Child-side changes.
    await put(child, "to-overwrite-in-child", "c1");
    await del(child, "to-delete-in-child");
    await put(child, "child-only", "c1");
    // Parent-side changes after the fork.
    await put(parent, "shared.txt", "p2");
    await del(parent, "to-delete-in-parent");
    await put(parent, "parent-only", "p2");

    expect(await get(child, "shared.txt")).toBe("p1");
    expect(await get(child, "to-delete-in-parent")).toBe("p1");
    expect(await get(child, "parent-only")).toBeUndefined();
    expect(await get(child, "to-delete-in-child")).toBeUndefined();
    expect(await get(child, "to-overwrite-in-child")).toBe("c1");
    expect(await keys(child)).toEqual([
      "child-only",
      "shared.txt",
      "to-delete-in-parent",
      "to-overwrite-in-child",
    ]);

    expect(await get(parent, "shared.txt")).toBe("p2");
    expect(await get(parent, "to-delete-in-child")).toBe("p1");
    expect(await get(parent, "to-overwrite-in-child")).toBe("p1");
    expect(await get(parent, "child-only")).toBeUndefined();
    expect(await keys(parent)).toEqual([
      "parent-only",
      "shared.txt",
      "to-delete-in-child",
      "to-overwrite-in-child",
    ]);

    // Re-creating a key the fork deleted works, and tags changed in the fork stay in the fork.
    await put(child, "to-delete-in-child", "c2");
    expect(await get(child, "to-delete-in-child")).toBe("c2");
    await h.s3.send(
      new PutObjectTaggingCommand({
        Bucket: child,
        Key: "shared.txt",
        Tagging: { TagSet: [{ Key: "k", Value: "v" }] },
      }),
    );
    expect(
      (await h.s3.send(new GetObjectTaggingCommand({ Bucket: child, Key: "shared.txt" }))).TagSet,
    ).toHaveLength(1);
    expect(
      (await h.s3.send(new GetObjectTaggingCommand({ Bucket: parent, Key: "shared.txt" }))).TagSet ?? [],
    ).toHaveLength(0);
  });

  test("a multipart upload completed in a fork stays in the fork", async () => {
    const p = uniqueBucket("mp-p");
    const f = uniqueBucket("mp-f");
    await createSource(p);
    await put(p, "obj", "parent version");
    await fork(f, p);
    const { UploadId } = await h.s3.send(new CreateMultipartUploadCommand({ Bucket: f, Key: "obj" }));
    const part = await h.s3.send(
      new UploadPartCommand({ Bucket: f, Key: "obj", UploadId, PartNumber: 1, Body: "fork version" }),
    );
    await h.s3.send(
      new CompleteMultipartUploadCommand({
        Bucket: f,
        Key: "obj",
        UploadId,
        MultipartUpload: { Parts: [{ PartNumber: 1, ETag: part.ETag }] },
      }),
    );
    expect(await get(f, "obj")).toBe("fork version");
    expect(await get(p, "obj")).toBe("parent version");
  });

  test("fork of a fork: three levels, each isolated", async () => {
    const a = uniqueBucket("a");
    const b = uniqueBucket("b");
    const c = uniqueBucket("c");
    await createSource(a);
    await put(a, "k1", "a");
    await put(a, "k2", "a");
    await fork(b, a);
    await put(b, "k2", "b");
    await put(b, "k3", "b");
    await fork(c, b);
    await put(a, "k1", "a-late");
    await put(b, "k3", "b-late");
    await del(c, "k1");
    await put(c, "k4", "c");
    expect(await keys(c)).toEqual(["k2", "k3", "k4"]);
    expect([await get(c, "k2"), await get(c, "k3"), await get(c, "k4")]).toEqual(["b", "b", "c"]);
    expect(await keys(b)).toEqual(["k1", "k2", "k3"]);
    expect([await get(b, "k1"), await get(b, "k3")]).toEqual(["a", "b-late"]);
    expect(await keys(a)).toEqual(["k1", "k2"]);
    expect(await get(a, "k1")).toBe("a-late");
    // HeadBucket carries the fork headers the Tigris SDK reads.
    const hc = await signedRaw(h.server.url, { method: "HEAD", path: `/${c}` });
    expect(hc.headers["x-tigris-fork-source-bucket"]).toBe(b);
    expect(hc.headers["x-tigris-fork-source-bucket-snapshot"]).toMatch(/^\d{19}$/);
    expect(hc.headers["x-tigris-enable-snapshot"]).toBe("true");
    const ha = await signedRaw(h.server.url, { method: "HEAD", path: `/${a}` });
    expect(ha.headers["x-tigris-is-fork-parent"]).toBe("true");
    expect(ha.headers["x-tigris-fork-source-bucket"]).toBeUndefined();
  });

  test("snapshots: reads at a version see the past; a fork from an old snapshot sees that past", async () => {
    const src = uniqueBucket("snap");
    await createSource(src);
    await put(src, "doc", "v1");
    await put(src, "gone-later", "v1");
    const v1 = await snapshot(src, "first");
    expect(v1).toMatch(/^\d{19}$/);
    await put(src, "doc", "v2");
    await del(src, "gone-later");
    await put(src, "new-later", "v2");
    expect(await get(src, "doc", v1)).toBe("v1");
    expect(await get(src, "gone-later", v1)).toBe("v1");
    expect(await get(src, "new-later", v1)).toBeUndefined();
    expect(await keys(src, v1)).toEqual(["doc", "gone-later"]);
    const head = await h.s3.send(
      withHeaders(new HeadObjectCommand({ Bucket: src, Key: "doc" }), { "X-Tigris-Snapshot-Version": v1 }),
    );
    expect(head.ContentLength).toBe(2);
    expect(await get(src, "doc")).toBe("v2");
    // CopyObject reads its source at the snapshot version too.
    await h.s3.send(
      withHeaders(new CopyObjectCommand({ Bucket: src, Key: "restored", CopySource: `${src}/doc` }), {
        "X-Tigris-Snapshot-Version": v1,
      }),
    );
    expect(await get(src, "restored")).toBe("v1");
    const old = uniqueBucket("from-old");
    await fork(old, src, v1);
    expect(await keys(old)).toEqual(["doc", "gone-later"]);
    expect(await get(old, "doc")).toBe("v1");
  });

  test("a parent with forks cannot be deleted; the fork source must be snapshot-enabled", async () => {
    const p = uniqueBucket("p");
    const f = uniqueBucket("f");
    await createSource(p);
    await fork(f, p);
    const e = await s3Error(h.s3.send(new DeleteBucketCommand({ Bucket: p })));
    expect(e.name).toBe("BucketNotEmpty");
    expect(e.$metadata.httpStatusCode).toBe(409);
    await h.s3.send(new DeleteBucketCommand({ Bucket: f }));
    await h.s3.send(new DeleteBucketCommand({ Bucket: p }));
    const plain = uniqueBucket("plain");
    await h.s3.send(new CreateBucketCommand({ Bucket: plain }));
    const notSnap = await s3Error(fork(uniqueBucket("nf"), plain));
    expect(notSnap.$metadata.httpStatusCode).toBe(400);
    const noSrc = await s3Error(fork(uniqueBucket("nf"), "no-such-source"));
    expect(noSrc.name).toBe("NoSuchBucket");
    // A snapshot of a missing bucket does not create it; one of a regular bucket is refused.
    expect((await s3Error(snapshot("no-such-bucket-snap"))).name).toBe("NoSuchBucket");
    expect((await s3Error(snapshot(plain))).$metadata.httpStatusCode).toBe(400);
  });

  test("a fork whose inherited view is non-empty is not empty; force-delete removes it", async () => {
    const p = uniqueBucket("p");
    const f = uniqueBucket("f");
    await createSource(p);
    await put(p, "x", "1");
    await fork(f, p);
    expect((await s3Error(h.s3.send(new DeleteBucketCommand({ Bucket: f })))).name).toBe("BucketNotEmpty");
    await h.s3.send(withHeaders(new DeleteBucketCommand({ Bucket: f }), { "Tigris-Force-Delete": "true" }));
    expect(await get(p, "x")).toBe("1");
  });
});

async function blobFiles(): Promise<Set<string>> {
  const out = new Set<string>();
  const dir = join(h.root, "blobs");
  // Layout v2 (store/blob-layout.ts): blobs/<sha[0..2]>/<sha>.
  for (const a of await readdir(dir, { withFileTypes: true }))
    if (a.isDirectory()) for (const f of await readdir(join(dir, a.name))) out.add(f);
  return out;
}

const shaOf = (s: string) => createHash("sha256").update(s).digest("hex");

describe("garbage collection", () => {
  test("reclaims only blobs no bucket, fork or snapshot references", async () => {
    const tag = Math.random().toString(36).slice(2);
    const body = (n: string) => `${n}-${tag}`;
    const src = uniqueBucket("gc");
    await createSource(src);
    await put(src, "keep", body("keep"));
    await put(src, "overwritten", body("old"));
    await put(src, "overwritten", body("new"));
    await put(src, "deleted", body("deleted"));
    await del(src, "deleted");
    await put(src, "pinned-by-snapshot", body("snap-old"));
    const v = await snapshot(src);
    await put(src, "pinned-by-snapshot", body("snap-new"));
    await put(src, "pinned-by-fork", body("fork-old"));
    const f = uniqueBucket("gcf");
    await fork(f, src);
    await put(src, "pinned-by-fork", body("fork-new"));
    await put(f, "fork-own", body("fork-own"));

    // What an overwrite or delete released may be freed already (prompt reclamation, below); the
    // full pass must leave the same files either way.
    await h.server.gc();
    const files = await blobFiles();
    for (const live of ["keep", "new", "snap-old", "snap-new", "fork-old", "fork-new", "fork-own"]) {
      expect(files.has(shaOf(body(live))), live).toBe(true);
    }
    expect(files.has(shaOf(body("old")))).toBe(false);
    expect(files.has(shaOf(body("deleted")))).toBe(false);
    expect(await get(src, "pinned-by-snapshot", v)).toBe(body("snap-old"));
    expect(await get(f, "pinned-by-fork")).toBe(body("fork-old"));

    // Drop the snapshot and the fork: what they pinned becomes garbage, the live objects stay.
    await h.s3.send(
      withHeaders(new DeleteBucketCommand({ Bucket: src }), { "X-Tigris-Snapshot-Version": v }),
    );
    await h.s3.send(withHeaders(new DeleteBucketCommand({ Bucket: f }), { "Tigris-Force-Delete": "true" }));
    await h.server.gc();
    const after = await blobFiles();
    for (const gone of ["snap-old", "fork-old", "fork-own"])
      expect(after.has(shaOf(body(gone))), gone).toBe(false);
    for (const live of ["keep", "new", "snap-new", "fork-new"])
      expect(after.has(shaOf(body(live))), live).toBe(true);
    expect(await get(src, "keep")).toBe(body("keep"));
  });

  test("orphan blob files (a crash between rename and commit) are swept", async () => {
    const { writeFileSync, mkdirSync } = await import("node:fs");
    const sha = "ab".repeat(32);
    const dir = join(h.root, "blobs", "ab");
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, sha), "orphan");
    const r = await h.server.gc();
    expect(r.orphanFiles).toBeGreaterThanOrEqual(1);
    expect(existsSync(join(dir, sha))).toBe(false);
  });
});

const blobFile = (sha: string) => join(h.root, "blobs", sha.slice(0, 2), sha);

/**
 * Resolves once a reclaim pass has run after everything released so far: a throwaway object is
 * written and deleted, and its own file going away proves the pass (passes take every pending name).
 */
async function reclaimPassRan(bucket: string): Promise<void> {
  const body = `sentinel-${Math.random()}`;
  await put(bucket, "sentinel", body);
  await del(bucket, "sentinel");
  await waitFor(() => !existsSync(blobFile(shaOf(body))));
}

describe("prompt reclamation (no GC pass asked for)", () => {
  test("a deleted object's file is freed within moments", async () => {
    const b = uniqueBucket("rc");
    await h.s3.send(new CreateBucketCommand({ Bucket: b }));
    const body = `deleted-${Math.random()}`;
    await put(b, "k", body);
    expect(existsSync(blobFile(shaOf(body)))).toBe(true);
    await del(b, "k");
    await waitFor(() => !existsSync(blobFile(shaOf(body))));
    expect(await get(b, "k")).toBeUndefined();
  });

  test("an overwrite frees the old bytes and keeps the new ones", async () => {
    const b = uniqueBucket("rc");
    await h.s3.send(new CreateBucketCommand({ Bucket: b }));
    const [old, now] = [`old-${Math.random()}`, `new-${Math.random()}`];
    await put(b, "k", old);
    await put(b, "k", now);
    await waitFor(() => !existsSync(blobFile(shaOf(old))));
    expect(existsSync(blobFile(shaOf(now)))).toBe(true);
    expect(await get(b, "k")).toBe(now);
  });

  test("bytes a copy, a snapshot or a fork still shows are kept", async () => {
    const src = uniqueBucket("rcs");
    await createSource(src);
    const tag = Math.random();
    const body = (n: string) => `${n}-${tag}`;
    await put(src, "copied", body("copied"));
    await h.s3.send(new CopyObjectCommand({ Bucket: src, Key: "copy", CopySource: `${src}/copied` }));
    await del(src, "copied");
    await put(src, "snapped", body("snapped"));
    const v = await snapshot(src);
    await del(src, "snapped");
    await put(src, "forked", body("forked"));
    const f = uniqueBucket("rcf");
    await fork(f, src);
    await put(src, "forked", body("forked-new"));
    await del(f, "forked");
    await reclaimPassRan(src);
    for (const kept of ["copied", "snapped", "forked", "forked-new"]) {
      expect(existsSync(blobFile(shaOf(body(kept)))), kept).toBe(true);
    }
    expect(await get(src, "copy")).toBe(body("copied"));
    expect(await get(src, "snapped", v)).toBe(body("snapped"));
    expect(await get(src, "forked")).toBe(body("forked-new"));
    expect(await get(f, "forked")).toBeUndefined();
  });

  test("an overwritten multipart object's parts are freed; one being read is read to its end", async () => {
    const b = uniqueBucket("rcm");
    await h.s3.send(new CreateBucketCommand({ Bucket: b }));
    const part = (i: number) => Buffer.alloc(5 * 1024 * 1024, `part-${i}-${Math.random()}`);
    const parts = [part(1), part(2)];
    const { UploadId } = await h.s3.send(new CreateMultipartUploadCommand({ Bucket: b, Key: "mp" }));
    const etags: string[] = [];
    for (const [i, Body] of parts.entries()) {
      const r = await h.s3.send(
        new UploadPartCommand({ Bucket: b, Key: "mp", UploadId, PartNumber: i + 1, Body }),
      );
      etags.push(r.ETag!);
    }
    await h.s3.send(
      new CompleteMultipartUploadCommand({
        Bucket: b,
        Key: "mp",
        UploadId,
        MultipartUpload: { Parts: etags.map((ETag, i) => ({ ETag, PartNumber: i + 1 })) },
      }),
    );
    const partFiles = parts.map((p) => blobFile(createHash("sha256").update(p).digest("hex")));
    for (const file of partFiles) expect(existsSync(file)).toBe(true);

    // A reader that has started, then the object is overwritten under it: the read still completes.
    const reading = await h.s3.send(new GetObjectCommand({ Bucket: b, Key: "mp" }));
    await put(b, "mp", "small now");
    await reclaimPassRan(b);
    const got = Buffer.from(await reading.Body!.transformToByteArray());
    expect(got.equals(Buffer.concat(parts))).toBe(true);
    expect(await get(b, "mp")).toBe("small now");
    // Once nothing reads them, the parts go (the reader held them; a full pass, or the next, frees them).
    await h.server.gc();
    for (const file of partFiles) expect(existsSync(file)).toBe(false);
  });

  test("an overwritten multipart object nobody reads is freed without a full pass", async () => {
    const b = uniqueBucket("rcm");
    await h.s3.send(new CreateBucketCommand({ Bucket: b }));
    const Body = Buffer.alloc(5 * 1024 * 1024, `only-part-${Math.random()}`);
    const { UploadId } = await h.s3.send(new CreateMultipartUploadCommand({ Bucket: b, Key: "mp" }));
    const { ETag } = await h.s3.send(
      new UploadPartCommand({ Bucket: b, Key: "mp", UploadId, PartNumber: 1, Body }),
    );
    await h.s3.send(
      new CompleteMultipartUploadCommand({
        Bucket: b,
        Key: "mp",
        UploadId,
        MultipartUpload: { Parts: [{ ETag, PartNumber: 1 }] },
      }),
    );
    const file = blobFile(createHash("sha256").update(Body).digest("hex"));
    expect(existsSync(file)).toBe(true);
    await del(b, "mp");
    await waitFor(() => !existsSync(file));
  });
});
