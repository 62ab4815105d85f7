/**
 * A full disk (issue 8 §2) on real small filesystems: an 8 MB tmpfs and a 16 MB ext4 image on a loop
 * device, mounted for the test (needs root; skipped otherwise, with the reason in the test name). A write that does not fit is 507 StorageFull
 * (not a 500 that SDKs retry forever), the SDK does not retry it, reads keep working, nothing half-
 * written stays behind, and once space is freed writes work again with no restart and every object
 * acknowledged before is intact. Also: the daemon survives a log it cannot write (stderr on /dev/full),
 * which used to end it with an uncaught ENOSPC.
 */
import { spawn, spawnSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import {
  closeSync,
  existsSync,
  mkdtempSync,
  openSync,
  readdirSync,
  rmSync,
  statSync,
  truncateSync,
  writeSync,
} from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import {
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
} from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { startStorageServer } from "../../src/storage-server/index.js";
import type { StorageServer } from "../../src/storage-server/index.js";
import { safeLog } from "../../src/storage-server/log.js";
import { CREDS, s3Error } from "./helpers.js";
import { waitFor } from "../helpers/wait.js";

/** A small real filesystem mounted at a fresh folder; `unmount` undoes everything. */
interface Mounted {
  readonly dir: string;
  unmount(): void;
}

type Kind = "tmpfs" | "ext4";

function run(cmd: string, args: string[]): void {
  const r = spawnSync(cmd, args);
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")}: ${r.stderr?.toString().trim() ?? r.error}`);
}

/** An 8 MB tmpfs, or a 16 MB ext4 image on a loop device. */
function mountSmall(kind: Kind): Mounted {
  const dir = mkdtempSync(join(tmpdir(), `fs-full-${kind}-`));
  const image = `${dir}.img`;
  try {
    if (kind === "tmpfs") {
      run("mount", ["-t", "tmpfs", "-o", "size=8m", "tmpfs", dir]);
    } else {
      run("truncate", ["-s", "16M", image]);
      run("mkfs.ext4", ["-q", "-F", image]);
      run("mount", ["-o", "loop", image, dir]);
    }
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    rmSync(image, { force: true });
    throw error;
  }
  return {
    dir,
    unmount() {
      // Lazily if something (a file the server had open a moment ago) still holds it.
      if (spawnSync("umount", [dir]).status !== 0) spawnSync("umount", ["-l", dir]);
      rmSync(dir, { recursive: true, force: true });
      rmSync(image, { force: true });
    },
  };
}

/** Why `kind` cannot be mounted here (mounting needs root and a kernel that lets this container), or undefined. */
function cannotMount(kind: Kind): string | undefined {
  if (process.platform !== "linux") return "not Linux";
  if (process.getuid?.() !== 0) return `not root: mounting ${kind} needs root`;
  try {
    mountSmall(kind).unmount();
    return undefined;
  } catch (error) {
    return (error as Error).message;
  }
}

/** Fills the filesystem under `file` to the last byte; returns how many bytes it took. */
function fill(file: string): number {
  const fd = openSync(file, "a");
  let total = 0;
  try {
    for (const size of [1024 * 1024, 64 * 1024, 4096, 512, 1]) {
      const chunk = Buffer.alloc(size, 7);
      for (;;) {
        try {
          total += writeSync(fd, chunk);
        } catch {
          break;
        }
      }
    }
  } finally {
    closeSync(fd);
  }
  return total;
}

const md5 = (b: Buffer): string => createHash("md5").update(b).digest("hex");

const KINDS: readonly [Kind, string | undefined][] = (["tmpfs", "ext4"] as const).map((k) => [
  k,
  cannotMount(k),
]);

describe.each(KINDS)("on a full small %s", (kind, skipped) => {
  describe.skipIf(skipped !== undefined)(skipped ? `(skipped: ${skipped})` : `(${kind})`, () => {
    let fsys: Mounted;
    let mnt: string;
    let server: StorageServer;
    let s3: S3Client;
    let logFd: number;

    beforeAll(async () => {
      fsys = mountSmall(kind);
      mnt = fsys.dir;
      logFd = openSync(join(mnt, "server.log"), "a");
      server = await startStorageServer({
        root: join(mnt, "store"),
        credentials: [CREDS],
        log: safeLog(logFd),
      });
      s3 = new S3Client({ endpoint: server.url, region: "auto", credentials: CREDS });
    });
    afterAll(async () => {
      s3?.destroy();
      await server?.close();
      if (logFd !== undefined) closeSync(logFd);
      fsys?.unmount();
    });

    test("writes that do not fit are 507 StorageFull, reads go on, and writes work again once space is freed", async () => {
      await s3.send(new CreateBucketCommand({ Bucket: "full" }));
      const acked = new Map<string, string>();
      for (let i = 0; i < 3; i++) {
        const body = randomBytes(512 * 1024);
        await s3.send(new PutObjectCommand({ Bucket: "full", Key: `before-${i}`, Body: body }));
        acked.set(`before-${i}`, md5(body));
      }
      const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: "full", Key: "mp" }));

      // Leave no room at all, then try every kind of write.
      const filler = join(mnt, "filler");
      expect(fill(filler)).toBeGreaterThan(0);
      const put = await s3Error(
        s3.send(new PutObjectCommand({ Bucket: "full", Key: "no-room", Body: randomBytes(256 * 1024) })),
      );
      expect(put.$metadata.httpStatusCode).toBe(507);
      expect(put.name).toBe("StorageFull");
      expect(put.message).toMatch(/disk is full \(ENOSPC\)/);
      expect(put.$metadata.attempts).toBe(1); // not retried by the SDK
      const part = await s3Error(
        s3.send(
          new UploadPartCommand({
            Bucket: "full",
            Key: "mp",
            UploadId,
            PartNumber: 1,
            Body: randomBytes(64 * 1024),
          }),
        ),
      );
      expect(part.$metadata.httpStatusCode).toBe(507);
      // A metadata-only write: SQLite's COMMIT meets the full disk (SQLITE_FULL).
      const bucket = await s3Error(s3.send(new CreateBucketCommand({ Bucket: "full-too" })));
      expect(bucket.$metadata.httpStatusCode).toBe(507);

      // Reads keep working while the disk is full.
      for (const [key, sum] of acked) {
        const got = await s3.send(new GetObjectCommand({ Bucket: "full", Key: key }));
        expect(md5(Buffer.from(await got.Body!.transformToByteArray()))).toBe(sum);
      }
      expect(readdirSync(join(mnt, "store", "tmp"))).toEqual([]);

      // Free the space: the same server takes writes again.
      rmSync(filler);
      const after = randomBytes(512 * 1024);
      await s3.send(new PutObjectCommand({ Bucket: "full", Key: "after", Body: after }));
      acked.set("after", md5(after));
      await s3.send(new CreateBucketCommand({ Bucket: "full-too" }));
      for (const [key, sum] of acked) {
        const got = await s3.send(new GetObjectCommand({ Bucket: "full", Key: key }));
        expect(md5(Buffer.from(await got.Body!.transformToByteArray()))).toBe(sum);
      }
      expect((await s3Error(s3.send(new HeadObjectCommand({ Bucket: "full", Key: "no-room" })))).name).toBe(
        "NotFound",
      );
    });

    test("deleting objects on a full disk gives their space to new writes, with no GC pass and no restart", async () => {
      await s3.send(new CreateBucketCommand({ Bucket: "reclaim" }));
      for (let i = 0; i < 3; i++) {
        await s3.send(
          new PutObjectCommand({ Bucket: "reclaim", Key: `old-${i}`, Body: randomBytes(1024 * 1024) }),
        );
      }
      // Full, but for a little room for the deletes' own metadata writes.
      const filler = join(mnt, "filler-reclaim");
      fill(filler);
      truncateSync(filler, Math.max(0, statSync(filler).size - 256 * 1024));
      const fresh = randomBytes(1024 * 1024);
      const tryPut = () =>
        s3.send(new PutObjectCommand({ Bucket: "reclaim", Key: "fresh", Body: fresh })).then(
          () => true,
          (error: unknown) => {
            if ((error as { name?: string }).name !== "StorageFull") throw error;
            return false;
          },
        );
      expect(await tryPut()).toBe(false);

      for (let i = 0; i < 3; i++)
        await s3.send(new DeleteObjectCommand({ Bucket: "reclaim", Key: `old-${i}` }));
      // The deleted objects' files go within moments; the same upload then fits.
      await waitFor(tryPut, 100);
      const got = await s3.send(new GetObjectCommand({ Bucket: "reclaim", Key: "fresh" }));
      expect(md5(Buffer.from(await got.Body!.transformToByteArray()))).toBe(md5(fresh));
      rmSync(filler);
    });
  });
});

const DAEMON = resolve(import.meta.dirname, "../../dist/storage-server/daemon.js");

function freePort(): Promise<number> {
  return new Promise((res) => {
    const s = createServer();
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => res(port));
    });
  });
}

describe.skipIf(!existsSync("/dev/full") || !existsSync(DAEMON))(
  `the daemon${existsSync(DAEMON) ? "" : " (skipped: run `npm run build` first)"}`,
  () => {
    test("keeps serving when its log cannot be written (stderr on /dev/full: every write is ENOSPC)", async () => {
      const dir = await mkdtemp(join(tmpdir(), "fs-devfull-"));
      const credentialsFile = join(dir, "credentials.json");
      await writeFile(credentialsFile, JSON.stringify(CREDS), { mode: 0o600 });
      const pidFile = join(dir, "server.pid");
      const port = await freePort();
      const args = { root: join(dir, "data"), port, host: "127.0.0.1", credentialsFile, pidFile };
      const full = openSync("/dev/full", "w");
      const child = spawn(process.execPath, [DAEMON, JSON.stringify(args)], {
        stdio: ["ignore", full, full],
      });
      closeSync(full);
      let exited: number | null | undefined;
      child.once("exit", (code) => (exited = code));
      const s3 = new S3Client({ endpoint: `http://127.0.0.1:${port}`, region: "auto", credentials: CREDS });
      try {
        // The first log line ("listening at …") used to be the end of it.
        let ok = false;
        await waitFor(async () => {
          ok = await s3.send(new CreateBucketCommand({ Bucket: "logless" })).then(
            () => true,
            () => false,
          );
          return ok || exited !== undefined;
        }, 100);
        expect(exited).toBeUndefined();
        expect(ok).toBe(true);
        await s3.send(new PutObjectCommand({ Bucket: "logless", Key: "k", Body: "v" }));
        const got = await s3.send(new GetObjectCommand({ Bucket: "logless", Key: "k" }));
        expect(await got.Body!.transformToString()).toBe("v");
        expect(exited).toBeUndefined();
      } finally {
        s3.destroy();
        child.kill("SIGTERM");
        await new Promise((r) => (exited !== undefined ? r(undefined) : child.once("exit", r)));
        await rm(dir, { recursive: true, force: true });
      }
    });
  },
);
