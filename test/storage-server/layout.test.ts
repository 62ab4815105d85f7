/**
 * Blob layout v2 and the group committer's durability (store/blob-layout.ts, store/committer.ts):
 * a new store has its 256 folders from the start and blobs land at blobs/<ab>/<sha>; a store in the
 * old blobs/<ab>/<cd>/<sha> layout is migrated on open and reads back byte for byte, also when the
 * migration was interrupted; and group-committed writes resolve only once durable, survive a
 * reopen, and share WAL syncs.
 */
import { createHash } from "node:crypto";
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { mkdir, mkdtemp, readdir, rename, rm, unlink } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { afterEach, describe, expect, test } from "vitest";
import { Store } from "../../src/storage-server/store/index.js";
import { putObject, resolveObject } from "../../src/storage-server/store/objects.js";
import type { NewObject } from "../../src/storage-server/store/types.js";

const roots: string[] = [];
afterEach(async () => {
  for (const r of roots.splice(0)) await rm(r, { recursive: true, force: true });
});

async function freshRoot(): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), "fs-layout-"));
  roots.push(root);
  return root;
}

/** Stores `body` as an object `key` in bucket `b` (blob + metadata), like a PUT does. */
async function putBody(store: Store, bucket: string, key: string, body: string): Promise<string> {
  const b =
    store.meta.getBucket(bucket) ??
    store.meta.createBucket(bucket, { region: "auto", snapshotEnabled: false });
  const temp = await store.blobs.writeTemp(Readable.from([Buffer.from(body)]));
  await store.blobs.commit(temp);
  const obj: NewObject = {
    blob: temp.name,
    size: temp.size,
    etag: `"${temp.md5.toString("hex")}"`,
    mtimeMs: Date.now(),
    headers: { meta: {} },
    tags: [],
    checksums: {},
    parts: null,
  };
  try {
    await store.meta.write(() => putObject(store.meta, b, key, obj));
  } finally {
    store.blobs.release(temp.name);
  }
  return temp.name;
}

function readObject(store: Store, bucket: string, key: string): string {
  const v = resolveObject(store.meta, store.meta.chain(store.meta.requireBucket(bucket)), key);
  if (!v?.blob) throw new Error(`no object ${key}`);
  return readFileSync(store.blobs.pathOf(v.blob), "utf8");
}

const sha = (s: string) => createHash("sha256").update(s).digest("hex");

describe("blob layout", () => {
  test("a new store has 256 folders and stores blobs at blobs/<ab>/<sha>, across a restart", async () => {
    const root = await freshRoot();
    let store = await Store.open(root);
    const folders = readdirSync(join(root, "blobs"), { withFileTypes: true }).filter((d) => d.isDirectory());
    expect(folders).toHaveLength(256);
    expect(readFileSync(join(root, "blobs", "LAYOUT"), "utf8").trim()).toBe("2");
    const s = await putBody(store, "layout", "k", "hello layout");
    expect(existsSync(join(root, "blobs", s.slice(0, 2), s))).toBe(true);
    await store.close();

    store = await Store.open(root);
    expect(readObject(store, "layout", "k")).toBe("hello layout");
    await store.close();
  });

  test("an old-layout store (blobs/<ab>/<cd>/<sha>) is migrated on open and reads back", async () => {
    const root = await freshRoot();
    let store = await Store.open(root);
    const bodies = Array.from({ length: 20 }, (_, i) => `old-layout body ${i}`);
    const names: string[] = [];
    for (const [i, body] of bodies.entries()) names.push(await putBody(store, "old", `k${i}`, body));
    await store.close();

    // Rewrite the store into layout v1, as an older version left it.
    const blobDir = join(root, "blobs");
    for (const s of names) {
      await mkdir(join(blobDir, s.slice(0, 2), s.slice(2, 4)), { recursive: true });
      await rename(join(blobDir, s.slice(0, 2), s), join(blobDir, s.slice(0, 2), s.slice(2, 4), s));
    }
    await unlink(join(blobDir, "LAYOUT"));
    // Interrupted migration: one file already moved back up, its old folder still there.
    const first = names[0]!;
    await rename(
      join(blobDir, first.slice(0, 2), first.slice(2, 4), first),
      join(blobDir, first.slice(0, 2), first),
    );

    store = await Store.open(root);
    for (const [i, body] of bodies.entries()) expect(readObject(store, "old", `k${i}`)).toBe(body);
    for (const s of names) {
      expect(existsSync(join(blobDir, s.slice(0, 2), s))).toBe(true);
      expect(existsSync(join(blobDir, s.slice(0, 2), s.slice(2, 4)))).toBe(false);
    }
    // GC sees the migrated files as referenced: nothing is swept.
    expect((await store.gc()).orphanFiles).toBe(0);
    await store.close();
  });
});

describe("group commit durability", () => {
  test("concurrent writes share WAL syncs, resolve once durable, and survive a reopen", async () => {
    const root = await freshRoot();
    let store = await Store.open(root);
    const n = 50;
    await Promise.all(Array.from({ length: n }, (_, i) => putBody(store, "gc-batch", `k${i}`, `v${i}`)));
    expect(store.meta.db.inTransaction).toBe(false);
    await store.close();

    store = await Store.open(root);
    for (let i = 0; i < n; i++) expect(readObject(store, "gc-batch", `k${i}`)).toBe(`v${i}`);
    // The committer syncs this WAL file itself (it keeps it open while the store is).
    expect((await readdir(root)).filter((f) => f.endsWith("-wal"))).toEqual(["meta.sqlite-wal"]);
    await store.close();
  });

  test("a write's promise settles only after its batch was synced", async () => {
    const root = await freshRoot();
    const store = await Store.open(root);
    const b = store.meta.createBucket("order", { region: "auto", snapshotEnabled: false });
    let committedAt = -1;
    const p = store.meta.write(() => {
      committedAt = Date.now();
      return putObject(store.meta, b, "k", {
        blob: sha("x"),
        size: 1,
        etag: '"x"',
        mtimeMs: Date.now(),
        headers: { meta: {} },
        tags: [],
        checksums: {},
        parts: null,
      });
    });
    // Not settled synchronously after the batch runs: the fdatasync happens on the thread pool.
    await new Promise((r) => setImmediate(r));
    expect(committedAt).toBeGreaterThan(0);
    let settled = false;
    void p.then(() => (settled = true));
    await Promise.resolve();
    expect(settled).toBe(false);
    await p;
    expect(settled).toBe(true);
    await store.close();
  });
});
