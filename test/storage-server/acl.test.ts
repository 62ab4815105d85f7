/**
 * Canned ACLs and anonymous access, driven by the AWS SDK (writes, ACL calls) and plain unsigned
 * fetch (what a browser `<img>` or a shared link does). Exactly the public-read objects, and the
 * objects and listing of public-read buckets, are readable without credentials; nothing else.
 */
import {
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  DeletePublicAccessBlockCommand,
  GetBucketAclCommand,
  GetObjectAclCommand,
  PutBucketAclCommand,
  PutBucketCorsCommand,
  PutObjectAclCommand,
  PutObjectCommand,
  PutPublicAccessBlockCommand,
  UploadPartCommand,
} from "@aws-sdk/client-s3";
import type { GetObjectAclCommandOutput } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { errorCode, raw, s3Error, signedRaw, startHarness, uniqueBucket } from "./helpers.js";
import type { Harness } from "./helpers.js";

let h: Harness;
let priv: string;

const ALL_USERS = "http://acs.amazonaws.com/groups/global/AllUsers";

beforeAll(async () => {
  h = await startHarness();
  priv = uniqueBucket("acl");
  await h.s3.send(new CreateBucketCommand({ Bucket: priv }));
  await h.s3.send(
    new PutObjectCommand({
      Bucket: priv,
      Key: "avatar.png",
      Body: "img",
      ContentType: "image/png",
      ACL: "public-read",
    }),
  );
  await h.s3.send(new PutObjectCommand({ Bucket: priv, Key: "secret.txt", Body: "secret" }));
});
afterAll(async () => {
  await h.close();
});

function anon(method: string, path: string, extra: { body?: string; headers?: Record<string, string> } = {}) {
  return raw(h.server.url, { method, path, ...extra });
}

function publicRead(acl: GetObjectAclCommandOutput): boolean {
  return (acl.Grants ?? []).some((g) => g.Grantee?.URI === ALL_USERS && g.Permission === "READ");
}

describe("public-read objects in a private bucket", () => {
  test("anonymous GET and HEAD of exactly that object", async () => {
    const get = await anon("GET", `/${priv}/avatar.png`);
    expect(get.status).toBe(200);
    expect(get.body).toBe("img");
    expect(get.headers["content-type"]).toBe("image/png");
    const head = await anon("HEAD", `/${priv}/avatar.png`);
    expect(head.status).toBe(200);
    expect(head.headers["content-length"]).toBe("3");
    const range = await anon("GET", `/${priv}/avatar.png`, { headers: { Range: "bytes=1-" } });
    expect(range.status).toBe(206);
    expect(range.body).toBe("mg");
  });

  test("everything else anonymous is 403 AccessDenied", async () => {
    const denied: [string, string, string?][] = [
      ["GET", `/${priv}/secret.txt`],
      ["HEAD", `/${priv}/secret.txt`],
      ["GET", `/${priv}/missing-key`], // no existence oracle without list rights
      ["GET", `/${priv}`], // listing a private bucket
      ["GET", `/${priv}?list-type=2`],
      ["HEAD", `/${priv}`],
      ["GET", "/"], // ListBuckets
      ["GET", `/${priv}/avatar.png?acl`],
      ["GET", `/${priv}/avatar.png?tagging`],
      ["PUT", `/${priv}/avatar.png`, "overwrite"],
      ["PUT", `/${priv}/new.txt`, "new"],
      ["DELETE", `/${priv}/avatar.png`],
      ["POST", `/${priv}/avatar.png?uploads`],
      ["PUT", `/${priv}/avatar.png?acl`],
      ["PUT", `/${priv}?acl`],
      ["DELETE", `/${priv}`],
      ["PUT", `/${uniqueBucket("anon")}`],
    ];
    for (const [method, path, body] of denied) {
      const r = await anon(method, path, body === undefined ? {} : { body });
      expect(r.status, `${method} ${path}`).toBe(403);
      if (method !== "HEAD") expect(errorCode(r.body), `${method} ${path}`).toBe("AccessDenied");
    }
    // Nothing changed.
    expect((await anon("GET", `/${priv}/avatar.png`)).body).toBe("img");
  });

  test("response-* overrides need a signature (S3: not for anonymous GETs)", async () => {
    const r = await anon("GET", `/${priv}/avatar.png?response-content-type=text/html`);
    expect(r.status).toBe(400);
    expect(errorCode(r.body)).toBe("InvalidRequest");
  });

  test("a missing bucket is NoSuchBucket to anyone", async () => {
    const r = await anon("GET", "/no-such-bucket-acl/k");
    expect(r.status).toBe(404);
    expect(errorCode(r.body)).toBe("NoSuchBucket");
  });

  test("GetObjectAcl reports the grants; PutObjectAcl makes an object private or public", async () => {
    expect(publicRead(await h.s3.send(new GetObjectAclCommand({ Bucket: priv, Key: "avatar.png" })))).toBe(
      true,
    );
    expect(publicRead(await h.s3.send(new GetObjectAclCommand({ Bucket: priv, Key: "secret.txt" })))).toBe(
      false,
    );
    await h.s3.send(new PutObjectCommand({ Bucket: priv, Key: "toggle.txt", Body: "t" }));
    expect((await anon("GET", `/${priv}/toggle.txt`)).status).toBe(403);
    await h.s3.send(new PutObjectAclCommand({ Bucket: priv, Key: "toggle.txt", ACL: "public-read" }));
    expect((await anon("GET", `/${priv}/toggle.txt`)).status).toBe(200);
    await h.s3.send(new PutObjectAclCommand({ Bucket: priv, Key: "toggle.txt", ACL: "private" }));
    expect((await anon("GET", `/${priv}/toggle.txt`)).status).toBe(403);
    // An AccessControlPolicy body granting AllUsers READ is the same as public-read.
    const owner = (await h.s3.send(new GetObjectAclCommand({ Bucket: priv, Key: "toggle.txt" }))).Owner;
    await h.s3.send(
      new PutObjectAclCommand({
        Bucket: priv,
        Key: "toggle.txt",
        AccessControlPolicy: {
          Owner: owner,
          Grants: [
            { Grantee: { Type: "CanonicalUser", ID: owner?.ID }, Permission: "FULL_CONTROL" },
            { Grantee: { Type: "Group", URI: ALL_USERS }, Permission: "READ" },
          ],
        },
      }),
    );
    expect((await anon("GET", `/${priv}/toggle.txt`)).status).toBe(200);
    expect(
      (await s3Error(h.s3.send(new PutObjectAclCommand({ Bucket: priv, Key: "nope", ACL: "private" })))).name,
    ).toBe("NoSuchKey");
  });

  test("overwriting an object without an ACL makes it private again; a copy does not inherit the ACL", async () => {
    await h.s3.send(new PutObjectCommand({ Bucket: priv, Key: "re.txt", Body: "1", ACL: "public-read" }));
    await h.s3.send(new CopyObjectCommand({ Bucket: priv, Key: "copy.txt", CopySource: `${priv}/re.txt` }));
    expect((await anon("GET", `/${priv}/copy.txt`)).status).toBe(403);
    await h.s3.send(
      new CopyObjectCommand({
        Bucket: priv,
        Key: "copy2.txt",
        CopySource: `${priv}/re.txt`,
        ACL: "public-read",
      }),
    );
    expect((await anon("GET", `/${priv}/copy2.txt`)).status).toBe(200);
    await h.s3.send(new PutObjectCommand({ Bucket: priv, Key: "re.txt", Body: "2" }));
    expect((await anon("GET", `/${priv}/re.txt`)).status).toBe(403);
  });

  test("a multipart upload created with an ACL completes public", async () => {
    const { UploadId } = await h.s3.send(
      new CreateMultipartUploadCommand({ Bucket: priv, Key: "mpu.bin", ACL: "public-read" }),
    );
    const part = await h.s3.send(
      new UploadPartCommand({ Bucket: priv, Key: "mpu.bin", UploadId, PartNumber: 1, Body: "parts" }),
    );
    await h.s3.send(
      new CompleteMultipartUploadCommand({
        Bucket: priv,
        Key: "mpu.bin",
        UploadId,
        MultipartUpload: { Parts: [{ PartNumber: 1, ETag: part.ETag! }] },
      }),
    );
    expect((await anon("GET", `/${priv}/mpu.bin`)).body).toBe("parts");
  });

  test("invalid or unsupported ACLs are refused with nothing stored", async () => {
    const bad = await signedRaw(h.server.url, {
      method: "PUT",
      path: `/${priv}/bad-acl.txt`,
      headers: { "x-amz-acl": "everyone" },
      body: "x",
    });
    expect(bad.status).toBe(400);
    expect(errorCode(bad.body)).toBe("InvalidArgument");
    const rw = await signedRaw(h.server.url, {
      method: "PUT",
      path: `/${priv}/bad-acl.txt`,
      headers: { "x-amz-acl": "public-read-write" },
      body: "x",
    });
    expect(rw.status).toBe(501);
    const grant = await signedRaw(h.server.url, {
      method: "PUT",
      path: `/${priv}/bad-acl.txt`,
      headers: { "x-amz-grant-read": `uri="${ALL_USERS}"` },
      body: "x",
    });
    expect(grant.status).toBe(501);
    expect((await anon("GET", `/${priv}/bad-acl.txt`)).status).toBe(403);
    const both = await signedRaw(h.server.url, {
      method: "PUT",
      path: `/${priv}/avatar.png`,
      query: "acl",
      headers: { "x-amz-acl": "private" },
      body: "<AccessControlPolicy/>",
    });
    expect(both.status).toBe(400);
    expect(errorCode(both.body)).toBe("UnexpectedContent");
    const malformed = await signedRaw(h.server.url, {
      method: "PUT",
      path: `/${priv}/avatar.png`,
      query: "acl",
      body: "<AccessControlPolicy>",
    });
    expect(malformed.status).toBe(400);
    expect(errorCode(malformed.body)).toBe("MalformedACLError");
    expect((await anon("GET", `/${priv}/avatar.png`)).status).toBe(200);
  });
});

describe("public-read buckets", () => {
  let pub: string;

  beforeAll(async () => {
    pub = uniqueBucket("pub");
    await h.s3.send(new CreateBucketCommand({ Bucket: pub, ACL: "public-read" }));
    await h.s3.send(new PutObjectCommand({ Bucket: pub, Key: "a.txt", Body: "A" }));
    await h.s3.send(new PutObjectCommand({ Bucket: pub, Key: "hidden.txt", Body: "H", ACL: "private" }));
  });

  test("GetBucketAcl shows AllUsers READ; objects and the listing are readable anonymously", async () => {
    const acl = await h.s3.send(new GetBucketAclCommand({ Bucket: pub }));
    expect(acl.Grants?.some((g) => g.Grantee?.URI === ALL_USERS && g.Permission === "READ")).toBe(true);
    expect((await anon("GET", `/${pub}/a.txt`)).body).toBe("A");
    const list = await anon("GET", `/${pub}?list-type=2&prefix=a`);
    expect(list.status).toBe(200);
    expect(list.body).toContain("<Key>a.txt</Key>");
    expect((await anon("HEAD", `/${pub}`)).status).toBe(200);
    // Anyone who may list learns that a key is missing.
    const missing = await anon("GET", `/${pub}/missing`);
    expect(missing.status).toBe(404);
    expect(errorCode(missing.body)).toBe("NoSuchKey");
  });

  test("in a public bucket an object's own private ACL does not hide it (Tigris's default); writes and sub-resources stay owner-only", async () => {
    expect((await anon("GET", `/${pub}/hidden.txt`)).status).toBe(200);
    expect((await anon("PUT", `/${pub}/b.txt`, { body: "B" })).status).toBe(403);
    expect((await anon("DELETE", `/${pub}/a.txt`)).status).toBe(403);
    expect((await anon("GET", `/${pub}?acl`)).status).toBe(403);
    expect((await anon("GET", `/${pub}?uploads`)).status).toBe(403);
    expect((await anon("GET", `/${pub}?versions`)).status).toBe(403);
  });

  test("PutBucketAcl private closes the bucket again", async () => {
    const b = uniqueBucket("flip");
    await h.s3.send(new CreateBucketCommand({ Bucket: b }));
    await h.s3.send(new PutObjectCommand({ Bucket: b, Key: "k", Body: "v" }));
    expect((await anon("GET", `/${b}/k`)).status).toBe(403);
    await h.s3.send(new PutBucketAclCommand({ Bucket: b, ACL: "public-read" }));
    expect((await anon("GET", `/${b}/k`)).status).toBe(200);
    await h.s3.send(new PutBucketAclCommand({ Bucket: b, ACL: "private" }));
    expect((await anon("GET", `/${b}/k`)).status).toBe(403);
    expect(
      (await s3Error(h.s3.send(new PutBucketAclCommand({ Bucket: b, ACL: "public-read-write" })))).name,
    ).toBe("NotImplemented");
  });

  test("a fork keeps its source's ACL and CORS rules; the fork's own ACL then stays its own", async () => {
    const src = uniqueBucket("fsrc");
    await h.s3.send(new CreateBucketCommand({ Bucket: src, ACL: "public-read" }));
    const enable = await signedRaw(h.server.url, {
      method: "PATCH",
      path: `/${src}`,
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ type: 1 }),
    });
    expect(enable.status).toBe(200);
    await h.s3.send(
      new PutBucketCorsCommand({
        Bucket: src,
        CORSConfiguration: {
          CORSRules: [{ AllowedOrigins: ["http://app.example"], AllowedMethods: ["GET"] }],
        },
      }),
    );
    await h.s3.send(new PutObjectCommand({ Bucket: src, Key: "logo.svg", Body: "<svg/>" }));
    const fork = uniqueBucket("fork");
    const made = await signedRaw(h.server.url, {
      method: "PUT",
      path: `/${fork}`,
      headers: { "x-tigris-fork-source-bucket": src },
    });
    expect(made.status).toBe(200);
    expect((await anon("GET", `/${fork}/logo.svg`)).body).toBe("<svg/>");
    const pre = await raw(h.server.url, {
      method: "OPTIONS",
      path: `/${fork}/logo.svg`,
      headers: { Origin: "http://app.example", "Access-Control-Request-Method": "GET" },
    });
    expect(pre.status).toBe(200);
    await h.s3.send(new PutBucketAclCommand({ Bucket: fork, ACL: "private" }));
    expect((await anon("GET", `/${fork}/logo.svg`)).status).toBe(403);
    expect((await anon("GET", `/${src}/logo.svg`)).status).toBe(200);
  });

  test("hostile ACL and CORS documents never get a 500", async () => {
    const bodies = [
      "<AccessControlPolicy><AccessControlList>text</AccessControlList></AccessControlPolicy>",
      "<AccessControlPolicy><AccessControlList><Grant><Grantee><URI><x/></URI></Grantee><Permission>READ</Permission></Grant></AccessControlList></AccessControlPolicy>",
      "<AccessControlPolicy><AccessControlList><Grant><Permission><p/></Permission></Grant></AccessControlList></AccessControlPolicy>",
      "<AccessControlPolicy><AccessControlList><Grant>x</Grant><Grant/></AccessControlList></AccessControlPolicy>",
      "<CORSConfiguration><CORSRule>abc</CORSRule></CORSConfiguration>",
      "<CORSConfiguration><CORSRule><AllowedOrigin><a/></AllowedOrigin><AllowedMethod>GET</AllowedMethod></CORSRule></CORSConfiguration>",
      "<CORSConfiguration><CORSRule><ID>a</ID><ID>b</ID><AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod></CORSRule></CORSConfiguration>",
      "<CORSConfiguration><CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod><MaxAgeSeconds>soon</MaxAgeSeconds></CORSRule></CORSConfiguration>",
      '<!DOCTYPE x [<!ENTITY a "aaaa">]><CORSConfiguration>&a;</CORSConfiguration>',
      "\u0000\uffff",
    ];
    for (const body of bodies) {
      for (const [path, query] of [
        [`/${priv}/avatar.png`, "acl"],
        [`/${priv}`, "acl"],
        [`/${priv}`, "cors"],
      ] as const) {
        const r = await signedRaw(h.server.url, { method: "PUT", path, query, body });
        expect(r.status < 500 || r.status === 501, `${path}?${query} ${body}: ${r.status} ${r.body}`).toBe(
          true,
        );
      }
    }
    expect((await anon("GET", `/${priv}/avatar.png`)).status).toBe(200);
  });
});

describe("a bucket's public access block", () => {
  test("BlockPublicAcls refuses public ACLs; IgnorePublicAcls makes existing ones grant nothing", async () => {
    const bucket = uniqueBucket("pab");
    await h.s3.send(new CreateBucketCommand({ Bucket: bucket }));
    await h.s3.send(new PutObjectCommand({ Bucket: bucket, Key: "a.png", Body: "a", ACL: "public-read" }));
    expect((await anon("GET", `/${bucket}/a.png`)).status).toBe(200);

    await h.s3.send(
      new PutPublicAccessBlockCommand({
        Bucket: bucket,
        PublicAccessBlockConfiguration: { BlockPublicAcls: true, IgnorePublicAcls: true },
      }),
    );
    // a new public object, a public ACL on an existing one, a public bucket ACL: all refused
    const attempts = [
      () => h.s3.send(new PutObjectCommand({ Bucket: bucket, Key: "b.png", Body: "b", ACL: "public-read" })),
      () => h.s3.send(new PutObjectAclCommand({ Bucket: bucket, Key: "a.png", ACL: "public-read" })),
      () => h.s3.send(new PutBucketAclCommand({ Bucket: bucket, ACL: "public-read" })),
    ];
    for (const attempt of attempts) expect((await s3Error(attempt())).name).toBe("AccessDenied");
    // private writes still work
    await h.s3.send(new PutObjectCommand({ Bucket: bucket, Key: "c.png", Body: "c" }));
    // the object made public before is no longer readable without credentials
    expect((await anon("GET", `/${bucket}/a.png`)).status).toBe(403);

    await h.s3.send(new DeletePublicAccessBlockCommand({ Bucket: bucket }));
    expect((await anon("GET", `/${bucket}/a.png`)).status).toBe(200);
  });
});
