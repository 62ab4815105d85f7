/**
 * A project made by a forkstack from before envs had their own storage keys: every env's manifest (and
 * `.env.local`) carries the project's key, and the server has no other key. The next command that
 * loads the project gives each env its own key; until one can (a read-only command with the server
 * down), nothing hands the project's key out and nothing alarming is said.
 */
import { existsSync, readFileSync } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { ListObjectsV2Command, PutObjectCommand, S3ServiceException } from "@aws-sdk/client-s3";
import { describe, expect, it } from "vitest";
import { REPO, cli, runCli, runProcess } from "../helpers/project.js";
import {
  curlS3,
  envOf,
  projectKey,
  s3For,
  serversOf,
  storageProject,
  type Vars,
} from "../helpers/storage.js";

interface Manifest {
  resources: Record<string, { vars: Vars; secretVars?: Vars; data?: Record<string, unknown> }>;
}

const manifestFile = (cwd: string, env: string) => join(cwd, ".forkstack/envs", env, "manifest.json");
const readManifest = (cwd: string, env: string) =>
  JSON.parse(readFileSync(manifestFile(cwd, env), "utf8")) as Manifest;

/**
 * Rewrites the project as the earlier forkstack left it: no env keys on the server (revoked while it
 * runs, then stopped: any command that sees an old record with the server up would upgrade it at once),
 * each env's storage record with the project's key and no key id of its own (what that version's
 * `local` provider returned: endpoint, region and key id, then the bucket names; the secret key;
 * `data` with the endpoint and buckets), and `.env.local` with that key.
 */
async function makeItOld(cwd: string, envs: string[]): Promise<Vars> {
  const project = projectKey(cwd);
  for (const env of envs)
    await revoke(cwd, readManifest(cwd, env).resources.storage!.data!.accessKeyId as string);
  await cli(["down"], { cwd });
  for (const env of envs) {
    const manifest = readManifest(cwd, env);
    const storage = manifest.resources.storage!;
    const { AWS_ENDPOINT_URL_S3, AWS_REGION, AWS_ACCESS_KEY_ID: _, ...buckets } = storage.vars;
    storage.vars = {
      AWS_ENDPOINT_URL_S3: AWS_ENDPOINT_URL_S3!,
      AWS_REGION: AWS_REGION!,
      AWS_ACCESS_KEY_ID: project.AWS_ACCESS_KEY_ID!,
      ...buckets,
    };
    storage.secretVars = { AWS_SECRET_ACCESS_KEY: project.AWS_SECRET_ACCESS_KEY! };
    storage.data = { endpoint: storage.data!.endpoint, buckets: storage.data!.buckets };
    await writeFile(manifestFile(cwd, env), `${JSON.stringify(manifest, null, 2)}\n`, { mode: 0o600 });
  }
  const envLocal = join(cwd, ".env.local");
  const alice = await envLocalVars(cwd);
  await writeFile(
    envLocal,
    (await readFile(envLocal, "utf8"))
      .replace(alice.AWS_ACCESS_KEY_ID!, project.AWS_ACCESS_KEY_ID!)
      .replace(alice.AWS_SECRET_ACCESS_KEY!, project.AWS_SECRET_ACCESS_KEY!),
  );
  return project;
}

/** The current env's variables as forkstack's block in `.env.local` holds them. */
async function envLocalVars(cwd: string): Promise<Vars> {
  const text = await readFile(join(cwd, ".env.local"), "utf8");
  return Object.fromEntries([...text.matchAll(/^([A-Z_0-9]+)='([^']*)'$/gm)].map((m) => [m[1]!, m[2]!]));
}

async function revoke(cwd: string, accessKeyId: string): Promise<void> {
  const { AWS_ENDPOINT_URL_S3 } = readManifest(cwd, "dev").resources.storage!.vars;
  const project = { AWS_ENDPOINT_URL_S3: AWS_ENDPOINT_URL_S3!, ...projectKey(cwd) };
  expect((await curlS3(project, "DELETE", `/_forkstack/access-keys/${accessKeyId}`)).status).toBe(204);
}

async function listWith(vars: Vars, bucket: string): Promise<string> {
  const s3 = s3For(vars);
  try {
    const page = await s3.send(new ListObjectsV2Command({ Bucket: bucket }));
    return (page.Contents ?? []).map((c) => c.Key).join(",");
  } catch (error) {
    if (error instanceof S3ServiceException) return error.name;
    throw error;
  } finally {
    s3.destroy();
  }
}

describe("cli: envs made before each env had its own storage key", () => {
  it("get their own keys on the next command; until then the project's key is handed to no one", async () => {
    const cwd = await storageProject();
    await cli(["new", "alice"], { cwd }); // dev on the way; alice is current, in .env.local
    const dev = await envOf(cwd, "dev");
    const s3 = s3For(dev);
    await s3
      .send(new PutObjectCommand({ Bucket: dev.BUCKET_NAME, Key: "dev.txt", Body: "d" }))
      .finally(() => s3.destroy());
    const project = await makeItOld(cwd, ["dev", "alice"]);
    expect(readFileSync(join(cwd, ".env.local"), "utf8")).toContain(project.AWS_ACCESS_KEY_ID);

    // The runtime library reads the old manifest and refuses to hand out the project's key.
    await writeFile(
      join(cwd, "app.mjs"),
      `import { envVars, storageConfig } from ${JSON.stringify(join(REPO, "dist/index.js"))};
       try { storageConfig(); } catch (e) { console.log(JSON.stringify({ code: e.code, message: e.message, hint: e.hint, vars: envVars() })); }`,
    );
    const app = await runProcess(process.execPath, ["app.mjs"], { cwd });
    expect(app.stderr).toBe("");
    const refused = JSON.parse(app.stdout) as { code: string; message: string; hint: string; vars: Vars };
    expect(refused.code).toBe("E_ENV_BROKEN");
    expect(refused.message).toContain('The env "alice" has no storage key of its own yet');
    expect(refused.hint).toContain("forkstack env");
    expect(refused.vars.AWS_ACCESS_KEY_ID).toBeUndefined();
    expect(app.stdout).not.toContain(project.AWS_SECRET_ACCESS_KEY);

    // A read-only command with the server down: no upgrade, no server started, nothing alarming said,
    // and .env.local no longer carries the project's key.
    const list = await runCli(["list"], { cwd });
    expect(list.code, list.stderr).toBe(0);
    expect(list.stderr).not.toMatch(/✗|⚠|warn|error|key/i);
    expect(serversOf(cwd)).toEqual([]);
    expect(readManifest(cwd, "alice").resources.storage!.vars.AWS_ACCESS_KEY_ID).toBe(
      project.AWS_ACCESS_KEY_ID,
    );
    const envLocal = readFileSync(join(cwd, ".env.local"), "utf8");
    expect(envLocal).not.toContain(project.AWS_ACCESS_KEY_ID);
    expect(envLocal).not.toContain(project.AWS_SECRET_ACCESS_KEY);
    expect(envLocal).toContain("BUCKET_NAME='myapp-bucket-alice'");

    // `forkstack env` may start the server: every env gets its own key, quietly.
    const shown = await runCli(["env", "alice", "--format", "json", "--reveal"], { cwd });
    expect(shown.code, shown.stderr).toBe(0);
    expect(shown.stderr).toBe("");
    const alice = JSON.parse(shown.stdout) as Vars;
    const devNow = await envOf(cwd, "dev");
    for (const vars of [alice, devNow]) {
      expect(vars.AWS_ACCESS_KEY_ID).toMatch(/^[A-Z2-7]{20}$/);
      expect(vars.AWS_ACCESS_KEY_ID).not.toBe(project.AWS_ACCESS_KEY_ID);
      expect(vars.AWS_SECRET_ACCESS_KEY).not.toBe(project.AWS_SECRET_ACCESS_KEY);
    }
    expect(alice.AWS_ACCESS_KEY_ID).not.toBe(devNow.AWS_ACCESS_KEY_ID);
    for (const env of ["dev", "alice"]) {
      const storage = readManifest(cwd, env).resources.storage!;
      expect(storage.data?.accessKeyId).toBe(storage.vars.AWS_ACCESS_KEY_ID);
      expect(JSON.stringify(storage)).not.toContain(project.AWS_SECRET_ACCESS_KEY);
    }
    // .env.local (alice is current) has her new key; the user's other lines are as they were.
    const rewritten = await envLocalVars(cwd);
    expect([rewritten.AWS_ACCESS_KEY_ID, rewritten.AWS_SECRET_ACCESS_KEY]).toEqual([
      alice.AWS_ACCESS_KEY_ID,
      alice.AWS_SECRET_ACCESS_KEY,
    ]);

    // Each key reaches its own env's buckets, with the data they had; not the other's.
    expect(await listWith(devNow, dev.BUCKET_NAME!)).toBe("dev.txt");
    expect(await listWith(alice, alice.BUCKET_NAME!)).toBe("");
    expect(await listWith(alice, dev.BUCKET_NAME!)).toBe("AccessDenied");
    expect(await listWith(devNow, alice.BUCKET_NAME!)).toBe("AccessDenied");
    const again = await runProcess(process.execPath, ["app.mjs"], { cwd });
    expect(again.stdout).toBe(""); // storageConfig() works now: the app printed no refusal
    expect(existsSync(join(cwd, ".forkstack/storage/server.pid"))).toBe(true);
  });
});
