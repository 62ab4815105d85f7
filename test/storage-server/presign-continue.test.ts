/**
 * Presigned URL validity answered with S3's exact codes, and `Expect: 100-continue`: the go-ahead
 * comes only for a request that will be accepted; anything refused is refused before its body.
 */
import { createHash, randomBytes } from "node:crypto";
import type { S3Client } from "@aws-sdk/client-s3";
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand } from "@aws-sdk/client-s3";
import { getSignedUrl } from "@aws-sdk/s3-request-presigner";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { browserPresigner, errorCode, startHarness, uniqueBucket } from "./helpers.js";
import type { Harness } from "./helpers.js";
import { exchange, requestHead, signHeaders } from "./wire.js";

let h: Harness;
let bucket: string;
let presigner: S3Client;
beforeAll(async () => {
  h = await startHarness();
  bucket = uniqueBucket("pre");
  await h.s3.send(new CreateBucketCommand({ Bucket: bucket }));
  await h.s3.send(new PutObjectCommand({ Bucket: bucket, Key: "k", Body: "hello" }));
  presigner = browserPresigner(h.server.url);
});
afterAll(async () => {
  presigner.destroy();
  await h.close();
});

function withParam(url: string, name: string, value: string): string {
  return url.replace(new RegExp(`([?&]${name}=)[^&]*`), `$1${value}`);
}

async function getUrl(expiresIn = 60, signingDate?: Date): Promise<string> {
  return getSignedUrl(presigner, new GetObjectCommand({ Bucket: bucket, Key: "k" }), {
    expiresIn,
    ...(signingDate ? { signingDate } : {}),
  });
}

describe("presigned URL validity", () => {
  // Out-of-range values are checked before the signature (S3 answers them even for a URL whose
  // signature no longer matches), so the tests edit X-Amz-Expires in an otherwise valid URL.
  test.each([
    ["604801", 400, "AuthorizationQueryParametersError", /must be less than a week .*604800 seconds/],
    ["9999999", 400, "AuthorizationQueryParametersError", /must be less than a week/],
    ["-1", 400, "AuthorizationQueryParametersError", /^X-Amz-Expires must be non-negative$/],
    ["abc", 400, "AuthorizationQueryParametersError", /^X-Amz-Expires should be a number$/],
    ["0", 403, "AccessDenied", /^Request has expired$/],
  ])("X-Amz-Expires=%s → %i %s", async (value, status, code, message) => {
    const reply = await fetch(withParam(await getUrl(), "X-Amz-Expires", value));
    const text = await reply.text();
    expect(reply.status).toBe(status);
    expect(errorCode(text)).toBe(code);
    expect(/<Message>([^<]*)<\/Message>/.exec(text)?.[1]).toMatch(message);
  });

  test("a URL past its expiry → 403 AccessDenied 'Request has expired'; the full week is accepted", async () => {
    const expired = await fetch(await getUrl(1, new Date(Date.now() - 5_000)));
    const text = await expired.text();
    expect(expired.status).toBe(403);
    expect(errorCode(text)).toBe("AccessDenied");
    expect(text).toContain("<Message>Request has expired</Message>");
    expect(text).toContain("<X-Amz-Expires>1</X-Amz-Expires>");

    const week = await fetch(await getUrl(604_800));
    expect(week.status).toBe(200);
    expect(await week.text()).toBe("hello");
  });
});

describe("Expect: 100-continue", () => {
  const body = randomBytes(64 * 1024);
  const sha = createHash("sha256").update(body).digest("hex");
  const base = { "content-length": String(body.length), expect: "100-continue" };

  test("an accepted upload gets 100, then 200, and is stored", async () => {
    const path = `/${bucket}/continued`;
    const headers = await signHeaders(h.server.url, "PUT", path, base, sha);
    const reply = await exchange(h.server.url, requestHead("PUT", path, headers), body, true);
    expect(reply.statuses).toEqual([100, 200]);
    const got = await h.s3.send(new GetObjectCommand({ Bucket: bucket, Key: "continued" }));
    expect(Buffer.from(await got.Body!.transformToByteArray())).toEqual(body);
  });

  test("a presigned PUT with 100-continue gets 100, then 200", async () => {
    const url = new URL(
      await getSignedUrl(presigner, new PutObjectCommand({ Bucket: bucket, Key: "pre-continued" }), {
        expiresIn: 60,
      }),
    );
    const target = url.pathname + url.search;
    const reply = await exchange(
      h.server.url,
      requestHead("PUT", target, { host: url.host, ...base }),
      body,
      true,
    );
    expect(reply.statuses).toEqual([100, 200]);
  });

  test.each([
    ["a bad signature", "SignatureDoesNotMatch", 403],
    ["a missing bucket", "NoSuchBucket", 404],
    ["an expired presigned URL", "AccessDenied", 403],
    ["If-None-Match: * on an existing key", "PreconditionFailed", 412],
  ])("%s is refused before the body is sent", async (what, code, status) => {
    let head: string;
    if (what === "an expired presigned URL") {
      const url = new URL(
        await getSignedUrl(presigner, new PutObjectCommand({ Bucket: bucket, Key: "late" }), {
          expiresIn: 1,
          signingDate: new Date(Date.now() - 10_000),
        }),
      );
      head = requestHead("PUT", url.pathname + url.search, { host: url.host, ...base });
    } else {
      const path = what === "a missing bucket" ? "/no-such-bucket-xyz/k" : `/${bucket}/k`;
      const extra: Record<string, string> = what.startsWith("If-None-Match") ? { "if-none-match": "*" } : {};
      const headers = await signHeaders(h.server.url, "PUT", path, { ...base, ...extra }, sha);
      if (what === "a bad signature") {
        const auth = headers.authorization!;
        headers.authorization = auth.slice(0, -1) + (auth.endsWith("0") ? "1" : "0");
      }
      head = requestHead("PUT", path, headers);
    }
    const reply = await exchange(h.server.url, head, body, true);
    expect(reply.bodySent).toBe(false);
    expect(reply.statuses).toEqual([status]);
    expect(errorCode(reply.text)).toBe(code);
    // The object the refused request aimed at is unchanged.
    const got = await h.s3.send(new GetObjectCommand({ Bucket: bucket, Key: "k" }));
    expect(await got.Body!.transformToString()).toBe("hello");
  });
});
