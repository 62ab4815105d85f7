/**
 * The `s3` and `r2` providers (copy forks) against the embedded storage server standing in for S3 and
 * R2 (the endpoint override), with the shared storage suite unchanged; forks must go through the copy
 * path: the children are plain buckets, not the server's forks. Live runs when credentials are set:
 * `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY` + `FORKSTACK_TEST_S3_SUFFIX` (a `bucketSuffix`
 * that makes the test buckets' global names unique), and `CLOUDFLARE_ACCOUNT_ID` + `R2_ACCESS_KEY_ID`/`R2_SECRET_ACCESS_KEY`.
 */
import { describe, expect, it, onTestFinished } from "vitest";
import r2 from "../../../src/providers/storage/r2.js";
import type { R2StorageOptions } from "../../../src/providers/storage/r2.js";
import { optionsSchema as r2Options } from "../../../src/providers/storage/r2.options.js";
import s3, { endpointFromEnv } from "../../../src/providers/storage/s3.js";
import type { S3StorageOptions } from "../../../src/providers/storage/s3.js";
import { optionsSchema as s3Options } from "../../../src/providers/storage/s3.options.js";
import { expectProviderError, putObject, readBucket, storageSuite } from "../../../src/testing/index.js";
import type { StorageProvider } from "../../../src/providers/types.js";
import type { StorageSuiteContext } from "../../../src/testing/suites/storage.js";
import { coreDriver, tempProject } from "../_helpers.js";
import { KEY_CONFIG, cloudServer } from "./_cloud.js";

const server = cloudServer();

const s3Config = (extra: Partial<S3StorageOptions> = {}): S3StorageOptions => ({
  ...(s3Options.parse({ ...KEY_CONFIG, endpoint: server().url, region: "eu-west-1" }) as S3StorageOptions),
  ...extra,
});
const r2Config = (extra: Partial<R2StorageOptions> = {}): R2StorageOptions => ({
  ...(r2Options.parse({ ...KEY_CONFIG, endpoint: server().url }) as R2StorageOptions),
  ...extra,
});

/** Tests both providers share: the copy path, and what a fork reports. */
function copyPathTests(ctx: StorageSuiteContext, region: string) {
  it("forks copy: the child is a plain bucket (no fork header), method copy with the bytes it added", async () => {
    const dev = await ctx.core.create("dev");
    await putObject(dev, dev.vars.BUCKET_NAME!, "a.txt", "12345");
    await putObject(dev, dev.vars.BUCKET_NAME_UPLOADS!, "b.bin", new Uint8Array(1000));
    const alice = await ctx.core.fork("dev", "alice");
    expect(alice).toMatchObject({ method: "copy", bytesAdded: 1005, bytes: 1005 });
    const client = server().client();
    for (const bucket of [alice.vars.BUCKET_NAME!, alice.vars.BUCKET_NAME_UPLOADS!]) {
      const head = await client.headBucket(bucket);
      expect(head).not.toBeNull();
      expect(head!.forkSource).toBeUndefined();
      expect(head!.forkSnapshot).toBeUndefined();
    }
    expect(await client.headBucket(dev.vars.BUCKET_NAME!)).toMatchObject({ isForkParent: false });
    expect(alice.vars).toMatchObject({ AWS_ENDPOINT_URL_S3: server().url, AWS_REGION: region });
  });
}

describe("providers: storage/s3 (embedded server as S3)", () => {
  storageSuite({
    bucketKeys: ["uploads"],
    provider: (project) => s3(s3Config({ buckets: ["uploads"] }), project.context),
    reconfigured: (project) => s3(s3Config({ buckets: ["uploads", "extra"] }), project.context),
    additionalTests: (ctx) => copyPathTests(ctx, "eu-west-1"),
  });
});

describe("providers: storage/r2 (embedded server as R2)", () => {
  storageSuite({
    bucketKeys: ["uploads"],
    provider: (project) => r2(r2Config({ buckets: ["uploads"] }), project.context),
    reconfigured: (project) => r2(r2Config({ buckets: ["uploads", "extra"] }), project.context),
    additionalTests: (ctx) => copyPathTests(ctx, "auto"),
  });
});

async function withProvider(make: (context: Parameters<typeof s3>[1]) => StorageProvider, name = "cp") {
  const project = await tempProject(name);
  const provider = make(project.context);
  onTestFinished(async () => {
    // No record holds what a test left: each is removed by what the provider's target names for it.
    for (const env of (await provider.list(project.op).catch(() => [])).reverse())
      await coreDriver(provider, project).remove(env);
    await provider.dispose?.();
    await project.cleanup();
  });
  return { project, provider, core: coreDriver(provider, project) };
}

describe("providers: storage/s3 and r2, their own rules", () => {
  it("us-east-1: no LocationConstraint, and an existing env is still refused (S3 answers 200 there)", async () => {
    const { provider, core } = await withProvider((c) => s3(s3Config({ region: "us-east-1" }), c));
    const dev = await core.create("dev");
    expect(dev.vars.AWS_REGION).toBe("us-east-1");
    await putObject(dev, dev.vars.BUCKET_NAME!, "k", "v");
    await expectProviderError(core.create("dev"), provider, "E_ENV_EXISTS");
    expect(await readBucket(dev, dev.vars.BUCKET_NAME!)).toEqual({ k: "v" });
  });

  it("missing keys name the variables, before any request", async () => {
    const { provider, core } = await withProvider((c) =>
      s3(s3Config({ accessKeyIdEnv: "FSTEST_NO_ID", secretAccessKeyEnv: "FSTEST_NO_SECRET" }), c),
    );
    const error = await expectProviderError(core.create("dev"), provider, "E_PROVIDER_AUTH");
    expect(error.message).toBe("[s3] FSTEST_NO_ID and FSTEST_NO_SECRET are not set.");
    expect(error.hint).toContain('accessKeyId: env("…")');
  });

  it("r2 without an endpoint needs the account id, named by its variable", async () => {
    const { provider, core } = await withProvider((c) =>
      r2({ ...r2Config(), endpoint: undefined, accountIdEnv: "FSTEST_NO_ACCOUNT" } as R2StorageOptions, c),
    );
    const error = await expectProviderError(core.describe("dev"), provider, "E_PROVIDER_AUTH");
    expect(error.message).toBe("[r2] FSTEST_NO_ACCOUNT is not set.");
  });

  it("a rejected key: E_PROVIDER_AUTH naming the variables", async () => {
    process.env.FSTEST_WRONG_S3_SECRET = "wrong-secret-0123456789";
    const { provider, core } = await withProvider((c) =>
      r2(r2Config({ secretAccessKeyEnv: "FSTEST_WRONG_S3_SECRET" }), c),
    );
    const error = await expectProviderError(core.create("dev"), provider, "E_PROVIDER_AUTH");
    expect(error.hint).toContain("FSTEST_WRONG_S3_SECRET");
    expect((await provider.doctor!(ctxOp()))[0]!.level).toBe("error");
  });

  it("an unreachable endpoint is E_SERVER naming it", async () => {
    const { provider, core } = await withProvider((c) =>
      s3(s3Config({ endpoint: "http://127.0.0.1:9", concurrency: 1 }), c),
    );
    const error = await expectProviderError(core.list(), provider, "E_SERVER");
    expect(error.message).toContain("http://127.0.0.1:9");
  });

  it("s3 reads AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL as AWS's SDKs do, path-style, unless `run` injected it", async () => {
    const names = ["AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL", "FORKSTACK_S3_ENDPOINT"] as const;
    const saved = Object.fromEntries(names.map((n) => [n, process.env[n]]));
    const noEndpoint = (c: Parameters<typeof s3>[1]) =>
      s3({ ...s3Config(), endpoint: undefined } as S3StorageOptions, c);
    try {
      for (const name of names) delete process.env[name];
      process.env.AWS_ENDPOINT_URL_S3 = `${server().url}/`;
      const { core } = await withProvider(noEndpoint, "ep");
      const dev = await core.create("dev");
      expect(dev.vars.AWS_ENDPOINT_URL_S3).toBe(server().url);
      await putObject(dev, dev.vars.BUCKET_NAME!, "a.txt", "1");
      // The fork's own signed CopyObject goes path-style too: the server has no bucket subdomains.
      const alice = await core.fork("dev", "alice");
      expect(await readBucket(alice, alice.vars.BUCKET_NAME!)).toEqual({ "a.txt": "1" });

      process.env.AWS_ENDPOINT_URL_S3 = "localhost:9000";
      const bad = await withProvider(noEndpoint, "epbad");
      const error = await expectProviderError(bad.core.create("dev"), bad.provider, "E_CONFIG_INVALID");
      expect(error.message).toBe(
        "[s3] AWS_ENDPOINT_URL_S3 is not an http:// or https:// URL without a path.",
      );
    } finally {
      for (const name of names) {
        if (saved[name] === undefined) delete process.env[name];
        else process.env[name] = saved[name];
      }
    }
    const a = "http://a:1";
    const b = "http://b:1";
    expect(endpointFromEnv({ AWS_ENDPOINT_URL: b })).toEqual({ variable: "AWS_ENDPOINT_URL", url: b });
    expect(endpointFromEnv({ AWS_ENDPOINT_URL_S3: a, AWS_ENDPOINT_URL: b })?.url).toBe(a);
    expect(endpointFromEnv({ FORKSTACK_S3_ENDPOINT: b, AWS_ENDPOINT_URL_S3: a })?.variable).toBe(
      "FORKSTACK_S3_ENDPOINT",
    );
    expect(endpointFromEnv({ AWS_ENDPOINT_URL_S3: a, AWS_IGNORE_CONFIGURED_ENDPOINT_URLS: "true" })).toBe(
      undefined,
    );
    // Under `forkstack run` the variable is the env's own endpoint, handed to the app: not a choice.
    const injected = { FORKSTACK_RUN_ENV: "alice", FORKSTACK_RUN_VARS: "DATABASE_URL,AWS_ENDPOINT_URL_S3" };
    expect(endpointFromEnv({ ...injected, AWS_ENDPOINT_URL_S3: a })).toBe(undefined);
    expect(endpointFromEnv({})).toBe(undefined);
  });

  it("checkName: S3 and R2 limits named; R2 has no dots anyway (project and env names have none)", async () => {
    const { provider } = await withProvider((c) => r2(r2Config(), c));
    expect(provider.checkName!({ project: "p".repeat(40), name: "e".repeat(16) })[0]).toContain(
      "over the R2 limit of 63",
    );
    expect(provider.checkName!({ project: "myapp", name: "alice" })).toEqual([]);
  });

  it("options: defaults and limits", () => {
    expect(s3Options.parse({})).toMatchObject({
      accessKeyIdEnv: "AWS_ACCESS_KEY_ID",
      secretAccessKeyEnv: "AWS_SECRET_ACCESS_KEY",
      sessionTokenEnv: "AWS_SESSION_TOKEN",
      concurrency: 128,
      multipartThresholdBytes: 5 * 1024 ** 3,
    });
    expect(r2Options.parse({})).toMatchObject({
      accessKeyIdEnv: "R2_ACCESS_KEY_ID",
      accountIdEnv: "CLOUDFLARE_ACCOUNT_ID",
    });
    expect(s3Options.safeParse({ multipartThresholdBytes: 6 * 1024 ** 3 }).success).toBe(false);
    expect(s3Options.safeParse({ partSizeBytes: 1024 }).success).toBe(false);
    expect(r2Options.safeParse({ accountId: "nope" }).success).toBe(false);
    expect(s3Options.safeParse({ region: "EU" }).success).toBe(false);
  });
});

const NAME_TESTS = [
  "vars give the app an S3 endpoint, region, key id and bucket names; the secret key is secret",
  "checkName names every bucket that would break the S3 rules, with the 63 limit",
];

const ctxOp = () => ({ log: { debug() {}, info() {}, warn() {} } });

const liveS3 = !!(
  process.env.AWS_ACCESS_KEY_ID &&
  process.env.AWS_SECRET_ACCESS_KEY &&
  process.env.FORKSTACK_TEST_S3_SUFFIX
);
describe.skipIf(!liveS3)("providers: storage/s3 (live AWS; needs AWS_* and FORKSTACK_TEST_S3_SUFFIX)", () => {
  storageSuite({
    bucketKeys: [],
    provider: (project) =>
      s3(
        s3Options.parse({ bucketSuffix: process.env.FORKSTACK_TEST_S3_SUFFIX }) as S3StorageOptions,
        project.context,
      ),
    skip: [{ reason: "bucket names carry the test suffix", tests: NAME_TESTS }],
  });
});

const liveR2 = !!(
  process.env.CLOUDFLARE_ACCOUNT_ID &&
  process.env.R2_ACCESS_KEY_ID &&
  process.env.R2_SECRET_ACCESS_KEY
);
describe.skipIf(!liveR2)("providers: storage/r2 (live R2; needs CLOUDFLARE_ACCOUNT_ID and R2_*)", () => {
  storageSuite({
    bucketKeys: [],
    provider: (project) => r2(r2Options.parse({}) as R2StorageOptions, project.context),
  });
});
