/**
 * The coalescing writer (store/writer.ts): every byte lands in order whatever the chunking, an
 * fdatasync starts in the background as the bytes pass each `syncEvery`, and a failed write or
 * background sync reaches the caller instead of being lost.
 */
import { randomBytes } from "node:crypto";
import { mkdtemp, open, readFile, rm } from "node:fs/promises";
import type { FileHandle } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { CoalescingWriter } from "../../src/storage-server/store/writer.js";

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

async function tempFile(): Promise<{ path: string; fh: FileHandle }> {
  const dir = await mkdtemp(join(tmpdir(), "fs-writer-"));
  dirs.push(dir);
  const path = join(dir, "blob");
  return { path, fh: await open(path, "wx") };
}

/** A real file handle whose `datasync` calls are counted, or fail when `failSync` is set. */
function spied(fh: FileHandle, failSync?: Error): { fh: FileHandle; syncs: () => number } {
  let syncs = 0;
  const proxy = new Proxy(fh, {
    get(target, prop, receiver) {
      if (prop === "datasync") {
        return async () => {
          syncs++;
          if (failSync) throw failSync;
          return target.datasync();
        };
      }
      const value: unknown = Reflect.get(target, prop, receiver);
      return typeof value === "function" ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
  return { fh: proxy, syncs: () => syncs };
}

describe("CoalescingWriter", () => {
  it("writes every chunk in order, syncing in the background as it goes", async () => {
    const { path, fh } = await tempFile();
    const { fh: handle, syncs } = spied(fh);
    const KB = 1024;
    const writer = new CoalescingWriter(handle, 256 * KB, 1024 * KB);
    const data = randomBytes(5 * 1024 * KB + 123);
    for (let off = 0; off < data.length;) {
      const n = Math.min(data.length - off, 1 + ((off * 7919) % (96 * KB)));
      await writer.push(data.subarray(off, off + n));
      off += n;
    }
    await writer.finish();
    await fh.close();
    expect((await readFile(path)).equals(data)).toBe(true);
    // 5 MB at one sync per 1 MB written, at most one at a time: several ran before the end.
    expect(syncs()).toBeGreaterThanOrEqual(1);
    expect(syncs()).toBeLessThanOrEqual(5);
  });

  it("a small body starts no background sync (the caller's final fsync covers it)", async () => {
    const { fh } = await tempFile();
    const { fh: handle, syncs } = spied(fh);
    const writer = new CoalescingWriter(handle);
    await writer.push(randomBytes(64 * 1024));
    await writer.finish();
    await fh.close();
    expect(syncs()).toBe(0);
  });

  it("a background sync that fails makes finish() reject with its error", async () => {
    const { fh } = await tempFile();
    const eio = Object.assign(new Error("EIO: i/o error, fdatasync"), { code: "EIO" });
    const { fh: handle } = spied(fh, eio);
    const writer = new CoalescingWriter(handle, 64 * 1024, 128 * 1024);
    const push = async () => {
      for (let i = 0; i < 16; i++) await writer.push(randomBytes(64 * 1024));
    };
    // The failure surfaces on a later push or, at the latest, on finish().
    await expect(push().then(() => writer.finish())).rejects.toBe(eio);
    await fh.close();
  });

  it("a failed write makes the next push or finish() reject", async () => {
    const { fh } = await tempFile();
    await fh.close(); // writes to a closed handle fail (EBADF)
    const writer = new CoalescingWriter(fh);
    await writer.push(Buffer.from("x")).catch(() => undefined);
    await expect(writer.finish()).rejects.toMatchObject({ code: "EBADF" });
  });
});
