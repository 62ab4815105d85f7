import { describe, expect, it } from "vitest";
import { authenticate, generateCredentials } from "../../../src/storage-server/auth/index.js";
import type { RequestHead } from "../../../src/storage-server/auth/index.js";
import {
  AWS_EXAMPLE_CREDENTIALS,
  AWS_STREAMING_EXAMPLE,
  EMPTY_SHA256,
  encodeKey,
  expectS3Error,
  lookupFor,
  signHead,
} from "./helpers.js";

const creds = generateCredentials();
const lookup = lookupFor(creds);

function withHeaders(head: RequestHead, headers: Record<string, string>): RequestHead {
  return { ...head, headers: { ...head.headers, ...headers } };
}

describe("SigV4 Authorization header", () => {
  it("accepts a signed GET and reports the access key and payload mode", async () => {
    const head = await signHead(creds, { path: "/bucket/key.txt" });
    const auth = authenticate(head, lookup);
    expect(auth.accessKeyId).toBe(creds.accessKeyId);
    expect(auth.payload).toEqual({ kind: "sha256", hex: EMPTY_SHA256 });
  });

  it.each(["us-east-1", "auto", "eu-west-3"])("accepts region %s in the credential scope", async (region) => {
    const head = await signHead(creds, { path: "/bucket", region });
    expect(authenticate(head, lookup).accessKeyId).toBe(creds.accessKeyId);
  });

  // Keys as clients put them on the wire; the signer saw the same encoded path.
  it.each([
    "plain.txt",
    "a b+c.txt",
    "tilde~and!bang'(paren)*",
    "dir/sub dir/ünïcødé-文件.bin",
    "percent%20literal",
    "semi;colon,comma=eq&amp@at$dollar",
  ])("accepts key %j encoded the SDK way", async (key) => {
    const head = await signHead(creds, { method: "PUT", path: `/bucket/${encodeKey(key)}` });
    expect(authenticate(head, lookup).accessKeyId).toBe(creds.accessKeyId);
  });

  it("accepts a path whose wire encoding differs from the canonical one (e.g. `~` escaped, `+` literal)", async () => {
    // botocore-style wire path vs canonical form: the server re-encodes segment by segment.
    const signed = await signHead(creds, { method: "PUT", path: "/bucket/a%20b%2Bc~d.txt" });
    const variant = { ...signed, rawUrl: "/bucket/a%20b+c%7Ed.txt" };
    expect(authenticate(variant, lookup).accessKeyId).toBe(creds.accessKeyId);
  });

  it.each([
    ["uploads", "uploads"],
    ["list-type=2&prefix=a%20b%2Bc&delimiter=%2F&encoding-type=url", "list"],
    ["versioning", "flag"],
    ["partNumber=2&uploadId=abc~123", "part"],
    ["delete=", "delete with ="],
  ])("accepts query %j (%s), parameters sorted and valueless ones canonicalised", async (query) => {
    const head = await signHead(creds, { method: "POST", path: "/bucket/key", query });
    expect(authenticate(head, lookup).accessKeyId).toBe(creds.accessKeyId);
  });

  it("accepts a query whose parameters arrive in a different order than canonical", async () => {
    const head = await signHead(creds, { path: "/bucket", query: "prefix=x&list-type=2&max-keys=5" });
    const shuffled = { ...head, rawUrl: "/bucket?max-keys=5&prefix=x&list-type=2" };
    expect(authenticate(shuffled, lookup).accessKeyId).toBe(creds.accessKeyId);
  });

  it("accepts non-ASCII header values and paths as Node delivers them (latin1-decoded UTF-8 bytes)", async () => {
    const value = "café ☕ 東京";
    const head = await signHead(creds, {
      method: "PUT",
      path: "/b/k",
      headers: { "x-amz-meta-note": value },
    });
    const asNode = withHeaders(head, { "x-amz-meta-note": Buffer.from(value).toString("latin1") });
    expect(authenticate(asNode, lookup).accessKeyId).toBe(creds.accessKeyId);

    // A client that sends a raw UTF-8 path but signed its percent-encoded form.
    const key = "dir/ünï.txt";
    const signed = await signHead(creds, { path: `/b/${encodeKey(key)}` });
    const rawPath = { ...signed, rawUrl: Buffer.from(`/b/${key}`).toString("latin1") };
    expect(authenticate(rawPath, lookup).accessKeyId).toBe(creds.accessKeyId);
  });

  it("verifies the AWS documentation example (sigv4-streaming seed signature)", () => {
    const head = AWS_STREAMING_EXAMPLE;
    const example = AWS_EXAMPLE_CREDENTIALS;
    const auth = authenticate(head, lookupFor(example), new Date("2013-05-24T00:05:00Z"));
    expect(auth.payload).toEqual({ kind: "aws-chunked", signed: true, trailer: false });
  });

  it.each([
    ["x-amz-content-sha256", "UNSIGNED-PAYLOAD", { kind: "unsigned" }],
    [
      "x-amz-content-sha256",
      "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
      { kind: "aws-chunked", signed: false, trailer: true },
    ],
    [
      "x-amz-content-sha256",
      "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER",
      { kind: "aws-chunked", signed: true, trailer: true },
    ],
  ])("maps %s: %s to its payload mode", async (_name, value, mode) => {
    const head = await signHead(creds, { method: "PUT", path: "/b/k", payloadHash: value });
    expect(authenticate(head, lookup).payload).toEqual(mode);
  });

  it("answers 501 NotImplemented for SigV4a streaming payloads", async () => {
    const head = await signHead(creds, {
      method: "PUT",
      path: "/b/k",
      payloadHash: "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD",
    });
    await expectS3Error(() => authenticate(head, lookup), "NotImplemented", 501);
  });

  it("rejects an unknown x-amz-content-sha256 value with InvalidArgument", async () => {
    const head = await signHead(creds, { method: "PUT", path: "/b/k", payloadHash: "nonsense" });
    await expectS3Error(() => authenticate(head, lookup), "InvalidArgument", 400);
  });

  describe("refusals", () => {
    it("tampered signed header → SignatureDoesNotMatch", async () => {
      const head = await signHead(creds, { path: "/b/k", headers: { "x-amz-meta-owner": "alice" } });
      const err = await expectS3Error(
        () => authenticate(withHeaders(head, { "x-amz-meta-owner": "mallory" }), lookup),
        "SignatureDoesNotMatch",
        403,
      );
      expect(err.details.CanonicalRequest).toContain("x-amz-meta-owner:mallory");
    });

    it("tampered path → SignatureDoesNotMatch", async () => {
      const head = await signHead(creds, { path: "/b/k1" });
      await expectS3Error(
        () => authenticate({ ...head, rawUrl: "/b/k2" }, lookup),
        "SignatureDoesNotMatch",
        403,
      );
    });

    it("tampered query → SignatureDoesNotMatch", async () => {
      const head = await signHead(creds, { path: "/b", query: "list-type=2&prefix=public" });
      const tampered = { ...head, rawUrl: "/b?list-type=2&prefix=private" };
      await expectS3Error(() => authenticate(tampered, lookup), "SignatureDoesNotMatch", 403);
    });

    it("added query parameter → SignatureDoesNotMatch", async () => {
      const head = await signHead(creds, { path: "/b/k" });
      await expectS3Error(
        () => authenticate({ ...head, rawUrl: "/b/k?acl" }, lookup),
        "SignatureDoesNotMatch",
      );
    });

    it("tampered method → SignatureDoesNotMatch", async () => {
      const head = await signHead(creds, { path: "/b/k" });
      await expectS3Error(() => authenticate({ ...head, method: "DELETE" }, lookup), "SignatureDoesNotMatch");
    });

    it("tampered payload hash → SignatureDoesNotMatch", async () => {
      const head = await signHead(creds, { method: "PUT", path: "/b/k" });
      const other = "a".repeat(64);
      await expectS3Error(
        () => authenticate(withHeaders(head, { "x-amz-content-sha256": other }), lookup),
        "SignatureDoesNotMatch",
      );
    });

    it("wrong secret → SignatureDoesNotMatch", async () => {
      const forged = {
        accessKeyId: creds.accessKeyId,
        secretAccessKey: generateCredentials().secretAccessKey,
      };
      const head = await signHead(forged, { path: "/b/k" });
      await expectS3Error(() => authenticate(head, lookup), "SignatureDoesNotMatch", 403);
    });

    it("unknown access key → InvalidAccessKeyId", async () => {
      const head = await signHead(generateCredentials(), { path: "/b/k" });
      await expectS3Error(() => authenticate(head, lookup), "InvalidAccessKeyId", 403);
    });

    it.each([16, -16, 60 * 24])("clock skewed by %i minutes → RequestTimeTooSkewed", async (minutes) => {
      const date = new Date(Date.now() + minutes * 60_000);
      const head = await signHead(creds, { path: "/b/k", date });
      await expectS3Error(() => authenticate(head, lookup), "RequestTimeTooSkewed", 403);
    });

    it("clock skewed by 14 minutes is still accepted", async () => {
      const head = await signHead(creds, { path: "/b/k", date: new Date(Date.now() - 14 * 60_000) });
      expect(authenticate(head, lookup).accessKeyId).toBe(creds.accessKeyId);
    });

    it("missing authentication → AccessDenied", async () => {
      await expectS3Error(
        () => authenticate({ method: "GET", rawUrl: "/b/k", headers: { host: "x" } }, lookup),
        "AccessDenied",
        403,
      );
    });

    it("Signature V2 header → InvalidRequest naming the supported mechanism", async () => {
      const head = { method: "GET", rawUrl: "/b/k", headers: { host: "x", authorization: "AWS AKID:c2ln" } };
      await expectS3Error(() => authenticate(head, lookup), "InvalidRequest", 400, /AWS4-HMAC-SHA256/);
    });

    it("malformed Authorization header → AuthorizationHeaderMalformed", async () => {
      const head = await signHead(creds, { path: "/b/k" });
      const auth = String(head.headers.authorization).replace(/SignedHeaders=[^,]*,\s*/, "");
      await expectS3Error(
        () => authenticate(withHeaders(head, { authorization: auth }), lookup),
        "AuthorizationHeaderMalformed",
        400,
      );
    });

    it("credential scope for another service → AuthorizationHeaderMalformed", async () => {
      const head = await signHead(creds, { path: "/b/k" });
      const auth = String(head.headers.authorization).replace("/s3/aws4_request", "/sqs/aws4_request");
      await expectS3Error(
        () => authenticate(withHeaders(head, { authorization: auth }), lookup),
        "AuthorizationHeaderMalformed",
      );
    });

    it("missing x-amz-date and Date → AccessDenied", async () => {
      const head = await signHead(creds, { path: "/b/k" });
      const headers = { ...head.headers };
      delete headers["x-amz-date"];
      await expectS3Error(() => authenticate({ ...head, headers }, lookup), "AccessDenied", 403);
    });

    it.each([
      ["x-amz-decoded-content-length", "5"],
      ["x-amz-trailer", "x-amz-checksum-crc32"],
    ])("%s added after signing → AccessDenied (HeadersNotSigned)", async (name, value) => {
      const head = await signHead(creds, { method: "PUT", path: "/b/k", payloadHash: "UNSIGNED-PAYLOAD" });
      const err = await expectS3Error(
        () => authenticate(withHeaders(head, { [name]: value }), lookup),
        "AccessDenied",
        403,
      );
      expect(err.details.HeadersNotSigned).toBe(name);
    });

    it("x-amz-content-sha256 left out of SignedHeaders → AccessDenied (HeadersNotSigned)", async () => {
      const { SignatureV4 } = await import("@smithy/signature-v4");
      const { Sha256 } = await import("@aws-crypto/sha256-js");
      const s = new SignatureV4({ credentials: creds, region: "us-east-1", service: "s3", sha256: Sha256 });
      const signed = await s.sign(
        {
          method: "PUT",
          protocol: "http:",
          hostname: "127.0.0.1",
          path: "/b/k",
          query: {},
          headers: { host: "127.0.0.1:9000", "x-amz-content-sha256": "UNSIGNED-PAYLOAD" },
        },
        { unsignableHeaders: new Set(["x-amz-content-sha256"]) },
      );
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(signed.headers)) headers[k.toLowerCase()] = v;
      expect(headers.authorization).not.toContain("x-amz-content-sha256");
      const err = await expectS3Error(
        () => authenticate({ method: "PUT", rawUrl: "/b/k", headers }, lookup),
        "AccessDenied",
        403,
      );
      expect(err.details.HeadersNotSigned).toBe("x-amz-content-sha256");
    });

    it("body without x-amz-content-sha256 → InvalidRequest", async () => {
      const head = await signHead(creds, { method: "PUT", path: "/b/k" });
      const headers: Record<string, string | string[] | undefined> = {
        ...head.headers,
        "content-length": "5",
      };
      delete headers["x-amz-content-sha256"];
      await expectS3Error(() => authenticate({ ...head, headers }, lookup), "InvalidRequest", 400);
    });
  });
});
