/**
 * The built package (dist/, what `forkstack up` runs and npm ships) serves form uploads too: the
 * multipart parser is CommonJS and must stay external to the ESM bundle (scripts/build.mjs), or the
 * server fails at load with "Dynamic require". It runs in a plain `node` child, because vitest's own
 * module loader would paper over exactly that failure. Needs `npm run build` first (`npm test` does).
 */
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { CreateBucketCommand, S3Client } from "@aws-sdk/client-s3";
import { createPresignedPost } from "@aws-sdk/s3-presigned-post";
import { expect, test } from "vitest";
import { CREDS, uniqueBucket } from "./helpers.js";

const BUILT = resolve(import.meta.dirname, "../../dist/storage-server/index.js");

test("dist/storage-server, run by plain node, accepts a presigned POST form upload", async () => {
  expect(existsSync(BUILT), "run `npm run build` first").toBe(true);
  const root = await mkdtemp(join(tmpdir(), "fs-built-"));
  const script = `
    const { startStorageServer } = await import(${JSON.stringify(pathToFileURL(BUILT).href)});
    const server = await startStorageServer({ root: ${JSON.stringify(root)}, credentials: [${JSON.stringify(CREDS)}] });
    console.log(server.url);
    process.stdin.resume();
    process.stdin.on("end", () => server.close().then(() => process.exit(0)));`;
  const child = spawn(process.execPath, ["--input-type=module", "-e", script], {
    stdio: ["pipe", "pipe", "pipe"],
  });
  let stderr = "";
  child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
  const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
  const url = await new Promise<string>((resolveUrl, reject) => {
    let out = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => {
      out += d;
      if (out.includes("\n")) resolveUrl(out.trim());
    });
    void exited.then((code) => reject(new Error(`server exited (${code}): ${stderr}`)));
  });
  const s3 = new S3Client({ endpoint: url, region: "auto", credentials: CREDS });
  try {
    const bucket = uniqueBucket("built");
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    const { fields } = await createPresignedPost(s3, { Bucket: bucket, Key: "k.txt" });
    const form = new FormData();
    for (const [k, v] of Object.entries(fields)) form.append(k, v);
    form.append("file", new Blob(["built"]), "k.txt");
    const res = await fetch(`${url}/${bucket}`, { method: "POST", body: form });
    expect(res.status, await res.text()).toBe(204);
  } finally {
    s3.destroy();
    child.stdin.end();
    await exited;
    await rm(root, { recursive: true, force: true });
  }
});
