/**
 * Access keys besides the project's own: the admin API (`/_forkstack/access-keys`, JSON, signed by the
 * project's key only), and what a key's scope means — buckets by identity, so a bucket deleted and made
 * again under its name is out of reach of an old key; a key that loses its last bucket goes with it;
 * revocation is immediate. Requests are signed by AWS's own signer (@smithy/signature-v4) and the SDK.
 */
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  CreateBucketCommand,
  DeleteBucketCommand,
  ListBucketsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { CHALLENGE_HEADER, PROOF_HEADER, serverProof } from "../../src/storage-server/proof.js";
import { openDb } from "../../src/storage-server/store/db.js";
import { CREDS, s3Error, signedRaw, startHarness, uniqueBucket } from "./helpers.js";
import type { Harness } from "./helpers.js";

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h.close();
});

interface Key {
  accessKeyId: string;
  secretAccessKey?: string;
  label: string;
  buckets: string[];
  createdAt: string;
}

type Creds = { accessKeyId: string; secretAccessKey: string };

async function admin(
  method: string,
  path = "",
  body?: unknown,
  options: { credentials?: Creds; query?: string } = {},
): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await signedRaw(h.server.url, {
    method,
    path: `/_forkstack/access-keys${path}`,
    headers: { accept: "application/json", "content-type": "application/json" },
    ...(body === undefined ? {} : { body: typeof body === "string" ? body : JSON.stringify(body) }),
    ...(options.query ? { query: options.query } : {}),
    ...(options.credentials ? { credentials: options.credentials } : {}),
  });
  return { status: res.status, json: res.body ? (JSON.parse(res.body) as Record<string, unknown>) : {} };
}

async function mint(label: string, buckets: string[]): Promise<Key> {
  const res = await admin("POST", "", { label, buckets });
  expect(res.status).toBe(200);
  return res.json as unknown as Key;
}

function clientOf(key: Creds): S3Client {
  return new S3Client({ endpoint: h.server.url, region: "auto", credentials: key, forcePathStyle: true });
}

async function bucket(prefix: string): Promise<string> {
  const name = uniqueBucket(prefix);
  await h.s3.send(new CreateBucketCommand({ Bucket: name }));
  return name;
}

const creds = (key: Key): Creds => ({ accessKeyId: key.accessKeyId, secretAccessKey: key.secretAccessKey! });

describe("storage-server: access keys", () => {
  test("the admin API makes, shows, re-scopes, lists and revokes keys", async () => {
    const [a, b] = [await bucket("ak-a"), await bucket("ak-b")];
    const key = await mint("alice", [a]);
    expect(key).toEqual({
      accessKeyId: expect.stringMatching(/^[A-Z2-7]{20}$/),
      secretAccessKey: expect.stringMatching(/^.{40}$/),
      label: "alice",
      buckets: [a],
      createdAt: expect.any(String),
    });
    const shown = await admin("GET", `/${key.accessKeyId}`);
    expect(shown).toEqual({ status: 200, json: key });

    const s3 = clientOf(creds(key));
    await s3.send(new PutObjectCommand({ Bucket: a, Key: "k", Body: "v" }));
    expect((await s3Error(s3.send(new ListObjectsV2Command({ Bucket: b })))).name).toBe("AccessDenied");

    const moved = await admin("PUT", `/${key.accessKeyId}`, { buckets: [b], label: "alice-2" });
    expect(moved.json).toEqual({ ...key, secretAccessKey: undefined, buckets: [b], label: "alice-2" });
    expect((await s3Error(s3.send(new ListObjectsV2Command({ Bucket: a })))).name).toBe("AccessDenied");
    expect((await s3.send(new ListObjectsV2Command({ Bucket: b }))).KeyCount).toBe(0);
    const { Buckets } = await s3.send(new ListBucketsCommand({}));
    expect(Buckets?.map((x) => x.Name)).toEqual([b]);

    const listed = (await admin("GET")).json.accessKeys as Key[];
    expect(listed.find((k) => k.accessKeyId === key.accessKeyId)).toEqual({
      accessKeyId: key.accessKeyId,
      label: "alice-2",
      buckets: [b],
      createdAt: key.createdAt,
    });
    expect(listed.every((k) => k.secretAccessKey === undefined)).toBe(true);
    const byBucket = (await admin("GET", "", undefined, { query: `bucket=${b}` })).json.accessKeys as Key[];
    expect(byBucket.map((k) => k.accessKeyId)).toEqual([key.accessKeyId]);

    // Revoked: the very next request is refused, and the key is gone from the API.
    expect((await admin("DELETE", `/${key.accessKeyId}`)).status).toBe(204);
    expect((await s3Error(s3.send(new ListObjectsV2Command({ Bucket: b })))).name).toBe("InvalidAccessKeyId");
    expect(await admin("DELETE", `/${key.accessKeyId}`)).toMatchObject({
      status: 404,
      json: { Code: "NoSuchAccessKey" },
    });
    expect((await admin("GET", `/${key.accessKeyId}`)).status).toBe(404);
    s3.destroy();
  });

  test("bad requests get a clear error and change nothing", async () => {
    const a = await bucket("ak-bad");
    const before = ((await admin("GET")).json.accessKeys as Key[]).length;
    const code = async (...args: Parameters<typeof admin>) => {
      const res = await admin(...args);
      return [res.status, res.json.Code];
    };
    expect(await code("POST", "", { label: "x", buckets: ["no-such-bucket"] })).toEqual([
      404,
      "NoSuchBucket",
    ]);
    expect(await code("POST", "", { label: "", buckets: [a] })).toEqual([400, "InvalidArgument"]);
    expect(await code("POST", "", { label: "x", buckets: a })).toEqual([400, "InvalidArgument"]);
    expect(await code("POST", "", "{not json")).toEqual([400, "MalformedJSON"]);
    expect(await code("PUT", "/AAAAAAAAAAAAAAAAAAAA", { buckets: [a] })).toEqual([404, "NoSuchAccessKey"]);
    expect(await code("PATCH", "", {})).toEqual([405, "MethodNotAllowed"]);
    expect(await code("GET", "/../../x")).toEqual([404, "NotFound"]);
    expect(((await admin("GET")).json.accessKeys as Key[]).length).toBe(before);
  });

  test("only the project's key may call it; anonymous and scoped keys get 403", async () => {
    const a = await bucket("ak-auth");
    const key = await mint("alice", [a]);
    const asKey = await admin("POST", "", { label: "more", buckets: [a] }, { credentials: creds(key) });
    expect([asKey.status, asKey.json.Code]).toEqual([403, "AccessDenied"]);
    expect((await admin("GET", `/${key.accessKeyId}`, undefined, { credentials: creds(key) })).status).toBe(
      403,
    );
    const anonymous = await fetch(`${h.server.url}/_forkstack/access-keys`);
    expect(anonymous.status).toBe(403);
    // In virtual-host style the same path is an object key of the bucket the Host names, not the API.
    const vhost = await signedRaw(h.server.url, {
      method: "PUT",
      path: "/_forkstack/access-keys",
      host: `${a}.localhost:${h.server.port}`,
      body: "an object",
    });
    expect(vhost.status).toBe(200);
    const listed = await h.s3.send(new ListObjectsV2Command({ Bucket: a }));
    expect(listed.Contents?.map((c) => c.Key)).toEqual(["_forkstack/access-keys"]);
  });

  test("a bucket deleted and made again under its name is out of reach of an old key", async () => {
    const [a, b] = [await bucket("ak-id"), await bucket("ak-id")];
    const key = await mint("alice", [a, b]);
    // b is the newest bucket: made again, it even gets the same row id back (SQLite reuses the highest).
    await h.s3.send(new DeleteBucketCommand({ Bucket: b }));
    await h.s3.send(new CreateBucketCommand({ Bucket: b })); // a new bucket, the same name
    const s3 = clientOf(creds(key));
    expect((await s3Error(s3.send(new ListObjectsV2Command({ Bucket: b })))).name).toBe("AccessDenied");
    expect((await s3.send(new ListObjectsV2Command({ Bucket: a }))).KeyCount).toBe(0);
    expect((await admin("GET", `/${key.accessKeyId}`)).json.buckets).toEqual([a]);
    s3.destroy();
  });

  test("a key whose last bucket is deleted goes with it; a key made or emptied on purpose stays", async () => {
    const [a, b] = [await bucket("ak-last"), await bucket("ak-last")];
    const only = await mint("alice", [a]);
    const emptied = await mint("bob", [b]);
    const none = await mint("carol", []);
    expect((await admin("PUT", `/${emptied.accessKeyId}`, { buckets: [] })).status).toBe(200);
    await h.s3.send(new DeleteBucketCommand({ Bucket: a }));
    await h.s3.send(new DeleteBucketCommand({ Bucket: b }));
    const s3 = clientOf(creds(only));
    expect((await s3Error(s3.send(new ListBucketsCommand({})))).name).toBe("InvalidAccessKeyId");
    s3.destroy();
    expect((await admin("GET", `/${only.accessKeyId}`)).status).toBe(404);
    for (const kept of [emptied, none]) {
      const res = await admin("GET", `/${kept.accessKeyId}`);
      expect([res.status, res.json.buckets]).toEqual([200, []]);
      const client = clientOf(creds(kept));
      expect((await client.send(new ListBucketsCommand({}))).Buckets ?? []).toEqual([]);
      client.destroy();
    }
  });

  test("the server proves it holds the project's key, never to a scoped key's request", async () => {
    const a = await bucket("ak-proof");
    const key = await mint("alice", [a]);
    const nonce = randomBytes(32).toString("hex");
    const ping = (credentials: Creds) =>
      signedRaw(h.server.url, {
        method: "GET",
        path: "/",
        query: "max-buckets=1",
        headers: { [CHALLENGE_HEADER]: nonce },
        credentials,
      });
    const asProject = await ping(CREDS);
    expect(asProject.headers[PROOF_HEADER]).toBe(serverProof(CREDS.secretAccessKey, nonce, h.server.port));
    const asKey = await ping(creds(key));
    expect(asKey.status).toBe(200);
    expect(asKey.headers[PROOF_HEADER]).toBeUndefined();
  });

  test("a store made before access keys existed gains them on open", async () => {
    // Every store opened by these tests ran the schema; an older store is one without the tables.
    const dir = await mkdtemp(join(tmpdir(), "fs-old-store-"));
    try {
      const file = join(dir, "meta.sqlite");
      const db = openDb(file);
      db.exec("DROP TABLE access_key_buckets; DROP TABLE access_keys;");
      db.close();
      const again = openDb(file);
      const tables = again
        .prepare<unknown[]>("SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'access_key%'")
        .all() as { name: string }[];
      again.close();
      expect(tables.map((t) => t.name).sort()).toEqual(["access_key_buckets", "access_keys"]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
