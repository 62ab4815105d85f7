/**
 * Copy forks (`s3`, `r2`) at size and under failure, against the embedded storage server: 10,000
 * objects with progress, an object over the multipart threshold copied by UploadPartCopy, keys that
 * need encoding, remove of versioned buckets (a fake S3 client: the embedded server keeps no versions),
 * a copy that fails half-way or is interrupted, and a `new` killed with SIGKILL mid-copy through the
 * built CLI (`npm run build` first; `npm test` does).
 */
import { createHash, randomBytes } from "node:crypto";
import * as http from "node:http";
import * as sdk from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from "vitest";
import { InterruptedError } from "../../../src/errors.js";
import { limit } from "../../../src/providers/_limit.js";
import { copySource, emptyAndDelete, partRanges } from "../../../src/providers/storage/_copy-fork.js";
import { copyObject } from "../../../src/providers/storage/_copy-object.js";
import r2 from "../../../src/providers/storage/r2.js";
import s3Provider from "../../../src/providers/storage/s3.js";
import type { S3StorageOptions } from "../../../src/providers/storage/s3.js";
import { optionsSchema } from "../../../src/providers/storage/s3.options.js";
import type { CopyProgress, OpContext, ResourceInfo, StorageProvider } from "../../../src/providers/types.js";
import { expectProviderError, readBucket } from "../../../src/testing/index.js";
import { cli, runCli, tempProject as tempCliProject } from "../../helpers/project.js";
import { coreDriver, tempProject, type TestProject } from "../_helpers.js";
import { KEY, KEY_CONFIG, cloudServer } from "./_cloud.js";
import { fakeS3, type FakeUpload, type FakeVersion } from "./_fake-s3.js";

const MiB = 1024 * 1024;
const server = cloudServer();
let s3: sdk.S3Client;
beforeAll(() => {
  s3 = new sdk.S3Client({
    endpoint: server().url,
    region: "auto",
    credentials: KEY,
    forcePathStyle: true,
    requestHandler: { httpAgent: { keepAlive: true, maxSockets: 64 } },
  });
});
afterAll(() => s3?.destroy());

const config = (extra: Partial<S3StorageOptions> = {}): S3StorageOptions => ({
  ...(optionsSchema.parse({
    ...KEY_CONFIG,
    endpoint: server().url,
    region: "us-east-1",
  }) as S3StorageOptions),
  ...extra,
});

async function setUp(extra: Partial<S3StorageOptions> = {}, name?: string) {
  const project = await tempProject(name);
  const provider = s3Provider(config(extra), project.context);
  onTestFinished(async () => {
    // No record holds what a test left: each is removed by what the provider's target names for it.
    for (const env of await provider.list(project.op)) await coreDriver(provider, project).remove(env);
    await provider.dispose?.();
    await project.cleanup();
  });
  const core = coreDriver(provider, project);
  const dev = await core.create("dev");
  return { project, provider, core, dev, bucket: dev.vars.BUCKET_NAME! };
}

/** PUT many small objects, 64 at a time. */
async function fill(bucket: string, keys: string[], body = (key: string) => `value of ${key}`) {
  for (let i = 0; i < keys.length; i += 64) {
    await Promise.all(
      keys
        .slice(i, i + 64)
        .map((Key) => s3.send(new sdk.PutObjectCommand({ Bucket: bucket, Key, Body: body(Key) }))),
    );
  }
}

/**
 * Many objects fast: one PUT, then server-side copies of it (metadata only on this server), through
 * the same lean CopyObject the providers use.
 */
async function fillByCopy(bucket: string, keys: string[], body = "x") {
  await s3.send(new sdk.PutObjectCommand({ Bucket: bucket, Key: "seed", Body: body }));
  const url = new URL(server().url);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 128 });
  onTestFinished(() => agent.destroy());
  const target = {
    endpoint: url,
    region: "us-east-1",
    forcePathStyle: true,
    keys: KEY,
    agent,
    transport: http,
  };
  const run = limit(128);
  await Promise.all(
    keys.map((key) => run(() => copyObject(target, bucket, key, copySource(bucket, "seed")))),
  );
  await s3.send(new sdk.DeleteObjectCommand({ Bucket: bucket, Key: "seed" }));
}

async function count(bucket: string): Promise<number> {
  let n = 0;
  let token: string | undefined;
  do {
    const page = await s3.send(new sdk.ListObjectsV2Command({ Bucket: bucket, ContinuationToken: token }));
    n += page.KeyCount ?? 0;
    token = page.NextContinuationToken;
  } while (token);
  return n;
}

const bucketExists = (name: string) =>
  server()
    .client()
    .headBucket(name)
    .then((h) => h !== null);

function forkWith(
  provider: StorageProvider,
  project: TestProject,
  extra: Partial<OpContext>,
): Promise<ResourceInfo> {
  const env = (name: string) => coreDriver(provider, project).env(name);
  return provider.fork(env("dev"), env("alice"), { ...project.op, ...extra });
}

describe("copy forks at size", () => {
  it("10,000 objects: every one copied, with progress up to the final totals", async () => {
    const { project, provider, bucket } = await setUp();
    const keys = Array.from({ length: 10_000 }, (_, i) => `obj/${String(i).padStart(5, "0")}`);
    await fillByCopy(bucket, keys);
    const updates: CopyProgress[] = [];
    const alice = await forkWith(provider, project, { progress: (p) => updates.push(p) });
    expect(alice.bytesAdded).toBe(10_000);
    expect(await count(alice.vars.BUCKET_NAME!)).toBe(10_000);
    const last = updates.at(-1)!;
    expect(last).toMatchObject({ objects: 10_000, bytes: 10_000, totalObjects: 10_000, listed: true });
    expect(last.elapsedMs).toBeGreaterThan(0);
    for (let i = 1; i < updates.length; i++) {
      expect(updates[i]!.objects).toBeGreaterThanOrEqual(updates[i - 1]!.objects);
      expect(updates[i]!.totalObjects).toBeGreaterThanOrEqual(updates[i]!.objects);
    }
    const sample = await s3.send(
      new sdk.GetObjectCommand({ Bucket: alice.vars.BUCKET_NAME!, Key: "obj/09999" }),
    );
    expect(await sample.Body!.transformToString()).toBe("x");
  }, 120_000);

  it("an object over the threshold goes by UploadPartCopy in equal parts, headers and metadata kept", async () => {
    const { project, provider, bucket } = await setUp({
      multipartThresholdBytes: 5 * MiB,
      partSizeBytes: 5 * MiB,
    });
    const big = randomBytes(12 * MiB + 123);
    await s3.send(
      new sdk.PutObjectCommand({
        Bucket: bucket,
        Key: "big file+1.bin",
        Body: big,
        ContentType: "application/x-test",
        CacheControl: "max-age=60",
        Metadata: { origin: "dev" },
      }),
    );
    await s3.send(new sdk.PutObjectCommand({ Bucket: bucket, Key: "small", Body: "s" }));
    const alice = await forkWith(provider, project, {});
    expect(alice.bytesAdded).toBe(big.length + 1);
    const copy = await s3.send(
      new sdk.GetObjectCommand({ Bucket: alice.vars.BUCKET_NAME!, Key: "big file+1.bin" }),
    );
    const bytes = Buffer.from(await copy.Body!.transformToByteArray());
    expect(createHash("sha256").update(bytes).digest("hex")).toBe(
      createHash("sha256").update(big).digest("hex"),
    );
    // A multipart ETag (`-3`): three 5 MiB-or-less parts, so it was not a single CopyObject.
    expect(copy.ETag).toMatch(/-3"$/);
    expect(copy).toMatchObject({
      ContentType: "application/x-test",
      CacheControl: "max-age=60",
      Metadata: { origin: "dev" },
    });
    // No upload left unfinished in either bucket.
    for (const b of [bucket, alice.vars.BUCKET_NAME!]) {
      expect((await s3.send(new sdk.ListMultipartUploadsCommand({ Bucket: b }))).Uploads ?? []).toEqual([]);
    }
  }, 60_000);

  it("keys with spaces, unicode, `+`, `%`, `?`, `#` and slashes are copied as they are", async () => {
    const { project, provider, bucket, dev } = await setUp();
    const keys = [
      "a b.txt",
      "plus+sign",
      "ünïcødé/ファイル.txt",
      "emoji 🚀/x",
      "percent%20literal",
      "question?mark&amp=1",
      "hash#tag",
      "dir//double/slash",
      " leading space",
      "tilde~and*star(1)'",
    ];
    await fill(bucket, keys);
    const alice = await forkWith(provider, project, {});
    expect(await readBucket(alice, alice.vars.BUCKET_NAME!)).toEqual(await readBucket(dev, bucket));
    expect(Object.keys((await readBucket(dev, bucket))!).sort()).toEqual([...keys].sort());
  });

  it("copy sources and part ranges", () => {
    expect(copySource("b", "a b+c/ü")).toBe("b/a%20b%2Bc/%C3%BC");
    expect(partRanges(12, 5)).toEqual([
      { start: 0, end: 4 },
      { start: 5, end: 9 },
      { start: 10, end: 11 },
    ]);
    // 6 GB in 512 MiB parts: 12 parts, every one but the last the same size (R2's rule).
    const ranges = partRanges(6e9, 512 * MiB);
    expect(ranges).toHaveLength(12);
    expect(new Set(ranges.slice(0, -1).map((r) => r.end - r.start + 1))).toEqual(new Set([512 * MiB]));
    expect(ranges.at(-1)!.end).toBe(6e9 - 1);
    // Never more than 10,000 parts: 5 TiB with 5 MiB parts uses bigger ones.
    expect(partRanges(5 * 1024 ** 4, 5 * MiB).length).toBeLessThanOrEqual(10_000);
  });
});

describe("copy forks that do not finish leave nothing behind", () => {
  it("a copy failing half-way: the error is thrown and the child's buckets are gone", async () => {
    const { project, provider, core, bucket } = await setUp({ concurrency: 4, buckets: ["uploads"] });
    await fill(
      bucket,
      Array.from({ length: 300 }, (_, i) => `k${i}`),
    );
    process.env.FORKSTACK_FAILPOINT = "storage-copy:100=throw";
    onTestFinished(() => void delete process.env.FORKSTACK_FAILPOINT);
    await expect(forkWith(provider, project, {})).rejects.toThrow("failpoint storage-copy:100");
    delete process.env.FORKSTACK_FAILPOINT;
    const child = `${project.context.project}-bucket-alice`;
    expect(await bucketExists(child)).toBe(false);
    expect(await bucketExists(`${project.context.project}-uploads-alice`)).toBe(false);
    expect(await core.list()).toEqual(["dev"]);
    expect(await count(bucket)).toBe(300);
  });

  it("interrupted (Ctrl-C) mid-copy: InterruptedError, the partial bucket removed", async () => {
    const { project, provider, core, bucket } = await setUp({ concurrency: 2 });
    await fill(
      bucket,
      Array.from({ length: 400 }, (_, i) => `k${i}`),
    );
    const controller = new AbortController();
    const seen: number[] = [];
    const error = await forkWith(provider, project, {
      signal: controller.signal,
      // Ctrl-C on the first progress report: the listing's, as the copies start (later reports are
      // throttled in time, so waiting for one of them would race the copy's end on a fast machine).
      progress: (p) => {
        seen.push(p.totalObjects - p.objects);
        controller.abort();
      },
    }).then(
      () => expect.fail("the fork should be interrupted"),
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(InterruptedError);
    expect(seen).toEqual([400]); // all 400 listed, none copied yet: the copy was under way
    expect(await bucketExists(`${project.context.project}-bucket-alice`)).toBe(false);
    expect(await core.list()).toEqual(["dev"]);
  });

  it("a fork into a name another account holds is refused before anything is copied", async () => {
    const { project, provider, bucket } = await setUp({}, "held");
    await fill(bucket, ["k"]);
    // The same key made it, but not this project: the provider must not copy into it or remove it.
    await s3.send(new sdk.CreateBucketCommand({ Bucket: `${project.context.project}-bucket-alice` }));
    await s3.send(
      new sdk.PutObjectCommand({
        Bucket: `${project.context.project}-bucket-alice`,
        Key: "theirs",
        Body: "t",
      }),
    );
    await expectProviderError(forkWith(provider, project, {}), provider, "E_ENV_EXISTS");
    const theirs = await s3.send(
      new sdk.GetObjectCommand({ Bucket: `${project.context.project}-bucket-alice`, Key: "theirs" }),
    );
    expect(await theirs.Body!.transformToString()).toBe("t");
    expect(await count(`${project.context.project}-bucket-alice`)).toBe(1);
  });
});

describe("remove empties the bucket first", () => {
  it("objects and unfinished multipart uploads (embedded server), then the bucket", async () => {
    const { project, provider, core, bucket } = await setUp();
    await fill(
      bucket,
      Array.from({ length: 2500 }, (_, i) => `k${i}`),
    );
    await s3.send(new sdk.CreateMultipartUploadCommand({ Bucket: bucket, Key: "unfinished" }));
    await core.remove("dev");
    expect(await bucketExists(bucket)).toBe(false);
    expect(await provider.list(project.op)).toEqual([]);
  });

  it("a versioned bucket: every version, delete marker and upload, page by page as S3 pages, then the bucket (fake S3)", async () => {
    // Seven keys, most with several versions (page boundaries fall inside a key's versions), delete
    // markers among them, and eleven unfinished uploads on three keys; three entries per page.
    const versions: FakeVersion[] = [];
    for (let i = 0; i < 40; i++) {
      const Key = `k${(i * 5) % 7}`;
      versions.push({ Key, VersionId: `v${String(i).padStart(2, "0")}`, deleteMarker: i % 6 === 5 });
    }
    const uploads: FakeUpload[] = Array.from({ length: 11 }, (_, i) => ({
      Key: `u${i % 3}`,
      UploadId: `up${String(10 - i).padStart(2, "0")}`, // ids not in start order, as on S3
    }));
    const fake = fakeS3({ versions, uploads, pageSize: 3 });
    expect(await emptyAndDelete(sdk, fake.client as never, "b", { versions: true, concurrency: 4 })).toBe(
      true,
    );
    expect(fake.left()).toEqual({ versions: 0, uploads: 0 });
    expect(fake.bucketGone()).toBe(true);
    // Each page asked for once, each resumed where the last one ended: (key, version) and (key, upload).
    const lists = (name: string) => fake.calls.filter((c) => c.command === name);
    expect(lists("ListObjectVersionsCommand")).toHaveLength(Math.ceil(40 / 3));
    expect(lists("ListMultipartUploadsCommand")).toHaveLength(Math.ceil(11 / 3));
    for (const c of [...lists("ListObjectVersionsCommand"), ...lists("ListMultipartUploadsCommand")].slice(
      1,
    )) {
      if (c.input.KeyMarker === undefined) continue; // the first page of the uploads
      expect(c.input.VersionIdMarker ?? c.input.UploadIdMarker).toBeDefined();
    }
    expect(fake.calls.filter((c) => c.command === "DeleteBucketCommand")).toHaveLength(1);
  });

  it("r2 lists current objects only (no versioning API) and removes them", async () => {
    const project = await tempProject();
    onTestFinished(() => project.cleanup());
    const provider = r2({ ...config(), region: undefined } as never, project.context);
    onTestFinished(() => provider.dispose?.());
    const core = coreDriver(provider, project);
    const dev = await core.create("dev");
    await fill(dev.vars.BUCKET_NAME!, ["a", "b"]);
    await core.remove("dev");
    expect(await bucketExists(dev.vars.BUCKET_NAME!)).toBe(false);
  });
});

describe("copy forks through the CLI", () => {
  async function cliProject(extra: Record<string, unknown> = {}) {
    const project = `cpcli${randomBytes(3).toString("hex")}`;
    const cwd = await tempCliProject({
      project,
      storage: {
        provider: "s3",
        endpoint: server().url,
        region: "us-east-1",
        ...KEY_CONFIG,
        concurrency: 4,
        ...extra,
      },
      database: false,
    });
    await cli(["new", "seed", "--no-switch"], { cwd }); // makes dev, the root, on the way
    const bucket = (name: string) => `${project}-bucket-${name}`;
    await fill(
      bucket("dev"),
      Array.from({ length: 1500 }, (_, i) => `k${i}`),
    );
    onTestFinished(async () => {
      for (const env of ["carol", "seed", "dev"]) await runCli(["delete", env, "--yes", "--force"], { cwd });
    });
    return { cwd, bucket };
  }

  it("a new killed with SIGKILL mid-copy: the next command rolls it back, and new copies it whole", async () => {
    const { cwd, bucket } = await cliProject();
    const killed = await runCli(["new", "carol"], { cwd, env: { FORKSTACK_FAILPOINT: "storage-copy:500" } });
    expect(killed.signal).toBe("SIGKILL");
    // Killed mid-copy: carol's bucket holds some of dev's objects, not all.
    const partial = await count(bucket("carol"));
    expect(partial).toBeGreaterThanOrEqual(500);
    expect(partial).toBeLessThan(1500);
    const listed = await runCli(["list", "--json"], { cwd });
    expect(listed.code, listed.stderr).toBe(0);
    expect(listed.stderr).toContain('Repaired an interrupted `create` of "carol": rolled back');
    expect((JSON.parse(listed.stdout) as { name: string }[]).map((e) => e.name)).not.toContain("carol");
    expect(await bucketExists(bucket("carol"))).toBe(false);
    const again = await runCli(["new", "carol", "--from", "dev"], { cwd });
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toMatch(/storage \(s3\).*copy/);
    expect(await count(bucket("carol"))).toBe(1500);
  }, 120_000);

  it("Ctrl-C mid-copy: exit 130, the partial bucket removed at once", async () => {
    const { cwd, bucket } = await cliProject();
    const stopped = await runCli(["new", "carol"], {
      cwd,
      env: { FORKSTACK_FAILPOINT: "storage-copy:300=sigint" },
    });
    expect(stopped.code, stopped.stderr).toBe(130);
    expect(await bucketExists(bucket("carol"))).toBe(false);
    expect(await count(bucket("dev"))).toBe(1500);
  }, 120_000);
});
