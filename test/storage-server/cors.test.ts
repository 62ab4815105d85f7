/**
 * Bucket CORS: configuration stored with the SDK's Put/Get/DeleteBucketCors, applied to preflight
 * OPTIONS (200 with the matching rule's headers, 403 when nothing matches or nothing is configured,
 * 400 without Origin / a valid Access-Control-Request-Method) and to actual responses, errors included.
 * The browser side of the same rules is in browser.test.ts.
 */
import {
  CreateBucketCommand,
  DeleteBucketCorsCommand,
  GetBucketCorsCommand,
  PutBucketCorsCommand,
  PutObjectCommand,
} from "@aws-sdk/client-s3";
import type { CORSRule } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { errorCode, raw, s3Error, signedRaw, startHarness, uniqueBucket } from "./helpers.js";
import type { Harness } from "./helpers.js";

let h: Harness;
let bucket: string;

const RULES: CORSRule[] = [
  {
    ID: "app",
    AllowedOrigins: ["http://app.example"],
    AllowedMethods: ["GET", "PUT", "POST"],
    AllowedHeaders: ["content-type", "x-amz-*"],
    ExposeHeaders: ["ETag", "x-amz-request-id"],
    MaxAgeSeconds: 600,
  },
  { AllowedOrigins: ["https://*.preview.example"], AllowedMethods: ["GET", "HEAD"] },
  { AllowedOrigins: ["*"], AllowedMethods: ["GET"] },
];

beforeAll(async () => {
  h = await startHarness();
  bucket = uniqueBucket("cors");
  await h.s3.send(new CreateBucketCommand({ Bucket: bucket }));
  await h.s3.send(new PutBucketCorsCommand({ Bucket: bucket, CORSConfiguration: { CORSRules: RULES } }));
  await h.s3.send(new PutObjectCommand({ Bucket: bucket, Key: "obj.txt", Body: "hi" }));
});
afterAll(async () => {
  await h.close();
});

function preflight(
  path: string,
  origin: string | undefined,
  method: string | undefined,
  headers?: string,
): ReturnType<typeof raw> {
  const hdrs: Record<string, string> = {};
  if (origin !== undefined) hdrs.Origin = origin;
  if (method !== undefined) hdrs["Access-Control-Request-Method"] = method;
  if (headers !== undefined) hdrs["Access-Control-Request-Headers"] = headers;
  return raw(h.server.url, { method: "OPTIONS", path, headers: hdrs });
}

describe("configuration", () => {
  test("round-trips through the SDK and is deleted", async () => {
    const b = uniqueBucket("cors-rt");
    await h.s3.send(new CreateBucketCommand({ Bucket: b }));
    expect((await s3Error(h.s3.send(new GetBucketCorsCommand({ Bucket: b })))).name).toBe(
      "NoSuchCORSConfiguration",
    );
    await h.s3.send(new PutBucketCorsCommand({ Bucket: b, CORSConfiguration: { CORSRules: RULES } }));
    const got = await h.s3.send(new GetBucketCorsCommand({ Bucket: b }));
    expect(got.CORSRules).toEqual(
      [
        RULES[0],
        { ...RULES[1], AllowedHeaders: undefined, ExposeHeaders: undefined },
        { ...RULES[2], AllowedHeaders: undefined, ExposeHeaders: undefined },
      ].map((r) => JSON.parse(JSON.stringify(r)) as CORSRule),
    );
    await h.s3.send(new DeleteBucketCorsCommand({ Bucket: b }));
    expect((await s3Error(h.s3.send(new GetBucketCorsCommand({ Bucket: b })))).name).toBe(
      "NoSuchCORSConfiguration",
    );
    expect((await preflight(`/${b}/x`, "http://app.example", "GET")).status).toBe(403);
  });

  test("invalid configurations are refused with S3's errors", async () => {
    const put = (rules: CORSRule[]): Promise<unknown> =>
      h.s3.send(new PutBucketCorsCommand({ Bucket: bucket, CORSConfiguration: { CORSRules: rules } }));
    const bad = await s3Error(put([{ AllowedOrigins: ["*"], AllowedMethods: ["PATCH"] }]));
    expect(bad.name).toBe("InvalidRequest");
    expect(bad.message).toContain("Unsupported method is PATCH");
    const twoStars = await s3Error(
      put([{ AllowedOrigins: ["http://*.*.example"], AllowedMethods: ["GET"] }]),
    );
    expect(twoStars.name).toBe("InvalidRequest");
    expect((await s3Error(put([{ AllowedOrigins: [], AllowedMethods: ["GET"] }]))).name).toBe("MalformedXML");
    const tooMany = Array.from({ length: 101 }, () => ({ AllowedOrigins: ["*"], AllowedMethods: ["GET"] }));
    expect((await s3Error(put(tooMany))).name).toBe("InvalidRequest");
    const xml = await signedRaw(h.server.url, {
      method: "PUT",
      path: `/${bucket}`,
      query: "cors",
      body: "<CORSConfiguration><CORSRule>",
    });
    expect(errorCode(xml.body)).toBe("MalformedXML");
    // The stored configuration is unchanged by the refused ones.
    expect((await h.s3.send(new GetBucketCorsCommand({ Bucket: bucket }))).CORSRules).toHaveLength(3);
  });
});

describe("preflight", () => {
  test("a matching rule: origin, its methods, the requested headers, expose, max-age, credentials", async () => {
    const r = await preflight(`/${bucket}/obj.txt`, "http://app.example", "PUT", "Content-Type, X-Amz-Date");
    expect(r.status).toBe(200);
    expect(r.headers["access-control-allow-origin"]).toBe("http://app.example");
    expect(r.headers["access-control-allow-methods"]).toBe("GET, PUT, POST");
    expect(r.headers["access-control-allow-headers"]).toBe("content-type, x-amz-date");
    expect(r.headers["access-control-expose-headers"]).toBe("ETag, x-amz-request-id");
    expect(r.headers["access-control-max-age"]).toBe("600");
    expect(r.headers["access-control-allow-credentials"]).toBe("true");
    expect(String(r.headers.vary)).toContain("Origin");
  });

  test("a wildcard origin pattern and the any-origin rule (answered with *)", async () => {
    const sub = await preflight(`/${bucket}/obj.txt`, "https://pr-12.preview.example", "HEAD");
    expect(sub.status).toBe(200);
    expect(sub.headers["access-control-allow-origin"]).toBe("https://pr-12.preview.example");
    const any = await preflight(`/${bucket}`, "http://elsewhere.example", "GET");
    expect(any.status).toBe(200);
    expect(any.headers["access-control-allow-origin"]).toBe("*");
    expect(any.headers["access-control-allow-credentials"]).toBeUndefined();
  });

  test("403 AccessForbidden when no rule allows the origin, the method or a header", async () => {
    for (const [origin, method, headers] of [
      ["http://evil.example", "PUT", undefined], // origin only allowed for GET (the * rule)
      ["http://app.example", "DELETE", undefined], // method not in any rule for this origin
      ["http://app.example", "PUT", "x-custom-header"], // header not allowed
      ["https://preview.example", "HEAD", undefined], // the * needs at least the empty run before .preview
    ] as const) {
      const r = await preflight(`/${bucket}/obj.txt`, origin, method, headers);
      expect(r.status, `${origin} ${method} ${headers}`).toBe(403);
      expect(errorCode(r.body)).toBe("AccessForbidden");
      expect(r.body).toContain("CORSResponse: This CORS request is not allowed");
      expect(r.headers["access-control-allow-origin"]).toBeUndefined();
    }
  });

  test("403 'CORS is not enabled' on a bucket without configuration; 404 for a missing bucket", async () => {
    const b = uniqueBucket("cors-none");
    await h.s3.send(new CreateBucketCommand({ Bucket: b }));
    const r = await preflight(`/${b}/k`, "http://app.example", "GET");
    expect(r.status).toBe(403);
    expect(r.body).toContain("CORS is not enabled for this bucket");
    expect((await preflight("/no-such-bucket-cors/k", "http://app.example", "GET")).status).toBe(404);
    expect((await preflight("/", "http://app.example", "GET")).status).toBe(403);
  });

  test("400 without Origin or with a missing / invalid Access-Control-Request-Method", async () => {
    for (const [origin, method] of [
      [undefined, "GET"],
      ["http://app.example", undefined],
      ["http://app.example", "PATCH"],
    ] as const) {
      const r = await preflight(`/${bucket}/obj.txt`, origin, method);
      expect(r.status).toBe(400);
      expect(errorCode(r.body)).toBe("BadRequest");
    }
  });
});

describe("actual requests", () => {
  test("a matching origin gets Allow-Origin, Expose-Headers and Vary on the response", async () => {
    const r = await signedRaw(h.server.url, {
      method: "GET",
      path: `/${bucket}/obj.txt`,
      headers: { origin: "http://app.example" },
    });
    expect(r.status).toBe(200);
    expect(r.headers["access-control-allow-origin"]).toBe("http://app.example");
    expect(r.headers["access-control-expose-headers"]).toBe("ETag, x-amz-request-id");
    expect(String(r.headers.vary)).toContain("Origin");
  });

  test("no matching rule: the request is served without CORS headers", async () => {
    const r = await signedRaw(h.server.url, {
      method: "DELETE",
      path: `/${bucket}/not-there`,
      headers: { origin: "http://evil.example" },
    });
    expect(r.status).toBe(204);
    expect(r.headers["access-control-allow-origin"]).toBeUndefined();
    expect(String(r.headers.vary)).toContain("Origin");
  });

  test("error responses carry the CORS headers too (a browser app can read S3's error)", async () => {
    const r = await raw(h.server.url, {
      method: "PUT",
      path: `/${bucket}/anon.txt`,
      headers: { Origin: "http://app.example", "Content-Length": "1" },
      body: "x",
    });
    expect(r.status).toBe(403);
    expect(errorCode(r.body)).toBe("AccessDenied");
    expect(r.headers["access-control-allow-origin"]).toBe("http://app.example");
  });

  test("no Origin, or a bucket without configuration: no Access-Control headers", async () => {
    const plain = await signedRaw(h.server.url, { method: "GET", path: `/${bucket}/obj.txt` });
    expect(plain.headers["access-control-allow-origin"]).toBeUndefined();
    // …but Vary, so a browser never reuses this response (say, an <img> load) for a CORS fetch.
    expect(String(plain.headers.vary)).toContain("Origin");
    const b = uniqueBucket("cors-off");
    await h.s3.send(new CreateBucketCommand({ Bucket: b }));
    const r = await signedRaw(h.server.url, {
      method: "GET",
      path: `/${b}`,
      query: "list-type=2",
      headers: { origin: "http://app.example" },
    });
    expect(r.status).toBe(200);
    expect(r.headers["access-control-allow-origin"]).toBeUndefined();
  });
});
