/**
 * Shared set-up for the cloud storage providers' tests (`tigris`, `s3`, `r2`): one embedded storage
 * server per test file, standing in for the cloud (it speaks S3 and Tigris's fork API), with its key in
 * environment variables the providers are configured to read, as a user's would be.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll } from "vitest";
import { createTigrisClient } from "../../../src/providers/storage/_tigris-client.js";
import type { TigrisClient } from "../../../src/providers/storage/_tigris-client.js";
import { startStorageServer } from "../../../src/storage-server/index.js";
import type { StorageServer } from "../../../src/storage-server/index.js";

export const KEY = {
  accessKeyId: "FSCLOUDTESTKEY000001",
  secretAccessKey: "cloud-test-secret-0123456789abcdefghijk",
};
/** Another account on the same server: its buckets are "taken globally" for KEY. */
export const OTHER_KEY = {
  accessKeyId: "FSCLOUDTESTKEY000002",
  secretAccessKey: "cloud-test-secret-other-0123456789abcde",
};

/** The variables the providers under test read their key from. */
export const KEY_VARS = {
  accessKeyIdEnv: "FSTEST_STORAGE_KEY_ID",
  secretAccessKeyEnv: "FSTEST_STORAGE_SECRET",
};
/** The same, as a config names them (`accessKeyId: env("…")`). */
export const KEY_CONFIG = {
  accessKeyId: { env: KEY_VARS.accessKeyIdEnv },
  secretAccessKey: { env: KEY_VARS.secretAccessKeyEnv },
};
process.env[KEY_VARS.accessKeyIdEnv] = KEY.accessKeyId;
process.env[KEY_VARS.secretAccessKeyEnv] = KEY.secretAccessKey;

export interface CloudServer {
  readonly server: StorageServer;
  readonly url: string;
  /** The Tigris-API client, with KEY (or another key), to look at buckets as the server has them. */
  client(key?: typeof KEY): TigrisClient;
}

/** One embedded server for the file; `get()` returns it inside tests. */
export function cloudServer(): () => CloudServer {
  let root: string | undefined;
  let current: CloudServer | undefined;
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), "fs-cloud-"));
    const server = await startStorageServer({ root, port: 0, credentials: [KEY, OTHER_KEY] });
    current = {
      server,
      url: server.url,
      client: (key = KEY) => createTigrisClient({ endpoint: server.url, ...key }),
    };
  });
  afterAll(async () => {
    await current?.server.close();
    if (root) await rm(root, { recursive: true, force: true });
  });
  return () => current!;
}
