/**
 * A real browser (Debian's chromium through playwright-core) against the embedded store: a page served
 * by a local app server on another origin uploads by HTML form POST and by `fetch` (CORS, preflights
 * included), reads a public-read object by `<img>` and `fetch`, and is refused where S3 refuses it.
 * The browser is launched once for the file. Skipped (with a message) where chromium is not installed,
 * except in CI, which installs it (.ci/run).
 */
import { existsSync } from "node:fs";
import { createServer } from "node:http";
import type { Server } from "node:http";
import type { S3Client } from "@aws-sdk/client-s3";
import {
  CreateBucketCommand,
  GetObjectCommand,
  HeadObjectCommand,
  PutBucketCorsCommand,
  PutObjectCommand,
} from "@aws-sdk/client-s3";
import { createPresignedPost } from "@aws-sdk/s3-presigned-post";
import { getSignedUrl } from "@aws-sdk/s3-request-presigner";
import { chromium } from "playwright-core";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { browserPresigner, s3Error, startHarness, uniqueBucket } from "./helpers.js";
import type { Harness } from "./helpers.js";

const CHROMIUM = process.env.FORKSTACK_CHROMIUM ?? "/usr/bin/chromium";
const HAVE_CHROMIUM = existsSync(CHROMIUM);
// CI installs chromium (.ci/run): there a missing browser is a failure, not a quiet skip.
if (!HAVE_CHROMIUM && process.env.CI) throw new Error(`browser.test.ts: ${CHROMIUM} is not installed`);
if (!HAVE_CHROMIUM) console.warn(`browser.test.ts: ${CHROMIUM} not found; skipping the browser tests`);

/** A 1×1 PNG, so `<img>` has something real to decode. */
const PNG = Buffer.from(
  "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==",
  "base64",
);

let h: Harness;
let browser: Browser;
let app: Server;
/** The page origin the bucket's CORS rules allow, and one they do not (another port). */
let appOrigin: string;
let otherOrigin: string;
let other: Server;
const pages = new Map<string, string>();
let bucket: string;
/** Presigns PUTs the way a browser app's backend would (no checksum of an empty body baked in). */
let presigner: S3Client;

function serve(): Promise<{ server: Server; origin: string }> {
  const server = createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0]!;
    res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
    res.end(pages.get(path) ?? "<!doctype html><title>app</title><p>app page</p>");
  });
  return new Promise((resolve) =>
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      // `localhost` vs the store's `127.0.0.1`: a different origin, as an app and its bucket are.
      resolve({ server, origin: `http://localhost:${port}` });
    }),
  );
}

beforeAll(async () => {
  if (!HAVE_CHROMIUM) return;
  h = await startHarness();
  presigner = browserPresigner(h.server.url);
  ({ server: app, origin: appOrigin } = await serve());
  ({ server: other, origin: otherOrigin } = await serve());
  bucket = uniqueBucket("web");
  await h.s3.send(new CreateBucketCommand({ Bucket: bucket }));
  await h.s3.send(
    new PutBucketCorsCommand({
      Bucket: bucket,
      CORSConfiguration: {
        CORSRules: [
          {
            AllowedOrigins: [appOrigin],
            AllowedMethods: ["GET", "PUT", "POST"],
            AllowedHeaders: ["*"],
            ExposeHeaders: ["ETag"],
          },
        ],
      },
    }),
  );
  await h.s3.send(
    new PutObjectCommand({
      Bucket: bucket,
      Key: "public.png",
      Body: PNG,
      ContentType: "image/png",
      ACL: "public-read",
    }),
  );
  await h.s3.send(
    new PutObjectCommand({ Bucket: bucket, Key: "private.png", Body: PNG, ContentType: "image/png" }),
  );
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    // Root in CI needs --no-sandbox; containers often have a tiny /dev/shm.
    args: ["--no-sandbox", "--disable-background-networking", "--disable-dev-shm-usage"],
    headless: true,
  });
}, 60_000);

afterAll(async () => {
  await browser?.close();
  app?.close();
  other?.close();
  presigner?.destroy();
  await h?.close();
});

async function openApp(origin = appOrigin, path = "/"): Promise<Page> {
  const page = await browser.newPage();
  await page.goto(`${origin}${path}`);
  return page;
}

async function stored(key: string): Promise<string> {
  const got = await h.s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return got.Body!.transformToString();
}

async function absent(key: string): Promise<void> {
  expect((await s3Error(h.s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key })))).name).toBe(
    "NotFound",
  );
}

describe.skipIf(!HAVE_CHROMIUM)("a browser on another origin", () => {
  test("uploads with a plain HTML form and lands on success_action_redirect", async () => {
    const { url, fields } = await createPresignedPost(h.s3, {
      Bucket: bucket,
      Key: "forms/${filename}",
      Fields: { success_action_redirect: `${appOrigin}/uploaded`, "Content-Type": "text/plain" },
      Conditions: [["content-length-range", 1, 1024]],
    });
    const inputs = Object.entries(fields)
      .map(([k, v]) => `<input type="hidden" name="${k}" value="${v.replace(/"/g, "&quot;")}">`)
      .join("");
    pages.set(
      "/form",
      `<!doctype html><meta charset="utf-8"><form action="${url}" method="post" enctype="multipart/form-data">` +
        `${inputs}<input type="file" name="file"><button type="submit">Upload</button></form>`,
    );
    const page = await openApp(appOrigin, "/form");
    await page.setInputFiles("input[type=file]", {
      name: "note.txt",
      mimeType: "text/plain",
      buffer: Buffer.from("sent by a real form"),
    });
    await Promise.all([page.waitForURL(`${appOrigin}/uploaded?**`), page.click("button")]);
    const landed = new URL(page.url());
    expect(landed.searchParams.get("bucket")).toBe(bucket);
    expect(landed.searchParams.get("key")).toBe("forms/note.txt");
    expect(landed.searchParams.get("etag")).toMatch(/^"[0-9a-f]{32}"$/);
    expect(await stored("forms/note.txt")).toBe("sent by a real form");
    await page.close();
  });

  test("uploads by fetch + FormData (CORS) and reads the exposed ETag; a policy violation is an error the page can read", async () => {
    const { url, fields } = await createPresignedPost(h.s3, {
      Bucket: bucket,
      Key: "fetch/data.txt",
      Conditions: [["content-length-range", 1, 16]],
    });
    const page = await openApp();
    const upload = (text: string): Promise<{ status: number; etag: string | null; body: string }> =>
      page.evaluate(
        async ({ url, fields, text }) => {
          const form = new FormData();
          for (const [k, v] of Object.entries(fields)) form.append(k, v);
          form.append("file", new Blob([text], { type: "text/plain" }), "data.txt");
          const res = await fetch(url, { method: "POST", body: form });
          return { status: res.status, etag: res.headers.get("ETag"), body: await res.text() };
        },
        { url, fields, text },
      );
    const ok = await upload("from fetch");
    expect(ok.status).toBe(204);
    expect(ok.etag).toMatch(/^"[0-9a-f]{32}"$/);
    expect(await stored("fetch/data.txt")).toBe("from fetch");
    const tooBig = await upload("x".repeat(17));
    expect(tooBig.status).toBe(400);
    expect(tooBig.body).toContain("<Code>EntityTooLarge</Code>");
    expect(await stored("fetch/data.txt")).toBe("from fetch");
    await page.close();
  });

  test("PUTs to a presigned URL after a successful preflight", async () => {
    const url = await getSignedUrl(
      presigner,
      new PutObjectCommand({ Bucket: bucket, Key: "presigned/put.json", ContentType: "application/json" }),
      { expiresIn: 300 },
    );
    const page = await openApp();
    const r = await page.evaluate(async (url) => {
      const res = await fetch(url, {
        method: "PUT",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ ok: true }),
      });
      return { status: res.status, etag: res.headers.get("ETag") };
    }, url);
    expect(r.status).toBe(200);
    expect(r.etag).toMatch(/^"[0-9a-f]{32}"$/);
    expect(await stored("presigned/put.json")).toBe('{"ok":true}');
    await page.close();
  });

  test("a preflight from an origin or for a method the rules do not allow fails the fetch; nothing is stored", async () => {
    const put = await getSignedUrl(
      presigner,
      new PutObjectCommand({ Bucket: bucket, Key: "denied/put.txt" }),
      {
        expiresIn: 300,
      },
    );
    const strange = await openApp(otherOrigin);
    const fromOther = await strange.evaluate(async (url) => {
      try {
        await fetch(url, { method: "PUT", headers: { "Content-Type": "text/plain" }, body: "nope" });
        return "sent";
      } catch (error) {
        return String(error);
      }
    }, put);
    expect(fromOther).toContain("TypeError");
    await strange.close();
    await absent("denied/put.txt");

    const page = await openApp();
    const del = await page.evaluate(async (url) => {
      try {
        await fetch(url, { method: "DELETE" });
        return "sent";
      } catch (error) {
        return String(error);
      }
    }, `${h.server.url}/${bucket}/public.png`);
    expect(del).toContain("TypeError");
    await page.close();
    expect(await stored("public.png")).toBe(PNG.toString());
  });

  test("reads a public-read object by <img> and by fetch; a private one is refused", async () => {
    const page = await openApp();
    const result = await page.evaluate(async (base) => {
      const load = (src: string): Promise<string> =>
        new Promise((resolve) => {
          // The page's DOM Image (this project's TypeScript has no DOM types).
          interface Img {
            onload: () => void;
            onerror: () => void;
            src: string;
            naturalWidth: number;
            naturalHeight: number;
          }
          const img = new (globalThis as unknown as { Image: new () => Img }).Image();
          img.onload = () => resolve(`loaded ${img.naturalWidth}x${img.naturalHeight}`);
          img.onerror = () => resolve("error");
          img.src = src;
        });
      const publicImg = await load(`${base}/public.png`);
      const privateImg = await load(`${base}/private.png`);
      const res = await fetch(`${base}/public.png`);
      const bytes = (await res.arrayBuffer()).byteLength;
      const denied = await fetch(`${base}/private.png`);
      return { publicImg, privateImg, status: res.status, bytes, deniedStatus: denied.status };
    }, `${h.server.url}/${bucket}`);
    expect(result).toEqual({
      publicImg: "loaded 1x1",
      privateImg: "error",
      status: 200,
      bytes: PNG.length,
      deniedStatus: 403,
    });
    await page.close();
  });
});
