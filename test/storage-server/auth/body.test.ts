import { createHash, randomBytes } from "node:crypto";
import { createServer, request, type IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";
import { Readable } from "node:stream";
import { crc32 } from "node:zlib";
import { describe, expect, it } from "vitest";
import {
  authenticate,
  decodeBody,
  generateCredentials,
  verifyDeleteObjectsBody,
} from "../../../src/storage-server/auth/index.js";
import type { AuthResult, RequestHead } from "../../../src/storage-server/auth/index.js";
import { S3Error } from "../../../src/storage-server/errors.js";
import { b64, expectS3Error, lookupFor, readAll, signHead, slicedStream } from "./helpers.js";

const creds = generateCredentials();
const lookup = lookupFor(creds);

// Standard check values for the ASCII string "123456789" (CRC catalogue), independent of our code.
const CHECK_INPUT = Buffer.from("123456789");
const CHECK_VALUES = {
  crc32: Buffer.from("cbf43926", "hex"),
  crc32c: Buffer.from("e3069283", "hex"),
  crc64nvme: Buffer.from("ae8b14860a799888", "hex"),
  sha1: createHash("sha1").update(CHECK_INPUT).digest(),
  sha256: createHash("sha256").update(CHECK_INPUT).digest(),
} as const;

async function put(
  data: Buffer,
  headers: Record<string, string> = {},
  payloadHash?: string,
): Promise<{ head: RequestHead; auth: AuthResult }> {
  const head = await signHead(creds, {
    method: "PUT",
    path: "/b/k",
    payloadHash: payloadHash ?? createHash("sha256").update(data).digest("hex"),
    headers: { "content-length": String(data.length), ...headers },
  });
  return { head, auth: authenticate(head, lookup) };
}

async function decode(data: Buffer, head: RequestHead, auth: AuthResult, body: Buffer = data) {
  const decoded = decodeBody(slicedStream(body), head, auth);
  const out = await readAll(decoded.stream);
  return { out, result: decoded.result() };
}

describe("decodeBody: plain bodies", () => {
  it("passes a signed payload through and reports md5, sha256 and size", async () => {
    const data = randomBytes(100_000);
    const { head, auth } = await put(data);
    const { out, result } = await decode(data, head, auth);
    expect(out.equals(data)).toBe(true);
    expect(result.size).toBe(data.length);
    expect(result.md5Hex).toBe(createHash("md5").update(data).digest("hex"));
    expect(result.sha256Hex).toBe(createHash("sha256").update(data).digest("hex"));
    expect(result.checksums).toEqual({});
  });

  it("body differing from x-amz-content-sha256 → XAmzContentSHA256Mismatch", async () => {
    const data = randomBytes(1000);
    const { head, auth } = await put(data);
    const other = Buffer.from(data);
    other[0] = (other[0] ?? 0) ^ 1;
    await expectS3Error(() => decode(data, head, auth, other), "XAmzContentSHA256Mismatch", 400);
  });

  it("UNSIGNED-PAYLOAD is accepted without a hash check", async () => {
    const data = randomBytes(1000);
    const { head, auth } = await put(data, {}, "UNSIGNED-PAYLOAD");
    expect((await decode(data, head, auth)).out.equals(data)).toBe(true);
  });

  it("Content-MD5: right is accepted, wrong → BadDigest, malformed → InvalidDigest", async () => {
    const data = randomBytes(5000);
    const md5 = createHash("md5").update(data).digest("base64");
    const ok = await put(data, { "content-md5": md5 }, "UNSIGNED-PAYLOAD");
    await decode(data, ok.head, ok.auth);

    const wrongMd5 = createHash("md5").update("other").digest("base64");
    const wrong = await put(data, { "content-md5": wrongMd5 }, "UNSIGNED-PAYLOAD");
    await expectS3Error(() => decode(data, wrong.head, wrong.auth), "BadDigest", 400);

    for (const bad of ["not-base64!!", b64(Buffer.alloc(8))]) {
      const malformed = await put(data, { "content-md5": bad }, "UNSIGNED-PAYLOAD");
      await expectS3Error(() => decode(data, malformed.head, malformed.auth), "InvalidDigest", 400);
    }
  });

  it.each(Object.keys(CHECK_VALUES))("x-amz-checksum-%s: computes the catalogue check value", async (alg) => {
    const value = b64(CHECK_VALUES[alg as keyof typeof CHECK_VALUES]);
    const { head, auth } = await put(CHECK_INPUT, {
      [`x-amz-checksum-${alg}`]: value,
      "x-amz-sdk-checksum-algorithm": alg.toUpperCase(),
    });
    const { result } = await decode(CHECK_INPUT, head, auth);
    expect(result.checksums).toEqual({ [alg]: value });
  });

  it.each(Object.keys(CHECK_VALUES))("x-amz-checksum-%s: mismatch → BadDigest", async (alg) => {
    const value = b64(CHECK_VALUES[alg as keyof typeof CHECK_VALUES]);
    const data = Buffer.from("123456780");
    const { head, auth } = await put(data, { [`x-amz-checksum-${alg}`]: value });
    await expectS3Error(() => decode(data, head, auth), "BadDigest", 400);
  });

  it("malformed checksum value → InvalidRequest", async () => {
    const { head, auth } = await put(CHECK_INPUT, { "x-amz-checksum-crc32": "AAAA" });
    await expectS3Error(() => decode(CHECK_INPUT, head, auth), "InvalidRequest", 400);
  });

  it("two checksum headers → InvalidRequest", async () => {
    const { head, auth } = await put(CHECK_INPUT, {
      "x-amz-checksum-crc32": b64(CHECK_VALUES.crc32),
      "x-amz-checksum-sha1": b64(CHECK_VALUES.sha1),
    });
    await expectS3Error(() => decode(CHECK_INPUT, head, auth), "InvalidRequest", 400, /single/);
  });

  it("x-amz-sdk-checksum-algorithm contradicting the checksum header → InvalidRequest", async () => {
    const { head, auth } = await put(CHECK_INPUT, {
      "x-amz-checksum-crc32": b64(CHECK_VALUES.crc32),
      "x-amz-sdk-checksum-algorithm": "SHA256",
    });
    await expectS3Error(() => decode(CHECK_INPUT, head, auth), "InvalidRequest", 400);
  });

  it("x-amz-sdk-checksum-algorithm alone and caller-requested algorithms are computed and reported", async () => {
    const { head, auth } = await put(CHECK_INPUT, { "x-amz-sdk-checksum-algorithm": "CRC32C" });
    const decoded = decodeBody(slicedStream(CHECK_INPUT), head, auth, { algorithms: ["crc64nvme"] });
    await readAll(decoded.stream);
    expect(decoded.result().checksums).toEqual({
      crc32c: b64(CHECK_VALUES.crc32c),
      crc64nvme: b64(CHECK_VALUES.crc64nvme),
    });
  });

  it("body shorter than Content-Length → IncompleteBody", async () => {
    const data = randomBytes(10_000);
    const { head, auth } = await put(data, {}, "UNSIGNED-PAYLOAD");
    await expectS3Error(() => decode(data, head, auth, data.subarray(0, 9_999)), "IncompleteBody", 400);
  });

  it("a source stream that errors mid-body → IncompleteBody", async () => {
    const data = randomBytes(10_000);
    const { head, auth } = await put(data, {}, "UNSIGNED-PAYLOAD");
    const source = new Readable({ read() {} });
    const decoded = decodeBody(source, head, auth);
    source.push(data.subarray(0, 4000));
    setImmediate(() => source.destroy(new Error("socket hang up")));
    await expectS3Error(() => readAll(decoded.stream), "IncompleteBody", 400);
    expect(() => decoded.result()).toThrow();
  });

  it("errors found in the headers surface on the stream, not as a throw", async () => {
    const { head, auth } = await put(CHECK_INPUT, { "content-md5": "???" });
    const decoded = decodeBody(slicedStream(CHECK_INPUT), head, auth);
    await expectS3Error(() => readAll(decoded.stream), "InvalidDigest");
  });

  it("a client disconnecting mid-upload over real HTTP → IncompleteBody, nothing reported as complete", async () => {
    let server: ReturnType<typeof createServer> | undefined;
    let arrived!: () => void;
    const taken = new Promise<void>((resolve) => (arrived = resolve));
    const outcome = new Promise<unknown>((resolve) => {
      server = createServer((req: IncomingMessage) => {
        arrived();
        const head: RequestHead = { method: req.method ?? "", rawUrl: req.url ?? "", headers: req.headers };
        const auth = authenticate(head, lookup);
        const decoded = decodeBody(req, head, auth);
        readAll(decoded.stream).then(
          () => resolve("completed"),
          (error: unknown) => resolve(error),
        );
      });
      server.listen(0, "127.0.0.1", async () => {
        const { port } = server?.address() as AddressInfo;
        const head = await signHead(creds, {
          method: "PUT",
          path: "/b/k",
          payloadHash: "UNSIGNED-PAYLOAD",
          headers: { "content-length": "100000" },
        });
        const req = request({ host: "127.0.0.1", port, method: "PUT", path: "/b/k", headers: head.headers });
        req.on("error", () => undefined);
        // Cut once the server is reading the body (its handler has the request), not after a delay.
        req.write(randomBytes(30_000), () => void taken.then(() => req.destroy()));
      });
    });
    const result = await outcome;
    server?.closeAllConnections();
    server?.close();
    expect(result).toBeInstanceOf(S3Error);
    expect((result as S3Error).code).toBe("IncompleteBody");
  });
});

describe("verifyDeleteObjectsBody", () => {
  const xml = Buffer.from("<Delete><Object><Key>a</Key></Object><Quiet>true</Quiet></Delete>");
  const head = (headers: Record<string, string>): RequestHead => ({
    method: "POST",
    rawUrl: "/b?delete",
    headers,
  });
  const crc = (data: Buffer): string => {
    const out = Buffer.alloc(4);
    out.writeUInt32BE(crc32(data));
    return b64(out);
  };

  it("accepts Content-MD5 (older clients) or a CRC header with no MD5 (current SDKs)", async () => {
    await verifyDeleteObjectsBody(
      head({ "content-md5": createHash("md5").update(xml).digest("base64") }),
      xml,
    );
    await verifyDeleteObjectsBody(
      head({ "x-amz-checksum-crc32": crc(xml), "x-amz-sdk-checksum-algorithm": "CRC32" }),
      xml,
    );
  });

  it("refuses a body without any integrity header → InvalidRequest", async () => {
    await expectS3Error(() => verifyDeleteObjectsBody(head({}), xml), "InvalidRequest", 400);
  });

  it("refuses a body that does not match → BadDigest", async () => {
    const other = Buffer.from(xml.toString().replace("<Key>a<", "<Key>b<"));
    await expectS3Error(
      () => verifyDeleteObjectsBody(head({ "x-amz-checksum-crc32": crc(xml) }), other),
      "BadDigest",
    );
    await expectS3Error(
      () =>
        verifyDeleteObjectsBody(
          head({ "content-md5": createHash("md5").update(xml).digest("base64") }),
          other,
        ),
      "BadDigest",
    );
  });
});
