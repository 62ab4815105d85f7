/**
 * Stores written before multipart objects were kept as their parts: a completed object there is one
 * blob plus its part sizes, and the uploads table has no checksum_type column. Such a store opens
 * (the column is added), its old objects read whole, by range and by partNumber, and new multipart
 * uploads work in it.
 */
import { createHash, randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import {
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  S3Client,
  UploadPartCommand,
} from "@aws-sdk/client-s3";
import Database from "libsql";
import { afterAll, expect, test } from "vitest";
import { startStorageServer } from "../../src/storage-server/index.js";
import { Store } from "../../src/storage-server/store/index.js";
import { putObject } from "../../src/storage-server/store/objects.js";
import { CREDS } from "./helpers.js";

const roots: string[] = [];
afterAll(async () => {
  for (const r of roots) await rm(r, { recursive: true, force: true });
});

test("an old store (multipart object as one blob, no uploads.checksum_type) opens, reads and takes new uploads", async () => {
  const root = await mkdtemp(join(tmpdir(), "fs-mpmig-"));
  roots.push(root);
  const MiB = 1024 * 1024;
  const parts = [randomBytes(5 * MiB), Buffer.from("the tail")];
  const whole = Buffer.concat(parts);

  // Write the object the way the old Complete did (one concatenated blob + sizes), then drop the column.
  const store = await Store.open(root);
  const bucket = store.meta.createBucket("old", { region: "auto", snapshotEnabled: false });
  const temp = await store.blobs.writeTemp(Readable.from([whole]));
  await store.blobs.commit(temp);
  const md5s = Buffer.concat(parts.map((p) => createHash("md5").update(p).digest()));
  const etag = `"${createHash("md5").update(md5s).digest("hex")}-2"`;
  await store.meta.write(() =>
    putObject(store.meta, bucket, "mp", {
      blob: temp.name,
      size: temp.size,
      etag,
      mtimeMs: Date.now(),
      headers: { meta: {} },
      tags: [],
      checksums: {},
      parts: parts.map((p) => p.length),
    }),
  );
  store.blobs.release(temp.name);
  await store.close();
  const db = new Database(join(root, "meta.sqlite"));
  db.exec("ALTER TABLE uploads DROP COLUMN checksum_type");
  db.close();

  const server = await startStorageServer({ root, credentials: [CREDS] });
  const s3 = new S3Client({ endpoint: server.url, region: "auto", credentials: CREDS });
  try {
    const all = await s3.send(new GetObjectCommand({ Bucket: "old", Key: "mp" }));
    expect(Buffer.from(await all.Body!.transformToByteArray()).equals(whole)).toBe(true);
    const p2 = await s3.send(new GetObjectCommand({ Bucket: "old", Key: "mp", PartNumber: 2 }));
    expect(p2.PartsCount).toBe(2);
    expect(await p2.Body!.transformToString()).toBe("the tail");
    const r = await s3.send(
      new GetObjectCommand({ Bucket: "old", Key: "mp", Range: `bytes=${5 * MiB - 1}-` }),
    );
    expect(Buffer.from(await r.Body!.transformToByteArray()).equals(whole.subarray(5 * MiB - 1))).toBe(true);

    const { UploadId } = await s3.send(
      new CreateMultipartUploadCommand({ Bucket: "old", Key: "new", ChecksumAlgorithm: "CRC32" }),
    );
    const up = await s3.send(
      new UploadPartCommand({
        Bucket: "old",
        Key: "new",
        UploadId,
        PartNumber: 1,
        Body: "x",
        ChecksumAlgorithm: "CRC32",
      }),
    );
    const done = await s3.send(
      new CompleteMultipartUploadCommand({
        Bucket: "old",
        Key: "new",
        UploadId,
        MultipartUpload: { Parts: [{ PartNumber: 1, ETag: up.ETag, ChecksumCRC32: up.ChecksumCRC32 }] },
      }),
    );
    expect(done.ChecksumCRC32).toMatch(/-1$/);
  } finally {
    s3.destroy();
    await server.close();
  }
});
