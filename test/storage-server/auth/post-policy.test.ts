/**
 * The POST-policy rules as pure functions (parse, check, signature), for the corners the end-to-end
 * tests in post-object.test.ts do not reach cheaply.
 */
import { createHmac } from "node:crypto";
import { describe, expect, test } from "vitest";
import {
  checkPolicy,
  parsePostPolicy,
  verifyPolicySignature,
} from "../../../src/storage-server/auth/post-policy.js";
import { S3Error } from "../../../src/storage-server/errors.js";

const b64 = (doc: unknown): string => Buffer.from(JSON.stringify(doc)).toString("base64");
const future = "2999-01-01T00:00:00.000Z";

function code(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(S3Error);
    return (error as S3Error).code;
  }
  return "none";
}

describe("parsePostPolicy", () => {
  test("accepts both ISO forms S3 and the SDK write, numbers as values", () => {
    const p = parsePostPolicy(
      b64({
        expiration: "2999-01-01T00:00:00Z",
        conditions: [{ success_action_status: 201 }, ["eq", "$key", "k"]],
      }),
    );
    expect(p.conditions).toHaveLength(2);
    expect(p.conditions[0]).toMatchObject({ kind: "eq", field: "success_action_status", value: "201" });
    expect(
      parsePostPolicy(
        b64({ expiration: future, conditions: [["starts-with", "$key", ""]] }),
      ).expiration.getUTCFullYear(),
    ).toBe(2999);
  });

  test("malformed documents are InvalidPolicyDocument, never anything else", () => {
    for (const doc of [
      "not base64 !!",
      Buffer.from("[1,2]").toString("base64"),
      b64({ expiration: 12, conditions: [] }),
      b64({ expiration: "2999-02-30T00:00:00Z", conditions: [["eq", "$key", "k"]] }),
      b64({ expiration: future, conditions: [null] }),
      b64({ expiration: future, conditions: [[]] }),
      b64({ expiration: future, conditions: [["eq", "$key"]] }),
      b64({ expiration: future, conditions: [["eq", "$", "x"]] }),
      b64({ expiration: future, conditions: [["eq", "$key", { a: 1 }]] }),
      b64({ expiration: future, conditions: [["content-length-range", "1", "x"]] }),
      b64({ expiration: future, conditions: [{}] }),
      b64({ expiration: future, conditions: [7] }),
    ]) {
      expect(
        code(() => parsePostPolicy(doc)),
        doc,
      ).toBe("InvalidPolicyDocument");
    }
  });
});

describe("checkPolicy", () => {
  const fields = new Map([
    ["key", "uploads/a.png"],
    ["content-type", "image/png"],
    ["x-amz-meta-a", "1"],
    ["x-ignore-anything", "z"],
    ["policy", "p"],
    ["x-amz-signature", "s"],
  ]);
  const base = [
    ["starts-with", "$key", "uploads/"],
    { "content-type": "image/png" },
    ["starts-with", "$x-amz-meta-a", ""],
  ];

  test("content-length-range conditions intersect", () => {
    const p = parsePostPolicy(
      b64({
        expiration: future,
        conditions: [...base, ["content-length-range", 10, 100], ["content-length-range", 50, 200]],
      }),
    );
    expect(checkPolicy(p, fields, "b")).toEqual({ min: 50, max: 100 });
  });

  test("expiry is checked against the given clock", () => {
    const p = parsePostPolicy(b64({ expiration: "2020-01-01T00:00:00Z", conditions: base }));
    expect(code(() => checkPolicy(p, fields, "b"))).toBe("AccessDenied");
    expect(checkPolicy(p, fields, "b", new Date("2019-12-31T23:59:59Z")).max).toBe(Number.MAX_SAFE_INTEGER);
  });

  test("eq is exact (case matters in values), names are not", () => {
    const p = parsePostPolicy(
      b64({ expiration: future, conditions: [...base, ["eq", "$Content-Type", "IMAGE/PNG"]] }),
    );
    expect(code(() => checkPolicy(p, fields, "b"))).toBe("AccessDenied");
  });
});

describe("verifyPolicySignature", () => {
  const secret = "s3cr3t-s3cr3t-s3cr3t-s3cr3t";
  const lookup = (id: string): { accessKeyId: string; secretAccessKey: string } | undefined =>
    id === "AKID" ? { accessKeyId: "AKID", secretAccessKey: secret } : undefined;
  const sign = (policy: string, date = "20260101"): string => {
    const h = (k: string | Buffer, d: string): Buffer => createHmac("sha256", k).update(d).digest();
    return h(h(h(h(h(`AWS4${secret}`, date), "auto"), "s3"), "aws4_request"), policy).toString("hex");
  };
  const form = (extra: Record<string, string> = {}): Map<string, string> =>
    new Map(
      Object.entries({
        policy: "cG9saWN5",
        "x-amz-algorithm": "AWS4-HMAC-SHA256",
        "x-amz-credential": "AKID/20260101/auto/s3/aws4_request",
        "x-amz-date": "20260101T000000Z",
        "x-amz-signature": sign("cG9saWN5"),
        ...extra,
      }),
    );

  test("a good signature names its key; the signature is case-insensitive hex", () => {
    expect(verifyPolicySignature(form(), lookup)).toBe("AKID");
    expect(verifyPolicySignature(form({ "x-amz-signature": sign("cG9saWN5").toUpperCase() }), lookup)).toBe(
      "AKID",
    );
  });

  test("each broken piece has its code", () => {
    expect(
      code(() => verifyPolicySignature(form({ "x-amz-algorithm": "AWS4-ECDSA-P256-SHA256" }), lookup)),
    ).toBe("InvalidArgument");
    expect(code(() => verifyPolicySignature(form({ "x-amz-date": "20260102T000000Z" }), lookup))).toBe(
      "InvalidArgument",
    );
    expect(
      code(() =>
        verifyPolicySignature(form({ "x-amz-credential": "AKID/20260101/auto/ec2/aws4_request" }), lookup),
      ),
    ).toBe("InvalidArgument");
    expect(code(() => verifyPolicySignature(form({ "x-amz-signature": "zz" }), lookup))).toBe(
      "SignatureDoesNotMatch",
    );
    expect(
      code(() =>
        verifyPolicySignature(form({ "x-amz-credential": "NOPE/20260101/auto/s3/aws4_request" }), lookup),
      ),
    ).toBe("InvalidAccessKeyId");
    const noPolicy = form();
    noPolicy.delete("policy");
    expect(code(() => verifyPolicySignature(noPolicy, lookup))).toBe("InvalidArgument");
  });
});
