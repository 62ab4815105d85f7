/**
 * Bucket calls apps make at startup, answered as S3 does: re-creating a bucket
 * (BucketAlreadyOwnedByYou / BucketAlreadyExists / us-east-1's legacy 200), bucket tagging and the
 * public access block (stored, returned, deleted; kept across a restart).
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  CreateBucketCommand,
  DeleteBucketTaggingCommand,
  DeletePublicAccessBlockCommand,
  GetBucketTaggingCommand,
  GetPublicAccessBlockCommand,
  PutBucketTaggingCommand,
  PutPublicAccessBlockCommand,
  S3Client,
} from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { startStorageServer } from "../../src/storage-server/index.js";
import type { StorageServer } from "../../src/storage-server/index.js";
import { CREDS, s3Error, uniqueBucket } from "./helpers.js";

const OTHER = {
  accessKeyId: "FSTESTACCESSKEY00002",
  secretAccessKey: "another-secret-key-0123456789abcdefghij",
};

let root: string;
let server: StorageServer;
const clients: S3Client[] = [];

function client(creds = CREDS, region = "auto"): S3Client {
  const c = new S3Client({ endpoint: server.url, region, credentials: creds });
  clients.push(c);
  return c;
}
async function start(): Promise<void> {
  server = await startStorageServer({ root, credentials: [CREDS, OTHER], log: (l) => console.error(l) });
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "fs-s3-cfg-"));
  await start();
});
afterAll(async () => {
  for (const c of clients) c.destroy();
  await server.close();
  await rm(root, { recursive: true, force: true });
});

describe("CreateBucket of an existing name", () => {
  test("yours → 409 BucketAlreadyOwnedByYou; another owner's → 409 BucketAlreadyExists", async () => {
    const bucket = uniqueBucket("dup");
    await client().send(new CreateBucketCommand({ Bucket: bucket }));
    const mine = await s3Error(client().send(new CreateBucketCommand({ Bucket: bucket })));
    expect(mine.name).toBe("BucketAlreadyOwnedByYou");
    expect(mine.$metadata.httpStatusCode).toBe(409);
    const theirs = await s3Error(client(OTHER).send(new CreateBucketCommand({ Bucket: bucket })));
    expect(theirs.name).toBe("BucketAlreadyExists");
    expect(theirs.$metadata.httpStatusCode).toBe(409);
  });

  test("a us-east-1 bucket re-created by its owner in us-east-1 → 200 (S3's legacy answer)", async () => {
    const bucket = uniqueBucket("use1");
    const east = client(CREDS, "us-east-1");
    await east.send(new CreateBucketCommand({ Bucket: bucket }));
    const again = await east.send(new CreateBucketCommand({ Bucket: bucket }));
    expect(again.$metadata.httpStatusCode).toBe(200);
    // A fork request for that name is not what exists: never the legacy 200.
    const forker = client(CREDS, "us-east-1");
    forker.middlewareStack.add(
      (next) => (args) => {
        (args.request as { headers: Record<string, string> }).headers["x-tigris-fork-source-bucket"] = bucket;
        return next(args);
      },
      { step: "build" },
    );
    expect((await s3Error(forker.send(new CreateBucketCommand({ Bucket: bucket })))).name).toBe(
      "BucketAlreadyOwnedByYou",
    );
    // Still BucketAlreadyExists for someone else, in any region.
    const theirs = await s3Error(
      client(OTHER, "us-east-1").send(new CreateBucketCommand({ Bucket: bucket })),
    );
    expect(theirs.name).toBe("BucketAlreadyExists");
  });
});

describe("bucket tagging", () => {
  test("Put/Get/Delete, S3's NoSuchTagSet when unset, and its tag rules", async () => {
    const bucket = uniqueBucket("tags");
    const s3 = client();
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    const none = await s3Error(s3.send(new GetBucketTaggingCommand({ Bucket: bucket })));
    expect(none.name).toBe("NoSuchTagSet");
    expect(none.$metadata.httpStatusCode).toBe(404);

    const TagSet = [
      { Key: "env", Value: "dev" },
      { Key: "team", Value: "platform & <ops>" },
      { Key: "empty", Value: "" },
    ];
    await s3.send(new PutBucketTaggingCommand({ Bucket: bucket, Tagging: { TagSet } }));
    expect((await s3.send(new GetBucketTaggingCommand({ Bucket: bucket }))).TagSet).toEqual(TagSet);

    for (const bad of [
      [
        { Key: "a", Value: "1" },
        { Key: "a", Value: "2" },
      ],
      Array.from({ length: 51 }, (_, i) => ({ Key: `k${i}`, Value: "v" })),
      [{ Key: "x".repeat(129), Value: "v" }],
      [{ Key: "aws:reserved", Value: "v" }],
    ]) {
      const e = await s3Error(
        s3.send(new PutBucketTaggingCommand({ Bucket: bucket, Tagging: { TagSet: bad } })),
      );
      expect(e.name).toBe("InvalidTag");
      expect(e.$metadata.httpStatusCode).toBe(400);
    }
    // A refused put changed nothing; fifty tags are fine.
    expect((await s3.send(new GetBucketTaggingCommand({ Bucket: bucket }))).TagSet).toEqual(TagSet);
    const fifty = Array.from({ length: 50 }, (_, i) => ({ Key: `k${i}`, Value: "v" }));
    await s3.send(new PutBucketTaggingCommand({ Bucket: bucket, Tagging: { TagSet: fifty } }));
    expect((await s3.send(new GetBucketTaggingCommand({ Bucket: bucket }))).TagSet).toHaveLength(50);

    const del = await s3.send(new DeleteBucketTaggingCommand({ Bucket: bucket }));
    expect(del.$metadata.httpStatusCode).toBe(204);
    expect((await s3Error(s3.send(new GetBucketTaggingCommand({ Bucket: bucket })))).name).toBe(
      "NoSuchTagSet",
    );
    const missing = await s3Error(s3.send(new GetBucketTaggingCommand({ Bucket: uniqueBucket("nope") })));
    expect(missing.name).toBe("NoSuchBucket");
  });
});

describe("public access block", () => {
  test("Put/Get/Delete; unset → NoSuchPublicAccessBlockConfiguration; kept across a restart", async () => {
    const bucket = uniqueBucket("pab");
    let s3 = client();
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    const none = await s3Error(s3.send(new GetPublicAccessBlockCommand({ Bucket: bucket })));
    expect(none.name).toBe("NoSuchPublicAccessBlockConfiguration");
    expect(none.$metadata.httpStatusCode).toBe(404);

    await s3.send(
      new PutPublicAccessBlockCommand({
        Bucket: bucket,
        PublicAccessBlockConfiguration: { BlockPublicAcls: true, RestrictPublicBuckets: true },
      }),
    );
    const expected = {
      BlockPublicAcls: true,
      IgnorePublicAcls: false,
      BlockPublicPolicy: false,
      RestrictPublicBuckets: true,
    };
    expect(
      (await s3.send(new GetPublicAccessBlockCommand({ Bucket: bucket }))).PublicAccessBlockConfiguration,
    ).toEqual(expected);

    // Tags and the block survive a restart of the server on the same root.
    await s3.send(
      new PutBucketTaggingCommand({ Bucket: bucket, Tagging: { TagSet: [{ Key: "k", Value: "v" }] } }),
    );
    await server.close();
    await start();
    s3 = client();
    expect(
      (await s3.send(new GetPublicAccessBlockCommand({ Bucket: bucket }))).PublicAccessBlockConfiguration,
    ).toEqual(expected);
    expect((await s3.send(new GetBucketTaggingCommand({ Bucket: bucket }))).TagSet).toEqual([
      { Key: "k", Value: "v" },
    ]);

    await s3.send(new DeletePublicAccessBlockCommand({ Bucket: bucket }));
    expect((await s3Error(s3.send(new GetPublicAccessBlockCommand({ Bucket: bucket })))).name).toBe(
      "NoSuchPublicAccessBlockConfiguration",
    );
  });
});
