/**
 * Text that is not plain ASCII, as S3 handles it: non-ASCII user metadata comes back RFC 2047-encoded
 * (`=?UTF-8?B?…?=`) and decodes to what was sent; keys with control characters list correctly with
 * `encoding-type=url` in every listing call and across pages.
 */
import { createHash } from "node:crypto";
import {
  CopyObjectCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsCommand,
  ListObjectsV2Command,
  ListObjectVersionsCommand,
  PutObjectCommand,
  AbortMultipartUploadCommand,
} from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { raw, signedRaw, startHarness, uniqueBucket } from "./helpers.js";
import type { Harness } from "./helpers.js";
import { signHeaders } from "./wire.js";

let h: Harness;
let bucket: string;
beforeAll(async () => {
  h = await startHarness();
  bucket = uniqueBucket("meta");
  await h.s3.send(new CreateBucketCommand({ Bucket: bucket }));
});
afterAll(async () => {
  await h.close();
});

/** RFC 2047 "B" encoded-word → text (what an app does with the value S3 returns). */
function decode2047(value: string): string {
  const m = /^=\?UTF-8\?B\?([A-Za-z0-9+/=]*)\?=$/i.exec(value);
  return m ? Buffer.from(m[1]!, "base64").toString("utf8") : value;
}

describe("non-ASCII user metadata", () => {
  // The SDK (node's HTTP client) can only send characters up to U+00FF in a header.
  const META = { plain: "ascii only", accent: "héllo wörld", mixed: "a\u00e9b" };

  test("comes back RFC 2047-encoded on GET and HEAD, ASCII values as sent, and decodes to the original", async () => {
    await h.s3.send(new PutObjectCommand({ Bucket: bucket, Key: "m", Body: "x", Metadata: META }));
    for (const r of [
      await h.s3.send(new HeadObjectCommand({ Bucket: bucket, Key: "m" })),
      await h.s3.send(new GetObjectCommand({ Bucket: bucket, Key: "m" })),
    ]) {
      expect(r.Metadata?.plain).toBe("ascii only");
      for (const name of ["accent", "mixed"] as const) {
        const got = r.Metadata?.[name] ?? "";
        expect(got).toMatch(/^=\?UTF-8\?B\?[A-Za-z0-9+/=]+\?=$/);
        expect(decode2047(got)).toBe(META[name]);
      }
    }
    expect((await h.s3.send(new HeadObjectCommand({ Bucket: bucket, Key: "m" }))).Metadata?.accent).toBe(
      `=?UTF-8?B?${Buffer.from("héllo wörld").toString("base64")}?=`,
    );
  });

  test("UTF-8 bytes beyond latin1 (CJK, emoji) sent raw come back encoded and decode to the text", async () => {
    const text = "文件 ✓ 🚀";
    // Signed over the text (its UTF-8 bytes, as curl's or botocore's signer would), sent as those
    // bytes, one per header octet (latin1 string + Buffer body so node writes them unchanged).
    const headers = await signHeaders(
      h.server.url,
      "PUT",
      `/${bucket}/cjk`,
      { "x-amz-meta-title": text },
      createHash("sha256").update("x").digest("hex"),
    );
    headers["x-amz-meta-title"] = Buffer.from(text, "utf8").toString("latin1");
    const put = await raw(h.server.url, {
      method: "PUT",
      path: `/${bucket}/cjk`,
      headers,
      body: Buffer.from("x"),
    });
    expect(put.status, put.body).toBe(200);
    const head = await h.s3.send(new HeadObjectCommand({ Bucket: bucket, Key: "cjk" }));
    expect(head.Metadata?.title).toBe(`=?UTF-8?B?${Buffer.from(text).toString("base64")}?=`);
    expect(decode2047(head.Metadata!.title!)).toBe(text);
  });

  test("a latin1 byte (not UTF-8) is taken as that character; copies and multipart keep the text", async () => {
    // node sends U+00E9 as the single byte 0xE9, as a latin1 client (e.g. botocore) would.
    const put = await signedRaw(h.server.url, {
      method: "PUT",
      path: `/${bucket}/latin1`,
      headers: { "x-amz-meta-name": "caf\u00e9" },
      // A Buffer body: with a string one node would write the head UTF-8-encoded along with it.
      body: Buffer.from("x"),
    });
    expect(put.status, put.body).toBe(200);
    const head = await h.s3.send(new HeadObjectCommand({ Bucket: bucket, Key: "latin1" }));
    expect(decode2047(head.Metadata?.name ?? "")).toBe("café");

    await h.s3.send(
      new CopyObjectCommand({
        Bucket: bucket,
        Key: "copied",
        CopySource: `${bucket}/latin1`,
        MetadataDirective: "REPLACE",
        Metadata: { note: "ñandú" },
      }),
    );
    const copied = await h.s3.send(new HeadObjectCommand({ Bucket: bucket, Key: "copied" }));
    expect(decode2047(copied.Metadata?.note ?? "")).toBe("ñandú");

    const mpu = await h.s3.send(
      new CreateMultipartUploadCommand({ Bucket: bucket, Key: "mpu", Metadata: { who: "Zoë" } }),
    );
    await h.s3.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: "mpu", UploadId: mpu.UploadId! }));
  });
});

describe("keys with control characters and encoding-type=url", () => {
  // Every C0 control character except NUL (refused, see edges.test.ts), and DEL, in keys that also
  // straddle a delimiter, so common prefixes and markers carry them too.
  const controls = [...Array.from({ length: 31 }, (_, i) => String.fromCharCode(i + 1)), "\u007f"];
  const keys = controls.map(
    (c, i) => `ctl/${String(i).padStart(2, "0")}${c}name${i % 3 === 0 ? `/sub${c}` : ""}`,
  );

  beforeAll(async () => {
    for (const key of keys) await h.s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: key }));
  });

  test("ListObjectsV2 pages return every key exactly once, decoded", async () => {
    const seen: string[] = [];
    let token: string | undefined;
    do {
      const r = await h.s3.send(
        new ListObjectsV2Command({
          Bucket: bucket,
          Prefix: "ctl/",
          EncodingType: "url",
          MaxKeys: 7,
          ...(token ? { ContinuationToken: token } : {}),
        }),
      );
      expect(r.EncodingType).toBe("url");
      seen.push(...(r.Contents ?? []).map((c) => decodeURIComponent(c.Key!)));
      token = r.NextContinuationToken;
    } while (token);
    expect(seen).toEqual([...keys].sort());
  });

  test("ListObjects v1 with a delimiter: keys and common prefixes decoded, markers round-trip", async () => {
    const contents: string[] = [];
    const prefixes: string[] = [];
    let marker: string | undefined;
    for (;;) {
      const r = await h.s3.send(
        new ListObjectsCommand({
          Bucket: bucket,
          Prefix: "ctl/",
          Delimiter: "/",
          EncodingType: "url",
          MaxKeys: 5,
          ...(marker !== undefined ? { Marker: marker } : {}),
        }),
      );
      contents.push(...(r.Contents ?? []).map((c) => decodeURIComponent(c.Key!)));
      prefixes.push(...(r.CommonPrefixes ?? []).map((p) => decodeURIComponent(p.Prefix!)));
      if (!r.IsTruncated) break;
      // The marker is sent back decoded, as clients do with an encoded NextMarker.
      marker = decodeURIComponent(r.NextMarker!);
    }
    const expectedPrefixes = keys
      .filter((k) => k.split("/").length > 2)
      .map((k) => k.slice(0, k.lastIndexOf("/") + 1));
    expect(prefixes).toEqual([...expectedPrefixes].sort());
    expect(contents).toEqual(keys.filter((k) => k.split("/").length === 2).sort());
  });

  test("without encoding-type they come back as character references (&#13;), which clients decode", async () => {
    const r = await signedRaw(h.server.url, {
      method: "GET",
      path: `/${bucket}`,
      query: "list-type=2&prefix=ctl%2F",
    });
    expect(r.status).toBe(200);
    // eslint-disable-next-line no-control-regex
    expect(/[\x00-\x08\x0b-\x1f]/.test(r.body)).toBe(false);
    expect(r.body).toContain("&#13;");
    const sdk = await h.s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: "ctl/" }));
    expect((sdk.Contents ?? []).map((c) => c.Key)).toEqual([...keys].sort());
  });

  test("ListMultipartUploads honours encoding-type=url too", async () => {
    const key = `ctl/upload\r\u0001`;
    const mpu = await h.s3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key }));
    try {
      const r = await h.s3.send(
        new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: "ctl/", EncodingType: "url" }),
      );
      expect(r.EncodingType).toBe("url");
      expect((r.Uploads ?? []).map((u) => u.Key)).toEqual(["ctl/upload%0D%01"]);
    } finally {
      await h.s3.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: mpu.UploadId! }));
    }
  });

  test("ListObjectVersions and a control-character prefix", async () => {
    const r = await h.s3.send(
      new ListObjectVersionsCommand({ Bucket: bucket, Prefix: "ctl/", EncodingType: "url" }),
    );
    expect((r.Versions ?? []).map((v) => decodeURIComponent(v.Key!))).toEqual([...keys].sort());
    const one = keys[9]!;
    const p = await h.s3.send(
      new ListObjectsV2Command({ Bucket: bucket, Prefix: one.slice(0, 8), EncodingType: "url" }),
    );
    expect(decodeURIComponent(p.Prefix!)).toBe(one.slice(0, 8));
    expect((p.Contents ?? []).map((c) => decodeURIComponent(c.Key!))).toEqual([one]);
    // The object reads back under its key.
    const got = await h.s3.send(new GetObjectCommand({ Bucket: bucket, Key: one }));
    expect(await got.Body!.transformToString()).toBe(one);
  });
});
