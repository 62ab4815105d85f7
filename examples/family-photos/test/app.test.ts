/**
 * The app in a real browser (Debian's chromium through playwright-core), the way a developer uses
 * forkstack with it: in env alice, sign in, upload a photo, see its thumbnail, comment; switch to dev:
 * none of it is there (while alice's app still runs beside it); reset alice: her photo is gone; delete
 * alice: nothing of her env remains. `SCREENSHOTS=<dir>` saves the main pages there.
 */
import { existsSync } from "node:fs";
import { mkdir, readFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { ListBucketsCommand, ListObjectsV2Command, S3Client } from "@aws-sdk/client-s3";
import { chromium, type Browser, type Page } from "playwright-core";
import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EXAMPLE, freePort, ok, run, start, tempProject, type Started } from "./helpers.js";

const CHROMIUM = process.env.FORKSTACK_CHROMIUM ?? "/usr/bin/chromium";
const HAVE_CHROMIUM = existsSync(CHROMIUM);
// CI installs chromium: there a missing browser is a failure, not a quiet skip.
if (!HAVE_CHROMIUM && process.env.CI) throw new Error(`${CHROMIUM} is not installed`);
if (!HAVE_CHROMIUM) console.warn(`${CHROMIUM} not found: skipping the browser tests`);
/** A bound for what a loaded machine may take (Vite optimizing its dependencies on first load). */
const SLOW = { timeout: 20_000 };
const SHOTS = process.env.SCREENSHOTS ? resolve(EXAMPLE, process.env.SCREENSHOTS) : undefined;

let project: Awaited<ReturnType<typeof tempProject>>;
let browser: Browser;
const running = new Set<Started>();

const BIN = join(EXAMPLE, "node_modules/forkstack/bin/forkstack.mjs");
const forkstack = (...args: string[]) => ok(process.execPath, [BIN, ...args], project.dir);

/** `npm start` in the project: the built app under `forkstack run`, in the current env unless `env`. */
async function startApp(env?: string): Promise<Started> {
  const app = await start(["start"], project.dir, /on (http:\/\/\S+)/, {
    PORT: String(await freePort()),
    ...(env ? { FORKSTACK_ENV: env } : {}),
  });
  running.add(app);
  return app;
}

async function stopApp(app: Started): Promise<void> {
  running.delete(app);
  await app.stop();
}

/** An S3 client with the given endpoint and key. */
function clientOf(endpoint: string, accessKeyId: string, secretAccessKey: string): S3Client {
  return new S3Client({
    endpoint,
    region: "auto",
    forcePathStyle: true,
    credentials: { accessKeyId, secretAccessKey },
  });
}

/** A bucket client with an env's own key, which reaches that env's buckets alone. */
async function s3(env: string): Promise<S3Client> {
  const { variables } = JSON.parse(await forkstack("env", env, "--json", "--reveal")) as {
    variables: Record<string, string>;
  };
  return clientOf(
    variables.AWS_ENDPOINT_URL_S3!,
    variables.AWS_ACCESS_KEY_ID!,
    variables.AWS_SECRET_ACCESS_KEY!,
  );
}

/** A client with the project's own key (the CLI's, which sees every bucket), for what no env can see. */
async function projectS3(): Promise<S3Client> {
  const storage = join(project.dir, ".forkstack/storage");
  const { accessKeyId, secretAccessKey } = JSON.parse(
    await readFile(join(storage, "credentials.json"), "utf8"),
  );
  const { port } = JSON.parse(await readFile(join(storage, "server.json"), "utf8"));
  return clientOf(`http://127.0.0.1:${port}`, accessKeyId, secretAccessKey);
}

/** The keys in an env's default bucket, read with that env's key. */
async function keysIn(env: string): Promise<string[]> {
  const client = await s3(env);
  try {
    const listed = await client.send(new ListObjectsV2Command({ Bucket: `photos-bucket-${env}` }));
    return (listed.Contents ?? []).map((o) => o.Key!).sort();
  } finally {
    client.destroy();
  }
}

async function screenshot(page: Page, name: string): Promise<void> {
  if (!SHOTS) return;
  await mkdir(SHOTS, { recursive: true });
  await page.screenshot({ path: join(SHOTS, `family-photos-${name}.png`) });
}

/** A holiday snap: an SVG scene rendered to a JPEG, so the thumbnail has something to show. */
function beachPhoto(): Promise<Buffer> {
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="1200" height="800">
    <rect width="1200" height="480" fill="#8fd3f4"/><circle cx="930" cy="170" r="90" fill="#ffd166"/>
    <rect y="480" width="1200" height="140" fill="#1d78b5"/><rect y="620" width="1200" height="180" fill="#f2d492"/>
    <path d="M140 620 q60-220 40-330 M180 290 q-90 10-130 70 M180 290 q70-30 140 20" stroke="#3d6b35" stroke-width="18" fill="none"/>
  </svg>`;
  return sharp(Buffer.from(svg)).jpeg({ quality: 85 }).toBuffer();
}

async function signIn(page: Page, url: string, name: string): Promise<void> {
  await page.goto(url);
  await page.fill("input[name=name]", name);
  await page.click("button[type=submit]");
  await page.waitForSelector("nav");
}

beforeAll(async () => {
  project = await tempProject();
  // As a newcomer would: setup makes dev (a fresh clone has none), alice, and the session secret.
  await ok("npm", ["run", "setup", "--", "alice"], project.dir);
  if (HAVE_CHROMIUM) {
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      // Root in CI needs --no-sandbox; nothing here should reach the network.
      args: ["--no-sandbox", "--disable-background-networking", "--disable-dev-shm-usage"],
    });
  }
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await Promise.all([...running].map((app) => app.stop()));
  if (project) {
    await run(process.execPath, [BIN, "down"], project.dir);
    await project.remove();
  }
});

describe.skipIf(!HAVE_CHROMIUM)("family photos on forked envs", () => {
  let alice: Started;
  let page: Page;

  it("in alice: sign in, upload a photo, see its thumbnail, comment", async () => {
    alice = await startApp();
    page = await browser.newPage({ viewport: { width: 900, height: 760 } });
    await page.goto(alice.url);
    await expect.poll(() => page.getAttribute("header.banner", "data-env"), SLOW).toBe("alice");
    await screenshot(page, "sign-in");
    await signIn(page, alice.url, "Grandma");

    await page.setInputFiles("input[type=file]", {
      name: "beach.jpg",
      mimeType: "image/jpeg",
      buffer: await beachPhoto(),
    });
    await page.fill("input[name=caption]", "Beach day");
    await page.click("form.upload button[type=submit]");
    const thumb = page.locator("article.photo img");
    await thumb.waitFor();
    // The thumbnail really loaded from the bucket (a broken image has no natural width).
    await expect.poll(() => thumb.evaluate((img: HTMLImageElement) => img.naturalWidth), SLOW).toBe(480);
    expect(await page.textContent("article.photo .caption")).toBe("Grandma Beach day");

    await page.fill("input[name=comment]", "Lovely!");
    await page.click("article.photo button[type=submit]");
    await page.locator(".comments li", { hasText: "Lovely!" }).waitFor();
    expect(await page.textContent(".comments li")).toBe("Grandma Lovely!");
    await screenshot(page, "feed");

    await page.click("a[href='#/activity']");
    const row = page.locator(".activity tbody tr", { hasText: "Grandma" });
    await row.waitFor();
    expect(await row.locator("td").allTextContents()).toEqual([
      "Grandma",
      "1",
      "1",
      expect.stringMatching(/^\d{4}-/),
    ]);
    await screenshot(page, "activity");

    const keys = await keysIn("alice");
    expect(keys).toHaveLength(2);
    expect(keys[0]).toMatch(/^originals\//);
    expect(keys[1]).toMatch(/^thumbs\/.*\.webp$/);
  });

  it("switch to dev: none of it is there, while alice's app goes on beside it", async () => {
    await forkstack("switch", "dev");
    const dev = await startApp();
    try {
      const devPage = await browser.newPage({ viewport: { width: 900, height: 520 } });
      await devPage.goto(dev.url);
      await expect.poll(() => devPage.getAttribute("header.banner", "data-env"), SLOW).toBe("dev");
      await signIn(devPage, dev.url, "Grandpa");
      await devPage.locator(".empty").waitFor();
      expect(await devPage.locator("article.photo").count()).toBe(0);
      await screenshot(devPage, "dev-empty");
      await devPage.click("a[href='#/activity']");
      await devPage.locator(".activity tbody tr").first().waitFor();
      expect(await devPage.locator(".activity tbody td:first-child").allTextContents()).toEqual(["Grandpa"]);
      await devPage.close();
      expect(await keysIn("dev")).toEqual([]);

      // alice's app, started before the switch, still serves alice's photo.
      await page.goto(alice.url);
      await page.locator("article.photo").waitFor();
      expect(await page.getAttribute("header.banner", "data-env")).toBe("alice");
    } finally {
      await stopApp(dev);
    }
  });

  it("reset alice: refused while her app holds the database, then her photo is gone", async () => {
    const busy = await run(process.execPath, [BIN, "reset", "alice"], project.dir);
    expect(busy.code).toBe(1);
    expect(busy.stderr).toMatch(/alice/);
    await stopApp(alice);

    await forkstack("reset", "alice");
    const again = await startApp("alice");
    try {
      await page.goto(again.url);
      await page.locator(".empty").waitFor(); // the session cookie (signed with alice's secret) still holds
      expect(await page.locator("article.photo").count()).toBe(0);
      expect(await keysIn("alice")).toEqual([]);
    } finally {
      await stopApp(again);
    }
  });

  it("the README's throwaway fork: new --from alice, switch back, delete", async () => {
    await forkstack("new", "experiment", "--from", "alice");
    expect((await forkstack("current")).trim()).toBe("experiment");
    await forkstack("switch", "alice");
    await forkstack("delete", "experiment", "--yes");
    expect((await forkstack("current")).trim()).toBe("alice");
  });

  it("delete alice: nothing of her env remains", async () => {
    await forkstack("delete", "alice", "--yes");
    const envs = JSON.parse(await forkstack("list", "--json")) as { name: string }[];
    expect(envs.map((e) => e.name)).toEqual(["dev"]);
    expect(existsSync(join(project.dir, ".forkstack/envs/alice"))).toBe(false);
    expect(existsSync(join(project.dir, "photos.alice.db"))).toBe(false);
    const client = await projectS3();
    try {
      const { Buckets = [] } = await client.send(new ListBucketsCommand({}));
      expect(Buckets.map((b) => b.Name)).toEqual(["photos-bucket-dev"]);
    } finally {
      client.destroy();
    }
  });
});

describe.skipIf(!HAVE_CHROMIUM)("npm run dev", () => {
  it("serves the front end with the API of the current env (Vite, one port)", async () => {
    await forkstack("switch", "dev");
    const dev = await start(
      ["run", "dev", "--", "--port", String(await freePort()), "--strictPort", "--host", "127.0.0.1"],
      project.dir,
      /Local:\s+(http:\/\/[\d.:]+)/,
      {},
    );
    running.add(dev);
    try {
      const page = await browser.newPage();
      await page.goto(dev.url);
      await expect.poll(() => page.getAttribute("header.banner", "data-env"), SLOW).toBe("dev");
      await signIn(page, dev.url, "Grandpa");
      expect(await page.locator("nav .me").textContent()).toContain("Grandpa");
      await page.close();
    } finally {
      running.delete(dev);
      await dev.stop();
    }
  });
});
