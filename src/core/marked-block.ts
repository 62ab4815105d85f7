/**
 * @module core/marked-block
 * Files that are the user's as much as ours (`.env.local`, a Makefile, AGENTS.md) get one block of
 * forkstack's between two marker lines, and nothing else of theirs is touched. This finds the block;
 * what to do with a file whose markers are missing, doubled or out of order is each caller's call
 * (always: refuse, and leave the file as it is).
 */

export interface Markers {
  readonly begin: string;
  readonly end: string;
}

export type BlockSearch =
  | { readonly found: false }
  | { readonly found: true; readonly before: string; readonly inside: string; readonly after: string }
  | { readonly broken: true; readonly begins: number; readonly ends: number };

/** The file's lines, each with its own line ending (the last may have none). */
export function lines(text: string): string[] {
  return text.match(/[^\n]*\n|[^\n]+$/g) ?? [];
}

/** The line ending the file already uses (its first one), LF for a new or one-line file. */
export function eolOf(text: string): string {
  const at = text.indexOf("\n");
  return at > 0 && text[at - 1] === "\r" ? "\r\n" : "\n";
}

export function withEol(text: string, eol: string): string {
  return text === "" || text.endsWith("\n") ? text : text + eol;
}

/**
 * The text before, inside and after the block. Markers are found line by line, before any parsing of
 * the file's own syntax, so nothing of the user's (an unterminated quote) can hide them.
 */
export function findBlock(text: string, markers: Markers): BlockSearch {
  const all = lines(text);
  const isMarker = (line: string, marker: string) => line.trim() === marker;
  const begins = all.flatMap((l, i) => (isMarker(l, markers.begin) ? [i] : []));
  const ends = all.flatMap((l, i) => (isMarker(l, markers.end) ? [i] : []));
  if (begins.length === 0 && ends.length === 0) return { found: false };
  if (begins.length === 1 && ends.length === 1 && begins[0]! < ends[0]!) {
    const [begin, end] = [begins[0]!, ends[0]!];
    return {
      found: true,
      before: all.slice(0, begin).join(""),
      inside: all.slice(begin + 1, end).join(""),
      after: all.slice(end + 1).join(""),
    };
  }
  return { broken: true, begins: begins.length, ends: ends.length };
}
