import { randomBytes } from "node:crypto";
import { GetObjectCommand, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { getSignedUrl } from "@aws-sdk/s3-request-presigner";
import { describe, expect, it } from "vitest";
import { authenticate, decodeBody, generateCredentials } from "../../../src/storage-server/auth/index.js";
import type { Credentials, RequestHead } from "../../../src/storage-server/auth/index.js";
import { HOST, expectS3Error, lookupFor, readAll, slicedStream } from "./helpers.js";

const creds = generateCredentials();
const lookup = lookupFor(creds);

function client(
  c: Credentials = creds,
  options: { requestChecksumCalculation?: "WHEN_REQUIRED" } = {},
): S3Client {
  return new S3Client({
    endpoint: `http://${HOST}`,
    region: "auto",
    forcePathStyle: true,
    credentials: c,
    ...options,
  });
}

/** The request a client makes when it fetches `url`: path and query exactly as written, Host header. */
function headFor(url: string, method: string, headers: Record<string, string> = {}): RequestHead {
  const afterScheme = url.indexOf("/", "http://".length);
  return { method, rawUrl: url.slice(afterScheme), headers: { host: HOST, ...headers } };
}

function replaceParam(url: string, name: string, value: string): string {
  return url.replace(new RegExp(`([?&]${name}=)[^&]*`), `$1${value}`);
}

describe("presigned URLs", () => {
  it.each(["plain.txt", "a b+c~d.txt", "dir/ünï cødé/文件 (1).bin"])(
    "GET URL from the SDK presigner verifies for key %j",
    async (key) => {
      const url = await getSignedUrl(client(), new GetObjectCommand({ Bucket: "bucket", Key: key }), {
        expiresIn: 300,
      });
      const auth = authenticate(headFor(url, "GET"), lookup);
      expect(auth.accessKeyId).toBe(creds.accessKeyId);
      expect(auth.payload).toEqual({ kind: "unsigned" });
    },
  );

  it("a URL signed with extra signed headers needs them on the request", async () => {
    const url = await getSignedUrl(
      client(),
      new PutObjectCommand({ Bucket: "bucket", Key: "k", ContentType: "text/plain" }),
      { expiresIn: 60, signableHeaders: new Set(["content-type"]) },
    );
    expect(url).toContain("content-type");
    authenticate(headFor(url, "PUT", { "content-type": "text/plain" }), lookup);
    await expectS3Error(
      () => authenticate(headFor(url, "PUT", { "content-type": "text/html" }), lookup),
      "SignatureDoesNotMatch",
    );
  });

  it("expired URL → AccessDenied 'Request has expired'", async () => {
    const url = await getSignedUrl(client(), new GetObjectCommand({ Bucket: "b", Key: "k" }), {
      expiresIn: 60,
    });
    const later = new Date(Date.now() + 61_000);
    await expectS3Error(
      () => authenticate(headFor(url, "GET"), lookup, later),
      "AccessDenied",
      403,
      /^Request has expired$/,
    );
    // Still valid just before the deadline.
    authenticate(headFor(url, "GET"), lookup, new Date(Date.now() + 50_000));
  });

  it("URL signed in the future beyond the allowed skew → AccessDenied", async () => {
    const url = await getSignedUrl(client(), new GetObjectCommand({ Bucket: "b", Key: "k" }), {
      expiresIn: 3600,
      signingDate: new Date(Date.now() + 30 * 60_000),
    });
    await expectS3Error(() => authenticate(headFor(url, "GET"), lookup), "AccessDenied", 403);
  });

  describe("tampering", () => {
    it.each([
      ["key", (u: string) => u.replace("/b/secret", "/b/public")],
      ["expiry extended", (u: string) => replaceParam(u, "X-Amz-Expires", "604800")],
      ["extra parameter", (u: string) => `${u}&response-content-type=text%2Fhtml`],
      [
        "signature",
        (u: string) =>
          u.replace(/(X-Amz-Signature=)(.)/, (_m, p: string, c: string) => p + (c === "0" ? "1" : "0")),
      ],
    ])("%s → SignatureDoesNotMatch", async (_what, tamper) => {
      const url = await getSignedUrl(client(), new GetObjectCommand({ Bucket: "b", Key: "secret" }), {
        expiresIn: 60,
      });
      await expectS3Error(
        () => authenticate(headFor(tamper(url), "GET"), lookup),
        "SignatureDoesNotMatch",
        403,
      );
    });

    it("method changed → SignatureDoesNotMatch", async () => {
      const url = await getSignedUrl(client(), new GetObjectCommand({ Bucket: "b", Key: "k" }), {
        expiresIn: 60,
      });
      await expectS3Error(() => authenticate(headFor(url, "DELETE"), lookup), "SignatureDoesNotMatch");
    });

    it("Host changed → SignatureDoesNotMatch", async () => {
      const url = await getSignedUrl(client(), new GetObjectCommand({ Bucket: "b", Key: "k" }), {
        expiresIn: 60,
      });
      const head = { ...headFor(url, "GET"), headers: { host: "127.0.0.1:9001" } };
      await expectS3Error(() => authenticate(head, lookup), "SignatureDoesNotMatch");
    });

    it("expiry above one week → AuthorizationQueryParametersError", async () => {
      const url = await getSignedUrl(client(), new GetObjectCommand({ Bucket: "b", Key: "k" }), {
        expiresIn: 60,
      });
      await expectS3Error(
        () => authenticate(headFor(replaceParam(url, "X-Amz-Expires", "604801"), "GET"), lookup),
        "AuthorizationQueryParametersError",
        400,
      );
    });

    it("wrong secret → SignatureDoesNotMatch; unknown key → InvalidAccessKeyId", async () => {
      const forged = {
        accessKeyId: creds.accessKeyId,
        secretAccessKey: generateCredentials().secretAccessKey,
      };
      const cmd = new GetObjectCommand({ Bucket: "b", Key: "k" });
      const bad = await getSignedUrl(client(forged), cmd, { expiresIn: 60 });
      await expectS3Error(() => authenticate(headFor(bad, "GET"), lookup), "SignatureDoesNotMatch", 403);
      const stranger = await getSignedUrl(client(generateCredentials()), cmd, { expiresIn: 60 });
      await expectS3Error(() => authenticate(headFor(stranger, "GET"), lookup), "InvalidAccessKeyId", 403);
    });

    it("header and query authentication together → InvalidArgument", async () => {
      const url = await getSignedUrl(client(), new GetObjectCommand({ Bucket: "b", Key: "k" }), {
        expiresIn: 60,
      });
      const head = headFor(url, "GET", { authorization: "AWS4-HMAC-SHA256 Credential=x" });
      await expectS3Error(() => authenticate(head, lookup), "InvalidArgument", 400);
    });
  });

  describe("presigned PUT and the SDK's baked-in empty-body CRC32 (storage.md §4.2)", () => {
    it("default SDK config signs x-amz-checksum-crc32 of an empty body: a non-empty upload → BadDigest, like S3", async () => {
      const url = await getSignedUrl(client(), new PutObjectCommand({ Bucket: "b", Key: "k" }), {
        expiresIn: 60,
      });
      expect(url).toContain("x-amz-checksum-crc32=AAAAAA");
      const data = randomBytes(1234);
      const head = headFor(url, "PUT", { "content-length": String(data.length) });
      const auth = authenticate(head, lookup);
      const decoded = decodeBody(slicedStream(data), head, auth);
      await expectS3Error(() => readAll(decoded.stream), "BadDigest", 400, /CRC32/);
    });

    it("with requestChecksumCalculation WHEN_REQUIRED the URL uploads any body", async () => {
      const url = await getSignedUrl(
        client(creds, { requestChecksumCalculation: "WHEN_REQUIRED" }),
        new PutObjectCommand({ Bucket: "b", Key: "k" }),
        { expiresIn: 60 },
      );
      expect(url).not.toContain("x-amz-checksum-crc32");
      const data = randomBytes(1234);
      const head = headFor(url, "PUT", { "content-length": String(data.length) });
      const decoded = decodeBody(slicedStream(data), head, authenticate(head, lookup));
      expect((await readAll(decoded.stream)).equals(data)).toBe(true);
      expect(decoded.result().size).toBe(data.length);
    });
  });
});
