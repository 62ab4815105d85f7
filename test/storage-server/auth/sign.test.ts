/** The client signer is the inverse of the server's verifier, including the AWS documentation example. */
import { describe, expect, it } from "vitest";
import { authenticate } from "../../../src/storage-server/auth/index.js";
import { signRequest } from "../../../src/storage-server/auth/sign.js";
import { S3Error } from "../../../src/storage-server/errors.js";

const creds = {
  accessKeyId: "AKIAIOSFODNN7EXAMPLE",
  secretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
};
const lookup = (id: string) => (id === creds.accessKeyId ? creds : undefined);

function verify(method: string, url: URL, headers: Record<string, string>, now: Date) {
  return authenticate({ method, rawUrl: `${url.pathname}${url.search}`, headers }, lookup, now);
}

describe("auth: client signing", () => {
  it("matches the AWS documentation's GET Object example signature", () => {
    // docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-header-based-auth.html, "GET Object"
    const headers = signRequest({
      method: "GET",
      url: new URL("https://examplebucket.s3.amazonaws.com/test.txt"),
      headers: { range: "bytes=0-9" },
      ...creds,
      region: "us-east-1",
      now: new Date("2013-05-24T00:00:00Z"),
    });
    expect(headers.authorization).toBe(
      "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, " +
        "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, " +
        "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41",
    );
  });

  it.each([
    [
      "PUT",
      "http://127.0.0.1:9000/myapp-bucket-alice",
      { "X-Tigris-Fork-Source-Bucket": "myapp-bucket-dev" },
    ],
    ["GET", "http://127.0.0.1:9000/?max-buckets=1000&prefix=myapp-", {}],
    ["DELETE", "http://127.0.0.1:9000/b", { "Tigris-Force-Delete": "true" }],
  ])("%s %s verifies on the server, and a tampered header does not", (method, href, extra) => {
    const now = new Date();
    const url = new URL(href);
    const headers = signRequest({ method, url, headers: extra, ...creds, region: "auto", now });
    expect(verify(method, url, headers, now).accessKeyId).toBe(creds.accessKeyId);
    const tampered = { ...headers, "x-amz-date": headers["x-amz-date"]!.replace(/.$/, "9") };
    expect(() => verify(method, url, tampered, now)).toThrow(S3Error);
  });
});
