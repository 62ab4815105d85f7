/**
 * Keys a reader that goes line by line (docker --env-file, `grep ^KEY=`, a shell loop) would see in a
 * dotenv file; as loose about names as the `dotenv` package (`0B`, `a.b`, `a-b`).
 */
export function lineReaderKeys(text: string): string[] {
  return text
    .split(/\r?\n/)
    .map((line) => /^\s*(?:export\s+)?([\w.-]+)\s*=/.exec(line)?.[1])
    .filter((key): key is string => key !== undefined);
}
