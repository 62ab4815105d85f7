/**
 * The `tigris` provider against the embedded storage server standing in for Tigris (it speaks the
 * Tigris fork API), with the shared storage suite unchanged; then against real Tigris when
 * TIGRIS_STORAGE_ACCESS_KEY_ID / TIGRIS_STORAGE_SECRET_ACCESS_KEY are set.
 */
import { describe, expect, it, onTestFinished } from "vitest";
import tigris, { snapshotVersionOf } from "../../../src/providers/storage/tigris.js";
import type { TigrisStorageOptions } from "../../../src/providers/storage/tigris.js";
import { optionsSchema } from "../../../src/providers/storage/tigris.options.js";
import { expectProviderError, putObject, readBucket, storageSuite } from "../../../src/testing/index.js";
import { cli, runCli, tempProject as tempCliProject } from "../../helpers/project.js";
import { coreDriver, tempProject } from "../_helpers.js";
import { KEY_CONFIG, KEY_VARS, OTHER_KEY, cloudServer } from "./_cloud.js";

const server = cloudServer();
const options = (extra: Partial<TigrisStorageOptions> = {}): TigrisStorageOptions => ({
  ...KEY_VARS,
  endpoint: server().url,
  ...extra,
});

describe("providers: storage/tigris (embedded server as Tigris)", () => {
  storageSuite({
    bucketKeys: ["uploads"],
    provider: (project) => tigris(options({ buckets: ["uploads"] }), project.context),
    reconfigured: (project) => tigris(options({ buckets: ["uploads", "extra"] }), project.context),
    additionalTests(ctx) {
      it("roots are snapshot-enabled and forks are the server's forks (fork header), reported native", async () => {
        const dev = await ctx.core.create("dev");
        const alice = await ctx.core.fork("dev", "alice");
        expect(alice.method).toBe("native");
        expect(alice.bytesAdded).toBe(0);
        const client = server().client();
        expect(await client.headBucket(dev.vars.BUCKET_NAME!)).toMatchObject({
          snapshotEnabled: true,
          isForkParent: true,
        });
        expect(await client.headBucket(alice.vars.BUCKET_NAME!)).toMatchObject({
          forkSource: dev.vars.BUCKET_NAME,
        });
        expect(await client.headBucket(alice.vars.BUCKET_NAME_UPLOADS!)).toMatchObject({
          forkSource: dev.vars.BUCKET_NAME_UPLOADS,
        });
      });

      it("the app's variables are the endpoint and the project's key", async () => {
        const dev = await ctx.core.create("dev");
        expect(dev.vars).toMatchObject({
          AWS_ENDPOINT_URL_S3: server().url,
          AWS_REGION: "auto",
          AWS_ACCESS_KEY_ID: process.env[KEY_VARS.accessKeyIdEnv],
        });
        expect(dev.secretVars).toEqual({ AWS_SECRET_ACCESS_KEY: process.env[KEY_VARS.secretAccessKeyEnv] });
      });
    },
  });
});

describe("providers: storage/tigris names and keys", () => {
  it("bucketSuffix goes after the project name; list finds only this project's suffixed buckets", async () => {
    const project = await tempProject("myapp");
    const provider = tigris(options({ bucketSuffix: "k3x9", buckets: ["uploads"] }), project.context);
    const plain = tigris(options(), project.context);
    const core = coreDriver(provider, project);
    onTestFinished(async () => {
      for (const env of ["alice", "dev"]) await core.remove(env);
      await coreDriver(plain, project).remove("dev");
      await project.cleanup();
    });
    const dev = await core.create("dev");
    expect(dev.vars.BUCKET_NAME).toBe("myapp-k3x9-bucket-dev");
    expect(dev.vars.BUCKET_NAME_UPLOADS).toBe("myapp-k3x9-uploads-dev");
    await putObject(dev, dev.vars.BUCKET_NAME!, "k", "v");
    const alice = await core.fork("dev", "alice");
    expect(await readBucket(alice, "myapp-k3x9-bucket-alice")).toEqual({ k: "v" });
    // The same project without the suffix is another set of buckets: each lists its own.
    await coreDriver(plain, project).create("dev");
    expect(await core.list()).toEqual(["alice", "dev"]);
    expect(await coreDriver(plain, project).list()).toEqual(["dev"]);
    // The suffix counts against the 63 characters: the named bucket's name is the longer one.
    const p = "p".repeat(40);
    expect(provider.checkName!({ project: p, name: "e".repeat(9) })).toEqual([]);
    const problems = provider.checkName!({ project: p, name: "e".repeat(10) });
    expect(problems).toHaveLength(1);
    expect(problems[0]).toContain(`"${p}-k3x9-uploads-${"e".repeat(10)}" would be 64 characters`);
  });

  it("a name another account owns: E_ENV_EXISTS with the bucketSuffix hint, and nothing made or removed", async () => {
    const project = await tempProject("taken");
    onTestFinished(() => project.cleanup());
    const other = server().client(OTHER_KEY);
    const name = `${project.context.project}-uploads-dev`;
    await other.createBucket(name);
    onTestFinished(async () => void (await other.deleteBucket(name, { force: true })));
    const provider = tigris(options({ buckets: ["uploads"] }), project.context);
    const core = coreDriver(provider, project);
    const error = await expectProviderError(core.create("dev"), provider, "E_ENV_EXISTS");
    expect(error.message).toContain("BucketAlreadyExists");
    expect(error.hint).toContain("bucketSuffix");
    // The default bucket it made alongside was removed; the other account's bucket is still there.
    expect(await server().client().headBucket(`${project.context.project}-bucket-dev`)).toBeNull();
    expect(await other.headBucket(name)).not.toBeNull();
  });

  it("missing keys name the variable; nothing is asked of the server", async () => {
    const project = await tempProject("nokeys");
    onTestFinished(() => project.cleanup());
    const provider = tigris(
      options({ accessKeyIdEnv: "FSTEST_UNSET_KEY_ID", secretAccessKeyEnv: "FSTEST_UNSET_SECRET" }),
      project.context,
    );
    const error = await expectProviderError(
      coreDriver(provider, project).create("dev"),
      provider,
      "E_PROVIDER_AUTH",
    );
    expect(error.message).toContain("FSTEST_UNSET_KEY_ID and FSTEST_UNSET_SECRET are not set");
    expect((await provider.doctor!(project.op))[0]).toMatchObject({ level: "error" });
  });

  it("a rejected key is E_PROVIDER_AUTH naming the variables", async () => {
    const project = await tempProject("badkey");
    onTestFinished(() => project.cleanup());
    process.env.FSTEST_WRONG_SECRET = "not-the-secret-0123456789";
    const provider = tigris(options({ secretAccessKeyEnv: "FSTEST_WRONG_SECRET" }), project.context);
    const error = await expectProviderError(
      coreDriver(provider, project).list(),
      provider,
      "E_PROVIDER_AUTH",
    );
    expect(error.hint).toContain("FSTEST_WRONG_SECRET");
  });

  it("snapshot versions are Unix nanoseconds", () => {
    expect(snapshotVersionOf(new Date(1_765_889_000_501))).toBe("1765889000501000000");
  });

  it("options: defaults, a suffix, an endpoint; bad ones refused", () => {
    expect(optionsSchema.parse({})).toEqual({
      accessKeyIdEnv: "TIGRIS_STORAGE_ACCESS_KEY_ID",
      secretAccessKeyEnv: "TIGRIS_STORAGE_SECRET_ACCESS_KEY",
    });
    expect(
      optionsSchema.safeParse({ bucketSuffix: "k3x9", endpoint: "https://t3.storage.dev" }).success,
    ).toBe(true);
    // Keys are named as every provider names a credential: the variable, never the value.
    expect(
      optionsSchema.parse({ accessKeyId: { env: "MY_ID" }, secretAccessKey: { env: "MY_SECRET" } }),
    ).toEqual({
      accessKeyIdEnv: "MY_ID",
      secretAccessKeyEnv: "MY_SECRET",
    });
    const literal = optionsSchema.safeParse({ secretAccessKey: "tid_abc123" });
    expect(literal.success).toBe(false);
    expect(literal.error?.issues[0]?.message).toMatch(/must name the environment variable/);
    expect(optionsSchema.safeParse({ bucketSuffix: "K-3" }).success).toBe(false);
    expect(optionsSchema.safeParse({ endpoint: "t3.storage.dev" }).success).toBe(false);
    expect(optionsSchema.safeParse({ bucketSufix: "x" }).success).toBe(false);
  });
});

describe("providers: storage/tigris through the CLI", () => {
  it("new forks natively, env shows the buckets, delete of a parent with forks is refused first", async () => {
    const project = `tgcli${Date.now().toString(36)}`;
    const cwd = await tempCliProject({
      project,
      database: false,
      storage: { provider: "tigris", endpoint: server().url, ...KEY_CONFIG },
    });
    const created = await runCli(["new", "alice"], { cwd });
    expect(created.code, created.stderr).toBe(0);
    expect(created.stderr).toMatch(/storage \(tigris\).*native/);
    const vars = JSON.parse(await cli(["env", "alice", "--format", "json"], { cwd })) as Record<
      string,
      string
    >;
    expect(vars.BUCKET_NAME).toBe(`${project}-bucket-alice`);
    expect(vars.AWS_SECRET_ACCESS_KEY).not.toBe(process.env[KEY_VARS.secretAccessKeyEnv]);
    expect(await server().client().headBucket(`${project}-bucket-alice`)).toMatchObject({
      forkSource: `${project}-bucket-dev`,
    });
    const refused = await runCli(["delete", "dev", "--yes", "--force"], { cwd });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain("envs were forked from it (alice)");
    expect(await server().client().headBucket(`${project}-bucket-dev`)).not.toBeNull();
    await cli(["delete", "alice", "--yes"], { cwd });
    await cli(["delete", "dev", "--yes", "--force"], { cwd });
    expect(await server().client().listBuckets(`${project}-`)).toEqual([]);
  }, 60_000);
});

const live = !!(process.env.TIGRIS_STORAGE_ACCESS_KEY_ID && process.env.TIGRIS_STORAGE_SECRET_ACCESS_KEY);
describe.skipIf(!live)(
  "providers: storage/tigris (live Tigris; needs TIGRIS_STORAGE_ACCESS_KEY_ID/SECRET)",
  () => {
    // A random suffix per run: bucket names are global, and the harness removes every env it made.
    const suffix = Math.random().toString(36).slice(2, 10);
    storageSuite({
      bucketKeys: [],
      provider: (project) =>
        tigris(
          {
            accessKeyIdEnv: "TIGRIS_STORAGE_ACCESS_KEY_ID",
            secretAccessKeyEnv: "TIGRIS_STORAGE_SECRET_ACCESS_KEY",
            bucketSuffix: suffix,
          },
          project.context,
        ),
      skip: [
        {
          reason: "bucket names carry the run's suffix",
          tests: [
            "vars give the app an S3 endpoint, region, key id and bucket names; the secret key is secret",
            "checkName names every bucket that would break the S3 rules, with the 63 limit",
          ],
        },
      ],
    });
  },
);
