/**
 * @module core/env-local
 * `.env.local` is the user's file as much as ours: frameworks read it, and people keep their own keys
 * in it. forkstack owns one marked block and nothing else:
 *
 *     API_KEY=mine                 ← the user's lines: kept byte for byte, in place
 *     # >>> forkstack (managed: forkstack switch rewrites this block) >>>
 *     FORKSTACK_ENV='alice'
 *     DATABASE_URL='file:…'
 *     # <<< forkstack <<<
 *
 * Which value wins when a key is both the user's and ours: dotenv, Vite, Next.js (@next/env) and
 * `node --env-file` all take the LAST line of a key within one file. A new block is therefore appended
 * at the end, so after `switch` the app really uses the env's values (a stale `DATABASE_URL` of the
 * user's must not quietly keep the app on another env's data). A block the user moved stays where it
 * is, so a line of theirs *below* it deliberately overrides ours. Either way `switch` warns, naming the
 * keys and saying which line wins.
 *
 * Never losing a line: lines the user typed inside the block are moved just above it (with a warning;
 * a `KEY='…'` record in forkstack's own quoting there counts as forkstack's and is rewritten);
 * a file whose markers are missing, doubled or out of order is refused and left as it is. A file an
 * older forkstack wrote whole (no markers, starting with `FORKSTACK_ENV='…'`) is migrated: its records
 * that are forkstack's (equal to a variable of the env it names, or setting a key the block now sets,
 * which that forkstack rewrote on every switch anyway) go into the block; anything else is kept.
 */
import { readFile, realpath, rm } from "node:fs/promises";
import { parseEnv } from "node:util";
// From layout, not config/schema: that module loads zod, which `switch` does not otherwise need.
import { ENV_NAME_PATTERN } from "../layout.js";
import { UserError, errnoCode } from "../errors.js";
import { isVariableName, quoteValue } from "../providers/secrets/dotenv.js";
import { stateWriteError, writeFileAtomic } from "./fs-atomic.js";
import { eolOf, findBlock, withEol } from "./marked-block.js";

export const BLOCK_BEGIN = "# >>> forkstack (managed: forkstack switch rewrites this block) >>>";
export const BLOCK_END = "# <<< forkstack <<<";
const MARKERS = { begin: BLOCK_BEGIN, end: BLOCK_END };

/**
 * One `KEY=value` record exactly as `formatDotenv` writes it: a quoted value (which may span lines), or
 * a bare one holding both a single quote and a backtick (written bare when double quotes cannot carry it
 * either). Only such records are forkstack's to replace; anything else is a line of the user's.
 */
const RECORD =
  /([A-Za-z_][A-Za-z0-9_]*)=('[^']*'|`[^`]*`|"[^"]*"|(?=[^\n]*')(?=[^\n]*`)[^\s'"`#](?:[^\n#]*[^\s#])?)[ \t]*(?:\r?\n|$)/y;
const LINE = /[^\n]*(?:\n|$)/y;

interface Chunk {
  /** The raw text, line ending included. */
  readonly raw: string;
  /** Set when the chunk is a record in forkstack's own format. */
  readonly record?: { readonly key: string; readonly value: string };
}

/** A record's value as the parsers read it (inside double quotes, `\n` is a newline). */
function unquote(quoted: string): string {
  const quote = quoted[0]!;
  if (!"'\"`".includes(quote)) return quoted;
  const inner = quoted.slice(1, -1);
  return quote === '"' ? inner.replaceAll("\\n", "\n") : inner;
}

/** Split text into forkstack-format records and other lines, keeping every byte. */
function chunks(text: string): Chunk[] {
  const out: Chunk[] = [];
  let at = 0;
  while (at < text.length) {
    RECORD.lastIndex = at;
    const record = RECORD.exec(text);
    if (record) {
      out.push({ raw: record[0], record: { key: record[1]!, value: unquote(record[2]!) } });
      at = RECORD.lastIndex;
      continue;
    }
    LINE.lastIndex = at;
    const line = LINE.exec(text)![0];
    out.push({ raw: line });
    at += line.length;
  }
  return out;
}

const isBlank = (raw: string) => raw.trim() === "";

function keysIn(text: string): Set<string> {
  try {
    return new Set(Object.keys(parseEnv(text)));
  } catch {
    return new Set();
  }
}

function list(keys: Iterable<string>): string {
  return [...keys].sort().join(", ");
}

/**
 * The managed block for `values`, in the file's line ending (a value's own newlines are written as
 * `\n`, or stay LF inside quotes). A value no dotenv quoting can carry (a carriage return, say, from a
 * cloud secrets provider) is left out with a warning rather than written so that it reads as something
 * else or breaks the block; `forkstack run` still passes it.
 */
function renderBlock(values: Record<string, string>, eol: string, path: string): Rendered {
  const records: string[] = [];
  const warnings: string[] = [];
  for (const [key, value] of Object.entries(values)) {
    const quoted = isVariableName(key) ? quoteValue(value) : undefined;
    if (typeof quoted === "string") {
      records.push(`${key}=${quoted}`);
      continue;
    }
    const why = quoted ? `its value ${quoted.problem}` : "its name is not a variable name";
    warnings.push(
      `Left ${key} out of ${path}: ${why}, which no dotenv file can hold; \`forkstack run\` and the library still pass it.`,
    );
  }
  return { text: [BLOCK_BEGIN, ...records, BLOCK_END].join(eol) + eol, warnings };
}

interface Rendered {
  readonly text: string;
  readonly warnings: string[];
}

export interface EnvLocalPlan {
  /** The new content of the file. */
  readonly text: string;
  /** Things the user should know: shadowed keys, moved lines, a migration. */
  readonly warnings: string[];
}

export interface PlanOptions {
  /**
   * For a file an older forkstack wrote whole: the variables of the env it names (its first line),
   * or undefined if that env is gone. Lines equal to one of them are forkstack's and are dropped.
   */
  readonly legacyValues?: Readonly<Record<string, string>>;
}

/**
 * The text before, inside and after the block, or undefined if there are no markers; a refusal naming
 * the problem if they are missing, doubled or out of order.
 */
function splitAtBlock(
  text: string,
  path: string,
): { before: string; inside: string; after: string } | undefined {
  const search = findBlock(text, MARKERS);
  if ("broken" in search) {
    throw new UserError(
      `${path} has ${search.begins} forkstack begin marker(s) and ${search.ends} end marker(s) ` +
        "(expected one of each, in that order); forkstack will not guess which lines are its own, " +
        "and left the file as it is.",
      "E_STATE_CORRUPT",
      {
        hint: `Keep exactly one block from "${BLOCK_BEGIN}" to "${BLOCK_END}" (or remove both markers and forkstack's lines), then run \`forkstack switch\` again.`,
      },
    );
  }
  return search.found ? search : undefined;
}

/** The env an older forkstack's whole-file `.env.local` was written for, if this is one. */
export function legacyEnvOf(existing: string): string | undefined {
  if (existing.includes(BLOCK_BEGIN) || existing.includes(BLOCK_END)) return undefined;
  const first = chunks(existing)[0]?.record;
  return first?.key === "FORKSTACK_ENV" ? first.value : undefined;
}

/**
 * The new `.env.local` text: `existing` (undefined if there is no file) with forkstack's block set to
 * `values`. Pure, so every case is testable without a disk.
 */
export function planEnvLocal(
  existing: string | undefined,
  values: Record<string, string>,
  path: string,
  options: PlanOptions = {},
): EnvLocalPlan {
  const text = existing ?? "";
  const eol = eolOf(text);
  const { text: block, warnings } = renderBlock(values, eol, path);
  const found = splitAtBlock(text, path);

  let before: string;
  let after: string;
  if (found) {
    ({ before, after } = found);
    const typed = chunks(found.inside).filter((c) => !c.record && !isBlank(c.raw));
    if (typed.length) {
      before = withEol(before, eol) + typed.map((c) => withEol(c.raw, eol)).join("");
      warnings.push(
        `Moved ${typed.length} line(s) you added inside forkstack's block in ${path} to just above it: ` +
          "the block is rewritten on every `forkstack switch`.",
      );
    }
  } else if (legacyEnvOf(text) !== undefined) {
    // Written whole by an older forkstack: keep every line that is not provably forkstack's.
    const ours = options.legacyValues ?? {};
    const kept = chunks(text).filter(
      (c) =>
        !(
          c.record &&
          (c.record.key === "FORKSTACK_ENV" ||
            Object.hasOwn(values, c.record.key) ||
            (Object.hasOwn(ours, c.record.key) && ours[c.record.key] === c.record.value))
        ),
    );
    before = kept.map((c) => withEol(c.raw, eol)).join("");
    after = "";
    const count = kept.filter((c) => !isBlank(c.raw)).length;
    warnings.push(
      `Moved forkstack's variables in ${path} into a marked block` +
        (count
          ? `; kept ${count} line(s) that are not forkstack's above it.`
          : "; lines you add outside it are kept."),
    );
  } else {
    // No block yet: the user's text stays as it is and the block goes at the end, where it wins.
    before = withEol(text, eol);
    after = "";
  }

  const managed = new Set(Object.keys(values));
  const shadowed = [...keysIn(before)].filter((k) => managed.has(k));
  const overriding = [...keysIn(after)].filter((k) => managed.has(k));
  if (shadowed.length) {
    warnings.push(
      `${path}: your line(s) for ${list(shadowed)} above forkstack's block are overridden by it ` +
        "(dotenv, Vite, Next.js and node --env-file use a key's last line); remove them, or put them " +
        "below the block to override forkstack on purpose.",
    );
  }
  if (overriding.length) {
    warnings.push(
      `${path}: your line(s) for ${list(overriding)} below forkstack's block override the env's own ` +
        "value(s) (the last line of a key wins), so the app does not see this env's value there.",
    );
  }
  return { text: before + block + after, warnings };
}

/** The real file behind `.env.local` (a symlink to a shared file is written through, not replaced). */
async function target(path: string): Promise<string> {
  try {
    return await realpath(path);
  } catch {
    return path;
  }
}

async function readIfExists(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, "utf8");
  } catch (error) {
    if (errnoCode(error) === "ENOENT") return undefined;
    throw stateWriteError(path, error);
  }
}

export interface WriteEnvLocalOptions {
  /** The variables of a named env, for migrating a file an older forkstack wrote; undefined if unknown. */
  readonly envValues?: (env: string) => Promise<Record<string, string> | undefined>;
}

export interface PreparedEnvLocal {
  readonly path: string;
  /** Things to tell the user (keys that shadow or are shadowed, moved lines, a migration). */
  readonly warnings: string[];
  /** Write the planned text (mode 0600, atomic replace); nothing when it is unchanged. */
  write(): Promise<void>;
}

/**
 * Read `.env.local` and plan forkstack's block set to `values`, keeping every other line; refuses
 * (E_STATE_CORRUPT) a file with broken markers before anything is written anywhere. `switch` prepares
 * first and writes after `.current-env`, so that a refusal here changes nothing (core/switch.ts).
 */
export async function prepareEnvLocal(
  path: string,
  values: Record<string, string>,
  options: WriteEnvLocalOptions = {},
): Promise<PreparedEnvLocal> {
  const file = await target(path);
  const existing = await readIfExists(file);
  let legacyValues: Record<string, string> | undefined;
  const legacyEnv = existing === undefined ? undefined : legacyEnvOf(existing);
  // Only a valid env name is looked up: the file's content must not steer a path.
  if (legacyEnv && ENV_NAME_PATTERN.test(legacyEnv) && options.envValues) {
    legacyValues = await options.envValues(legacyEnv).catch(() => undefined);
  }
  const plan = planEnvLocal(existing, values, path, legacyValues ? { legacyValues } : {});
  return {
    path,
    warnings: plan.warnings,
    write: async () => {
      if (plan.text !== existing) await writeFileAtomic(file, plan.text, 0o600);
    },
  };
}

/**
 * Set forkstack's block in `.env.local` to `values`, keeping every other line; mode 0600, atomic
 * replace. Returns the warnings to show (keys that shadow or are shadowed, moved lines, a migration).
 */
export async function writeEnvLocal(
  path: string,
  values: Record<string, string>,
  options: WriteEnvLocalOptions = {},
): Promise<{ path: string; warnings: string[] }> {
  const prepared = await prepareEnvLocal(path, values, options);
  await prepared.write();
  return { path, warnings: prepared.warnings };
}

/**
 * Which env forkstack's block was last written for (its `FORKSTACK_ENV` record): `absent` when there is
 * no file or no block (an older forkstack's whole file counts as none), `broken` when the markers are.
 */
export async function envLocalBlockState(
  path: string,
): Promise<{ kind: "absent" } | { kind: "broken" } | { kind: "block"; env: string | undefined }> {
  const existing = await readIfExists(await target(path));
  if (existing === undefined) return { kind: "absent" };
  let found: ReturnType<typeof splitAtBlock>;
  try {
    found = splitAtBlock(existing, path);
  } catch {
    return { kind: "broken" };
  }
  if (!found) return { kind: "absent" };
  const env = chunks(found.inside).find((c) => c.record?.key === "FORKSTACK_ENV")?.record?.value;
  return { kind: "block", env };
}

/**
 * Take forkstack's block out of `.env.local` (the current env was deleted), keeping the user's lines;
 * the file goes when nothing of the user's is left. A file with broken markers is left alone.
 */
export async function removeEnvLocalBlock(path: string): Promise<void> {
  const file = await target(path);
  const existing = await readIfExists(file);
  if (existing === undefined) return;
  let rest: string;
  try {
    const found = splitAtBlock(existing, path);
    if (found) rest = found.before + found.after;
    // An older forkstack's whole file goes only if nothing in it can be the user's.
    else if (legacyEnvOf(existing) !== undefined && chunks(existing).every((c) => c.record || isBlank(c.raw)))
      rest = "";
    else return;
  } catch {
    return; // broken markers: leave the file to the user, as `switch` does
  }
  if (isBlank(rest)) await rm(file, { force: true });
  else await writeFileAtomic(file, rest, 0o600);
}
