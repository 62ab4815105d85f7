/**
 * The embedded object store end to end with the built CLI: `up`/`down`/`storage serve`, buckets per env
 * forked on `new`, objects written with @aws-sdk/client-s3 and the aws CLI from the env's variables, an
 * app under `forkstack run` using the runtime library, deleting a parent whose fork lives on, and the
 * failure paths (port in use, bucket names too long). Every server a test starts is stopped after it.
 */
import { spawn, spawnSync } from "node:child_process";
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import type { Socket } from "node:net";
import { join } from "node:path";
import {
  DeleteBucketCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
} from "@aws-sdk/client-s3";
import { describe, expect, it, onTestFinished } from "vitest";
import {
  BIN,
  EMBEDDED_CONFIG,
  REPO,
  cleanEnv,
  cli,
  runCli,
  runProcess,
  tempProject,
} from "../helpers/project.js";
import { envOf, projectKey, s3For, serversOf, storageProject, type Vars } from "../helpers/storage.js";

const hasAwsCli = spawnSync("aws", ["--version"], { stdio: "ignore" }).status === 0;

async function put(vars: Vars, key: string, body: string, bucket = vars.BUCKET_NAME!): Promise<void> {
  const s3 = s3For(vars);
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body })).finally(() => s3.destroy());
}

async function keys(vars: Vars, bucket = vars.BUCKET_NAME!): Promise<string[]> {
  const s3 = s3For(vars);
  const page = await s3.send(new ListObjectsV2Command({ Bucket: bucket })).finally(() => s3.destroy());
  return (page.Contents ?? []).map((c) => c.Key!);
}

async function read(vars: Vars, key: string, bucket = vars.BUCKET_NAME!): Promise<string> {
  const s3 = s3For(vars);
  try {
    return await (
      await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }))
    ).Body!.transformToString();
  } finally {
    s3.destroy();
  }
}

const pidFile = (cwd: string) => join(cwd, ".forkstack/storage/server.pid");
const runningPid = (cwd: string) => (JSON.parse(readFileSync(pidFile(cwd), "utf8")) as { pid: number }).pid;
const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return !/^\d+ \(.*\) Z/s.test(readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return false;
  }
};

describe("cli: embedded object store", () => {
  it("up, fork buckets with new, objects per env, run an app, delete a parent with a fork, down", async () => {
    const cwd = await storageProject({ provider: "local", buckets: ["uploads"] });

    const up = await runCli(["up"], { cwd });
    expect(up.code, up.stderr).toBe(0);
    const endpoint = up.stdout.trim();
    expect(endpoint).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(up.stderr).toContain(`Storage server running at ${endpoint} (pid ${runningPid(cwd)})`);
    const again = await runCli(["up"], { cwd });
    expect(again.code).toBe(0);
    expect(again.stderr).toContain(`already running at ${endpoint}`);
    expect(serversOf(cwd)).toHaveLength(1);

    // dev has a photo before alice is forked from it
    await cli(["new", "alice", "--no-switch"], { cwd }); // creates dev on the way
    const dev = await envOf(cwd, "dev");
    const alice = await envOf(cwd, "alice");
    expect(alice).toMatchObject({
      AWS_ENDPOINT_URL_S3: endpoint,
      AWS_REGION: "auto",
      BUCKET_NAME: "myapp-bucket-alice",
      BUCKET_NAME_UPLOADS: "myapp-uploads-alice",
    });
    expect(alice.AWS_SECRET_ACCESS_KEY).toMatch(/.{40}/);
    expect(JSON.parse(await cli(["env", "alice", "--format", "json"], { cwd })).AWS_SECRET_ACCESS_KEY).toBe(
      "********",
    );
    await put(dev, "photos/dev.jpg", "dev's photo");
    await cli(["delete", "alice", "--yes"], { cwd });
    await cli(["new", "alice", "--no-switch"], { cwd });
    const forked = await envOf(cwd, "alice");
    expect(await keys(forked)).toEqual(["photos/dev.jpg"]);

    // writes on either side stay on that side
    await put(forked, "photos/alice.jpg", "alice's photo");
    await put(forked, "avatar.png", "alice's avatar", forked.BUCKET_NAME_UPLOADS);
    await put(dev, "photos/later.jpg", "after the fork");
    expect(await keys(dev)).toEqual(["photos/dev.jpg", "photos/later.jpg"]);
    expect(await keys(forked)).toEqual(["photos/alice.jpg", "photos/dev.jpg"]);
    expect(await keys(dev, dev.BUCKET_NAME_UPLOADS)).toEqual([]);

    // An app under `forkstack run` finds its bucket and keys through the runtime library; `run` starts
    // the server again after `down`.
    await cli(["down"], { cwd });
    await writeFile(
      join(cwd, "app.mjs"),
      `import { createRequire } from "node:module";
       import { bucketName, storageConfig } from ${JSON.stringify(join(REPO, "dist/index.js"))};
       const { S3Client, ListObjectsV2Command, GetObjectCommand } = createRequire(${JSON.stringify(join(REPO, "package.json"))})("@aws-sdk/client-s3");
       const s3 = new S3Client(storageConfig());
       const listed = await s3.send(new ListObjectsV2Command({ Bucket: bucketName() }));
       const photo = await s3.send(new GetObjectCommand({ Bucket: bucketName(), Key: "photos/alice.jpg" }));
       console.log(JSON.stringify({ bucket: bucketName(), uploads: bucketName("uploads"),
         keys: listed.Contents.map((c) => c.Key), photo: await photo.Body.transformToString() }));`,
    );
    const run = await runCli(["run", "--env", "alice", "--", process.execPath, "app.mjs"], { cwd });
    expect(run.code, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout)).toEqual({
      bucket: "myapp-bucket-alice",
      uploads: "myapp-uploads-alice",
      keys: ["photos/alice.jpg", "photos/dev.jpg"],
      photo: "alice's photo",
    });

    // bob is forked from alice; deleting alice keeps bob's view of alice's objects, frees alice's name
    await cli(["new", "bob", "--from", "alice", "--no-switch"], { cwd });
    const deleted = await runCli(["delete", "alice", "--yes"], { cwd });
    expect(deleted.code, deleted.stderr).toBe(0);
    const bob = await envOf(cwd, "bob");
    expect(await keys(bob)).toEqual(["photos/alice.jpg", "photos/dev.jpg"]);
    expect(await read(bob, "photos/alice.jpg")).toBe("alice's photo");
    expect(await keys(bob, bob.BUCKET_NAME_UPLOADS)).toEqual(["avatar.png"]);
    const list = JSON.parse(await cli(["list", "--json"], { cwd })) as { name: string; status: string }[];
    expect(list.map((e) => [e.name, e.status])).toEqual([
      ["bob", "ready"],
      ["dev", "ready"],
    ]);
    await cli(["new", "alice", "--no-switch"], { cwd });
    expect(await keys(await envOf(cwd, "alice"))).toEqual(["photos/dev.jpg", "photos/later.jpg"]);

    // doctor reports the server; down stops it; a second down says so
    const pid = runningPid(cwd);
    const doctor = await runCli(["doctor"], { cwd });
    expect(doctor.stdout).toContain(`✓ storage (local): storage server running at ${endpoint} (pid ${pid})`);
    const down = await runCli(["down"], { cwd });
    expect(down.code).toBe(0);
    expect(down.stderr).toContain(`Stopped the storage server (pid ${pid})`);
    expect(alive(pid)).toBe(false);
    expect(existsSync(pidFile(cwd))).toBe(false);
    const downAgain = await runCli(["down"], { cwd });
    expect(downAgain.code).toBe(0);
    expect(downAgain.stderr).toContain("The storage server is not running.");
    expect(serversOf(cwd)).toEqual([]);
  });

  it.skipIf(!hasAwsCli)("the aws CLI writes to an env's bucket with the env's variables", async () => {
    const cwd = await storageProject();
    await cli(["new", "alice"], { cwd });
    const dev = await envOf(cwd, "dev");
    const alice = await envOf(cwd, "alice");
    await writeFile(join(cwd, "cat.jpg"), "meow");
    const env = {
      AWS_ACCESS_KEY_ID: alice.AWS_ACCESS_KEY_ID!,
      AWS_SECRET_ACCESS_KEY: alice.AWS_SECRET_ACCESS_KEY!,
      AWS_DEFAULT_REGION: alice.AWS_REGION!,
      AWS_CONFIG_FILE: "/dev/null",
      AWS_SHARED_CREDENTIALS_FILE: "/dev/null",
    };
    const args = ["--endpoint-url", alice.AWS_ENDPOINT_URL_S3!];
    const cp = await runProcess(
      "aws",
      ["s3", "cp", "cat.jpg", `s3://${alice.BUCKET_NAME}/photos/`, ...args],
      {
        cwd,
        env,
      },
    );
    expect(cp.code, cp.stderr).toBe(0);
    expect(await read(alice, "photos/cat.jpg")).toBe("meow");
    expect(await keys(dev)).toEqual([]);
    const ls = await runProcess("aws", ["s3", "ls", `s3://${alice.BUCKET_NAME}/photos/`, ...args], {
      cwd,
      env,
    });
    expect(ls.stdout).toContain("cat.jpg");
  });

  it("list of many envs reports each env's buckets as the server has them (one listing for all)", async () => {
    const cwd = await storageProject();
    for (const env of ["a1", "a2", "a3"]) await cli(["new", env, "--no-switch"], { cwd });
    // A bucket deleted behind forkstack's back (with the project's key: an env's own key may not delete
    // buckets): that env alone is degraded, the others stay ready.
    const vars = await envOf(cwd, "a2");
    const s3 = s3For({ ...vars, ...projectKey(cwd) });
    await s3.send(new DeleteBucketCommand({ Bucket: vars.BUCKET_NAME })).finally(() => s3.destroy());
    type Listed = { name: string; status: string; resources: Record<string, { status: string }> };
    const listed = JSON.parse(await cli(["list", "--json"], { cwd })) as Listed[];
    const storage = Object.fromEntries(listed.map((e) => [e.name, [e.status, e.resources.storage?.status]]));
    expect(storage).toEqual({
      dev: ["ready", "ok"],
      a1: ["ready", "ok"],
      a2: ["degraded", "missing"],
      a3: ["ready", "ok"],
    });
  });

  it("a port in use: up and new fail with E_PORT_IN_USE naming the port, and leave nothing behind", async () => {
    const sockets = new Set<Socket>();
    const blocker = createServer((s) => void sockets.add(s));
    await new Promise<void>((resolve) => blocker.listen(0, "127.0.0.1", resolve));
    onTestFinished(
      () =>
        new Promise<void>((resolve) => {
          for (const s of sockets) s.destroy();
          blocker.close(() => resolve());
        }),
    );
    const port = (blocker.address() as { port: number }).port;
    const cwd = await storageProject({ provider: "local", port });

    const up = await runCli(["up"], { cwd });
    expect(up.code).toBe(1);
    expect(up.stderr).toContain(`Port ${port} on 127.0.0.1 is already in use by another program.`);
    expect(up.stderr).toContain(`storage: { provider: "local", port: <n> }`);
    expect(up.stderr).not.toMatch(/^\s+at /m);
    const json = await runCli(["up", "--json"], { cwd });
    expect(JSON.parse(json.stdout).error.code).toBe("E_PORT_IN_USE");

    const serve = await runCli(["storage", "serve"], { cwd });
    expect(serve.code).toBe(1);
    expect(serve.stderr).toContain(`Port ${port} on 127.0.0.1 is already in use`);

    const created = await runCli(["new", "alice"], { cwd });
    expect(created.code).toBe(1);
    expect(created.stderr).toContain(`Port ${port}`);
    expect(readdirSync(join(cwd, ".forkstack/envs"))).toEqual([]); // not even dev, made on the way
    expect((await runCli(["list", "--json"], { cwd })).stdout.trim()).toBe("[]");
    expect(existsSync(pidFile(cwd))).toBe(false);
    expect(existsSync(join(cwd, ".forkstack/storage/data"))).toBe(false);
    expect(serversOf(cwd)).toEqual([]);
  });

  it("new refuses an env whose bucket name would pass 63 characters, before creating anything", async () => {
    const project = "acme-customer-portal-staging-eu-west-one"; // 40 characters, the longest allowed
    const cwd = await storageProject({ provider: "local" }, project);
    const env = "feature-login-2"; // 15: "<project>-bucket-<env>" is 63, the limit
    const longer = "feature-login-22"; // 16: 64
    const result = await runCli(["new", longer], { cwd });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`Invalid env name "${longer}"`);
    expect(result.stderr).toContain(`bucket name "${project}-bucket-${longer}" would be 64 characters`);
    expect(result.stderr).toContain("limit of 63");
    expect(readdirSync(join(cwd, ".forkstack/envs"))).toEqual([]);
    expect(existsSync(join(cwd, ".forkstack/storage"))).toBe(false);
    expect(serversOf(cwd)).toEqual([]);

    await cli(["new", env], { cwd });
    expect((await envOf(cwd, env)).BUCKET_NAME).toBe(`${project}-bucket-${env}`);
  });

  it("up and storage serve refuse a project without local storage; down has nothing to stop", async () => {
    const cwd = await tempProject(EMBEDDED_CONFIG);
    for (const args of [["up"], ["storage", "serve"]]) {
      const result = await runCli(args, { cwd });
      expect(result.code).toBe(1);
      expect(result.stderr).toContain("This project does not use the embedded storage server.");
      expect(result.stderr).toContain('storage: { provider: "local" }');
    }
    const down = await runCli(["down"], { cwd });
    expect(down.code).toBe(0);
    expect(down.stderr).toContain("The storage server is not running.");
  });

  it("storage serve runs in the foreground until SIGTERM; init writes a working storage config", async () => {
    const cwd = await tempProject(null);
    onTestFinished(async () => {
      for (const pid of serversOf(cwd)) process.kill(pid, "SIGKILL");
    });
    await writeFile(join(cwd, "package.json"), JSON.stringify({ name: "shop" }));
    await cli(["init", "--yes"], { cwd });
    expect(readFileSync(join(cwd, "forkstack.config.ts"), "utf8")).toContain(
      `storage: { provider: "local" }`,
    );
    const dev = await envOf(cwd, "dev");
    expect(dev.BUCKET_NAME).toBe("shop-bucket-dev");
    await put(dev, "hello.txt", "hi");
    await cli(["down"], { cwd });

    const child = spawn(process.execPath, [BIN, "storage", "serve"], { cwd, env: cleanEnv(), stdio: "pipe" });
    const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
    onTestFinished(() => void child.kill("SIGKILL"));
    let stdout = "";
    let stderr = "";
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    await new Promise<void>((resolve, reject) => {
      child.stdout.on("data", (d: Buffer) => {
        stdout += d.toString();
        if (stdout.includes("\n")) resolve();
      });
      child.once("exit", () => reject(new Error(`storage serve exited early: ${stderr}`)));
    });
    expect(stdout.trim()).toBe(dev.AWS_ENDPOINT_URL_S3);
    expect(stderr).toContain("Press Ctrl-C to stop");
    expect(await read(dev, "hello.txt")).toBe("hi");
    const up = await runCli(["up"], { cwd });
    expect(up.stderr).toContain("already running");
    const serve = await runCli(["storage", "serve"], { cwd });
    expect(serve.code).toBe(1);
    expect(serve.stderr).toContain("already running");

    child.kill("SIGTERM");
    expect(await exited).toBe(0);
    expect(stderr).toContain("Storage server stopped.");
    expect(existsSync(pidFile(cwd))).toBe(false);
    const bad = await runCli(["storage", "start"], { cwd });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("Usage: forkstack storage serve");
  });
});
