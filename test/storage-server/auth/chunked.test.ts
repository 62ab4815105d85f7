import { randomBytes } from "node:crypto";
import { Readable } from "node:stream";
import { crc32 } from "node:zlib";
import { describe, expect, it } from "vitest";
import { authenticate, decodeBody, generateCredentials } from "../../../src/storage-server/auth/index.js";
import type { AuthResult, RequestHead } from "../../../src/storage-server/auth/index.js";
import {
  AWS_EXAMPLE_CREDENTIALS,
  AWS_STREAMING_EXAMPLE,
  b64,
  encodeChunked,
  expectS3Error,
  lookupFor,
  randomSizes,
  readAll,
  signHead,
  slicedStream,
} from "./helpers.js";

const creds = generateCredentials();
const lookup = lookupFor(creds);
const region = "auto";

function crc32b64(data: Buffer): string {
  const out = Buffer.alloc(4);
  out.writeUInt32BE(crc32(data));
  return b64(out);
}

type Mode =
  | "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
  | "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
  | "STREAMING-UNSIGNED-PAYLOAD-TRAILER";

interface Upload {
  head: RequestHead;
  auth: AuthResult;
  body: Buffer;
}

/** A signed aws-chunked PUT as a client would send it: headers signed by smithy, body framed. */
async function chunkedUpload(
  mode: Mode,
  data: Buffer,
  sizes: readonly number[],
  trailers?: ReadonlyArray<readonly [string, string]>,
  extraHeaders: Record<string, string> = {},
): Promise<Upload> {
  const date = new Date();
  const trailer = mode.endsWith("-TRAILER");
  const headers: Record<string, string> = {
    "content-encoding": "aws-chunked",
    "x-amz-decoded-content-length": String(data.length),
    ...(trailer ? { "x-amz-trailer": (trailers ?? []).map(([n]) => n).join(",") } : {}),
    ...extraHeaders,
  };
  const head = await signHead(creds, {
    method: "PUT",
    path: "/b/obj",
    payloadHash: mode,
    headers,
    region,
    date,
  });
  const auth = authenticate(head, lookup);
  const seed = /Signature=([0-9a-f]{64})/.exec(String(head.headers.authorization))?.[1] ?? "";
  const signed = mode !== "STREAMING-UNSIGNED-PAYLOAD-TRAILER";
  const body = await encodeChunked(data, sizes, {
    ...(signed ? { signing: { creds, region, date, seed } } : {}),
    ...(trailers !== undefined ? { trailers } : {}),
  });
  return {
    head: { ...head, headers: { ...head.headers, "content-length": String(body.length) } },
    auth,
    body,
  };
}

async function decodeAll(up: Upload, body: Buffer = up.body): Promise<ReturnType<typeof decodeBody>> {
  const decoded = decodeBody(slicedStream(body), up.head, up.auth);
  await readAll(decoded.stream);
  return decoded;
}

describe("aws-chunked bodies", () => {
  it("decodes the AWS documentation example chunk by chunk (STREAMING-AWS4-HMAC-SHA256-PAYLOAD)", async () => {
    const head = AWS_STREAMING_EXAMPLE;
    const example = AWS_EXAMPLE_CREDENTIALS;
    const auth = authenticate(head, lookupFor(example), new Date("2013-05-24T00:00:30Z"));
    const body = Buffer.concat([
      Buffer.from(
        "10000;chunk-signature=ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648\r\n",
      ),
      Buffer.alloc(65536, "a"),
      Buffer.from(
        "\r\n400;chunk-signature=0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497\r\n",
      ),
      Buffer.alloc(1024, "a"),
      Buffer.from(
        "\r\n0;chunk-signature=b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9\r\n\r\n",
      ),
    ]);
    expect(body.length).toBe(66824);
    const decoded = decodeBody(slicedStream(body), head, auth);
    const out = await readAll(decoded.stream);
    expect(out.equals(Buffer.alloc(66560, "a"))).toBe(true);
    expect(decoded.result().size).toBe(66560);

    // The same body with one flipped data byte fails on that chunk's signature.
    const corrupt = Buffer.from(body);
    corrupt[200] = 0x62;
    const bad = decodeBody(slicedStream(corrupt), head, auth);
    await expectS3Error(() => readAll(bad.stream), "SignatureDoesNotMatch", 403);
  });

  it("verifies the AWS documentation example of signed trailers (STREAMING-…-PAYLOAD-TRAILER)", async () => {
    // Only the body half of the documented example: the seed signature is taken as given.
    const auth: AuthResult = {
      accessKeyId: "AKIAIOSFODNN7EXAMPLE",
      payload: { kind: "aws-chunked", signed: true, trailer: true },
      signing: await import("../../../src/storage-server/auth/sigv4.js").then((m) => ({
        key: m.signingKey("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "20130524", "us-east-1", "s3"),
        amzDate: "20130524T000000Z",
        scope: "20130524/us-east-1/s3/aws4_request",
        seedSignature: "106e2a8a18243abcf37539882f36619c00e2dfc72633413f02d3b74544bfeb8e",
        hoisted: {},
      })),
    };
    const head: RequestHead = {
      method: "PUT",
      rawUrl: "/examplebucket/chunkObject.txt",
      headers: { "x-amz-trailer": "x-amz-checksum-crc32c", "x-amz-decoded-content-length": "66560" },
    };
    const body = (trailerValue: string): Buffer =>
      Buffer.concat([
        Buffer.from(
          "10000;chunk-signature=b474d8862b1487a5145d686f57f013e54db672cee1c953b3010fb58501ef5aa2\r\n",
        ),
        Buffer.alloc(65536, "a"),
        Buffer.from(
          "\r\n400;chunk-signature=1c1344b170168f8e65b41376b44b20fe354e373826ccbbe2c1d40a8cae51e5c7\r\n",
        ),
        Buffer.alloc(1024, "a"),
        Buffer.from(
          "\r\n0;chunk-signature=2ca2aba2005185cf7159c6277faf83795951dd77a3a99e6e65d5c9f85863f992\r\n" +
            `x-amz-checksum-crc32c:${trailerValue}\r\n` +
            "x-amz-trailer-signature:d81f82fc3505edab99d459891051a732e8730629a2e4a59689829ca17fe2e435\r\n\r\n",
        ),
      ]);
    const good = decodeBody(slicedStream(body("sOO8/Q==")), head, auth);
    expect((await readAll(good.stream)).length).toBe(66560);
    expect(good.result().checksums.crc32c).toBe("sOO8/Q==");

    // A different trailer value breaks the trailer signature before the checksum is even compared.
    const tampered = decodeBody(slicedStream(body("AAAAAA==")), head, auth);
    await expectS3Error(() => readAll(tampered.stream), "SignatureDoesNotMatch", 403);
  });

  describe.each<Mode>([
    "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
    "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER",
    "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
  ])("%s", (mode) => {
    const trailer = mode.endsWith("-TRAILER");

    it("aws-chunked body decodes to the exact bytes (random chunk sizes, random read slices)", async () => {
      for (let round = 0; round < 5; round++) {
        const data = randomBytes(1 + Math.floor(Math.random() * 200_000));
        const trailers = trailer ? ([["x-amz-checksum-crc32", crc32b64(data)]] as const) : undefined;
        const up = await chunkedUpload(mode, data, randomSizes(data.length, 70_000), trailers);
        const decoded = decodeBody(slicedStream(up.body, 5000), up.head, up.auth);
        const out = await readAll(decoded.stream);
        expect(out.equals(data)).toBe(true);
        const result = decoded.result();
        expect(result.size).toBe(data.length);
        if (trailer) expect(result.checksums.crc32).toBe(crc32b64(data));
      }
    });

    it("decodes an empty object", async () => {
      const trailers = trailer ? ([["x-amz-checksum-crc32", crc32b64(Buffer.alloc(0))]] as const) : undefined;
      const up = await chunkedUpload(mode, Buffer.alloc(0), [], trailers);
      const decoded = await decodeAll(up);
      expect(decoded.result().size).toBe(0);
      expect(decoded.result().md5Hex).toBe("d41d8cd98f00b204e9800998ecf8427e");
    });

    it("corrupted chunk data is refused", async () => {
      const data = randomBytes(50_000);
      const trailers = trailer ? ([["x-amz-checksum-crc32", crc32b64(data)]] as const) : undefined;
      const up = await chunkedUpload(mode, data, [20_000, 20_000, 10_000], trailers);
      const body = Buffer.from(up.body);
      const at = body.indexOf("\r\n") + 2 + 12_345;
      body[at] = (body[at] ?? 0) ^ 0xff;
      // Signed chunks fail their chunk signature; unsigned ones fail the trailing checksum.
      const decoded = decodeBody(slicedStream(body), up.head, up.auth);
      await expectS3Error(
        () => readAll(decoded.stream),
        mode === "STREAMING-UNSIGNED-PAYLOAD-TRAILER" ? "BadDigest" : "SignatureDoesNotMatch",
      );
    });

    it("truncated body → IncompleteBody", async () => {
      const data = randomBytes(30_000);
      const trailers = trailer ? ([["x-amz-checksum-crc32", crc32b64(data)]] as const) : undefined;
      const up = await chunkedUpload(mode, data, [16_384, 13_616], trailers);
      for (const cut of [10, 16_500, up.body.length - 60]) {
        const decoded = decodeBody(slicedStream(up.body.subarray(0, cut)), up.head, up.auth);
        await expectS3Error(() => readAll(decoded.stream), "IncompleteBody", 400);
      }
    });

    it("decoded length different from x-amz-decoded-content-length is refused", async () => {
      const data = randomBytes(10_000);
      const trailers = trailer ? ([["x-amz-checksum-crc32", crc32b64(data)]] as const) : undefined;
      const up = await chunkedUpload(mode, data, [10_000], trailers, {
        "x-amz-decoded-content-length": "10001",
      });
      const decoded = decodeBody(slicedStream(up.body), up.head, up.auth);
      await expectS3Error(() => readAll(decoded.stream), "IncompleteBody");
    });

    if (mode !== "STREAMING-UNSIGNED-PAYLOAD-TRAILER") {
      it("corrupted chunk signature → SignatureDoesNotMatch", async () => {
        const data = randomBytes(40_000);
        const trailers = trailer ? ([["x-amz-checksum-crc32", crc32b64(data)]] as const) : undefined;
        const up = await chunkedUpload(mode, data, [20_000, 20_000], trailers);
        const text = up.body.toString("latin1");
        const sigAt = text.indexOf("chunk-signature=", 20_000) + "chunk-signature=".length;
        const body = Buffer.from(up.body);
        body[sigAt] = body[sigAt] === 0x30 ? 0x31 : 0x30;
        const decoded = decodeBody(slicedStream(body), up.head, up.auth);
        await expectS3Error(() => readAll(decoded.stream), "SignatureDoesNotMatch", 403);
      });

      it("reordered chunks are refused (signatures are chained)", async () => {
        const data = Buffer.concat([Buffer.alloc(9000, "x"), Buffer.alloc(9000, "y")]);
        const trailers = trailer ? ([["x-amz-checksum-crc32", crc32b64(data)]] as const) : undefined;
        const up = await chunkedUpload(mode, data, [9000, 9000], trailers);
        const first = up.body.indexOf("\r\n", 9000) + 2; // start of second chunk header
        const second = up.body.indexOf("0;chunk-signature", first + 9000);
        const swapped = Buffer.concat([
          up.body.subarray(first, second),
          up.body.subarray(0, first),
          up.body.subarray(second),
        ]);
        const decoded = decodeBody(slicedStream(swapped), up.head, up.auth);
        await expectS3Error(() => readAll(decoded.stream), "SignatureDoesNotMatch");
      });
    }

    if (trailer) {
      it("wrong trailer checksum → BadDigest (or SignatureDoesNotMatch if the trailer is signed)", async () => {
        const data = randomBytes(12_000);
        const wrong = crc32b64(Buffer.concat([data, Buffer.from("!")]));
        const up = await chunkedUpload(mode, data, [12_000], [["x-amz-checksum-crc32", wrong]]);
        // Signed trailers are signed over the wrong value, so the signature holds and the digest fails.
        await expectS3Error(() => decodeAll(up), "BadDigest", 400, /CRC32/);
      });

      it.each(["crc32c", "crc64nvme", "sha1", "sha256"])("trailer checksum %s is verified", async (alg) => {
        const data = randomBytes(9_000);
        const { createHasher } = await import("../../../src/storage-server/auth/checksums.js");
        const h = createHasher(alg as "crc32c");
        h.update(data);
        const value = b64(await h.digest());
        const up = await chunkedUpload(mode, data, [4000, 5000], [[`x-amz-checksum-${alg}`, value]]);
        const decoded = await decodeAll(up);
        expect(decoded.result().checksums[alg as "crc32c"]).toBe(value);
      });

      it("declared trailer missing from the body → MalformedTrailerError", async () => {
        const data = randomBytes(1000);
        const up = await chunkedUpload(mode, data, [1000], [], { "x-amz-trailer": "x-amz-checksum-crc32" });
        await expectS3Error(() => decodeAll(up), "MalformedTrailerError", 400);
      });
    }
  });

  it("signed trailer with a tampered value → SignatureDoesNotMatch", async () => {
    const data = randomBytes(5000);
    const up = await chunkedUpload(
      "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER",
      data,
      [5000],
      [["x-amz-checksum-crc32", crc32b64(data)]],
    );
    const body = Buffer.from(up.body.toString("latin1").replace(crc32b64(data), "AAAAAA=="), "latin1");
    await expectS3Error(() => decodeAll(up, body), "SignatureDoesNotMatch", 403);
  });

  it("signed trailer without x-amz-trailer-signature → SignatureDoesNotMatch", async () => {
    const data = randomBytes(5000);
    const up = await chunkedUpload(
      "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER",
      data,
      [5000],
      [["x-amz-checksum-crc32", crc32b64(data)]],
    );
    const body = Buffer.from(
      up.body.toString("latin1").replace(/x-amz-trailer-signature:[0-9a-f]+\r\n/, ""),
      "latin1",
    );
    await expectS3Error(() => decodeAll(up, body), "SignatureDoesNotMatch", 403);
  });

  it("accepts a body whose final CRLF is missing (Garage-observed client behaviour)", async () => {
    const data = randomBytes(3000);
    const up = await chunkedUpload(
      "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
      data,
      [3000],
      [["x-amz-checksum-crc32", crc32b64(data)]],
    );
    const body = up.body.subarray(0, up.body.length - 2);
    const headers = { ...up.head.headers, "content-length": String(body.length) };
    const decoded = await decodeAll({ ...up, head: { ...up.head, headers } }, body);
    expect(decoded.result().size).toBe(3000);
  });

  it("malformed chunk size line → InvalidRequest", async () => {
    const data = randomBytes(100);
    const up = await chunkedUpload(
      "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
      data,
      [100],
      [["x-amz-checksum-crc32", crc32b64(data)]],
    );
    const body = Buffer.from(up.body.toString("latin1").replace(/^64/, "zz"), "latin1");
    await expectS3Error(() => decodeAll(up, body), "InvalidRequest", 400);
  });

  it("decodes a large body with bounded memory", async () => {
    // 256 MiB through the decoder in 1 MiB aws-chunks, generated lazily: memory must not track size.
    const chunk = randomBytes(1 << 20);
    const count = 256;
    const head = await signHead(creds, {
      method: "PUT",
      path: "/b/big",
      payloadHash: "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
      headers: { "x-amz-decoded-content-length": String(count * chunk.length) },
    });
    const auth = authenticate(head, lookup);
    const frames = (function* () {
      for (let i = 0; i < count; i++)
        yield Buffer.concat([Buffer.from("100000\r\n"), chunk, Buffer.from("\r\n")]);
      yield Buffer.from("0\r\n\r\n");
    })();
    const before = process.memoryUsage();
    const decoded = decodeBody(Readable.from(frames), head, auth);
    let size = 0;
    let peak = 0;
    for await (const part of decoded.stream) {
      size += (part as Buffer).length;
      const m = process.memoryUsage();
      peak = Math.max(peak, m.arrayBuffers + m.heapUsed);
    }
    expect(size).toBe(count * chunk.length);
    expect(decoded.result().size).toBe(size);
    expect(peak - (before.arrayBuffers + before.heapUsed)).toBeLessThan(128 << 20);
  });
});
