/**
 * Test fixtures for projects on the embedded object store driven through the built CLI: a project
 * whose storage server is stopped after the test, an env's variables as `forkstack env` prints them,
 * an S3 client made from them (as an app makes one), and the project's own key.
 */
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { S3Client } from "@aws-sdk/client-s3";
import { onTestFinished } from "vitest";
import { signedRaw } from "../storage-server/helpers.js";
import { EMBEDDED_CONFIG, REPO, cli, runCli, runProcess, tempProject } from "./project.js";

export type Vars = Record<string, string>;

/** Processes whose command line mentions `dir`: the storage daemons of that project. */
export function serversOf(dir: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, "utf8");
      if (cmdline.includes(dir) && cmdline.includes("daemon.js")) pids.push(Number(entry));
    } catch {
      // exited meanwhile
    }
  }
  return pids;
}

/** A project with local storage whose server is stopped (and, failing that, killed) after the test. */
export async function storageProject(
  storage: object = { provider: "local" },
  project = "myapp",
  config: object = EMBEDDED_CONFIG,
): Promise<string> {
  const cwd = await tempProject({ ...config, project, storage });
  onTestFinished(async () => {
    await runCli(["down"], { cwd });
    for (const pid of serversOf(cwd)) process.kill(pid, "SIGKILL");
  });
  return cwd;
}

/** An env's variables, secrets revealed, as `forkstack env <env> --format json --reveal` prints them. */
export async function envOf(cwd: string, env: string): Promise<Vars> {
  return JSON.parse(await cli(["env", env, "--format", "json", "--reveal"], { cwd })) as Vars;
}

/** An S3 client from an env's variables, as `new S3Client(storageConfig())` makes one. */
export function s3For(vars: Vars, options: { requestChecksumCalculation?: "WHEN_REQUIRED" } = {}): S3Client {
  return new S3Client({
    endpoint: vars.AWS_ENDPOINT_URL_S3,
    region: vars.AWS_REGION,
    credentials: { accessKeyId: vars.AWS_ACCESS_KEY_ID!, secretAccessKey: vars.AWS_SECRET_ACCESS_KEY! },
    forcePathStyle: true,
    ...options,
  });
}

/** The project's own key (the CLI's, which may do anything on the server), as env variables. */
export function projectKey(cwd: string): Vars {
  const { accessKeyId, secretAccessKey } = JSON.parse(
    readFileSync(join(cwd, ".forkstack/storage/credentials.json"), "utf8"),
  ) as { accessKeyId: string; secretAccessKey: string };
  return { AWS_ACCESS_KEY_ID: accessKeyId, AWS_SECRET_ACCESS_KEY: secretAccessKey };
}

/**
 * One request signed by curl's own SigV4 (not the SDK's), with `vars`' key, to `vars`' endpoint: for
 * what the SDK does not send (Tigris headers, the admin API). The payload is sent unsigned.
 */
export async function curlS3(
  vars: Vars,
  method: string,
  path: string,
  options: { headers?: Record<string, string>; body?: string } = {},
): Promise<{ status: number; body: string }> {
  const headers = {
    "x-amz-content-sha256": "UNSIGNED-PAYLOAD",
    accept: "application/json",
    ...options.headers,
  };
  const args = [
    "-sS",
    "-X",
    method,
    "--aws-sigv4",
    "aws:amz:auto:s3",
    "--user",
    `${vars.AWS_ACCESS_KEY_ID}:${vars.AWS_SECRET_ACCESS_KEY}`,
    ...Object.entries(headers).flatMap(([k, v]) => ["-H", `${k}: ${v}`]),
    ...(options.body !== undefined ? ["--data-binary", options.body] : []),
    "-w",
    "\n%{http_code}",
    `${vars.AWS_ENDPOINT_URL_S3}${path}`,
  ];
  const result = await runProcess("curl", args, { cwd: REPO });
  if (result.code !== 0) throw new Error(`curl ${method} ${path} exited ${result.code}: ${result.stderr}`);
  const at = result.stdout.lastIndexOf("\n");
  return { status: Number(result.stdout.slice(at + 1)), body: result.stdout.slice(0, at) };
}

/**
 * One request signed by AWS's own signer (@smithy/signature-v4) with `vars`' key, every header it
 * sends covered by the signature: for Tigris headers, which the store refuses unsigned and curl does
 * not sign.
 */
export async function signedS3(
  vars: Vars,
  method: string,
  target: string,
  options: { headers?: Record<string, string> } = {},
): Promise<{ status: number; body: string }> {
  const [path, query] = target.split("?") as [string, string | undefined];
  const res = await signedRaw(vars.AWS_ENDPOINT_URL_S3!, {
    method,
    path,
    ...(query !== undefined ? { query } : {}),
    headers: { accept: "application/json", ...options.headers },
    credentials: { accessKeyId: vars.AWS_ACCESS_KEY_ID!, secretAccessKey: vars.AWS_SECRET_ACCESS_KEY! },
  });
  return { status: res.status, body: res.body };
}
