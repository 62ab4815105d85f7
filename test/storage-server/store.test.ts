/**
 * The store below the HTTP layer: fork cost independent of bucket size, listing 10,000 keys through a
 * 3-deep fork chain (store and HTTP), version pruning, and GC never touching pending blobs.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { ListObjectsV2Command, S3Client } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { startStorageServer } from "../../src/storage-server/index.js";
import { tx } from "../../src/storage-server/store/db.js";
import { Store } from "../../src/storage-server/store/index.js";
import { listObjects } from "../../src/storage-server/store/listing.js";
import { deleteObject, insertVersion, putObject, removeKey } from "../../src/storage-server/store/objects.js";
import type { Bucket, NewObject } from "../../src/storage-server/store/types.js";
import { CREDS } from "./helpers.js";

let root: string;
let store: Store;
let blob: NewObject;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "fs-store-"));
  store = await Store.open(root);
  const temp = await store.blobs.writeTemp(Readable.from([Buffer.from("shared body")]));
  await store.blobs.commit(temp);
  store.blobs.release(temp.name);
  blob = {
    blob: temp.name,
    size: temp.size,
    etag: `"${temp.md5.toString("hex")}"`,
    mtimeMs: Date.now(),
    headers: { meta: {} },
    tags: [],
    checksums: {},
    parts: null,
  };
});
afterAll(async () => {
  await store.close();
  await rm(root, { recursive: true, force: true });
});

const key = (i: number) => `k/${String(i).padStart(6, "0")}`;

/** Fills a bucket with n objects in one transaction (metadata only; they share one blob). */
function fill(b: Bucket, n: number, every = 1, start = 0): void {
  tx(store.meta.db, () => {
    for (let i = start; i < n; i += every) insertVersion(store.meta, b, key(i), blob);
  });
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

describe("fork cost", () => {
  test("forking a bucket of 10,000 objects costs the same as forking one of 100", () => {
    const times: Record<number, number[]> = { 100: [], 10_000: [] };
    for (const n of [100, 10_000]) {
      const src = store.meta.createBucket(`cost-${n}`, { region: "auto", snapshotEnabled: true });
      fill(src, n);
      for (let i = 0; i < 15; i++) {
        const t = performance.now();
        store.meta.createBucket(`cost-${n}-f${i}`, {
          region: "auto",
          snapshotEnabled: false,
          fork: { source: src.name },
        });
        times[n]!.push(performance.now() - t);
      }
    }
    const small = median(times[100]!);
    const large = median(times[10_000]!);
    console.log(`fork median: 100 objects ${small.toFixed(3)} ms, 10,000 objects ${large.toFixed(3)} ms`);
    // One metadata row either way: both are sub-10 ms and 100× the data is nowhere near 100× the time.
    expect(large).toBeLessThan(10);
    expect(large).toBeLessThan(small * 5 + 1);
  });
});

describe("listing through a 3-deep chain", () => {
  let leaf: Bucket;
  const expected: string[] = [];

  beforeAll(() => {
    // root: 10,000 keys; mid: overrides every 3rd and adds 500; low: deletes every 7th; leaf: adds 10.
    const rootB = store.meta.createBucket("chain-root", { region: "auto", snapshotEnabled: true });
    fill(rootB, 10_000);
    const mid = store.meta.createBucket("chain-mid", {
      region: "auto",
      snapshotEnabled: true,
      fork: { source: "chain-root" },
    });
    fill(mid, 10_000, 3);
    fill(mid, 10_500, 1, 10_000);
    const low = store.meta.createBucket("chain-low", {
      region: "auto",
      snapshotEnabled: true,
      fork: { source: "chain-mid" },
    });
    tx(store.meta.db, () => {
      for (let i = 0; i < 10_500; i += 7) removeKey(store.meta, low, key(i));
    });
    // Writes after the forks must stay invisible below.
    fill(rootB, 10_600, 1, 10_500);
    leaf = store.meta.createBucket("chain-leaf", {
      region: "auto",
      snapshotEnabled: true,
      fork: { source: "chain-low" },
    });
    putObject(store.meta, leaf, "zz-leaf-only", blob);
    for (let i = 0; i < 10_500; i++) if (i % 7 !== 0) expected.push(key(i));
    expected.push("zz-leaf-only");
  });

  test("store: all pages, correct merged view, timed", () => {
    const layers = store.meta.chain(leaf);
    expect(layers).toHaveLength(4);
    const t = performance.now();
    const seen: string[] = [];
    let after: string | undefined;
    for (;;) {
      const page = listObjects(store.meta, layers, {
        prefix: "",
        delimiter: "",
        maxKeys: 1000,
        ...(after ? { after } : {}),
      });
      seen.push(...page.contents.map((c) => c.key));
      if (!page.isTruncated) break;
      after = page.last;
    }
    const ms = performance.now() - t;
    console.log(`list ${seen.length} keys through a 3-deep chain (store, 1000/page): ${ms.toFixed(1)} ms`);
    expect(seen).toEqual(expected);
    expect(ms).toBeLessThan(3000);
    const delimited = listObjects(store.meta, layers, { prefix: "", delimiter: "/", maxKeys: 1000 });
    expect(delimited.commonPrefixes).toEqual(["k/"]);
    expect(delimited.contents.map((c) => c.key)).toEqual(["zz-leaf-only"]);
  });

  test("HTTP: ListObjectsV2 of the leaf through the chain, timed", async () => {
    // A second server would need the root lock: serve this store's root after closing it, then reopen.
    await store.close();
    const server = await startStorageServer({ root, credentials: [CREDS] });
    const s3 = new S3Client({ endpoint: server.url, region: "auto", credentials: CREDS });
    try {
      await s3.send(new ListObjectsV2Command({ Bucket: "chain-leaf", MaxKeys: 1 })); // warm-up
      const t = performance.now();
      const seen: string[] = [];
      let token: string | undefined;
      do {
        const r = await s3.send(new ListObjectsV2Command({ Bucket: "chain-leaf", ContinuationToken: token }));
        seen.push(...(r.Contents ?? []).map((c) => c.Key!));
        token = r.NextContinuationToken;
      } while (token);
      const ms = performance.now() - t;
      console.log(`ListObjectsV2 ${seen.length} keys through a 3-deep chain over HTTP: ${ms.toFixed(1)} ms`);
      expect(seen).toEqual(expected);
      expect(ms).toBeLessThan(5000);
    } finally {
      s3.destroy();
      await server.close();
      store = await Store.open(root);
    }
  });
});

describe("pruning and GC safety", () => {
  test("overwrites of an unpinned key keep one row; a snapshot pins the version it saw", () => {
    const b = store.meta.createBucket("prune", { region: "auto", snapshotEnabled: true });
    const rows = () =>
      (store.meta.prep("SELECT count(*) AS n FROM versions WHERE bucket_id = ?").get(b.id) as { n: number })
        .n;
    for (let i = 0; i < 50; i++) putObject(store.meta, b, "hot", blob);
    expect(rows()).toBe(1);
    store.meta.createSnapshot(b, null);
    for (let i = 0; i < 50; i++) putObject(store.meta, b, "hot", blob);
    expect(rows()).toBe(2);
    deleteObject(store.meta, b, "hot");
    // The snapshot still sees its version, so a delete marker hides it from the live view.
    expect(rows()).toBe(2);
    expect(
      listObjects(store.meta, store.meta.chain(b), { prefix: "", delimiter: "", maxKeys: 10 }).contents,
    ).toEqual([]);
  });

  test("group commit: writes queued together commit together; a failing one is rolled back alone", async () => {
    const b = store.meta.createBucket("batch", { region: "auto", snapshotEnabled: false });
    const results = await Promise.allSettled([
      store.meta.write(() => putObject(store.meta, b, "a", blob)),
      store.meta.write(() => {
        putObject(store.meta, b, "b", blob);
        throw new Error("refused");
      }),
      store.meta.write(() => putObject(store.meta, b, "c", blob)),
    ]);
    expect(results.map((r) => r.status)).toEqual(["fulfilled", "rejected", "fulfilled"]);
    const listed = listObjects(store.meta, store.meta.chain(b), { prefix: "", delimiter: "", maxKeys: 10 });
    expect(listed.contents.map((c) => c.key)).toEqual(["a", "c"]);
    expect(store.meta.db.inTransaction).toBe(false);
  });

  test("GC never deletes a pending blob (written, not yet committed)", async () => {
    const temp = await store.blobs.writeTemp(Readable.from([Buffer.from(`pending ${Date.now()}`)]));
    await store.blobs.commit(temp); // holds it as pending; no metadata references it yet
    const path = store.blobs.pathOf(temp.name);
    await store.gc();
    expect(existsSync(path)).toBe(true);
    store.blobs.release(temp.name);
    const r = await store.gc();
    expect(r.orphanFiles).toBeGreaterThanOrEqual(1);
    expect(existsSync(path)).toBe(false);
  });
});
