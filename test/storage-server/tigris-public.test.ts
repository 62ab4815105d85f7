/**
 * `@tigrisdata/storage`, unchanged, for what browser apps do with it: public buckets (readable, not
 * listable unless asked), public objects whose returned URL is a plain unsigned link, bucket CORS
 * through Tigris's JSON settings, and signed POST uploads (`getSignedUploadUrl` with a size limit).
 */
import { HeadObjectCommand } from "@aws-sdk/client-s3";
import {
  createBucket,
  getSignedUploadUrl,
  put,
  setBucketCors,
  setObjectAccess,
  updateBucket,
} from "@tigrisdata/storage";
import { afterAll, beforeAll, expect, test } from "vitest";
import { CREDS, errorCode, raw, startHarness, uniqueBucket } from "./helpers.js";
import type { Harness } from "./helpers.js";

let h: Harness;
let config: { endpoint: string; accessKeyId: string; secretAccessKey: string };

beforeAll(async () => {
  h = await startHarness();
  config = { endpoint: h.server.url, accessKeyId: CREDS.accessKeyId, secretAccessKey: CREDS.secretAccessKey };
});
afterAll(async () => {
  await h.close();
});

function ok<T>(r: { data?: T; error?: Error }): T {
  if (r.error) throw r.error;
  return r.data as T;
}

function anon(path: string): ReturnType<typeof raw> {
  return raw(h.server.url, { method: "GET", path });
}

test("a public bucket: objects readable by plain URL, listing only when enabled", async () => {
  const b = uniqueBucket("tpub");
  ok(await createBucket(b, { access: "public", config }));
  const putResult = ok(await put("logo.txt", "logo", { config: { ...config, bucket: b } }));
  expect(putResult.url).toContain(`/${b}/logo.txt`);
  expect((await anon(`/${b}/logo.txt`)).body).toBe("logo");
  // The SDK creates public buckets without directory listing.
  expect((await anon(`/${b}?list-type=2`)).status).toBe(403);
  expect((await anon(`/${b}/missing`)).status).toBe(403);
  ok(await updateBucket(b, { disableDirectoryListing: false, config }));
  expect((await anon(`/${b}?list-type=2`)).body).toContain("<Key>logo.txt</Key>");
  expect((await anon(`/${b}/missing`)).status).toBe(404);
  ok(await updateBucket(b, { access: "private", config }));
  expect((await anon(`/${b}/logo.txt`)).status).toBe(403);
});

test("a public object in a private bucket: the returned URL works without credentials", async () => {
  const b = uniqueBucket("tprv");
  ok(await createBucket(b, { config }));
  const pub = ok(await put("avatar.txt", "me", { access: "public", config: { ...config, bucket: b } }));
  expect(pub.url).not.toContain("X-Amz-Signature");
  const res = await fetch(pub.url);
  expect(res.status).toBe(200);
  expect(await res.text()).toBe("me");
  ok(await put("secret.txt", "s", { config: { ...config, bucket: b } }));
  expect((await anon(`/${b}/secret.txt`)).status).toBe(403);
  ok(await setObjectAccess("secret.txt", { access: "public", config: { ...config, bucket: b } }));
  expect((await anon(`/${b}/secret.txt`)).body).toBe("s");
});

test("setBucketCors (Tigris JSON settings) is applied to preflights", async () => {
  const b = uniqueBucket("tcors");
  ok(await createBucket(b, { config }));
  ok(
    await setBucketCors(b, {
      rules: [{ allowedOrigins: "http://app.example", allowedMethods: "GET,PUT", maxAge: 60 }],
      config,
    }),
  );
  const pre = await raw(h.server.url, {
    method: "OPTIONS",
    path: `/${b}/k`,
    headers: { Origin: "http://app.example", "Access-Control-Request-Method": "PUT" },
  });
  expect(pre.status).toBe(200);
  expect(pre.headers["access-control-max-age"]).toBe("60");
  ok(await setBucketCors(b, { rules: [], config }));
  const gone = await raw(h.server.url, {
    method: "OPTIONS",
    path: `/${b}/k`,
    headers: { Origin: "http://app.example", "Access-Control-Request-Method": "PUT" },
  });
  expect(gone.status).toBe(403);
});

test("getSignedUploadUrl with a size limit is a POST policy the server enforces", async () => {
  const b = uniqueBucket("tpost");
  ok(await createBucket(b, { config }));
  const upload = ok(
    await getSignedUploadUrl("up/file.txt", {
      maxSize: 10,
      contentType: "text/plain",
      metadata: { Source: "browser" },
      config: { ...config, bucket: b },
    }),
  );
  if (upload.method !== "POST") throw new Error(`expected a POST upload, got ${upload.method}`);
  const fields = upload.fields;
  const send = async (text: string): Promise<Response> => {
    const form = new FormData();
    for (const [k, v] of Object.entries(fields)) form.append(k, v);
    form.append("file", new Blob([text], { type: "text/plain" }), "file.txt");
    return fetch(upload.url, { method: "POST", body: form });
  };
  expect((await send("small")).status).toBe(204);
  const big = await send("far too large");
  expect(big.status).toBe(400);
  expect(errorCode(await big.text())).toBe("EntityTooLarge");
  const head = await h.s3.send(new HeadObjectCommand({ Bucket: b, Key: "up/file.txt" }));
  expect(head.ContentLength).toBe(5);
  expect(head.Metadata).toEqual({ source: "browser" });
});
