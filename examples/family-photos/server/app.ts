/**
 * The HTTP API under `/api`. Everything env-specific comes in through `Services`, which `services.ts`
 * builds from the current env; the routes themselves know nothing about forkstack.
 */
import { randomUUID } from "node:crypto";
import type { Client } from "@libsql/client";
import { Hono, type Context } from "hono";
import { deleteCookie, getSignedCookie, setSignedCookie } from "hono/cookie";
import { createMiddleware } from "hono/factory";
import type { Activity } from "./activity.js";
import { addComment, addPerson, addPhoto, listPhotos, photoExists } from "./db.js";
import type { PhotoStore } from "./storage.js";

export interface Services {
  /** The env's name, shown in the banner. */
  env: string;
  /** Production envs get a red banner. */
  production: boolean;
  /** Where the data lives (the database URL's scheme: `file`, `libsql`, …), never a credential. */
  database: string;
  db: Client;
  photos: PhotoStore;
  activity: Activity;
  /** Signs the session cookie: `secret("SESSION_SECRET")`. */
  sessionSecret: string;
}

const COOKIE = "family_photos_session";
const NAME = /^[\p{L}\p{N} .'-]{1,40}$/u;

async function body(c: Context): Promise<Record<string, unknown>> {
  return ((await c.req.json().catch(() => ({}))) ?? {}) as Record<string, unknown>;
}

function text(value: unknown, max: number): string | undefined {
  if (typeof value !== "string") return undefined;
  const trimmed = value.trim();
  return trimmed.length > 0 && trimmed.length <= max ? trimmed : undefined;
}

export function createApp(s: Services): Hono {
  const app = new Hono();
  const api = new Hono();

  const signedIn = createMiddleware<{ Variables: { who: string } }>(async (c, next) => {
    const who = await getSignedCookie(c, s.sessionSecret, COOKIE);
    if (!who) return c.json({ error: "Sign in first." }, 401);
    c.set("who", who);
    await next();
  });

  api.get("/env", (c) =>
    c.json({
      env: s.env,
      production: s.production,
      database: s.database,
      bucket: s.photos.bucket,
    }),
  );

  api.post("/session", async (c) => {
    const name = text((await body(c)).name, 40);
    if (!name || !NAME.test(name)) return c.json({ error: "A name of letters, up to 40." }, 400);
    await addPerson(s.db, name);
    await s.activity.record(name, "joined");
    await setSignedCookie(c, COOKIE, name, s.sessionSecret, { httpOnly: true, sameSite: "Lax", path: "/" });
    return c.json({ name });
  });

  api.get("/session", async (c) => {
    const who = await getSignedCookie(c, s.sessionSecret, COOKIE);
    return who ? c.json({ name: who }) : c.json({ error: "Not signed in." }, 401);
  });

  api.delete("/session", (c) => {
    deleteCookie(c, COOKIE, { path: "/" });
    return c.body(null, 204);
  });

  api.get("/photos", async (c) => {
    const photos = await listPhotos(s.db);
    const withUrls = await Promise.all(
      photos.map(async (p) => ({ ...p, thumbUrl: await s.photos.viewUrl(p.thumbKey) })),
    );
    return c.json(withUrls);
  });

  // Step 1 of an upload: a presigned POST for a fresh key; the browser sends the file to the bucket.
  api.post("/uploads", signedIn, async (c) => {
    const contentType = text((await body(c)).contentType, 100);
    if (!contentType?.startsWith("image/")) return c.json({ error: "Only images." }, 400);
    await s.photos.allowOrigin(new URL(c.req.url).origin);
    const id = randomUUID();
    const ticket = await s.photos.uploadTicket(`originals/${id}`, contentType);
    return c.json({ id, ...ticket });
  });

  // Step 2: the upload is in the bucket; make its thumbnail and put it in the feed.
  api.post("/photos", signedIn, async (c) => {
    const input = await body(c);
    const id = typeof input.id === "string" && /^[0-9a-f-]{36}$/.test(input.id) ? input.id : undefined;
    if (!id) return c.json({ error: "Unknown upload." }, 400);
    if (await photoExists(s.db, id)) return c.json({ error: "Already posted." }, 409);
    const caption = text(input.caption, 200) ?? "";
    const originalKey = `originals/${id}`;
    const thumbKey = `thumbs/${id}.webp`;
    const size = await s.photos.makeThumbnail(originalKey, thumbKey);
    if (!size) return c.json({ error: "Nothing was uploaded for this photo." }, 400);
    const owner = c.get("who");
    await addPhoto(s.db, { id, owner, caption, originalKey, thumbKey, ...size });
    await s.activity.record(owner, "photo", id);
    return c.json({ id, thumbUrl: await s.photos.viewUrl(thumbKey) }, 201);
  });

  api.post("/photos/:id/comments", signedIn, async (c) => {
    const id = c.req.param("id");
    const words = text((await body(c)).body, 500);
    if (!words) return c.json({ error: "Say something (up to 500 characters)." }, 400);
    if (!(await photoExists(s.db, id))) return c.json({ error: "No such photo." }, 404);
    const comment = await addComment(s.db, id, c.get("who"), words);
    await s.activity.record(c.get("who"), "comment", id);
    return c.json(comment, 201);
  });

  api.get("/activity", async (c) => c.json(await s.activity.byPerson()));

  app.route("/api", api);
  return app;
}
