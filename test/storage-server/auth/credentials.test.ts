import { chmod, mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { generateCredentials, loadOrCreateCredentials } from "../../../src/storage-server/auth/index.js";

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "forkstack-creds-"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("generateCredentials", () => {
  it("returns S3-shaped, distinct credentials", () => {
    const seen = new Set<string>();
    for (let i = 0; i < 50; i++) {
      const c = generateCredentials();
      expect(c.accessKeyId).toMatch(/^[A-Z0-9]{20}$/);
      expect(c.secretAccessKey).toMatch(/^[A-Za-z0-9+/]{40}$/);
      seen.add(c.accessKeyId).add(c.secretAccessKey);
    }
    expect(seen.size).toBe(100);
  });
});

describe("loadOrCreateCredentials", () => {
  it("creates the file (and missing directories) with mode 0600 and returns the same pair afterwards", async () => {
    const file = join(dir, "nested", ".forkstack", "storage-credentials.json");
    const created = await loadOrCreateCredentials(file);
    expect(created.accessKeyId).toMatch(/^[A-Z0-9]{20}$/);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect(JSON.parse(await readFile(file, "utf8"))).toEqual(created);
    expect(await loadOrCreateCredentials(file)).toEqual(created);
    // No temporary files are left next to it.
    expect(await readdir(join(dir, "nested", ".forkstack"))).toEqual(["storage-credentials.json"]);
  });

  it("concurrent first calls agree on one key pair", async () => {
    const file = join(dir, "creds.json");
    const all = await Promise.all(Array.from({ length: 8 }, () => loadOrCreateCredentials(file)));
    for (const c of all) expect(c).toEqual(all[0]);
    expect(JSON.parse(await readFile(file, "utf8"))).toEqual(all[0]);
  });

  it("tightens a world-readable file it owns back to 0600", async () => {
    const file = join(dir, "creds.json");
    const creds = generateCredentials();
    await writeFile(file, JSON.stringify(creds));
    await chmod(file, 0o644);
    expect(await loadOrCreateCredentials(file)).toEqual(creds);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
  });

  it("refuses a corrupt file instead of silently replacing the credentials", async () => {
    const file = join(dir, "creds.json");
    await writeFile(file, "{not json", { mode: 0o600 });
    await expect(loadOrCreateCredentials(file)).rejects.toThrow(/not valid JSON/);
    await writeFile(file, JSON.stringify({ accessKeyId: "x" }), { mode: 0o600 });
    await expect(loadOrCreateCredentials(file)).rejects.toThrow(/expected/);
  });
});
