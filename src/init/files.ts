/**
 * @module init/files
 * What `init --make` / `--agents` do to files that may already be the user's: every change is planned
 * first (a refusal leaves every file as it was), then written. A file of the user's gets forkstack's
 * marked block set (added at the end, or replaced where it is) and nothing else changes; a file that is
 * wholly forkstack's (Makefile.envs) is written only when absent or already identical, else refused
 * with a diff.
 */
import { readFile, writeFile } from "node:fs/promises";
import { UserError, errnoCode } from "../errors.js";
import { eolOf, findBlock, withEol, type Markers } from "../core/marked-block.js";

export interface FileChange {
  readonly path: string;
  readonly action: "create" | "update" | "unchanged";
  readonly text: string;
}

export async function readIfExists(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, "utf8");
  } catch (error) {
    if (errnoCode(error) === "ENOENT") return undefined;
    throw error;
  }
}

export function conflict(message: string, hint: string): UserError {
  return new UserError(message, "E_FILE_CONFLICT", { hint });
}

/** `existing` with forkstack's block set to `body` (LF lines; written in the file's own line ending). */
export function setBlock(
  existing: string | undefined,
  markers: Markers,
  body: string,
  path: string,
  rerun: string,
): FileChange {
  const text = existing ?? "";
  const eol = eolOf(text);
  const block = [markers.begin, ...body.replace(/\n$/, "").split("\n"), markers.end].join(eol) + eol;
  const search = findBlock(text, markers);
  if ("broken" in search) {
    throw conflict(
      `${path} has ${search.begins} forkstack begin marker(s) and ${search.ends} end marker(s) ` +
        "(expected one of each, in that order); forkstack will not guess which lines are its own. Nothing was written.",
      `Keep exactly one block from "${markers.begin}" to "${markers.end}" (or remove both markers), then run \`${rerun}\` again.`,
    );
  }
  let next: string;
  if (search.found) next = search.before + block + search.after;
  else if (text.trim() === "") next = block;
  else next = withEol(text, eol) + (text.endsWith(`${eol}${eol}`) ? "" : eol) + block;
  return {
    path,
    action: existing === undefined ? "create" : next === existing ? "unchanged" : "update",
    text: next,
  };
}

/** A file that is wholly forkstack's: written when absent, left when equal, refused (with a diff) when changed. */
export function ownFile(existing: string | undefined, text: string, path: string, rerun: string): FileChange {
  if (existing === undefined) return { path, action: "create", text };
  if (existing === text) return { path, action: "unchanged", text };
  throw conflict(
    `${path} exists and differs from the one forkstack writes; it was left as it is. Nothing was written.\n` +
      lineDiff(existing, text, path),
    `Keep yours (and skip this step), or move it away and run \`${rerun}\` again.`,
  );
}

/** A short diff of two texts, in unified diff's notation (`-` yours, `+` forkstack's), no context. */
export function lineDiff(ours: string, theirs: string, path: string): string {
  const a = ours.split("\n");
  const b = theirs.split("\n");
  // Longest common subsequence by lines: these files are a few dozen lines.
  const lcs = Array.from({ length: a.length + 1 }, () => new Array<number>(b.length + 1).fill(0));
  for (let i = a.length - 1; i >= 0; i--) {
    for (let j = b.length - 1; j >= 0; j--) {
      lcs[i]![j] = a[i] === b[j] ? lcs[i + 1]![j + 1]! + 1 : Math.max(lcs[i + 1]![j]!, lcs[i]![j + 1]!);
    }
  }
  const out = [`--- ${path} (yours)`, `+++ ${path} (forkstack's)`];
  let [i, j] = [0, 0];
  while (i < a.length || j < b.length) {
    if (i < a.length && j < b.length && a[i] === b[j]) [i, j] = [i + 1, j + 1];
    else if (j < b.length && (i === a.length || lcs[i]![j + 1]! >= lcs[i + 1]![j]!)) out.push(`+${b[j++]}`);
    else out.push(`-${a[i++]}`);
  }
  return out.join("\n");
}

export async function applyChanges(changes: readonly FileChange[]): Promise<void> {
  for (const change of changes) {
    if (change.action !== "unchanged") await writeFile(change.path, change.text);
  }
}
