/**
 * The store below the HTTP layer: fork cost independent of bucket size, listing 10,000 keys through a
 * 3-deep fork chain (store and HTTP), version pruning, and GC never touching pending blobs. Costs are
 * asserted as work done (rows written, rows read, round trips), never as durations: how fast these are
 * is measured by `npm run bench` (bench/storage.mjs, sections 1 and 3).
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

/** Rows SQLite inserted, updated or deleted on the store's connection so far. */
const rowsChanged = () => (store.meta.db.prepare("SELECT total_changes() AS n").get() as { n: number }).n;

/** Runs `fn` and counts the queries the store ran and the rows they returned. */
function counted<T>(fn: () => T): { result: T; queries: number; rowsRead: number } {
  const prep = store.meta.prep.bind(store.meta);
  let queries = 0;
  let rowsRead = 0;
  store.meta.prep = (sql) => {
    const stmt = prep(sql);
    return new Proxy(stmt, {
      get(target, name, receiver) {
        const value = Reflect.get(target, name, receiver) as unknown;
        if (name !== "all" || typeof value !== "function") return value;
        return (...args: unknown[]) => {
          const rows = (value as (...a: unknown[]) => unknown[]).apply(target, args);
          queries++;
          rowsRead += rows.length;
          return rows;
        };
      },
    });
  };
  try {
    return { result: fn(), queries, rowsRead };
  } finally {
    store.meta.prep = prep;
  }
}

describe("fork cost", () => {
  test("forking a bucket of 10,000 objects writes what forking one of 100 does: one bucket row", () => {
    const written: Record<number, number[]> = { 100: [], 10_000: [] };
    for (const n of [100, 10_000]) {
      const src = store.meta.createBucket(`cost-${n}`, { region: "auto", snapshotEnabled: true });
      fill(src, n);
      for (let i = 0; i < 3; i++) {
        const before = rowsChanged();
        store.meta.createBucket(`cost-${n}-f${i}`, {
          region: "auto",
          snapshotEnabled: false,
          fork: { source: src.name },
        });
        written[n]!.push(rowsChanged() - before);
      }
    }
    // No row per object: the fork is its bucket record (and what pins the source), whatever the size.
    expect(written[10_000]).toEqual(written[100]);
    expect(Math.max(...written[100]!)).toBeLessThanOrEqual(2);
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

  test("store: all pages, correct merged view, each row of the chain read about once", () => {
    const layers = store.meta.chain(leaf);
    expect(layers).toHaveLength(4);
    const rowsInChain = layers.reduce(
      (sum, l) =>
        sum +
        (
          store.meta.db
            .prepare("SELECT count(*) AS n FROM versions WHERE bucket_id = ? AND seq <= ?")
            .get(l.bucketId, l.maxSeq) as { n: number }
        ).n,
      0,
    );
    const seen: string[] = [];
    let pages = 0;
    const { queries, rowsRead } = counted(() => {
      let after: string | undefined;
      for (;;) {
        const page = listObjects(store.meta, layers, {
          prefix: "",
          delimiter: "",
          maxKeys: 1000,
          ...(after ? { after } : {}),
        });
        pages++;
        seen.push(...page.contents.map((c) => c.key));
        if (!page.isTruncated) break;
        after = page.last;
      }
    });
    expect(seen).toEqual(expected);
    expect(pages).toBe(Math.ceil(expected.length / 1000));
    // A merged walk: every row of the four layers once, plus one batch of look-ahead per page at most
    // (a listing that re-read from the start, or row by row, would be far past this).
    expect(rowsRead).toBeLessThanOrEqual(rowsInChain + pages * 1000);
    expect(queries).toBeLessThanOrEqual(Math.ceil(rowsInChain / 1000) + 2 * pages);
    const delimited = listObjects(store.meta, layers, { prefix: "", delimiter: "/", maxKeys: 1000 });
    expect(delimited.commonPrefixes).toEqual(["k/"]);
    expect(delimited.contents.map((c) => c.key)).toEqual(["zz-leaf-only"]);
  });

  test("HTTP: ListObjectsV2 of the leaf through the chain, one round trip per 1,000 keys", async () => {
    // A second server would need the root lock: serve this store's root after closing it, then reopen.
    await store.close();
    const server = await startStorageServer({ root, credentials: [CREDS] });
    const s3 = new S3Client({ endpoint: server.url, region: "auto", credentials: CREDS });
    try {
      const seen: string[] = [];
      let roundTrips = 0;
      let token: string | undefined;
      do {
        const r = await s3.send(new ListObjectsV2Command({ Bucket: "chain-leaf", ContinuationToken: token }));
        roundTrips++;
        expect(r.KeyCount).toBe(r.Contents?.length ?? 0);
        seen.push(...(r.Contents ?? []).map((c) => c.Key!));
        token = r.NextContinuationToken;
      } while (token);
      expect(seen).toEqual(expected);
      expect(roundTrips).toBe(Math.ceil(expected.length / 1000));
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
