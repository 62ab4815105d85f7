/**
 * PostObject (browser uploads by HTML form) driven by the AWS SDK's own `createPresignedPost` and by
 * hand-signed policies for the cases the SDK will not produce. Every policy violation gets S3's
 * documented error, and nothing is stored when a request is refused.
 */
import { createHash, createHmac, randomBytes } from "node:crypto";
import { readdir, stat } from "node:fs/promises";
import { request } from "node:http";
import { join } from "node:path";
import { GetObjectCommand, GetObjectTaggingCommand, HeadObjectCommand } from "@aws-sdk/client-s3";
import { CreateBucketCommand } from "@aws-sdk/client-s3";
import { createPresignedPost } from "@aws-sdk/s3-presigned-post";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { CREDS, errorCode, s3Error, startHarness, tempFiles, uniqueBucket } from "./helpers.js";
import { waitFor, waitForValue } from "../helpers/wait.js";
import type { Harness } from "./helpers.js";

let h: Harness;
let bucket: string;

beforeAll(async () => {
  h = await startHarness();
  bucket = uniqueBucket("post");
  await h.s3.send(new CreateBucketCommand({ Bucket: bucket }));
});
afterAll(async () => {
  await h.close();
});

interface PostResult {
  readonly status: number;
  readonly headers: Headers;
  readonly body: string;
}

/** Posts a form in field order (the file last unless `after` adds fields behind it). */
async function post(
  fields: Record<string, string>,
  file: Buffer | string | undefined,
  options: { filename?: string; fileType?: string; after?: Record<string, string>; path?: string } = {},
): Promise<PostResult> {
  const form = new FormData();
  for (const [k, v] of Object.entries(fields)) form.append(k, v);
  if (file !== undefined) {
    form.append(
      "file",
      new Blob([file], { type: options.fileType ?? "application/octet-stream" }),
      options.filename ?? "upload.bin",
    );
  }
  for (const [k, v] of Object.entries(options.after ?? {})) form.append(k, v);
  const res = await fetch(`${h.server.url}${options.path ?? `/${bucket}`}`, {
    method: "POST",
    body: form,
    redirect: "manual",
  });
  return { status: res.status, headers: res.headers, body: await res.text() };
}

function amzDate(d = new Date()): string {
  return d
    .toISOString()
    .replace(/[-:]/g, "")
    .replace(/\.\d{3}/, "");
}

/** An independent SigV4 POST-policy signer (node:crypto only), for policies the SDK cannot express. */
function signedFields(
  policy: { expiration?: unknown; conditions?: unknown; [k: string]: unknown },
  opts: { secret?: string; accessKeyId?: string; date?: Date; bare?: boolean } = {},
): Record<string, string> {
  const date = amzDate(opts.date);
  const credential = `${opts.accessKeyId ?? CREDS.accessKeyId}/${date.slice(0, 8)}/auto/s3/aws4_request`;
  const doc = { ...policy };
  if (Array.isArray(doc.conditions) && !opts.bare) {
    doc.conditions = [
      ...doc.conditions,
      { "x-amz-algorithm": "AWS4-HMAC-SHA256" },
      { "x-amz-credential": credential },
      { "x-amz-date": date },
    ];
  }
  const b64 = Buffer.from(JSON.stringify(doc)).toString("base64");
  const h = (k: string | Buffer, d: string): Buffer => createHmac("sha256", k).update(d).digest();
  const key = h(
    h(h(h(`AWS4${opts.secret ?? CREDS.secretAccessKey}`, date.slice(0, 8)), "auto"), "s3"),
    "aws4_request",
  );
  return {
    policy: b64,
    "x-amz-algorithm": "AWS4-HMAC-SHA256",
    "x-amz-credential": credential,
    "x-amz-date": date,
    "x-amz-signature": h(key, b64).toString("hex"),
  };
}

function inAnHour(): string {
  return new Date(Date.now() + 3600_000).toISOString();
}

async function bodyOf(key: string): Promise<string> {
  const got = await h.s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return got.Body!.transformToString();
}

async function absent(key: string): Promise<void> {
  expect((await s3Error(h.s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key })))).name).toBe(
    "NotFound",
  );
}

describe("createPresignedPost", () => {
  test("a form built from its url and fields uploads; 204 with ETag and Location", async () => {
    const { url, fields } = await createPresignedPost(h.s3, { Bucket: bucket, Key: "sdk/plain.txt" });
    expect(url).toBe(`${h.server.url}/${bucket}`);
    const r = await post(fields, "hello from a form");
    expect(r.status).toBe(204);
    expect(r.headers.get("etag")).toBe(`"${createHash("md5").update("hello from a form").digest("hex")}"`);
    expect(r.headers.get("location")).toBe(`${h.server.url}/${bucket}/sdk/plain.txt`);
    expect(await bodyOf("sdk/plain.txt")).toBe("hello from a form");
  });

  test("${filename} in the key is the uploaded file's name (path stripped)", async () => {
    const { fields } = await createPresignedPost(h.s3, { Bucket: bucket, Key: "avatars/${filename}" });
    const r = await post(fields, "png bytes", { filename: "C:\\Users\\me\\face.png", fileType: "image/png" });
    expect(r.status).toBe(204);
    const head = await h.s3.send(new HeadObjectCommand({ Bucket: bucket, Key: "avatars/face.png" }));
    // No Content-Type field: the file part's own type is not the object's (no policy covers it).
    expect(head.ContentType).toBe("binary/octet-stream");
  });

  test("Fields and Conditions: metadata, content type, acl, tagging, 201 document", async () => {
    const tagging = "<Tagging><TagSet><Tag><Key>kind</Key><Value>avatar</Value></Tag></TagSet></Tagging>";
    const { fields } = await createPresignedPost(h.s3, {
      Bucket: bucket,
      Key: "sdk/rich.txt",
      Fields: {
        "Content-Type": "text/plain",
        "x-amz-meta-owner": "ünïcode user",
        acl: "public-read",
        tagging,
        success_action_status: "201",
        "Cache-Control": "max-age=60",
      },
      Conditions: [["content-length-range", 1, 100]],
    });
    const r = await post(fields, "rich");
    expect(r.status).toBe(201);
    expect(r.body).toContain("<PostResponse");
    expect(r.body).toContain(`<Bucket>${bucket}</Bucket>`);
    expect(r.body).toContain("<Key>sdk/rich.txt</Key>");
    expect(r.body).toContain(`<Location>${h.server.url}/${bucket}/sdk/rich.txt</Location>`);
    const head = await h.s3.send(new HeadObjectCommand({ Bucket: bucket, Key: "sdk/rich.txt" }));
    expect(head.ContentType).toBe("text/plain");
    expect(head.CacheControl).toBe("max-age=60");
    // Non-ASCII metadata comes back RFC 2047-encoded, as S3 returns it (the SDK does not decode it).
    expect(head.Metadata).toEqual({ owner: `=?UTF-8?B?${Buffer.from("ünïcode user").toString("base64")}?=` });
    const tags = await h.s3.send(new GetObjectTaggingCommand({ Bucket: bucket, Key: "sdk/rich.txt" }));
    expect(tags.TagSet).toEqual([{ Key: "kind", Value: "avatar" }]);
    // acl=public-read: readable without credentials.
    const anon = await fetch(`${h.server.url}/${bucket}/sdk/rich.txt`);
    expect(anon.status).toBe(200);
    expect(await anon.text()).toBe("rich");
  });

  test("success_action_status 200 and an invalid one (204)", async () => {
    for (const [status, expected] of [
      ["200", 200],
      ["404", 204],
    ] as const) {
      const { fields } = await createPresignedPost(h.s3, {
        Bucket: bucket,
        Key: `sdk/status-${status}`,
        Fields: { success_action_status: status },
      });
      const r = await post(fields, "x");
      expect(r.status).toBe(expected);
      expect(r.body).toBe("");
    }
  });

  test("success_action_redirect: 303 to the URL with bucket, key and etag appended", async () => {
    const redirect = "http://app.example/done?from=form";
    const { fields } = await createPresignedPost(h.s3, {
      Bucket: bucket,
      Key: "sdk/redirected file.txt",
      Fields: { success_action_redirect: redirect },
    });
    const r = await post(fields, "bye");
    expect(r.status).toBe(303);
    const to = new URL(r.headers.get("location")!);
    expect(to.origin + to.pathname).toBe("http://app.example/done");
    expect(to.searchParams.get("from")).toBe("form");
    expect(to.searchParams.get("bucket")).toBe(bucket);
    expect(to.searchParams.get("key")).toBe("sdk/redirected file.txt");
    expect(to.searchParams.get("etag")).toBe(`"${createHash("md5").update("bye").digest("hex")}"`);
    expect(await bodyOf("sdk/redirected file.txt")).toBe("bye");
  });

  test("a redirect that is not a URL is ignored (S3: 'If Amazon S3 cannot interpret the URL, it ignores the field')", async () => {
    const { fields } = await createPresignedPost(h.s3, {
      Bucket: bucket,
      Key: "sdk/bad-redirect",
      Fields: { success_action_redirect: "not a url" },
    });
    expect((await post(fields, "x")).status).toBe(204);
  });

  test("fields after the file are ignored, not policy violations", async () => {
    const { fields } = await createPresignedPost(h.s3, { Bucket: bucket, Key: "sdk/after" });
    const r = await post(fields, "x", { after: { "x-amz-meta-late": "ignored", key: "elsewhere" } });
    expect(r.status).toBe(204);
    const head = await h.s3.send(new HeadObjectCommand({ Bucket: bucket, Key: "sdk/after" }));
    expect(head.Metadata).toEqual({});
    await absent("elsewhere");
  });

  test("a 3 MiB file streams through and round-trips", async () => {
    const data = randomBytes(3 * 1024 * 1024);
    const { fields } = await createPresignedPost(h.s3, { Bucket: bucket, Key: "sdk/big.bin" });
    expect((await post(fields, data)).status).toBe(204);
    const got = await h.s3.send(new GetObjectCommand({ Bucket: bucket, Key: "sdk/big.bin" }));
    expect(Buffer.from(await got.Body!.transformToByteArray()).equals(data)).toBe(true);
  });

  test("x-amz-checksum fields are verified (BadDigest on a wrong value) and stored", async () => {
    const body = "checked";
    const crc = Buffer.alloc(4);
    const { crc32 } = await import("node:zlib");
    crc.writeUInt32BE(crc32(body));
    const good = crc.toString("base64");
    const make = (value: string, key: string): Promise<{ fields: Record<string, string> }> =>
      createPresignedPost(h.s3, {
        Bucket: bucket,
        Key: key,
        Fields: { "x-amz-checksum-algorithm": "CRC32", "x-amz-checksum-crc32": value },
      });
    const ok = await post((await make(good, "sdk/crc-ok")).fields, body);
    expect(ok.status).toBe(204);
    expect(ok.headers.get("x-amz-checksum-crc32")).toBe(good);
    const head = await h.s3.send(
      new HeadObjectCommand({ Bucket: bucket, Key: "sdk/crc-ok", ChecksumMode: "ENABLED" }),
    );
    expect(head.ChecksumCRC32).toBe(good);
    const bad = await post((await make("AAAAAA==", "sdk/crc-bad")).fields, body);
    expect(bad.status).toBe(400);
    expect(errorCode(bad.body)).toBe("BadDigest");
    await absent("sdk/crc-bad");
  });

  test("a wrong Content-MD5 field is BadDigest", async () => {
    const { fields } = await createPresignedPost(h.s3, {
      Bucket: bucket,
      Key: "sdk/md5-bad",
      Fields: { "Content-MD5": createHash("md5").update("other").digest("base64") },
    });
    const r = await post(fields, "this");
    expect(r.status).toBe(400);
    expect(errorCode(r.body)).toBe("BadDigest");
    await absent("sdk/md5-bad");
  });
});

describe("policy violations get S3's errors and store nothing", () => {
  const base = (key: string, extra: unknown[] = []): unknown[] => [
    { bucket: "__BUCKET__" },
    ["starts-with", "$key", "v/"],
    ...extra,
  ];
  const policyFor = (
    conditions: unknown[],
    expiration = inAnHour(),
  ): { expiration: string; conditions: unknown[] } => ({
    expiration,
    conditions: conditions.map((c) =>
      typeof c === "object" && c !== null && "bucket" in c ? { bucket } : c,
    ),
  });

  async function refused(
    fields: Record<string, string>,
    file: string | undefined,
    status: number,
    code: string,
    message?: RegExp,
  ): Promise<void> {
    const r = await post(fields, file);
    expect(r.status, r.body).toBe(status);
    expect(errorCode(r.body)).toBe(code);
    if (message) expect(r.body).toMatch(message);
    if (fields.key) await absent(fields.key);
  }

  test("the happy path of the hand-signed form works (so the refusals below are about one thing each)", async () => {
    const r = await post({ key: "v/ok", ...signedFields(policyFor(base("v/ok"))) }, "ok");
    expect(r.status, r.body).toBe(204);
  });

  test("field names and condition operators match case-insensitively; repeated fields are comma-joined", async () => {
    const policy = {
      expiration: inAnHour(),
      conditions: [
        { bUcKeT: bucket },
        ["StArTs-WiTh", "$KeY", "v/"],
        ["EQ", "$X-Amz-Meta-Tag", "ninja,stallman"],
      ],
    };
    const signed = signedFields(policy);
    const form = new FormData();
    form.append("kEy", "v/case");
    form.append("x-amz-meta-tag", "ninja");
    form.append("X-AMZ-META-TAG", "stallman");
    for (const [k, v] of Object.entries(signed)) form.append(k === "policy" ? "pOLICy" : k.toUpperCase(), v);
    form.append("file", new Blob(["case"]), "f");
    const res = await fetch(`${h.server.url}/${bucket}`, { method: "POST", body: form });
    expect(res.status, await res.text()).toBe(204);
    const head = await h.s3.send(new HeadObjectCommand({ Bucket: bucket, Key: "v/case" }));
    expect(head.Metadata).toEqual({ tag: "ninja,stallman" });
  });

  test("expired policy: AccessDenied 'Policy expired.'", async () => {
    const fields = {
      key: "v/expired",
      ...signedFields(policyFor(base(""), new Date(Date.now() - 1000).toISOString())),
    };
    await refused(fields, "x", 403, "AccessDenied", /Invalid according to Policy: Policy expired\./);
  });

  test("a form refused before its file is read gets the answer, not a reset, while 4 MB of file are still coming", async () => {
    // The refusal comes when the file part starts; answering and closing then would reset the
    // connection the client is still writing to (fetch: EPIPE), and the client would never see why.
    const fields = {
      key: "v/expired-big",
      ...signedFields(policyFor(base(""), new Date(Date.now() - 1000).toISOString())),
    };
    const r = await post(fields, "x".repeat(4 * 1024 * 1024));
    expect(r.status, r.body).toBe(403);
    expect(r.body).toMatch(/Policy expired\./);
    // The rest was read, so the connection stays usable for the client's next request.
    expect(r.headers.get("connection")).not.toBe("close");
    await absent(fields.key);
  });

  test("eq condition failed", async () => {
    const fields = {
      key: "v/eq",
      "Content-Type": "text/html",
      ...signedFields(policyFor(base("", [["eq", "$Content-Type", "text/plain"]]))),
    };
    await refused(
      fields,
      "x",
      403,
      "AccessDenied",
      /Policy Condition failed: \[&quot;eq&quot;, &quot;\$Content-Type&quot;, &quot;text\/plain&quot;\]|Policy Condition failed: \["eq", "\$Content-Type", "text\/plain"\]/,
    );
  });

  test("starts-with on the key failed (also after ${filename} expansion)", async () => {
    await refused(
      { key: "w/nope", ...signedFields(policyFor(base(""))) },
      "x",
      403,
      "AccessDenied",
      /Policy Condition failed/,
    );
    const r = await post({ key: "v/../${filename}", ...signedFields(policyFor(base(""))) }, "x", {
      filename: "z",
    });
    expect(r.status).toBe(204); // "v/../z" starts with "v/": keys are opaque strings
  });

  test("starts-with on Content-Type applies to each of a comma-separated list", async () => {
    const conditions = base("", [["starts-with", "$Content-Type", "image/"]]);
    const ok = await post(
      { key: "v/types-ok", "Content-Type": "image/png, image/gif", ...signedFields(policyFor(conditions)) },
      "x",
    );
    expect(ok.status, ok.body).toBe(204);
    await refused(
      { key: "v/types-bad", "Content-Type": "image/png,text/html", ...signedFields(policyFor(conditions)) },
      "x",
      403,
      "AccessDenied",
    );
  });

  test("a field the policy does not name: 'Extra input fields'", async () => {
    const fields = { key: "v/extra", "x-amz-meta-sneaky": "1", ...signedFields(policyFor(base(""))) };
    await refused(fields, "x", 403, "AccessDenied", /Extra input fields: x-amz-meta-sneaky/);
    // x-ignore-* fields are exempt.
    const ok = await post(
      { key: "v/ignored", "x-ignore-flash": "1", ...signedFields(policyFor(base(""))) },
      "x",
    );
    expect(ok.status).toBe(204);
  });

  test("a condition on a field the form lacks fails", async () => {
    const fields = {
      key: "v/missing",
      ...signedFields(policyFor(base("", [["starts-with", "$x-amz-meta-foo", "bar"]]))),
    };
    await refused(fields, "x", 403, "AccessDenied", /Policy Condition failed/);
  });

  test("the bucket condition names another bucket", async () => {
    const policy = {
      expiration: inAnHour(),
      conditions: [{ bucket: "other-bucket" }, ["starts-with", "$key", ""]],
    };
    await refused(
      { key: "v/bucket", ...signedFields(policy) },
      "x",
      403,
      "AccessDenied",
      /Policy Condition failed/,
    );
  });

  test("content-length-range: EntityTooLarge / EntityTooSmall with the sizes", async () => {
    const range = (min: number, max: number): unknown[] => base("", [["content-length-range", min, max]]);
    const big = await post({ key: "v/big", ...signedFields(policyFor(range(0, 10))) }, "x".repeat(11));
    expect(big.status).toBe(400);
    expect(errorCode(big.body)).toBe("EntityTooLarge");
    expect(big.body).toContain("<MaxSizeAllowed>10</MaxSizeAllowed>");
    await absent("v/big");
    const small = await post({ key: "v/small", ...signedFields(policyFor(range(5, 10))) }, "1234");
    expect(small.status).toBe(400);
    expect(errorCode(small.body)).toBe("EntityTooSmall");
    expect(small.body).toContain("<ProposedSize>4</ProposedSize>");
    expect(small.body).toContain("<MinSizeAllowed>5</MinSizeAllowed>");
    await absent("v/small");
    // The bounds are inclusive.
    expect((await post({ key: "v/edge", ...signedFields(policyFor(range(3, 3))) }, "abc")).status).toBe(204);
  });

  test("a large upload over the limit is cut off, not stored", async () => {
    const data = randomBytes(2 * 1024 * 1024);
    const fields = {
      key: "v/huge",
      ...signedFields(policyFor(base("", [["content-length-range", 0, 1024]]))),
    };
    const r = await post(fields, data.toString("latin1")).catch(() => undefined);
    // Refused early: the client either reads the 400 or sees the connection closed mid-upload.
    if (r) {
      expect(r.status).toBe(400);
      expect(errorCode(r.body)).toBe("EntityTooLarge");
    }
    await absent("v/huge");
  });

  test("signature: wrong secret, unknown key, malformed credential, missing signature", async () => {
    const policy = policyFor(base(""));
    await refused(
      { key: "v/sig", ...signedFields(policy, { secret: "wrong-secret" }) },
      "x",
      403,
      "SignatureDoesNotMatch",
    );
    await refused(
      { key: "v/akid", ...signedFields(policy, { accessKeyId: "AKIDNOTKNOWN00000000" }) },
      "x",
      403,
      "InvalidAccessKeyId",
    );
    const noSig = signedFields(policy);
    delete (noSig as Record<string, string | undefined>)["x-amz-signature"];
    await refused({ key: "v/nosig", ...noSig }, "x", 400, "InvalidArgument", /x-amz-signature/);
    const badCred = { ...signedFields(policy), "x-amz-credential": "garbage" };
    await refused({ key: "v/cred", ...badCred }, "x", 400, "InvalidArgument");
    const badDate = { ...signedFields(policy), "x-amz-date": "yesterday" };
    await refused({ key: "v/date", ...badDate }, "x", 400, "InvalidArgument");
  });

  test("a policy changed after signing is SignatureDoesNotMatch", async () => {
    const fields = signedFields(policyFor(base("")));
    const forged = Buffer.from(
      JSON.stringify({ expiration: inAnHour(), conditions: [["starts-with", "$key", ""]] }),
    ).toString("base64");
    await refused({ key: "anything", ...fields, policy: forged }, "x", 403, "SignatureDoesNotMatch");
  });

  test("malformed policies: InvalidPolicyDocument", async () => {
    const cases: [unknown, RegExp][] = [
      [{ conditions: base("") }, /missing expiration/],
      [{ expiration: inAnHour() }, /missing conditions/],
      [{ expiration: inAnHour(), conditions: [] }, /missing conditions/],
      [{ expiration: "2030-01-01 00:00:00+00:00", conditions: base("") }, /Invalid .apos;expiration.apos;/],
      [{ expiration: inAnHour(), conditions: "key" }, /must be a List/],
      [{ expiration: inAnHour(), conditions: [["matches", "$key", "v/"]] }, /Invalid Condition/],
      [{ expiration: inAnHour(), conditions: [["eq", "key", "v/"]] }, /Invalid Condition/],
      [{ expiration: inAnHour(), conditions: [{ key: "a", acl: "b" }] }, /exactly one property/],
      [{ expiration: inAnHour(), conditions: [["content-length-range", 0]] }, /content-length-range/],
      [{ expiration: inAnHour(), conditions: [["content-length-range", -1, 10]] }, /content-length-range/],
      [{ expiration: inAnHour(), CONDITIONS: base("") }, /missing conditions/],
    ];
    for (const [policy, message] of cases) {
      const fields = {
        key: "v/malformed",
        ...signedFields(policy as { conditions?: unknown }, { bare: true }),
      };
      await refused(fields, "x", 400, "InvalidPolicyDocument", message);
    }
    // Not JSON at all (signed as such).
    const fields = signedFields({ expiration: inAnHour(), conditions: base("") });
    const notJson = Buffer.from("{not json").toString("base64");
    const h2 = (k: string | Buffer, d: string): Buffer => createHmac("sha256", k).update(d).digest();
    const date = fields["x-amz-date"]!;
    const key = h2(
      h2(h2(h2(`AWS4${CREDS.secretAccessKey}`, date.slice(0, 8)), "auto"), "s3"),
      "aws4_request",
    );
    await refused(
      { key: "v/notjson", ...fields, policy: notJson, "x-amz-signature": h2(key, notJson).toString("hex") },
      "x",
      400,
      "InvalidPolicyDocument",
      /Invalid JSON/,
    );
  });

  test("form shape: no key, no file, not multipart, broken multipart, oversized fields", async () => {
    await refused(
      { ...signedFields(policyFor(base(""))) },
      "x",
      400,
      "InvalidArgument",
      /field named .apos;key.apos;/,
    );
    await refused(
      { key: "v/nofile", ...signedFields(policyFor(base(""))) },
      undefined,
      400,
      "InvalidArgument",
      /exactly one file/,
    );
    const plain = await fetch(`${h.server.url}/${bucket}`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: "key=v/urlenc",
    });
    expect(plain.status).toBe(412);
    expect(errorCode(await plain.text())).toBe("PreconditionFailed");
    // Signed and within policy, but the body ends inside the file part (no closing boundary).
    let brokenBody = "";
    for (const [k, v] of Object.entries({ key: "v/broken", ...signedFields(policyFor(base(""))) })) {
      brokenBody += `--XYZ\r\nContent-Disposition: form-data; name="${k}"\r\n\r\n${v}\r\n`;
    }
    brokenBody += '--XYZ\r\nContent-Disposition: form-data; name="file"; filename="a"\r\n\r\nabc';
    const broken = await fetch(`${h.server.url}/${bucket}`, {
      method: "POST",
      headers: { "content-type": "multipart/form-data; boundary=XYZ" },
      body: brokenBody,
    });
    expect(broken.status).toBe(400);
    expect(errorCode(await broken.text())).toBe("MalformedPOSTRequest");
    await absent("v/broken");
    const noBoundary = await fetch(`${h.server.url}/${bucket}`, {
      method: "POST",
      headers: { "content-type": "multipart/form-data" },
      body: "x",
    });
    expect(noBoundary.status).toBe(400);
    expect(errorCode(await noBoundary.text())).toBe("MalformedPOSTRequest");
    await refused(
      { key: "v/pre", "x-amz-meta-big": "y".repeat(21 * 1024), ...signedFields(policyFor(base(""))) },
      "x",
      400,
      "MaxPostPreDataLengthExceeded",
    );
  });

  test("SigV2 forms are refused like every SigV2 request; no policy at all is AccessDenied", async () => {
    await refused(
      { key: "v/v2", AWSAccessKeyId: CREDS.accessKeyId, policy: "e30=", signature: "abc" },
      "x",
      400,
      "InvalidRequest",
    );
    await refused({ key: "v/anon" }, "x", 403, "AccessDenied");
  });

  test("invalid acl, tagging and key values", async () => {
    const withField = (extra: Record<string, string>, cond: unknown[]): Record<string, string> => ({
      key: "v/fields",
      ...extra,
      ...signedFields(policyFor(base("", cond))),
    });
    await refused(
      withField({ acl: "world-writable" }, [{ acl: "world-writable" }]),
      "x",
      400,
      "InvalidArgument",
    );
    await refused(
      withField({ acl: "public-read-write" }, [{ acl: "public-read-write" }]),
      "x",
      501,
      "NotImplemented",
    );
    await refused(withField({ tagging: "<Tagging>" }, [{ tagging: "<Tagging>" }]), "x", 400, "MalformedXML");
    const longKey = { key: `v/${"k".repeat(1100)}`, ...signedFields(policyFor(base(""))) };
    const r = await post(longKey, "x");
    expect(r.status).toBe(400);
    expect(errorCode(r.body)).toBe("KeyTooLongError");
  });

  test("a POST to a bucket that does not exist is NoSuchBucket", async () => {
    const r = await post({ key: "v/x", ...signedFields(policyFor(base(""))) }, "x", {
      path: "/no-such-bucket-here",
    });
    expect(r.status).toBe(404);
    expect(errorCode(r.body)).toBe("NoSuchBucket");
  });

  test("a client that disconnects mid-file leaves nothing behind and the server keeps serving", async () => {
    const fields = { key: "v/cut", ...signedFields(policyFor(base(""))) };
    const boundary = "----cut";
    let head = "";
    for (const [k, v] of Object.entries(fields)) {
      head += `--${boundary}\r\nContent-Disposition: form-data; name="${k}"\r\n\r\n${v}\r\n`;
    }
    head += `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="f"\r\n\r\n`;
    await new Promise<void>((resolve) => {
      const u = new URL(h.server.url);
      const req = request({
        host: u.hostname,
        port: u.port,
        method: "POST",
        path: `/${bucket}`,
        headers: { "content-type": `multipart/form-data; boundary=${boundary}`, "content-length": "100000" },
      });
      req.on("error", () => resolve());
      req.on("close", () => resolve());
      // Cut once the server streams the file to disk; check once it has finished with the request.
      req.write(head + "partial data", () => {
        void waitFor(async () => (await tempFiles(h.root)).length > 0).then(() => req.destroy());
      });
    });
    await waitFor(async () => (await tempFiles(h.root)).length === 0);
    await absent("v/cut");
    expect((await post({ key: "v/after-cut", ...signedFields(policyFor(base(""))) }, "fine")).status).toBe(
      204,
    );
  });

  test("the file streams to disk while it arrives (never buffered whole)", async () => {
    const fields = { key: "v/streamed", ...signedFields(policyFor(base(""))) };
    const boundary = "----stream";
    let head = "";
    for (const [k, v] of Object.entries(fields)) {
      head += `--${boundary}\r\nContent-Disposition: form-data; name="${k}"\r\n\r\n${v}\r\n`;
    }
    head += `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="f"\r\n\r\n`;
    const chunk = randomBytes(1024 * 1024);
    const u = new URL(h.server.url);
    const response = new Promise<number>((resolve, reject) => {
      const req = request(
        {
          host: u.hostname,
          port: u.port,
          method: "POST",
          path: `/${bucket}`,
          headers: { "content-type": `multipart/form-data; boundary=${boundary}` },
        },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      );
      req.on("error", reject);
      req.write(head);
      for (let i = 0; i < 8; i++) req.write(chunk);
      // Half the body is sent and the request is still open: the bytes must already be on disk.
      void (async () => {
        const tmp = join(h.root, "tmp");
        const onDisk = async () => {
          let bytes = 0;
          for (const name of await readdir(tmp))
            bytes += (await stat(join(tmp, name)).catch(() => ({ size: 0 }))).size;
          return bytes;
        };
        // Until 6 of the 8 MiB sent are on disk: a server that buffered the body whole never gets
        // there (the rest is held back until then), and the test times out.
        expect(await waitForValue(onDisk, (bytes) => bytes >= 6 * 1024 * 1024, 25)).toBeGreaterThanOrEqual(
          6 * 1024 * 1024,
        );
        for (let i = 0; i < 8; i++) req.write(chunk);
        req.end(`\r\n--${boundary}--\r\n`);
      })().catch(reject);
    });
    expect(await response).toBe(204);
    const got = await h.s3.send(new HeadObjectCommand({ Bucket: bucket, Key: "v/streamed" }));
    expect(got.ContentLength).toBe(16 * 1024 * 1024);
  });

  test("hostile multipart bodies never get a 500", async () => {
    const signed = Object.entries({ key: "v/hostile", ...signedFields(policyFor(base(""))) })
      .map(([k, v]) => `--B\r\nContent-Disposition: form-data; name="${k}"\r\n\r\n${v}\r\n`)
      .join("");
    const bodies: [string, string][] = [
      ["multipart/form-data; boundary=B", randomBytes(4096).toString("latin1")],
      ["multipart/form-data; boundary=B", "--B\r\n\r\n\r\n--B--"],
      [
        "multipart/form-data; boundary=B",
        `--B\r\nContent-Disposition: form-data; name="${"n".repeat(30000)}"\r\n\r\nv\r\n--B--`,
      ],
      ["multipart/form-data; boundary=B", `--B\r\nX: ${"h".repeat(100000)}\r\n\r\nv\r\n--B--`],
      [
        "multipart/form-data; boundary=B",
        `${signed}--B\r\nContent-Disposition: form-data; name="file"\r\n\r\ntext file\r\n--B--\r\n`,
      ],
      ["multipart/form-data; boundary=B", `${signed}--B--\r\n`],
      [
        "multipart/form-data; boundary=B",
        `${signed}--B\r\nContent-Disposition: form-data; name="file"; filename="\u0000"\r\n\r\nx\r\n--B\r\nContent-Disposition: form-data; name="file"; filename="2"\r\n\r\ny\r\n--B--\r\n`,
      ],
      ["multipart/form-data; boundary=", "x"],
      ["multipart/form-data; boundary=B; charset=bogus", `${signed}--B--`],
      ["text/plain", "x"],
    ];
    for (const [type, body] of bodies) {
      const res = await fetch(`${h.server.url}/${bucket}`, {
        method: "POST",
        headers: { "content-type": type },
        body: Buffer.from(body, "latin1"),
      });
      const text = await res.text();
      expect(res.status < 500 || res.status === 501, `${res.status} ${text}`).toBe(true);
    }
    // The plain-text file field (no filename) was a valid upload.
    const got = await h.s3.send(new GetObjectCommand({ Bucket: bucket, Key: "v/hostile" }));
    expect(await got.Body!.transformToString()).toMatch(/^(text file|x)$/);
  });

  test("virtual-host style: POST / with Host bucket.localhost answers that style's Location", async () => {
    const fields = { key: "v/vhost.txt", ...signedFields(policyFor(base(""))) };
    let body = "";
    for (const [k, v] of Object.entries(fields)) {
      body += `--B\r\nContent-Disposition: form-data; name="${k}"\r\n\r\n${v}\r\n`;
    }
    body += `--B\r\nContent-Disposition: form-data; name="file"; filename="f"\r\n\r\nvhost\r\n--B--\r\n`;
    const u = new URL(h.server.url);
    const host = `${bucket}.localhost:${u.port}`;
    const r = await new Promise<{ status: number; location: string | undefined }>((resolve, reject) => {
      const req = request(
        {
          host: u.hostname,
          port: u.port,
          method: "POST",
          path: "/",
          headers: {
            host,
            "content-type": "multipart/form-data; boundary=B",
            "content-length": Buffer.byteLength(body),
          },
        },
        (res) => {
          res.resume();
          resolve({ status: res.statusCode ?? 0, location: res.headers.location });
        },
      );
      req.on("error", reject);
      req.end(body);
    });
    expect(r.status).toBe(204);
    expect(r.location).toBe(`http://${host}/v/vhost.txt`);
    expect(await bodyOf("v/vhost.txt")).toBe("vhost");
  });
  /** Every field the store acts on (S3 exempts only x-amz-signature, file, policy and x-ignore-*). */
  const ACTED_ON: Record<string, string> = {
    acl: "public-read",
    tagging: "<Tagging><TagSet><Tag><Key>k</Key><Value>v</Value></Tag></TagSet></Tagging>",
    "Content-Type": "text/html",
    "Cache-Control": "max-age=1",
    "Content-Disposition": "inline",
    "Content-Encoding": "identity",
    "Content-Language": "en",
    Expires: "Thu, 01 Dec 2094 16:00:00 GMT",
    "Content-MD5": createHash("md5").update("x").digest("base64"),
    success_action_redirect: "http://127.0.0.1:9/done",
    redirect: "http://127.0.0.1:9/done",
    success_action_status: "201",
    "x-amz-meta-owner": "mallory",
    "x-amz-storage-class": "STANDARD_IA",
    "x-amz-checksum-algorithm": "SHA256",
    "x-amz-checksum-sha256": createHash("sha256").update("x").digest("base64"),
    "x-amz-website-redirect-location": "/elsewhere",
    "x-amz-server-side-encryption": "AES256",
  };

  test.each(Object.entries(ACTED_ON))(
    "a %s field the policy does not cover → 'Extra input fields', nothing stored",
    async (name, value) => {
      const key = `v/uncovered-${randomBytes(3).toString("hex")}`;
      const fields = { key, [name]: value, ...signedFields(policyFor(base(""))) };
      await refused(
        fields,
        "x",
        403,
        "AccessDenied",
        new RegExp(`Extra input fields: ${name.toLowerCase()}<`),
      );
    },
  );

  test.each(Object.entries(ACTED_ON))("a %s field the policy covers is accepted", async (name, value) => {
    const key = `v/covered-${randomBytes(3).toString("hex")}`;
    const fields = { key, [name]: value, ...signedFields(policyFor(base("", [["eq", `$${name}`, value]]))) };
    const r = await post(fields, "x");
    expect([200, 201, 204, 303], r.body).toContain(r.status);
    expect(await bodyOf(key)).toBe("x");
  });

  test("the file part's own Content-Type is not stored: no policy condition sees it (as on S3)", async () => {
    const fields = { key: "v/typed-by-part", ...signedFields(policyFor(base(""))) };
    const r = await post(fields, "<script>alert(1)</script>", { fileType: "text/html" });
    expect(r.status, r.body).toBe(204);
    const head = await h.s3.send(new HeadObjectCommand({ Bucket: bucket, Key: "v/typed-by-part" }));
    expect(head.ContentType).toBe("binary/octet-stream");
  });

  test("x-amz-* and Tigris request headers on a form POST change nothing: only fields count", async () => {
    const form = new FormData();
    const fields = { key: "v/headers-ignored", ...signedFields(policyFor(base(""))) };
    for (const [k, v] of Object.entries(fields)) form.append(k, v);
    form.append("file", new Blob(["mine"]), "f.bin");
    const res = await fetch(`${h.server.url}/${bucket}`, {
      method: "POST",
      body: form,
      headers: {
        "x-amz-acl": "public-read",
        "x-amz-meta-owner": "mallory",
        "x-amz-copy-source": `/${bucket}/v/ok`,
        "x-amz-tagging": "stolen=yes",
        "x-tigris-snapshot-version": "1",
      },
    });
    expect(res.status, await res.text()).toBe(204);
    expect(await bodyOf("v/headers-ignored")).toBe("mine");
    const head = await h.s3.send(new HeadObjectCommand({ Bucket: bucket, Key: "v/headers-ignored" }));
    expect(head.Metadata).toEqual({});
    const tags = await h.s3.send(new GetObjectTaggingCommand({ Bucket: bucket, Key: "v/headers-ignored" }));
    expect(tags.TagSet).toEqual([]);
    const anonymous = await fetch(`${h.server.url}/${bucket}/v/headers-ignored`);
    expect(anonymous.status).toBe(403);
  });
});
