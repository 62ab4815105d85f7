/**
 * The env keys of the embedded store through failures, with the built CLI: a `new` rolled back after a
 * failure, a `new` killed right after its key was made, a `reset` killed half-way and a `reset` whose
 * fork fails. No key is left that no env records, and an env that is made whole keeps its key. Keys on
 * the server are read through the admin API with curl's own SigV4 and the project's key.
 */
import { spawnSync } from "node:child_process";
import { ListObjectsV2Command, PutObjectCommand, S3ServiceException } from "@aws-sdk/client-s3";
import { describe, expect, it } from "vitest";
import { cli, runCli } from "../helpers/project.js";
import { curlS3, envOf, projectKey, s3For, storageProject, type Vars } from "../helpers/storage.js";

const hasCurl = spawnSync("curl", ["--version"], { stdio: "ignore" }).status === 0;

/** Label and id of every access key on the project's server, by the admin API. */
async function keysOnServer(cwd: string, endpoint: string): Promise<[string, string][]> {
  const res = await curlS3(
    { AWS_ENDPOINT_URL_S3: endpoint, ...projectKey(cwd) },
    "GET",
    "/_forkstack/access-keys",
  );
  expect(res.status, res.body).toBe(200);
  const { accessKeys } = JSON.parse(res.body) as { accessKeys: { label: string; accessKeyId: string }[] };
  return accessKeys.map((k) => [k.label, k.accessKeyId]);
}

/** "ok", or the S3 error code a listing of `bucket` with `vars`' key fails with. */
async function listWith(vars: Vars, bucket = vars.BUCKET_NAME!): Promise<string> {
  const s3 = s3For(vars);
  try {
    await s3.send(new ListObjectsV2Command({ Bucket: bucket }));
    return "ok";
  } catch (error) {
    if (error instanceof S3ServiceException) return error.name;
    throw error;
  } finally {
    s3.destroy();
  }
}

/** A project with dev (database, buckets, secrets, local state), its server running. */
async function withDev(): Promise<{ cwd: string; dev: Vars }> {
  const cwd = await storageProject();
  await cli(["new", "dev", "--no-switch"], { cwd });
  return { cwd, dev: await envOf(cwd, "dev") };
}

describe.skipIf(!hasCurl)("cli: env keys through failures", () => {
  it("a `new` that fails in another resource revokes the key its storage step made", async () => {
    const { cwd, dev } = await withDev();
    const failed = await runCli(["new", "alice"], {
      cwd,
      env: { FORKSTACK_FAILPOINT: "step:database=throw" },
    });
    expect(failed.code).toBe(1);
    expect(failed.stderr).toContain("failpoint step:database");
    expect(await keysOnServer(cwd, dev.AWS_ENDPOINT_URL_S3!)).toEqual([["dev", dev.AWS_ACCESS_KEY_ID]]);
    await cli(["new", "alice", "--no-switch"], { cwd });
    const alice = await envOf(cwd, "alice");
    expect(await listWith(alice)).toBe("ok");
  });

  it("a `new` killed right after its key was made is rolled back by the next command, key and all", async () => {
    const { cwd, dev } = await withDev();
    const killed = await runCli(["new", "alice"], { cwd, env: { FORKSTACK_FAILPOINT: "local:after-key" } });
    expect(killed.signal).toBe("SIGKILL");
    expect((await keysOnServer(cwd, dev.AWS_ENDPOINT_URL_S3!)).map(([label]) => label)).toEqual([
      "dev",
      "alice",
    ]);
    const list = await runCli(["list"], { cwd });
    expect(list.stderr).toContain('Repaired an interrupted `create` of "alice": rolled back.');
    expect(await keysOnServer(cwd, dev.AWS_ENDPOINT_URL_S3!)).toEqual([["dev", dev.AWS_ACCESS_KEY_ID]]);
  });

  it("a `reset` killed half-way is finished by the next command with the env's key kept", async () => {
    const { cwd, dev } = await withDev();
    await cli(["new", "alice", "--no-switch"], { cwd });
    const alice = await envOf(cwd, "alice");
    const s3 = s3For(alice);
    await s3
      .send(new PutObjectCommand({ Bucket: alice.BUCKET_NAME, Key: "mine.txt", Body: "a" }))
      .finally(() => s3.destroy());
    const killed = await runCli(["reset", "alice"], {
      cwd,
      env: { FORKSTACK_FAILPOINT: "reset:after-remove" },
    });
    expect(killed.signal).toBe("SIGKILL");
    const list = await runCli(["list"], { cwd });
    expect(list.stderr).toContain('Repaired an interrupted `reset` of "alice": finished.');
    const after = await envOf(cwd, "alice");
    expect(after.AWS_ACCESS_KEY_ID).toBe(alice.AWS_ACCESS_KEY_ID);
    expect(await listWith(alice)).toBe("ok");
    expect(await listWith(alice, dev.BUCKET_NAME)).toBe("AccessDenied");
    expect(await keysOnServer(cwd, dev.AWS_ENDPOINT_URL_S3!)).toEqual([
      ["dev", dev.AWS_ACCESS_KEY_ID],
      ["alice", alice.AWS_ACCESS_KEY_ID],
    ]);
  });

  it("a `reset` whose fork fails leaves the env broken and its key revoked, not kept for nobody", async () => {
    const { cwd, dev } = await withDev();
    await cli(["new", "alice", "--no-switch"], { cwd });
    const alice = await envOf(cwd, "alice");
    // The storage step fails before its fork could take the kept key up: only the reset's clean-up lets it go.
    const failed = await runCli(["reset", "alice"], {
      cwd,
      env: { FORKSTACK_FAILPOINT: "step:storage=throw" },
    });
    expect(failed.code).toBe(1);
    const listed = JSON.parse(await cli(["list", "--json"], { cwd })) as { name: string; status: string }[];
    expect(listed.find((e) => e.name === "alice")?.status).toBe("broken");
    expect(await listWith(alice)).toBe("InvalidAccessKeyId");
    expect(await keysOnServer(cwd, dev.AWS_ENDPOINT_URL_S3!)).toEqual([["dev", dev.AWS_ACCESS_KEY_ID]]);
    // Reset again: alice is whole again, with a new key.
    await cli(["reset", "alice"], { cwd });
    const again = await envOf(cwd, "alice");
    expect(again.AWS_ACCESS_KEY_ID).not.toBe(alice.AWS_ACCESS_KEY_ID);
    expect(await listWith(again)).toBe("ok");
  });
});
