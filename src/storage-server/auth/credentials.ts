/**
 * @module storage-server/auth/credentials
 * The embedded server's key pair: generated randomly, kept in a 0600 JSON file under `.forkstack/`.
 */
import { randomInt, randomBytes } from "node:crypto";
import { constants } from "node:fs";
import { chmod, link, mkdir, open, readFile, rename, stat, unlink } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import type { Credentials } from "./types.js";

const KEY_ID_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
const SECRET_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

function randomString(alphabet: string, length: number): string {
  // randomInt is unbiased, unlike `byte % alphabet.length`.
  return Array.from({ length }, () => alphabet[randomInt(alphabet.length)]).join("");
}

/** S3-shaped credentials: a 20-character uppercase key id and a 40-character secret. */
export function generateCredentials(): Credentials {
  return {
    accessKeyId: randomString(KEY_ID_ALPHABET, 20),
    secretAccessKey: randomString(SECRET_ALPHABET, 40),
  };
}

function parseCredentialsFile(text: string, file: string): Credentials {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new Error(`${file}: not valid JSON; delete it to generate new storage credentials`);
  }
  const v = value as Partial<Record<keyof Credentials, unknown>>;
  if (
    typeof v !== "object" ||
    v === null ||
    typeof v.accessKeyId !== "string" ||
    typeof v.secretAccessKey !== "string" ||
    !/^[A-Z0-9]{16,128}$/.test(v.accessKeyId) ||
    v.secretAccessKey.length < 16
  ) {
    throw new Error(
      `${file}: expected {"accessKeyId","secretAccessKey"}; delete it to generate new storage credentials`,
    );
  }
  return { accessKeyId: v.accessKeyId, secretAccessKey: v.secretAccessKey };
}

/**
 * Group/other bits on a secret file are tightened to 0600 when the file is ours; a file owned by
 * someone else is refused, since we cannot vouch for who else read it.
 */
async function ensurePrivate(file: string): Promise<void> {
  const info = await stat(file);
  if (!info.isFile()) throw new Error(`${file}: not a regular file`);
  if ((info.mode & 0o077) === 0) return;
  const uid = process.getuid?.();
  if (uid !== undefined && info.uid !== uid) {
    throw new Error(
      `${file}: readable by others (mode ${(info.mode & 0o777).toString(8)}) and not owned by us; refusing`,
    );
  }
  await chmod(file, 0o600);
}

async function writeNewFile(file: string, credentials: Credentials): Promise<boolean> {
  const dir = dirname(file);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const tmp = join(dir, `.${basename(file)}.${process.pid}.${randomBytes(6).toString("hex")}.tmp`);
  const handle = await open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
  try {
    await handle.writeFile(`${JSON.stringify(credentials, null, 2)}\n`);
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    // link() publishes the complete file atomically and, unlike rename, never replaces a file a
    // concurrent process created first: both then end up using the same credentials.
    await link(tmp, file);
    return true;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "EEXIST") return false;
    if (code !== "EPERM" && code !== "ENOTSUP" && code !== "EOPNOTSUPP") throw error;
    await rename(tmp, file); // filesystems without hard links: last writer wins, still atomic
    return true;
  } finally {
    await unlink(tmp).catch(() => undefined);
    const dirHandle = await open(dir, constants.O_RDONLY).catch(() => undefined);
    await dirHandle?.sync().catch(() => undefined);
    await dirHandle?.close();
  }
}

/** Reads the credentials file, creating it (mode 0600, atomically) with fresh credentials if absent. */
export async function loadOrCreateCredentials(file: string): Promise<Credentials> {
  try {
    await ensurePrivate(file);
    return parseCredentialsFile(await readFile(file, "utf8"), file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
  }
  const fresh = generateCredentials();
  if (await writeNewFile(file, fresh)) return fresh;
  await ensurePrivate(file);
  return parseCredentialsFile(await readFile(file, "utf8"), file);
}
