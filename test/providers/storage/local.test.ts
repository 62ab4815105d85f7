import { spawn } from "node:child_process";
import { chmod, mkdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { createServer as createHttpServer, request as httpRequest } from "node:http";
import type { RequestListener } from "node:http";
import { createServer } from "node:net";
import type { Server, Socket } from "node:net";
import { PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { afterEach, beforeEach, describe, expect, it, onTestFinished } from "vitest";
import { UserError } from "../../../src/errors.js";
import local from "../../../src/providers/storage/local.js";
import { optionsSchema } from "../../../src/providers/storage/local.options.js";
import { LocalServer, serverPaths } from "../../../src/providers/storage/_local-server.js";
import { processAlive } from "../../../src/process-alive.js";
import { createTigrisClient } from "../../../src/providers/storage/_tigris-client.js";
import { loadOrCreateCredentials } from "../../../src/storage-server/auth/credentials.js";
import { startStorageServer } from "../../../src/storage-server/index.js";
import type { ResourceInfo, StorageProvider } from "../../../src/providers/types.js";
import { coreDriver, tempProject } from "../_helpers.js";
import type { TestProject } from "../_helpers.js";
import {
  appVars,
  expectProviderError,
  putObject,
  readBucket,
  storageSuite,
} from "../../../src/testing/index.js";
import { waitFor } from "../../helpers/wait.js";

/** The project's own server, started in this process on a free port, as `forkstack up` would run it. */
async function withInProcessServer(project: TestProject, options: { buckets?: string[] } = {}) {
  const paths = serverPaths(project.context.dataDir);
  const credentials = await loadOrCreateCredentials(paths.credentials);
  const server = await startStorageServer({ root: paths.data, port: 0, credentials: [credentials] });
  const provider = local({ ...options, port: server.port }, project.context);
  const dispose = async () => {
    await provider.dispose?.();
    await server.close();
  };
  return { server, provider: { ...provider, dispose } as StorageProvider };
}

describe("providers: storage/local (in-process server)", () => {
  const ports = new WeakMap<TestProject, number>();
  storageSuite({
    bucketKeys: ["uploads"],
    provider: async (project) => {
      const { server, provider } = await withInProcessServer(project, { buckets: ["uploads"] });
      ports.set(project, server.port);
      return provider;
    },
    // The same store with another bucket list, as after an edit of `storage.buckets`.
    reconfigured: (project) =>
      local({ buckets: ["uploads", "extra"], port: ports.get(project)! }, project.context),
    // An env's key cannot make buckets: the user makes theirs with the project's key.
    userCredentials: (ctx) => loadOrCreateCredentials(serverPaths(ctx.project.context.dataDir).credentials),
    additionalTests(ctx) {
      it("a removed parent's name can be made again while its fork keeps the old data", async () => {
        await ctx.core.create("dev");
        const dev = (await ctx.core.describe("dev"))!;
        await putObject(dev, dev.vars.BUCKET_NAME!, "k", "old dev");
        const alice = await ctx.core.fork("dev", "alice");
        await ctx.core.remove("dev");
        expect(await ctx.core.list()).toEqual(["alice"]);
        const again = await ctx.core.create("dev");
        expect(await readBucket(again, again.vars.BUCKET_NAME!)).toEqual({});
        expect(await readBucket(alice, alice.vars.BUCKET_NAME!)).toEqual({ k: "old dev" });
      });

      it("list reads env names back from bucket names and ignores everything else", async () => {
        await ctx.core.create("dev");
        await ctx.core.fork("dev", "pr-42");
        const info = (await ctx.core.describe("dev"))!;
        // Made by hand with the project's key (an env's own key cannot make buckets).
        const client = createTigrisClient({
          endpoint: info.vars.AWS_ENDPOINT_URL_S3!,
          ...(await loadOrCreateCredentials(serverPaths(ctx.project.context.dataDir).credentials)),
        });
        // Another project's bucket, a hand-made one, and a named bucket whose default bucket is gone.
        const p = ctx.project.context.project;
        for (const name of ["other-bucket-dev", `${p}-photos`, `${p}-uploads-orphan`])
          await client.createBucket(name);
        expect(await ctx.core.list()).toEqual(["dev", "orphan", "pr-42"]);
      });

      /** The S3 error code reading `bucket` with `info`'s key fails with, or "ok". */
      const readAs = (info: ResourceInfo, bucket: string) =>
        readBucket(info, bucket).then(
          () => "ok",
          (error: Error) => error.name,
        );

      it("each env's key reaches its own buckets only; remove revokes exactly the recorded key", async () => {
        const dev = await ctx.core.create("dev");
        await putObject(dev, dev.vars.BUCKET_NAME!, "k", "dev");
        const alice = await ctx.core.fork("dev", "alice");
        const bob = await ctx.core.fork("dev", "bob");
        const ids = [dev, alice, bob].map((i) => i.vars.AWS_ACCESS_KEY_ID);
        expect(new Set(ids).size).toBe(3);
        expect(alice.data?.accessKeyId).toBe(alice.vars.AWS_ACCESS_KEY_ID);
        expect(await readAs(alice, dev.vars.BUCKET_NAME!)).toBe("AccessDenied");
        expect(await readAs(alice, alice.vars.BUCKET_NAME_UPLOADS!)).toBe("ok");
        await ctx.core.remove("alice");
        expect(await readAs(alice, alice.vars.BUCKET_NAME!)).toBe("InvalidAccessKeyId");
        expect([await readAs(bob, bob.vars.BUCKET_NAME!), await readAs(dev, dev.vars.BUCKET_NAME!)]).toEqual([
          "ok",
          "ok",
        ]);
      });

      it("a reset keeps the env's key: remove with `reset`, then fork with `previous`", async () => {
        await ctx.core.create("dev");
        const alice = await ctx.core.fork("dev", "alice");
        await putObject(alice, alice.vars.BUCKET_NAME!, "mine", "alice");
        const env = { name: "alice", project: ctx.project.context.project };
        const recorded = ctx.core.recorded("alice")!;
        await ctx.provider.remove(env, ctx.project.op, recorded, { reset: true });
        // Kept, reaching nothing while the buckets are gone.
        expect(await readAs(alice, alice.vars.BUCKET_NAME!)).toBe("AccessDenied");
        const again = await ctx.provider.fork({ ...env, name: "dev" }, env, ctx.project.op, {
          previous: recorded,
        });
        expect(appVars(again)).toEqual(appVars(alice));
        expect(await readBucket(alice, alice.vars.BUCKET_NAME!)).toEqual({});
        // Without `previous` (a plain remove and fork), the key goes and the new fork gets another.
        await ctx.provider.remove(env, ctx.project.op, again);
        expect(await readAs(alice, alice.vars.BUCKET_NAME!)).toBe("InvalidAccessKeyId");
        const fresh = await ctx.provider.fork({ ...env, name: "dev" }, env, ctx.project.op, {
          previous: again,
        });
        expect(fresh.vars.AWS_ACCESS_KEY_ID).not.toBe(alice.vars.AWS_ACCESS_KEY_ID);
        await ctx.provider.remove(env, ctx.project.op, fresh);
      });

      it("adopts a root's existing buckets with its key, and gives an older record a key of its own", async () => {
        const dev = await ctx.core.create("dev");
        const env = { name: "dev", project: ctx.project.context.project };
        // Its manifest lost: adopted with the key found by name, not a second one.
        const adopted = (await ctx.provider.adopt!(env, undefined, ctx.project.op))!;
        expect(appVars(adopted)).toEqual(appVars(dev));
        // A record from before envs had keys: the project's key, no key id.
        const project = await loadOrCreateCredentials(serverPaths(ctx.project.context.dataDir).credentials);
        const old: ResourceInfo = {
          ...dev,
          vars: { ...dev.vars, AWS_ACCESS_KEY_ID: project.accessKeyId },
          secretVars: { AWS_SECRET_ACCESS_KEY: project.secretAccessKey },
          data: { endpoint: dev.data!.endpoint, buckets: dev.data!.buckets },
        };
        expect([ctx.provider.outdated!(old), ctx.provider.outdated!(dev)]).toEqual([true, false]);
        const upgraded = await ctx.provider.upgrade!(env, ctx.project.op, old);
        expect(ctx.provider.outdated!(upgraded)).toBe(false);
        expect(upgraded.vars.AWS_ACCESS_KEY_ID).not.toBe(project.accessKeyId);
        expect(upgraded.vars.AWS_ACCESS_KEY_ID).toBe(dev.vars.AWS_ACCESS_KEY_ID); // found by name
        expect(await readAs(upgraded, dev.vars.BUCKET_NAME!)).toBe("ok");
      });

      it("reports no bucket for a fork whose parent has none, and creates nothing", async () => {
        await expectProviderError(ctx.core.fork("dev", "alice"), ctx.provider, "E_ENV_NOT_FOUND");
        expect(await ctx.core.list()).toEqual([]);
      });

      it("a fork of a parent made before a named bucket was configured gets that bucket empty", async () => {
        const seed = await ctx.core.create("seed");
        const port = Number(new URL(seed.vars.AWS_ENDPOINT_URL_S3!).port);
        await coreDriver(local({ port }, ctx.project.context), ctx.project).create("dev");
        const alice = await ctx.core.fork("dev", "alice");
        const bucket = `${ctx.project.context.project}-uploads-alice`;
        expect(alice.vars.BUCKET_NAME_UPLOADS).toBe(bucket);
        expect(await readBucket(alice, bucket)).toEqual({});
      });
    },
  });
});

describe("providers: storage/local without named buckets (in-process server)", () => {
  // One bucket per env: `fork` sends CreateBucket with the fork source and no HEAD before it, so a
  // missing parent is told by the server's NoSuchBucket, reported as the parent's absence.
  it("forks by one request per env, and a missing parent is E_ENV_NOT_FOUND with nothing made", async () => {
    const project = await tempProject();
    const { provider } = await withInProcessServer(project);
    onTestFinished(async () => {
      await provider.dispose?.();
      await project.cleanup();
    });
    const core = coreDriver(provider, project);
    await expectProviderError(core.fork("dev", "alice"), provider, "E_ENV_NOT_FOUND");
    expect(await core.list()).toEqual([]);
    const dev = await core.create("dev");
    await putObject(dev, dev.vars.BUCKET_NAME!, "k", "v");
    const alice = await core.fork("dev", "alice");
    expect(await readBucket(alice, alice.vars.BUCKET_NAME!)).toEqual({ k: "v" });
    expect(alice.method).toBe("metadata");
  });
});

describe("providers: storage/local options", () => {
  const problem = (options: unknown) => {
    const result = optionsSchema.safeParse(options);
    return result.success ? undefined : result.error.issues.map((i) => i.message).join("; ");
  };
  it("accepts named buckets, a port and a host", () => {
    expect(problem({ buckets: ["uploads", "assets"], port: 9090, host: "0.0.0.0" })).toBeUndefined();
    expect(problem({})).toBeUndefined();
  });
  it("refuses keys that would make ambiguous bucket names, bad ports and unknown options", () => {
    expect(problem({ buckets: ["bucket"] })).toMatch(/default bucket/);
    expect(problem({ buckets: ["bucket-x"] })).toMatch(/"bucket"/);
    expect(problem({ buckets: ["up", "up-x"] })).toMatch(
      /"up-x" would make bucket names that "up" also makes/,
    );
    expect(problem({ buckets: ["a", "a"] })).toMatch(/twice/);
    expect(problem({ buckets: ["Uploads"] })).toMatch(/lowercase/);
    expect(problem({ port: 70_000 })).toBeDefined();
    expect(problem({ bukets: [] })).toBeDefined();
  });
});

/** These start the real background daemon (the built `dist/storage-server/daemon.js`). */
describe("providers: storage/local server lifecycle", () => {
  let project: TestProject;
  let blocker: Server | undefined;
  const blockerSockets = new Set<Socket>();
  beforeEach(async () => {
    project = await tempProject();
  });
  afterEach(async () => {
    await new LocalServer({ dataDir: project.context.dataDir, projectRoot: project.root }).stop();
    // Our probe's connection may still be open: a plain server waits for it on close.
    for (const socket of blockerSockets) socket.destroy();
    await new Promise<void>((resolve) => (blocker ? blocker.close(() => resolve()) : resolve()));
    blocker = undefined;
    await project.cleanup();
  });

  const paths = () => serverPaths(project.context.dataDir);
  const doctorText = async (provider: StorageProvider) =>
    (await provider.doctor!(project.op)).map((f) => `${f.level}: ${f.message}`).join("\n");

  it("prepare starts the server once on a remembered port; doctor and stop see it", async () => {
    const provider = local({}, project.context);
    expect(await doctorText(provider)).toMatch(/ok: storage server not running \(starts on demand/);
    await provider.prepare!(project.op);
    const { port } = JSON.parse(await readFile(paths().state, "utf8")) as { port: number };
    expect(port).toBeGreaterThanOrEqual(20_000);
    expect(port).toBeLessThan(30_000);
    const record = JSON.parse(await readFile(paths().pid, "utf8")) as { pid: number; url: string };
    expect(record.url).toBe(`http://127.0.0.1:${port}`);
    expect(processAlive(record.pid)).toBe(true);
    expect((await stat(paths().credentials)).mode & 0o777).toBe(0o600);

    // Another command (another provider instance) reuses it.
    const again = local({}, project.context);
    await again.prepare!(project.op);
    expect(JSON.parse(await readFile(paths().pid, "utf8"))).toEqual(record);
    const dev = await coreDriver(again, project).create("dev");
    expect(dev.vars.AWS_ENDPOINT_URL_S3).toBe(record.url);
    expect(await doctorText(again)).toContain(
      `ok: storage server running at ${record.url} (pid ${record.pid})`,
    );

    const server = new LocalServer({ dataDir: project.context.dataDir, projectRoot: project.root });
    expect(await server.stop()).toEqual({ stopped: true, pid: record.pid });
    expect(processAlive(record.pid)).toBe(false);
    await expect(stat(paths().pid)).rejects.toThrow();
    expect(await server.stop()).toEqual({ stopped: false });

    // Started on demand again, with the data kept.
    const third = local({}, project.context);
    expect(await third.describe(coreDriver(third, project).env("dev"), project.op)).not.toBeNull();
  });

  it("after large uploads (hashed on helper threads) the daemon still exits on SIGTERM, no SIGKILL", async () => {
    const provider = local({}, project.context);
    const dev = await coreDriver(provider, project).create("dev");
    const s3 = new S3Client({
      endpoint: dev.vars.AWS_ENDPOINT_URL_S3!,
      region: "auto",
      credentials: {
        accessKeyId: dev.vars.AWS_ACCESS_KEY_ID!,
        secretAccessKey: dev.secretVars!.AWS_SECRET_ACCESS_KEY!,
      },
    });
    onTestFinished(() => s3.destroy());
    for (let i = 0; i < 3; i++) {
      await s3.send(
        new PutObjectCommand({
          Bucket: dev.vars.BUCKET_NAME!,
          Key: `big-${i}`,
          Body: Buffer.alloc(8 << 20, i),
        }),
      );
    }
    const result = await new LocalServer({
      dataDir: project.context.dataDir,
      projectRoot: project.root,
    }).stop();
    expect(result.stopped).toBe(true);
    expect(result.killed).toBeUndefined();
  });

  it("a stale pid file (process gone) is reported and replaced", async () => {
    await mkdir(paths().dir, { recursive: true });
    const dead = {
      pid: 2 ** 22 + 12345,
      port: 1,
      host: "127.0.0.1",
      url: "http://127.0.0.1:1",
      startedAt: "",
    };
    await writeFile(paths().pid, JSON.stringify(dead));
    const provider = local({}, project.context);
    expect(await doctorText(provider)).toContain(`a stale pid file (pid ${dead.pid}) will be replaced`);
    await provider.prepare!(project.op);
    const record = JSON.parse(await readFile(paths().pid, "utf8")) as { pid: number };
    expect(record.pid).not.toBe(dead.pid);
    expect(processAlive(record.pid)).toBe(true);
  });

  it("the daemon stops by itself when its project's files are removed", async () => {
    await local({}, project.context).prepare!(project.op);
    const { pid } = JSON.parse(await readFile(paths().pid, "utf8")) as { pid: number };
    await rm(paths().pid);
    await waitFor(() => !processAlive(pid), 100);
    expect(processAlive(pid)).toBe(false);
  });

  it("a port taken by another program: E_PORT_IN_USE naming the port, nothing started", async () => {
    blocker = createServer((socket) => void blockerSockets.add(socket));
    await new Promise<void>((resolve) => blocker!.listen(0, "127.0.0.1", resolve));
    const port = (blocker.address() as { port: number }).port;
    const provider = local({ port }, project.context);
    const error = await provider.prepare!(project.op).then(
      () => expect.fail("prepare should fail"),
      (e: unknown) => e as UserError,
    );
    expect(error).toBeInstanceOf(UserError);
    expect(error.code).toBe("E_PORT_IN_USE");
    expect(error.message).toContain(`Port ${port}`);
    expect(error.hint).toContain("port: <n>");
    await expect(stat(paths().pid)).rejects.toThrow();
    await expect(stat(paths().data)).rejects.toThrow();
    expect(await doctorText(provider)).toMatch(new RegExp(`error: Port ${port} .* another program`));
  });

  it("a port taken by another project's forkstack server is told apart", async () => {
    const other = await tempProject("other");
    onTestFinished(() => other.cleanup());
    const { server } = await withInProcessServer(other);
    onTestFinished(() => server.close());
    const provider = local({ port: server.port }, project.context);
    const error = await provider.prepare!(project.op).then(
      () => expect.fail("prepare should fail"),
      (e: unknown) => e as UserError,
    );
    expect(error.code).toBe("E_PORT_IN_USE");
    expect(error.message).toContain("another project's forkstack storage server");
  });

  /** An HTTP server on a free port; `handler` answers. Closed after the test. */
  async function fakeServer(handler: RequestListener): Promise<number> {
    const fake = createHttpServer(handler);
    await new Promise<void>((resolve) => fake.listen(0, "127.0.0.1", resolve));
    onTestFinished(async () => {
      fake.closeAllConnections();
      await new Promise<void>((resolve) => fake.close(() => resolve()));
    });
    return (fake.address() as { port: number }).port;
  }

  it("a fake server answering 200 with Server: forkstack is not trusted: E_SERVER, it gets nothing", async () => {
    const seen: string[] = [];
    const port = await fakeServer((req, res) => {
      seen.push(`${req.method} ${req.url}`);
      req.resume();
      res.writeHead(200, { Server: "forkstack", "Content-Type": "application/xml" });
      res.end("<ListAllMyBucketsResult><Buckets></Buckets></ListAllMyBucketsResult>");
    });
    // A record naming a live process at that address, as if our server ran there.
    const sleeper = spawn("sleep", ["30"], { stdio: "ignore" });
    onTestFinished(() => void sleeper.kill());
    await mkdir(paths().dir, { recursive: true });
    const url = `http://127.0.0.1:${port}`;
    await writeFile(
      paths().pid,
      JSON.stringify({ pid: sleeper.pid, port, host: "127.0.0.1", url, startedAt: "" }),
    );
    const provider = local({ port }, project.context);
    const error = await provider.prepare!(project.op).then(
      () => expect.fail("prepare should fail"),
      (e: unknown) => e as UserError,
    );
    expect(error).toBeInstanceOf(UserError);
    expect(error.code).toBe("E_SERVER");
    expect(error.message).toContain(`port ${port}`);
    expect(error.message).toContain("could not prove it holds this project's key");
    const server = new LocalServer({ dataDir: project.context.dataDir, projectRoot: project.root, port });
    expect(await server.status()).toMatchObject({ running: false, blocked: "impostor" });
    expect(await doctorText(provider)).toMatch(/error: The program answering on port \d+ .* could not prove/);
    // Not ours, so not ours to stop either.
    expect((await server.stop()).stopped).toBe(false);
    expect(processAlive(sleeper.pid!)).toBe(true);
    // It only ever saw the signed challenge (ListBuckets of one), never a bucket or an object.
    expect(seen.length).toBeGreaterThan(0);
    expect(seen.every((line) => line === "GET /?max-buckets=1")).toBe(true);
  });

  it("a server relaying the challenge to the real server on another port is not trusted either", async () => {
    const { server: real } = await withInProcessServer(project);
    onTestFinished(() => real.close());
    const port = await fakeServer((req, res) => {
      const upstream = httpRequest(
        { host: "127.0.0.1", port: real.port, method: req.method, path: req.url, headers: req.headers },
        (up) => {
          res.writeHead(up.statusCode ?? 502, up.headers);
          up.pipe(res);
        },
      );
      req.pipe(upstream);
    });
    const relayed = new LocalServer({ dataDir: project.context.dataDir, projectRoot: project.root, port });
    expect(await relayed.probe()).toBe("impostor");
    const direct = new LocalServer({
      dataDir: project.context.dataDir,
      projectRoot: project.root,
      port: real.port,
    });
    expect(await direct.probe()).toBe("ours");
  });

  it("server.json is private (0600), and an older 0644 one is made private", async () => {
    const server = new LocalServer({ dataDir: project.context.dataDir, projectRoot: project.root });
    await server.resolve();
    expect((await stat(paths().state)).mode & 0o777).toBe(0o600);
    await chmod(paths().state, 0o644);
    await new LocalServer({ dataDir: project.context.dataDir, projectRoot: project.root }).resolve();
    expect((await stat(paths().state)).mode & 0o777).toBe(0o600);
  });

  it("a daemon that cannot start: E_SERVER with the end of its log", async () => {
    await mkdir(paths().dir, { recursive: true });
    await writeFile(paths().data, "not a directory");
    const provider = local({}, project.context);
    const error = await expectProviderError(provider.prepare!(project.op), provider, "E_SERVER");
    expect(error.message).toMatch(
      /The storage server did not start \(exit code 1\): .*storage server failed/,
    );
    expect(error.hint).toContain(paths().log);
    await expect(stat(paths().pid)).rejects.toThrow();
  });

  it("a server that stops answering: E_SERVER naming the endpoint", async () => {
    const { server, provider } = await withInProcessServer(project);
    await provider.prepare!(project.op);
    await server.close();
    const error = await expectProviderError(
      provider.describe(coreDriver(provider, project).env("dev"), project.op),
      provider,
      "E_SERVER",
    );
    expect(error.message).toContain(`no answer from http://127.0.0.1:${server.port} (ECONNREFUSED)`);
    expect(error.hint).toContain("forkstack up");
  });

  it("keys replaced while the server runs: E_PROVIDER_AUTH, not a port clash", async () => {
    await local({}, project.context).prepare!(project.op);
    await rm(paths().credentials);
    await loadOrCreateCredentials(paths().credentials); // new keys
    const provider = local({}, project.context);
    const error = await expectProviderError(provider.prepare!(project.op), provider, "E_PROVIDER_AUTH");
    expect(error.message).toContain("does not accept the keys");
    expect(error.hint).toContain("forkstack down && forkstack up");
  });

  it("doctor warns about a credentials file others could read, which is then made private", async () => {
    await loadOrCreateCredentials(paths().credentials);
    await chmod(paths().credentials, 0o644);
    const provider = local({}, project.context);
    expect(await doctorText(provider)).toContain(
      `warn: ${paths().credentials} was readable by others (mode 644); it is 600 now`,
    );
    expect((await stat(paths().credentials)).mode & 0o777).toBe(0o600);
    expect(await doctorText(provider)).toContain(`ok: ${paths().credentials} is private (mode 600)`);
  });
});
