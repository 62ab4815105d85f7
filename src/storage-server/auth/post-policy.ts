/**
 * @module storage-server/auth/post-policy
 * Browser-based uploads (S3 PostObject) are authenticated by a signed POST policy in the form instead
 * of a signed request: the SigV4 signature is over the base64 policy, and the policy's conditions
 * say which field values (key prefix, content type, size range, …) the upload may carry. Pure
 * functions over the form fields, so every rule is testable without a server.
 */
import { S3Error } from "../errors.js";
import type { Credentials } from "./types.js";
import {
  ALGORITHM,
  credentialsOf,
  hmac,
  parseAmzDate,
  parseCredential,
  signaturesEqual,
  signingKey,
} from "./sigv4.js";

/** Form fields by lower-cased name (S3 matches field names case-insensitively). */
export type FormFields = ReadonlyMap<string, string>;

export type PolicyCondition =
  | {
      readonly kind: "eq" | "starts-with";
      readonly field: string;
      readonly value: string;
      readonly text: string;
    }
  | {
      readonly kind: "content-length-range";
      readonly min: number;
      readonly max: number;
      readonly text: string;
    };

export interface PostPolicy {
  readonly expiration: Date;
  readonly conditions: readonly PolicyCondition[];
}

/** Fields every form may carry without a condition: the signature itself, the file, `x-ignore-*`. */
const UNCONDITIONED = new Set(["policy", "x-amz-signature", "file"]);

function invalidPolicy(why: string): S3Error {
  return new S3Error("InvalidPolicyDocument", `Invalid Policy: ${why}`, 400);
}

function missingField(name: string): S3Error {
  return new S3Error(
    "InvalidArgument",
    `Bucket POST must contain a field named '${name}'.  If it is specified, please check the order of the fields.`,
    400,
    { ArgumentName: name, ArgumentValue: "" },
  );
}

/**
 * Verifies the SigV4 signature of the form's policy and returns the access key that signed it.
 * Forms signed with SigV2 (`AWSAccessKeyId` + `signature`) are refused as everywhere else here.
 */
export function verifyPolicySignature(
  fields: FormFields,
  lookup: (accessKeyId: string) => Credentials | undefined,
): string {
  const algorithm = fields.get("x-amz-algorithm");
  if (algorithm === undefined) {
    if (fields.has("awsaccesskeyid") || fields.has("signature")) {
      throw new S3Error(
        "InvalidRequest",
        "The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256.",
        400,
      );
    }
    // No signature at all: an anonymous upload, which only a public-write bucket would accept.
    throw new S3Error("AccessDenied", "Access Denied", 403);
  }
  if (algorithm !== ALGORITHM) {
    throw new S3Error("InvalidArgument", `X-Amz-Algorithm only supports "${ALGORITHM}"`, 400, {
      ArgumentName: "x-amz-algorithm",
      ArgumentValue: algorithm,
    });
  }
  const policy = fields.get("policy");
  const credential = fields.get("x-amz-credential");
  const date = fields.get("x-amz-date");
  const signature = fields.get("x-amz-signature");
  if (policy === undefined) throw missingField("policy");
  if (credential === undefined) throw missingField("x-amz-credential");
  if (date === undefined) throw missingField("x-amz-date");
  if (signature === undefined) throw missingField("x-amz-signature");
  const scope = parseCredential(credential, "InvalidArgument");
  const signedAt = parseAmzDate(date);
  if (signedAt === undefined) {
    throw new S3Error(
      "InvalidArgument",
      `X-Amz-Date must be in the ISO8601 Long Format "yyyyMMdd'T'HHmmss'Z'"`,
      400,
      {
        ArgumentName: "x-amz-date",
        ArgumentValue: date,
      },
    );
  }
  if (scope.date !== date.slice(0, 8)) {
    throw new S3Error(
      "InvalidArgument",
      `Invalid credential date "${scope.date}". This date is not the same as X-Amz-Date: "${date.slice(0, 8)}".`,
      400,
    );
  }
  const creds = credentialsOf(lookup, scope.accessKeyId);
  const expected = hmac(
    signingKey(creds.secretAccessKey, scope.date, scope.region, scope.service),
    policy,
  ).toString("hex");
  if (!/^[0-9a-fA-F]{64}$/.test(signature) || !signaturesEqual(expected, signature)) {
    throw new S3Error(
      "SignatureDoesNotMatch",
      "The request signature we calculated does not match the signature you provided. Check your key and signing method.",
      403,
      { AWSAccessKeyId: scope.accessKeyId, StringToSign: policy, SignatureProvided: signature },
    );
  }
  return scope.accessKeyId;
}

const EXPIRATION_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z$/;

function conditionText(items: readonly unknown[]): string {
  return `[${items.map((i) => JSON.stringify(i)).join(", ")}]`;
}

function stringValue(v: unknown, what: string): string {
  if (typeof v === "string") return v;
  if (typeof v === "number" && Number.isFinite(v)) return String(v);
  throw invalidPolicy(`Invalid ${what}: value must be a string.`);
}

function lengthBound(v: unknown, text: string): number {
  const n = typeof v === "string" && /^\d{1,15}$/.test(v.trim()) ? Number(v) : v;
  if (typeof n !== "number" || !Number.isSafeInteger(n) || n < 0) {
    throw invalidPolicy(`Invalid content-length-range condition: ${text}`);
  }
  return n;
}

function fieldName(v: unknown, text: string): string {
  if (typeof v !== "string" || !v.startsWith("$") || v.length < 2) {
    throw invalidPolicy(`Invalid Condition: ${text}`);
  }
  return v.slice(1).toLowerCase();
}

/** Decodes and checks the shape of the base64 JSON policy (not yet its conditions against a form). */
export function parsePostPolicy(base64: string): PostPolicy {
  const raw = base64.replace(/\s+/g, "");
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(raw)) throw invalidPolicy("Invalid Base64 encoding.");
  let doc: unknown;
  try {
    doc = JSON.parse(Buffer.from(raw, "base64").toString("utf8"));
  } catch {
    throw invalidPolicy("Invalid JSON.");
  }
  if (typeof doc !== "object" || doc === null || Array.isArray(doc)) throw invalidPolicy("Invalid JSON.");
  const { expiration, conditions } = doc as Record<string, unknown>;
  if (expiration === undefined) throw invalidPolicy("Policy missing expiration.");
  // Date.parse rolls 2030-02-30 over into March; a real date prints back as itself.
  const ms = typeof expiration === "string" ? Date.parse(expiration) : NaN;
  if (
    typeof expiration !== "string" ||
    !EXPIRATION_RE.test(expiration) ||
    Number.isNaN(ms) ||
    new Date(ms).toISOString().slice(0, 19) !== expiration.slice(0, 19)
  ) {
    throw invalidPolicy(`Invalid 'expiration' value: '${String(expiration)}'`);
  }
  if (conditions === undefined) throw invalidPolicy("Policy missing conditions.");
  if (!Array.isArray(conditions)) throw invalidPolicy("Invalid 'conditions' value: must be a List.");
  if (conditions.length === 0) throw invalidPolicy("Policy missing conditions.");
  const parsed = conditions.map((c: unknown): PolicyCondition => {
    if (Array.isArray(c)) {
      const text = conditionText(c);
      const op = typeof c[0] === "string" ? c[0].toLowerCase() : "";
      if (op === "content-length-range") {
        if (c.length !== 3) throw invalidPolicy(`Invalid content-length-range condition: ${text}`);
        const min = lengthBound(c[1], text);
        const max = lengthBound(c[2], text);
        return { kind: "content-length-range", min, max, text };
      }
      if ((op === "eq" || op === "starts-with") && c.length === 3) {
        return { kind: op, field: fieldName(c[1], text), value: stringValue(c[2], "Condition"), text };
      }
      throw invalidPolicy(`Invalid Condition: ${text}`);
    }
    if (typeof c === "object" && c !== null) {
      const entries = Object.entries(c);
      if (entries.length !== 1) {
        throw invalidPolicy(
          "Invalid Simple-Condition: Simple-Conditions must have exactly one property specified.",
        );
      }
      const [name, value] = entries[0]!;
      const v = stringValue(value, "Simple-Condition");
      return { kind: "eq", field: name.toLowerCase(), value: v, text: conditionText(["eq", `$${name}`, v]) };
    }
    throw invalidPolicy(`Invalid Condition: ${JSON.stringify(c)}`);
  });
  return { expiration: new Date(ms), conditions: parsed };
}

function denied(why: string): S3Error {
  return new S3Error("AccessDenied", `Invalid according to Policy: ${why}`, 403);
}

/**
 * Checks the form against the policy: not expired, every eq / starts-with condition holds (`bucket`
 * is the bucket posted to; a field the form lacks counts as empty), and every field the form sends
 * is named by some condition. Returns the allowed size range of the file.
 */
export function checkPolicy(
  policy: PostPolicy,
  fields: FormFields,
  bucket: string,
  now: Date = new Date(),
): { readonly min: number; readonly max: number } {
  if (now.getTime() > policy.expiration.getTime()) throw denied("Policy expired.");
  let min = 0;
  let max = Number.MAX_SAFE_INTEGER;
  const covered = new Set<string>();
  for (const c of policy.conditions) {
    if (c.kind === "content-length-range") {
      min = Math.max(min, c.min);
      max = Math.min(max, c.max);
      continue;
    }
    covered.add(c.field);
    const actual = c.field === "bucket" ? bucket : (fields.get(c.field) ?? "");
    let ok: boolean;
    if (c.kind === "eq") {
      ok = actual === c.value;
    } else if (c.field === "content-type") {
      // S3 reads a Content-Type of several comma-separated types as a list: each must match.
      ok = actual.split(",").every((t) => t.trim().startsWith(c.value));
    } else {
      ok = actual.startsWith(c.value);
    }
    if (!ok) throw denied(`Policy Condition failed: ${c.text}`);
  }
  const extra = [...fields.keys()].filter(
    (name) => !UNCONDITIONED.has(name) && !name.startsWith("x-ignore-") && !covered.has(name),
  );
  if (extra.length > 0) throw denied(`Extra input fields: ${extra.join(", ")}`);
  return { min, max };
}
