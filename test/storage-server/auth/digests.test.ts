/**
 * MD5/SHA-256 of large bodies run on worker threads (auth/digests.ts): same digests as inline hashing, SHA-256 only when a signed payload hash needs checking,
 * at every size around the slab boundaries, the signed-hash and Content-MD5 checks still refuse a
 * tampered large body, and a body that fails midway releases its job (later uploads still work).
 */
import { createHash, randomBytes } from "node:crypto";
import { Readable } from "node:stream";
import { Worker } from "node:worker_threads";
import { describe, expect, it } from "vitest";
import { authenticate, decodeBody, generateCredentials } from "../../../src/storage-server/auth/index.js";
import type { AuthResult, RequestHead } from "../../../src/storage-server/auth/index.js";
import {
  createDigests,
  OFF_THREAD_MIN_BYTES,
  WORKER_SOURCE,
} from "../../../src/storage-server/auth/digests.js";
import { expectS3Error, lookupFor, readAll, signHead, slicedStream } from "./helpers.js";

const creds = generateCredentials();
const lookup = lookupFor(creds);
const KiB = 1024;
const MiB = 1024 * KiB;

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

const md5 = (b: Buffer) => createHash("md5").update(b).digest("hex");
const sha256 = (b: Buffer) => createHash("sha256").update(b).digest("hex");

describe("off-thread digests", () => {
  it.each([0, 1, MiB - 1, MiB, MiB + 1, 3 * MiB + 17])(
    "%i bytes: same digests as inline hashing",
    async (n) => {
      const data = randomBytes(n);
      for (const withSha256 of [true, false]) {
        const d = createDigests(undefined, withSha256); // unknown length → worker threads
        for (let i = 0; i < n; i += 100 * KiB) {
          d.update(data.subarray(i, i + 100 * KiB));
          await d.drained();
        }
        const out = await d.digest();
        expect(out.md5.toString("hex")).toBe(md5(data));
        expect(out.sha256?.toString("hex")).toBe(withSha256 ? sha256(data) : undefined);
      }
    },
  );

  it("small bodies, hashed inline: MD5 always, SHA-256 only when asked", async () => {
    const data = randomBytes(10 * KiB);
    for (const withSha256 of [true, false]) {
      const d = createDigests(data.length, withSha256);
      d.update(data);
      const out = await d.digest();
      expect(out.md5.toString("hex")).toBe(md5(data));
      expect(out.sha256?.toString("hex")).toBe(withSha256 ? sha256(data) : undefined);
    }
  });

  it("many bodies hashed at once keep their digests apart", async () => {
    const bodies = Array.from({ length: 8 }, (_, i) => randomBytes(MiB + i * 1000));
    const results = await Promise.all(
      bodies.map(async (b, i) => {
        const d = createDigests(b.length, i % 2 === 0);
        for (let i = 0; i < b.length; i += 64 * KiB) {
          d.update(b.subarray(i, i + 64 * KiB));
          await d.drained();
        }
        return d.digest();
      }),
    );
    results.forEach((r, i) => expect(r.md5.toString("hex")).toBe(md5(bodies[i]!)));
  });

  it.each([[[]], [["--input-type=module"]]])(
    "the worker source runs as CommonJS and as ESM (execArgv %j)",
    async (execArgv) => {
      const worker = new Worker(WORKER_SOURCE, { eval: true, execArgv });
      try {
        const slab = new SharedArrayBuffer(3);
        new Uint8Array(slab).set([97, 98, 99]);
        const replies: unknown[] = [];
        const done = new Promise<void>((resolve, reject) => {
          worker.on("error", reject);
          worker.on("message", (m: { type: string }) => {
            replies.push(m);
            if (m.type === "done") resolve();
          });
        });
        worker.postMessage({ type: "open", id: 1, algorithm: "md5" });
        worker.postMessage({ type: "data", id: 1, seq: 0, slab, length: 3 });
        worker.postMessage({ type: "end", id: 1 });
        await done;
        expect(replies).toEqual([
          { type: "ack", id: 1, seq: 0, length: 3 },
          { type: "done", id: 1, hex: md5(Buffer.from("abc")) },
        ]);
      } finally {
        await worker.terminate();
      }
    },
  );

  it("decodeBody of a large body: digests right, tampering refused", async () => {
    const data = randomBytes(OFF_THREAD_MIN_BYTES * 2 + 123);
    const ok = await put(data);
    const decoded = decodeBody(slicedStream(data, 64 * KiB), ok.head, ok.auth);
    expect((await readAll(decoded.stream)).equals(data)).toBe(true);
    expect(decoded.result().md5Hex).toBe(md5(data));
    expect(decoded.result().sha256Hex).toBe(sha256(data));

    const other = Buffer.from(data);
    other[0] = (other[0] ?? 0) ^ 1;
    await expectS3Error(
      () => readAll(decodeBody(slicedStream(other, 64 * KiB), ok.head, ok.auth).stream),
      "XAmzContentSHA256Mismatch",
      400,
    );
    const wrongMd5 = await put(data, { "content-md5": createHash("md5").update("x").digest("base64") });
    await expectS3Error(
      () => readAll(decodeBody(slicedStream(data, 64 * KiB), wrongMd5.head, wrongMd5.auth).stream),
      "BadDigest",
      400,
    );
  });

  it("a body that breaks off midway fails cleanly and the hashers keep working", async () => {
    const data = randomBytes(4 * MiB);
    const { head, auth } = await put(data);
    const truncated = Readable.from([data.subarray(0, 3 * MiB)]);
    await expectS3Error(() => readAll(decodeBody(truncated, head, auth).stream), "IncompleteBody", 400);
    const again = decodeBody(slicedStream(data, 64 * KiB), head, auth);
    await readAll(again.stream);
    expect(again.result().sha256Hex).toBe(sha256(data));
  });

  it("an unsigned payload is not hashed with SHA-256 (nothing to check it against)", async () => {
    const data = randomBytes(2 * MiB + 5);
    const { head, auth } = await put(data, {}, "UNSIGNED-PAYLOAD");
    const decoded = decodeBody(slicedStream(data, 64 * KiB), head, auth);
    expect((await readAll(decoded.stream)).equals(data)).toBe(true);
    expect(decoded.result().md5Hex).toBe(md5(data));
    expect(decoded.result().sha256Hex).toBeUndefined();
  });
});
