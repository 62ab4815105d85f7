/**
 * Each env's own key on the embedded store, end to end: envs made with the built CLI, their variables
 * read with `forkstack env --reveal`, and every request made by real clients (AWS SDK v3, its
 * presigner and POST-policy helper, curl's SigV4). With alice's variables nothing of dev's is
 * reachable; her own buckets are; `delete` revokes her key, `reset` keeps it, and the project's key
 * is in no env's variables.
 */
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  DeleteBucketCommand,
  DeleteObjectCommand,
  DeleteObjectTaggingCommand,
  DeleteObjectsCommand,
  GetBucketAclCommand,
  GetBucketCorsCommand,
  GetObjectAclCommand,
  GetObjectCommand,
  GetObjectTaggingCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListBucketsCommand,
  ListMultipartUploadsCommand,
  ListObjectsCommand,
  ListObjectsV2Command,
  ListPartsCommand,
  PutBucketAclCommand,
  PutBucketCorsCommand,
  PutObjectAclCommand,
  PutObjectCommand,
  PutObjectTaggingCommand,
  S3ServiceException,
  UploadPartCommand,
  UploadPartCopyCommand,
} from "@aws-sdk/client-s3";
import type { S3Client } from "@aws-sdk/client-s3";
import { createPresignedPost } from "@aws-sdk/s3-presigned-post";
import { getSignedUrl } from "@aws-sdk/s3-request-presigner";
import { describe, expect, it } from "vitest";
import { REPO, cli, runCli, runProcess } from "../helpers/project.js";
import { curlS3, envOf, projectKey, s3For, signedS3, storageProject } from "../helpers/storage.js";

const hasCurl = spawnSync("curl", ["--version"], { stdio: "ignore" }).status === 0;

/** "ok", or the status and S3 error code a call fails with (the status alone for a HEAD: no body). */
async function outcome(call: () => Promise<unknown>): Promise<string> {
  try {
    await call();
    return "ok";
  } catch (error) {
    if (!(error instanceof S3ServiceException)) throw error;
    const status = String(error.$metadata.httpStatusCode);
    return error.name === "Unknown" ? status : `${status} ${error.name}`;
  }
}

/** What `outcome` says of a request the store refuses for want of access. */
const denied = (operation: string) => (operation.startsWith("Head") ? "403" : "403 AccessDenied");

/** dev with an object and an unfinished multipart upload, alice forked from it (not current). */
async function devAndAlice() {
  const cwd = await storageProject({ provider: "local", buckets: ["uploads"] });
  await cli(["new", "dev", "--no-switch"], { cwd });
  const dev = await envOf(cwd, "dev");
  const devS3 = s3For(dev);
  await devS3.send(new PutObjectCommand({ Bucket: dev.BUCKET_NAME, Key: "photo.jpg", Body: "dev's photo" }));
  const { UploadId } = await devS3.send(
    new CreateMultipartUploadCommand({ Bucket: dev.BUCKET_NAME, Key: "big" }),
  );
  devS3.destroy();
  await cli(["new", "alice", "--no-switch"], { cwd });
  return { cwd, dev, devUpload: UploadId!, alice: await envOf(cwd, "alice") };
}

/**
 * Every bucket and object operation an app makes, on `bucket` with `s3`. Copies go from `source` into
 * `bucket` (`copyInto`) and from `bucket` into `sink` (`copyOut`); `upload` is an unfinished multipart
 * upload in `bucket` for the calls that need one.
 */
function operations(s3: S3Client, bucket: string, other: { source: string; sink: string; upload: string }) {
  const Bucket = bucket;
  const part = { Bucket, Key: "big", UploadId: other.upload, PartNumber: 1 };
  return {
    ListObjectsV2: () => s3.send(new ListObjectsV2Command({ Bucket })),
    ListObjects: () => s3.send(new ListObjectsCommand({ Bucket })),
    HeadBucket: () => s3.send(new HeadBucketCommand({ Bucket })),
    HeadObject: () => s3.send(new HeadObjectCommand({ Bucket, Key: "photo.jpg" })),
    GetObject: () => s3.send(new GetObjectCommand({ Bucket, Key: "photo.jpg" })),
    PutObject: () => s3.send(new PutObjectCommand({ Bucket, Key: "new.txt", Body: "x" })),
    copyInto: () =>
      s3.send(new CopyObjectCommand({ Bucket, Key: "copied.jpg", CopySource: `${other.source}/photo.jpg` })),
    copyOut: () =>
      s3.send(
        new CopyObjectCommand({ Bucket: other.sink, Key: "out.jpg", CopySource: `${Bucket}/photo.jpg` }),
      ),
    PutObjectTagging: () =>
      s3.send(
        new PutObjectTaggingCommand({
          Bucket,
          Key: "photo.jpg",
          Tagging: { TagSet: [{ Key: "a", Value: "b" }] },
        }),
      ),
    GetObjectTagging: () => s3.send(new GetObjectTaggingCommand({ Bucket, Key: "photo.jpg" })),
    DeleteObjectTagging: () => s3.send(new DeleteObjectTaggingCommand({ Bucket, Key: "photo.jpg" })),
    PutObjectAcl: () => s3.send(new PutObjectAclCommand({ Bucket, Key: "photo.jpg", ACL: "private" })),
    GetObjectAcl: () => s3.send(new GetObjectAclCommand({ Bucket, Key: "photo.jpg" })),
    GetBucketAcl: () => s3.send(new GetBucketAclCommand({ Bucket })),
    PutBucketAcl: () => s3.send(new PutBucketAclCommand({ Bucket, ACL: "private" })),
    PutBucketCors: () =>
      s3.send(
        new PutBucketCorsCommand({
          Bucket,
          CORSConfiguration: { CORSRules: [{ AllowedOrigins: ["*"], AllowedMethods: ["GET"] }] },
        }),
      ),
    GetBucketCors: () => s3.send(new GetBucketCorsCommand({ Bucket })),
    CreateMultipartUpload: () => s3.send(new CreateMultipartUploadCommand({ Bucket, Key: "mine" })),
    UploadPart: () => s3.send(new UploadPartCommand({ ...part, Body: "part" })),
    UploadPartCopy: () =>
      s3.send(new UploadPartCopyCommand({ ...part, CopySource: `${other.source}/photo.jpg` })),
    ListParts: () => s3.send(new ListPartsCommand({ Bucket, Key: "big", UploadId: other.upload })),
    ListMultipartUploads: () => s3.send(new ListMultipartUploadsCommand({ Bucket })),
    CompleteMultipartUpload: () =>
      s3.send(
        new CompleteMultipartUploadCommand({
          Bucket,
          Key: "big",
          UploadId: other.upload,
          MultipartUpload: { Parts: [{ PartNumber: 1, ETag: '"0"' }] },
        }),
      ),
    AbortMultipartUpload: () =>
      s3.send(new AbortMultipartUploadCommand({ Bucket, Key: "big", UploadId: other.upload })),
    DeleteObjects: () =>
      s3.send(new DeleteObjectsCommand({ Bucket, Delete: { Objects: [{ Key: "new.txt" }] } })),
    DeleteObject: () => s3.send(new DeleteObjectCommand({ Bucket, Key: "photo.jpg" })),
  };
}

describe("cli: a key per env on the embedded store", () => {
  it("with alice's variables every operation on dev's bucket is 403, and each works on her own", async () => {
    const { dev, devUpload, alice } = await devAndAlice();
    expect(alice.AWS_ACCESS_KEY_ID).not.toBe(dev.AWS_ACCESS_KEY_ID);
    const s3 = s3For(alice);
    try {
      // Against dev's bucket (copies with alice's bucket on the other side): refused, every one.
      const onDev = operations(s3, dev.BUCKET_NAME!, {
        source: alice.BUCKET_NAME!,
        sink: alice.BUCKET_NAME!,
        upload: devUpload,
      });
      const refused: Record<string, string> = {};
      for (const [name, call] of Object.entries(onDev)) refused[name] = await outcome(call);
      expect(refused).toEqual(Object.fromEntries(Object.keys(onDev).map((name) => [name, denied(name)])));
      // Copies from dev into alice's own bucket, whole or as a part of her own upload: refused too.
      const { UploadId } = await s3.send(
        new CreateMultipartUploadCommand({ Bucket: alice.BUCKET_NAME, Key: "big" }),
      );
      const fromDev = operations(s3, alice.BUCKET_NAME!, {
        source: dev.BUCKET_NAME!,
        sink: dev.BUCKET_NAME!,
        upload: UploadId!,
      });
      expect(await outcome(fromDev.copyInto)).toBe("403 AccessDenied");
      expect(await outcome(fromDev.UploadPartCopy)).toBe("403 AccessDenied");
      // dev's data is untouched.
      const devS3 = s3For(dev);
      const body = await devS3.send(new GetObjectCommand({ Bucket: dev.BUCKET_NAME, Key: "photo.jpg" }));
      expect(await body.Body!.transformToString()).toBe("dev's photo");
      const listed = await devS3.send(new ListObjectsV2Command({ Bucket: dev.BUCKET_NAME }));
      expect(listed.Contents?.map((c) => c.Key)).toEqual(["photo.jpg"]);
      devS3.destroy();

      // The same calls on alice's own buckets (copies between her two buckets): each one works.
      const own = operations(s3, alice.BUCKET_NAME!, {
        source: alice.BUCKET_NAME_UPLOADS!,
        sink: alice.BUCKET_NAME_UPLOADS!,
        upload: UploadId!,
      });
      await s3.send(
        new PutObjectCommand({ Bucket: alice.BUCKET_NAME_UPLOADS, Key: "photo.jpg", Body: "up" }),
      );
      const worked: Record<string, string> = {};
      for (const [name, call] of Object.entries(own)) {
        // Complete needs the part's real ETag; the rest are as above.
        if (name === "CompleteMultipartUpload") continue;
        worked[name] = await outcome(call);
      }
      expect(worked).toEqual(
        Object.fromEntries(
          Object.keys(own).flatMap((n) => (n === "CompleteMultipartUpload" ? [] : [[n, "ok"]])),
        ),
      );
      const { UploadId: second } = await s3.send(
        new CreateMultipartUploadCommand({ Bucket: alice.BUCKET_NAME, Key: "whole" }),
      );
      const { ETag } = await s3.send(
        new UploadPartCommand({
          Bucket: alice.BUCKET_NAME,
          Key: "whole",
          UploadId: second,
          PartNumber: 1,
          Body: "p",
        }),
      );
      await s3.send(
        new CompleteMultipartUploadCommand({
          Bucket: alice.BUCKET_NAME,
          Key: "whole",
          UploadId: second,
          MultipartUpload: { Parts: [{ PartNumber: 1, ETag }] },
        }),
      );

      // ListBuckets shows her buckets alone; making or deleting buckets is the CLI's.
      const { Buckets } = await s3.send(new ListBucketsCommand({}));
      expect(Buckets?.map((b) => b.Name)).toEqual([alice.BUCKET_NAME, alice.BUCKET_NAME_UPLOADS]);
      expect(await outcome(() => s3.send(new CreateBucketCommand({ Bucket: "myapp-bucket-mine" })))).toBe(
        "403 AccessDenied",
      );
      expect(await outcome(() => s3.send(new DeleteBucketCommand({ Bucket: dev.BUCKET_NAME })))).toBe(
        "403 AccessDenied",
      );
      expect(await outcome(() => s3.send(new DeleteBucketCommand({ Bucket: alice.BUCKET_NAME })))).toBe(
        "403 AccessDenied",
      );
    } finally {
      s3.destroy();
    }
  });

  it.skipIf(!hasCurl)(
    "alice's key cannot fork, snapshot or use the admin API (curl); the project's key can",
    async () => {
      const { cwd, dev, alice } = await devAndAlice();
      const fork = { "x-tigris-fork-source-bucket": dev.BUCKET_NAME! };
      expect((await signedS3(alice, "PUT", "/myapp-bucket-stolen", { headers: fork })).status).toBe(403);
      expect((await signedS3(alice, "PUT", `/${alice.BUCKET_NAME}`, { headers: fork })).status).toBe(403);
      expect(
        (await signedS3(alice, "PUT", `/${alice.BUCKET_NAME}`, { headers: { "x-tigris-snapshot": "true" } }))
          .status,
      ).toBe(403);
      expect(
        (await signedS3(alice, "GET", "/", { headers: { "x-tigris-snapshot": dev.BUCKET_NAME! } })).status,
      ).toBe(403);
      const admin = await curlS3(alice, "GET", "/_forkstack/access-keys");
      expect([admin.status, JSON.parse(admin.body).Code]).toEqual([403, "AccessDenied"]);
      const mint = await curlS3(alice, "POST", "/_forkstack/access-keys", {
        body: JSON.stringify({ label: "mine", buckets: [dev.BUCKET_NAME] }),
      });
      expect(mint.status).toBe(403);
      expect((await signedS3(alice, "GET", `/${alice.BUCKET_NAME}?metadata`)).status).toBe(403);

      // The project's key: the fork is made, and the admin API lists each env's key with its buckets.
      const project = { ...dev, ...projectKey(cwd) };
      expect((await signedS3(project, "PUT", "/myapp-bucket-forked", { headers: fork })).status).toBe(200);
      const keys = JSON.parse((await curlS3(project, "GET", "/_forkstack/access-keys")).body) as {
        accessKeys: { accessKeyId: string; label: string; buckets: string[] }[];
      };
      expect(keys.accessKeys.map((k) => [k.label, k.accessKeyId, k.buckets])).toEqual([
        ["dev", dev.AWS_ACCESS_KEY_ID, [dev.BUCKET_NAME, dev.BUCKET_NAME_UPLOADS]],
        ["alice", alice.AWS_ACCESS_KEY_ID, [alice.BUCKET_NAME, alice.BUCKET_NAME_UPLOADS]],
      ]);
    },
  );

  it("presigned URLs and POST policies signed by alice reach her buckets and never dev's", async () => {
    const { dev, alice } = await devAndAlice();
    // As docs/storage.md advises for presigned PUTs.
    const s3 = s3For(alice, { requestChecksumCalculation: "WHEN_REQUIRED" });
    try {
      const url = (bucket: string, command: "get" | "put") =>
        getSignedUrl(
          s3,
          command === "get"
            ? new GetObjectCommand({ Bucket: bucket, Key: "photo.jpg" })
            : new PutObjectCommand({ Bucket: bucket, Key: "signed.txt" }),
          { expiresIn: 300 },
        );
      const get = async (bucket: string) => (await fetch(await url(bucket, "get"))).status;
      const put = async (bucket: string) =>
        (await fetch(await url(bucket, "put"), { method: "PUT", body: "signed" })).status;
      expect([await get(dev.BUCKET_NAME!), await put(dev.BUCKET_NAME!)]).toEqual([403, 403]);
      expect([await get(alice.BUCKET_NAME!), await put(alice.BUCKET_NAME!)]).toEqual([200, 200]);

      const postTo = async (bucket: string) => {
        const { url: action, fields } = await createPresignedPost(s3, {
          Bucket: bucket,
          Key: "form.txt",
          Conditions: [["content-length-range", 1, 1024]],
          Expires: 300,
        });
        const form = new FormData();
        for (const [k, v] of Object.entries(fields)) form.append(k, v);
        form.append("file", new Blob(["from a form"]), "form.txt");
        const res = await fetch(action, { method: "POST", body: form });
        return [res.status, /<Code>([^<]*)<\/Code>/.exec(await res.text())?.[1] ?? "ok"];
      };
      expect(await postTo(dev.BUCKET_NAME!)).toEqual([403, "AccessDenied"]);
      expect(await postTo(alice.BUCKET_NAME!)).toEqual([204, "ok"]);
    } finally {
      s3.destroy();
    }
    // Nothing reached dev's bucket.
    const devS3 = s3For(dev);
    const listed = await devS3.send(new ListObjectsV2Command({ Bucket: dev.BUCKET_NAME }));
    devS3.destroy();
    expect(listed.Contents?.map((c) => c.Key)).toEqual(["photo.jpg"]);
  });

  it("reset keeps alice's key (and its reach); delete revokes it, also for a new alice", async () => {
    const { cwd, dev, alice } = await devAndAlice();
    const s3 = s3For(alice);
    try {
      await s3.send(new PutObjectCommand({ Bucket: alice.BUCKET_NAME, Key: "mine.txt", Body: "alice" }));
      await cli(["reset", "alice"], { cwd });
      const after = await envOf(cwd, "alice");
      expect([after.AWS_ACCESS_KEY_ID, after.AWS_SECRET_ACCESS_KEY]).toEqual([
        alice.AWS_ACCESS_KEY_ID,
        alice.AWS_SECRET_ACCESS_KEY,
      ]);
      // The same client, still running: it sees the re-forked bucket, and dev's stays out of reach.
      const listed = await s3.send(new ListObjectsV2Command({ Bucket: alice.BUCKET_NAME }));
      expect(listed.Contents?.map((c) => c.Key)).toEqual(["photo.jpg"]);
      await s3.send(new PutObjectCommand({ Bucket: alice.BUCKET_NAME_UPLOADS, Key: "a.txt", Body: "a" }));
      expect(await outcome(() => s3.send(new ListObjectsV2Command({ Bucket: dev.BUCKET_NAME })))).toBe(
        "403 AccessDenied",
      );

      await cli(["delete", "alice", "--yes"], { cwd });
      const refused = await outcome(() => s3.send(new ListObjectsV2Command({ Bucket: alice.BUCKET_NAME })));
      expect(refused).toBe("403 InvalidAccessKeyId");
      // A new alice: new buckets under the same names, a new key; the old (leaked) key reaches none of it.
      await cli(["new", "alice", "--no-switch"], { cwd });
      const again = await envOf(cwd, "alice");
      expect(again.AWS_ACCESS_KEY_ID).not.toBe(alice.AWS_ACCESS_KEY_ID);
      for (const bucket of [again.BUCKET_NAME!, again.BUCKET_NAME_UPLOADS!, dev.BUCKET_NAME!]) {
        expect(await outcome(() => s3.send(new ListObjectsV2Command({ Bucket: bucket })))).toBe(
          "403 InvalidAccessKeyId",
        );
      }
      const fresh = s3For(again);
      expect(await outcome(() => fresh.send(new ListObjectsV2Command({ Bucket: again.BUCKET_NAME })))).toBe(
        "ok",
      );
      fresh.destroy();
    } finally {
      s3.destroy();
    }
  });

  it("the project's key is in no env's variables, .env.local, `forkstack env` or the runtime library", async () => {
    const cwd = await storageProject();
    await cli(["new", "alice"], { cwd }); // makes dev on the way, and switches to alice
    const project = projectKey(cwd);
    const dotenv = await cli(["env", "--reveal"], { cwd });
    const envLocal = readFileSync(join(cwd, ".env.local"), "utf8");
    const manifests = ["dev", "alice"].map((env) =>
      readFileSync(join(cwd, ".forkstack/envs", env, "manifest.json"), "utf8"),
    );
    await writeFile(
      join(cwd, "app.mjs"),
      `import { storageConfig } from ${JSON.stringify(join(REPO, "dist/index.js"))};
       console.log(JSON.stringify(storageConfig().credentials));`,
    );
    const direct = await runProcess(process.execPath, ["app.mjs"], { cwd, env: { FORKSTACK_ENV: "dev" } });
    const underRun = await runCli(["run", "--", process.execPath, "app.mjs"], { cwd });
    const alice = await envOf(cwd, "alice");
    expect(JSON.parse(underRun.stdout)).toEqual({
      accessKeyId: alice.AWS_ACCESS_KEY_ID,
      secretAccessKey: alice.AWS_SECRET_ACCESS_KEY,
    });
    expect(JSON.parse(direct.stdout).accessKeyId).toBe((await envOf(cwd, "dev")).AWS_ACCESS_KEY_ID);
    expect(dotenv).toContain(`AWS_ACCESS_KEY_ID='${alice.AWS_ACCESS_KEY_ID}'`);
    for (const text of [dotenv, envLocal, ...manifests, direct.stdout, underRun.stdout]) {
      expect(text).not.toContain(project.AWS_ACCESS_KEY_ID);
      expect(text).not.toContain(project.AWS_SECRET_ACCESS_KEY);
    }
  });
});
