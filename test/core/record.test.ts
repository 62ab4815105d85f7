/**
 * `delete`, `reset` and `gc` remove only what this project's own record says it made — by the record,
 * never by today's config (DESIGN.md §5.7) — driven through the built CLI, with the user's own
 * buckets made and read by the AWS SDK as a user would.
 */
import { existsSync, readFileSync } from "node:fs";
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import {
  CreateBucketCommand,
  GetObjectCommand,
  HeadBucketCommand,
  PutObjectCommand,
  S3Client,
} from "@aws-sdk/client-s3";
import Database from "libsql";
import { describe, expect, it, onTestFinished } from "vitest";
import { EMBEDDED_CONFIG, cli, runCli, tempProject } from "../helpers/project.js";
import { sql } from "../helpers/sql.js";
import { KEY, KEY_CONFIG, cloudServer } from "../providers/storage/_cloud.js";

type Vars = Record<string, string>;
type Key = { accessKeyId: string; secretAccessKey: string };

const envOf = async (cwd: string, env: string): Promise<Vars> =>
  JSON.parse(await cli(["env", env, "--format", "json", "--reveal"], { cwd })) as Vars;

async function writeConfig(cwd: string, config: object): Promise<void> {
  await writeFile(join(cwd, "forkstack.config.json"), JSON.stringify(config, null, 2));
}

/** A project whose embedded storage server is stopped after the test. */
async function project(config: object): Promise<string> {
  const cwd = await tempProject(config);
  onTestFinished(async () => void (await runCli(["down"], { cwd })));
  return cwd;
}

/** The user, with an S3 client of their own: the project's key on the embedded store, or the cloud's. */
function userClient(endpoint: string, key: Key): S3Client {
  const s3 = new S3Client({ endpoint, region: "auto", forcePathStyle: true, credentials: key });
  onTestFinished(() => s3.destroy());
  return s3;
}

const projectKey = async (cwd: string): Promise<Key> =>
  JSON.parse(await readFile(join(cwd, ".forkstack/storage/credentials.json"), "utf8")) as Key;

/** The user makes a bucket of their own and puts one object in it. */
async function userBucket(s3: S3Client, bucket: string): Promise<void> {
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: "mine.txt", Body: "the user's own" }));
}

async function objectOf(s3: S3Client, bucket: string): Promise<string | undefined> {
  try {
    const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: "mine.txt" }));
    return await got.Body!.transformToString();
  } catch (error) {
    if ((error as Error).name === "NoSuchBucket" || (error as Error).name === "NoSuchKey") return undefined;
    throw error;
  }
}

async function bucketExists(s3: S3Client, bucket: string): Promise<boolean> {
  try {
    await s3.send(new HeadBucketCommand({ Bucket: bucket }));
    return true;
  } catch (error) {
    if ((error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 404)
      return false;
    throw error;
  }
}

interface Backend {
  readonly name: string;
  storage(): object;
  client(cwd: string, vars: Vars): Promise<S3Client>;
}

const cloud = cloudServer();
const BACKENDS: Backend[] = [
  {
    name: "local (the embedded store)",
    storage: () => ({ provider: "local" }),
    client: async (cwd, vars) => userClient(vars.AWS_ENDPOINT_URL_S3!, await projectKey(cwd)),
  },
  {
    name: "tigris (the embedded store standing in)",
    storage: () => ({ provider: "tigris", endpoint: cloud().url, ...KEY_CONFIG }),
    client: async () => userClient(cloud().url, KEY),
  },
];

describe.each(BACKENDS)("a bucket the env never made survives a changed config: $name", (backend) => {
  // A project name of its own per test: the tigris stand-in is shared by the file.
  const name = () => `app${Math.random().toString(36).slice(2, 8)}`;
  const setUp = async () => {
    const app = name();
    const config = { ...EMBEDDED_CONFIG, project: app, storage: backend.storage() };
    const cwd = await project(config);
    await cli(["new", "jay", "--no-switch"], { cwd });
    const jay = await envOf(cwd, "jay");
    expect(jay.BUCKET_NAME).toBe(`${app}-bucket-jay`);
    const s3 = await backend.client(cwd, jay);
    await userBucket(s3, `${app}-uploads-jay`);
    await writeConfig(cwd, { ...config, storage: { ...backend.storage(), buckets: ["uploads"] } });
    return { cwd, app, s3 };
  };

  it("delete removes the recorded bucket and leaves the user's, with its object", async () => {
    const { cwd, app, s3 } = await setUp();
    const deleted = await runCli(["delete", "jay", "--yes"], { cwd });
    expect(deleted.code, deleted.stderr).toBe(0);
    expect(await objectOf(s3, `${app}-uploads-jay`)).toBe("the user's own");
    expect(await bucketExists(s3, `${app}-bucket-jay`)).toBe(false);
  }, 60_000);

  it("reset refuses the bucket the new config wants, and leaves it and its object untouched", async () => {
    const { cwd, app, s3 } = await setUp();
    const reset = await runCli(["reset", "jay", "--json"], { cwd });
    expect(reset.code).toBe(1);
    expect(JSON.parse(reset.stdout).error.code).toBe("E_ENV_EXISTS");
    expect(reset.stderr).toContain(`${app}-uploads-jay`);
    expect(reset.stderr).toMatch(/no record of making it/);
    expect(await objectOf(s3, `${app}-uploads-jay`)).toBe("the user's own");
    // The env is left visibly broken, holding nothing; deleting it still leaves the user's bucket.
    const deleted = await runCli(["delete", "jay", "--yes"], { cwd });
    expect(deleted.code, deleted.stderr).toBe(0);
    expect(await objectOf(s3, `${app}-uploads-jay`)).toBe("the user's own");
  }, 60_000);
});

describe("a step a crash interrupted while making", () => {
  it("is rolled back by its recorded target, not by the buckets today's config names", async () => {
    const app = `rb${Math.random().toString(36).slice(2, 8)}`;
    const storage = { provider: "s3", endpoint: cloud().url, region: "eu-west-1", ...KEY_CONFIG };
    const config = { ...EMBEDDED_CONFIG, project: app, storage };
    const cwd = await project(config);
    await cli(["new", "warm", "--no-switch"], { cwd });
    const s3 = userClient(cloud().url, KEY);
    for (const key of ["a", "b", "c"]) {
      await s3.send(new PutObjectCommand({ Bucket: `${app}-bucket-dev`, Key: key, Body: key }));
    }
    // `new jay` is killed while its storage step copies dev's objects: the step has no result yet.
    const killed = await runCli(["new", "jay", "--no-switch"], {
      cwd,
      env: { FORKSTACK_FAILPOINT: "storage-copy:1" },
    });
    expect(killed.signal).toBe("SIGKILL");
    await userBucket(s3, `${app}-uploads-jay`);
    await writeConfig(cwd, { ...config, storage: { ...storage, buckets: ["uploads"] } });

    const repaired = await runCli(["list"], { cwd });
    expect(repaired.code, repaired.stderr).toBe(0);
    expect(repaired.stderr).toMatch(/Repaired an interrupted `create` of "jay": rolled back/);
    expect(await bucketExists(s3, `${app}-bucket-jay`)).toBe(false);
    expect(await objectOf(s3, `${app}-uploads-jay`)).toBe("the user's own");
  }, 60_000);
});

describe("a resource made by a provider the config no longer names", () => {
  it("is left by delete and reported by gc, never handed to the new provider; gc collects it once it is back", async () => {
    const app = `pv${Math.random().toString(36).slice(2, 8)}`;
    const tigris = { provider: "tigris", endpoint: cloud().url, ...KEY_CONFIG };
    const config = { ...EMBEDDED_CONFIG, project: app, storage: tigris };
    const cwd = await project(config);
    await cli(["new", "jay", "--no-switch"], { cwd });
    const s3 = userClient(cloud().url, KEY);
    // The same server, now through the s3 provider: its bucket names are the same as tigris's.
    await writeConfig(cwd, { ...config, storage: { ...tigris, provider: "s3", region: "eu-west-1" } });

    const deleted = await runCli(["delete", "jay", "--yes"], { cwd });
    expect(deleted.code, deleted.stderr).toBe(0);
    expect(deleted.stderr).toMatch(/Left the storage of "jay" in place: tigris made it/);
    expect(await bucketExists(s3, `${app}-bucket-jay`)).toBe(true);
    const plan = JSON.parse(await cli(["gc", "--dry-run", "--json"], { cwd })) as GcJson & {
      unreachable: { env: string; kind: string; provider: string }[];
    };
    expect(plan.orphans).toEqual([]);
    expect(plan.unreachable).toMatchObject([{ env: "jay", kind: "storage", provider: "tigris" }]);

    await writeConfig(cwd, config);
    const collected = await runCli(["gc", "--yes"], { cwd });
    expect(collected.code, collected.stderr).toBe(0);
    expect(collected.stdout).toContain(`Deleted orphaned storage (tigris) of jay: ${app}-bucket-jay`);
    expect(await bucketExists(s3, `${app}-bucket-jay`)).toBe(false);
  }, 60_000);
});

describe("the directory provider with a changed path template", () => {
  it("delete removes the directory it made and leaves the one the new template names", async () => {
    const cwd = await tempProject();
    await cli(["new", "jay", "--no-switch"], { cwd });
    const made = (await envOf(cwd, "jay")).FORKSTACK_LOCAL_PATH!;
    expect(made).toBe(join(cwd, "myapp.jay.db"));
    // The user's own directory, where the new template puts jay's state.
    await mkdir(join(cwd, "state/jay"), { recursive: true });
    await writeFile(join(cwd, "state/jay/notes.txt"), "the user's own");
    await writeConfig(cwd, { ...EMBEDDED_CONFIG, local: { provider: "directory", path: "state/{env}" } });
    const deleted = await runCli(["delete", "jay", "--yes"], { cwd });
    expect(deleted.code, deleted.stderr).toBe(0);
    expect(readFileSync(join(cwd, "state/jay/notes.txt"), "utf8")).toBe("the user's own");
    expect(existsSync(made)).toBe(false);
  });

  it("reset forks the parent's recorded directory into the new place, and refuses the user's there", async () => {
    const cwd = await tempProject();
    await cli(["new", "jay", "--no-switch"], { cwd });
    await cli(["new", "kay", "--no-switch"], { cwd });
    await writeFile(join((await envOf(cwd, "dev")).FORKSTACK_LOCAL_PATH!, "seed.txt"), "dev's");
    await mkdir(join(cwd, "state/jay"), { recursive: true });
    await writeFile(join(cwd, "state/jay/notes.txt"), "the user's own");
    await writeConfig(cwd, { ...EMBEDDED_CONFIG, local: { provider: "directory", path: "state/{env}" } });

    const reset = await runCli(["reset", "kay"], { cwd });
    expect(reset.code, reset.stderr).toBe(0);
    const kay = (await envOf(cwd, "kay")).FORKSTACK_LOCAL_PATH!;
    expect(kay).toBe(join(cwd, "state/kay"));
    expect(readFileSync(join(kay, "seed.txt"), "utf8")).toBe("dev's");
    expect(existsSync(join(cwd, "myapp.kay.db"))).toBe(false);

    const refused = await runCli(["reset", "jay", "--json"], { cwd });
    expect(refused.code).toBe(1);
    expect(JSON.parse(refused.stdout).error.code).toBe("E_ENV_EXISTS");
    expect(readFileSync(join(cwd, "state/jay/notes.txt"), "utf8")).toBe("the user's own");
  });
});

interface GcJson {
  orphans: { env: string; kind: string; provider: string }[];
  unrecorded: { env: string; kind: string; provider: string; reason: string }[];
}

describe("gc removes only what the record shows this project made", () => {
  it("a bucket and a database that existed before `new dave` are reported, never deleted", async () => {
    const config = { ...EMBEDDED_CONFIG, storage: { provider: "local" } };
    const cwd = await project(config);
    await cli(["new", "warm", "--no-switch"], { cwd });
    // Made before `new dave`, not by forkstack: a database file where dave's would go, and a bucket.
    const dbFile = join(cwd, ".forkstack/envs/dave/db.sqlite");
    await mkdir(join(cwd, ".forkstack/envs/dave"), { recursive: true });
    await sql(`file:${dbFile}`, "CREATE TABLE precious (v TEXT)");
    await sql(`file:${dbFile}`, "INSERT INTO precious VALUES ('kept')");
    const s3 = userClient((await envOf(cwd, "warm")).AWS_ENDPOINT_URL_S3!, await projectKey(cwd));
    await userBucket(s3, "myapp-bucket-dave");

    const refused = await runCli(["new", "dave", "--no-switch"], { cwd });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/no record of making it/);

    const plan = JSON.parse(await cli(["gc", "--dry-run", "--json"], { cwd })) as GcJson;
    expect(plan.orphans).toEqual([]);
    expect(plan.unrecorded.map((u) => `${u.kind}:${u.env}`).sort()).toEqual([
      "database:dave",
      "storage:dave",
    ]);
    const collected = await runCli(["gc", "--yes"], { cwd });
    expect(collected.code, collected.stderr).toBe(0);
    expect(collected.stderr).toMatch(/Not deleting database \(sqlite\) of "dave": forkstack has no record/);
    expect(collected.stderr).toMatch(/Not deleting storage \(local\) of "dave": forkstack has no record/);
    expect(await sql(`file:${dbFile}`, "SELECT v FROM precious")).toEqual([{ v: "kept" }]);
    expect(await objectOf(s3, "myapp-bucket-dave")).toBe("the user's own");
  }, 60_000);

  it("an env whose manifest was deleted has its recorded resources collected, on a shared backend too", async () => {
    const app = `gc${Math.random().toString(36).slice(2, 8)}`;
    const storage = { provider: "tigris", endpoint: cloud().url, ...KEY_CONFIG };
    const cwd = await project({ ...EMBEDDED_CONFIG, project: app, storage });
    await cli(["new", "alice", "--no-switch"], { cwd });
    const s3 = userClient(cloud().url, KEY);
    expect(await bucketExists(s3, `${app}-bucket-alice`)).toBe(true);
    await rm(join(cwd, ".forkstack/envs/alice/manifest.json"));

    const plan = JSON.parse(await cli(["gc", "--dry-run", "--json"], { cwd })) as GcJson;
    expect(plan.orphans.map((o) => `${o.kind}:${o.env}`).sort()).toEqual([
      "database:alice",
      "local:alice",
      "secrets:alice",
      "storage:alice",
    ]);
    const collected = await runCli(["gc", "--yes"], { cwd });
    expect(collected.code, collected.stderr).toBe(0);
    expect(collected.stdout).toContain("Deleted orphaned storage (tigris) of alice");
    expect(await bucketExists(s3, `${app}-bucket-alice`)).toBe(false);
    expect(existsSync(join(cwd, "myapp.alice.db"))).toBe(false);
    expect(existsSync(join(cwd, `${app}.alice.db`))).toBe(false);
    expect(existsSync(join(cwd, ".forkstack/envs/alice"))).toBe(false);
    // The root is never an orphan, and nothing is left to collect.
    const again = JSON.parse(await cli(["gc", "--dry-run", "--json"], { cwd })) as GcJson;
    expect(again.orphans).toEqual([]);
    expect(await bucketExists(s3, `${app}-bucket-dev`)).toBe(true);
  }, 60_000);

  it("a state.db from before the record is seeded from the manifests, so those envs stay collectable", async () => {
    const app = `gs${Math.random().toString(36).slice(2, 8)}`;
    const storage = { provider: "tigris", endpoint: cloud().url, ...KEY_CONFIG };
    const cwd = await project({ ...EMBEDDED_CONFIG, project: app, storage });
    await cli(["new", "alice", "--no-switch"], { cwd });
    // What an older forkstack left: no record table in state.db.
    const db = new Database(join(cwd, ".forkstack/state.db"));
    db.exec("DROP TABLE IF EXISTS made");
    db.close();
    await cli(["list"], { cwd }); // opens state.db: seeded from alice's and dev's manifests
    await rm(join(cwd, ".forkstack/envs/alice/manifest.json"));
    const collected = JSON.parse(await cli(["gc", "--yes", "--json"], { cwd })) as GcJson;
    expect(collected.orphans.map((o) => `${o.kind}:${o.env}`).sort()).toEqual([
      "database:alice",
      "local:alice",
      "secrets:alice",
      "storage:alice",
    ]);
    expect(await bucketExists(userClient(cloud().url, KEY), `${app}-bucket-alice`)).toBe(false);
  }, 60_000);
});
