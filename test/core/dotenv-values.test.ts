/**
 * Every dotenv file forkstack writes (the dotenv provider's secrets file, `.env.local`'s block,
 * `forkstack env --format dotenv`) must give each value back unchanged to the parsers apps use — the
 * `dotenv` package, Node's `util.parseEnv` / `process.loadEnvFile`, forkstack's own readers — and no line
 * of it may read as another variable (for a reader going line by line) or as one of the block's markers.
 * What no quoting can carry is refused, and only that: the oracle below tries every way of writing a
 * value and calls it impossible only if none of them works.
 */
import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseEnv } from "node:util";
import dotenv from "dotenv";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { BLOCK_BEGIN, BLOCK_END, planEnvLocal } from "../../src/core/env-local.js";
import { formatDotenv, quoteValue } from "../../src/providers/secrets/dotenv.js";
import { TRICKY_VALUES } from "../../src/testing/index.js";
import { lineReaderKeys } from "../helpers/line-reader.js";
import { REPO, tempProject } from "../helpers/project.js";

const SEED = 20261130;
const RUNS = 600;

/** Lines a marker search (core/marked-block.ts: a whole line, trimmed) would take for a marker. */
function markerLines(text: string): number {
  return text.split(/\r?\n/).filter((l) => l.trim() === BLOCK_BEGIN || l.trim() === BLOCK_END).length;
}

/** Lines that look like a forkstack marker (`# >>> forkstack …`), which no value may put on a line of its own. */
function markerLike(text: string): number {
  return text.split(/\r?\n/).filter((l) => /^\s*#\s*(?:>>>|<<<)\s*forkstack\b/.test(l)).length;
}

/** Lines around the value in the oracle's file: every quote character, so nothing quoted can run on. */
const AROUND = { A: "1", Y: "`2`", Z: "'3'", X: '"4"' };
const AROUND_TEXT = `Y='\`2\`'\nZ="'3'"\nX='"4"'\n`;

/**
 * Does `K=<written>`, with other lines after it, give `value` back to both parsers, with no other
 * variable, no line of its own that reads as a variable, and no marker-like line?
 */
function carries(written: string, value: string): boolean {
  const text = `A=1\nK=${written}\n${AROUND_TEXT}`;
  const expected = JSON.stringify({ ...AROUND, K: value });
  const sorted = (o: Record<string, string | undefined>) =>
    JSON.stringify(Object.fromEntries(Object.entries(o).sort()));
  return (
    sorted(parseEnv(text)) === sorted(JSON.parse(expected) as Record<string, string>) &&
    sorted(dotenv.parse(text)) === sorted(JSON.parse(expected) as Record<string, string>) &&
    lineReaderKeys(text).sort().join() === "A,K,X,Y,Z" &&
    markerLike(text) === 0
  );
}

/**
 * Every way a dotenv file can write a value: each quote style, newlines escaped or not, bare. A NUL
 * can sit in a file but in no process's environment (execve's strings end at it), so it never counts.
 */
function anyQuotingCarries(value: string): boolean {
  if (value.includes("\0")) return false;
  const forms = ["'", "`", '"'].flatMap((q) => [q + value + q, q + value.replaceAll("\n", "\\n") + q]);
  return [...forms, value].some((written) => carries(written, value));
}

/** Characters and pieces that break naive writers, mixed with plain text. */
const PIECES = [
  "a",
  "Z",
  "0",
  " ",
  "\t",
  "\n",
  "\r",
  "\0",
  "'",
  '"',
  "`",
  "#",
  "$",
  "${X}",
  "\\",
  "\\n",
  "\\r",
  "=",
  ":",
  "é",
  "🔑",
  "B=evil",
  "export B=evil",
  BLOCK_BEGIN,
  BLOCK_END,
];
const value = fc.oneof(
  fc.array(fc.constantFrom(...PIECES), { maxLength: 12 }).map((parts) => parts.join("")),
  fc.string({ unit: "grapheme", maxLength: 20 }),
  fc.string({ unit: "binary", maxLength: 20 }),
);

/** The user's own lines around the block, as people write them. */
const USER_BEFORE = '# mine\nAPI_KEY=mine-123\nexport FLAG=on\nMULTI="one\ntwo"\n';
const USER_AFTER = "OVERRIDE='x'\nQUOTED=\"y # z\"\n";
const USER_KEYS = ["API_KEY", "FLAG", "MULTI", "OVERRIDE", "QUOTED"];
const START = `${USER_BEFORE}${BLOCK_BEGIN}\n${BLOCK_END}\n${USER_AFTER}`;

describe("dotenv values: what forkstack writes reads back the same everywhere", () => {
  it(`the secrets file and .env.local's block round-trip any value or refuse only the impossible (fast-check seed ${SEED})`, () => {
    console.log(`fast-check seed ${SEED}, ${RUNS} runs`);
    fc.assert(
      fc.property(value, (v) => {
        const quoted = quoteValue(v);
        if (typeof quoted !== "string") {
          // Refused: then no quoting at all could have carried it.
          expect(anyQuotingCarries(v), JSON.stringify(v)).toBe(false);
          expect(() => formatDotenv({ K: v })).toThrow(/secret K cannot be stored/);
          const plan = planEnvLocal(START, { FORKSTACK_ENV: "dev", K: v }, "/app/.env.local");
          expect(plan.warnings.join("\n")).toMatch(/Left K out of \/app\/\.env\.local/);
          expect(parseEnv(plan.text).K).toBeUndefined();
          return;
        }
        expect(carries(quoted, v), JSON.stringify({ v, quoted })).toBe(true);
        const secretsFile = formatDotenv({ A: "1", K: v, Z: "2" });
        for (const read of [parseEnv, dotenv.parse]) {
          expect({ ...read(secretsFile) }).toEqual({ A: "1", K: v, Z: "2" });
        }
        expect(lineReaderKeys(secretsFile)).toEqual(["A", "K", "Z"]);

        // `.env.local`: switch (the block set), then switch again (nothing moves, nothing warns).
        const values = { FORKSTACK_ENV: "dev", K: v };
        const first = planEnvLocal(START, values, "/app/.env.local");
        expect(first.warnings).toEqual([]);
        expect(first.text.startsWith(USER_BEFORE + BLOCK_BEGIN)).toBe(true);
        expect(first.text.endsWith(BLOCK_END + "\n" + USER_AFTER)).toBe(true);
        expect(markerLines(first.text)).toBe(2);
        const again = planEnvLocal(first.text, values, "/app/.env.local");
        expect(again).toEqual({ text: first.text, warnings: [] });
        for (const read of [parseEnv, dotenv.parse]) {
          const seen = read(first.text);
          expect(Object.keys(seen).sort()).toEqual([...USER_KEYS, "FORKSTACK_ENV", "K"].sort());
          expect(seen.K).toBe(v);
          expect(seen.MULTI).toBe("one\ntwo");
        }
        expect(lineReaderKeys(first.text).sort()).toEqual(
          ["API_KEY", "FLAG", "MULTI", "FORKSTACK_ENV", "K", "OVERRIDE", "QUOTED"].sort(),
        );
      }),
      { seed: SEED, numRuns: RUNS },
    );
  });

  it("every awkward value of the secrets conformance suite is written, not refused", () => {
    for (const [key, v] of Object.entries(TRICKY_VALUES)) {
      const quoted = quoteValue(v);
      expect(typeof quoted, key).toBe("string");
      expect(carries(quoted as string, v), key).toBe(true);
    }
  });

  it("refuses, naming the key, what no quoting can carry", () => {
    for (const v of ["a\rb", "a\0b", `'"\`\n# x`, `'"\`\nB=1`, `'" \` `, 'it\'s `a`\nB="1"']) {
      expect(anyQuotingCarries(v), JSON.stringify(v)).toBe(false);
      expect(typeof quoteValue(v), JSON.stringify(v)).toBe("object");
      expect(() => formatDotenv({ SECRET_NAME: v })).toThrow(/SECRET_NAME/);
    }
  });

  it("process.loadEnvFile and the Python library read the same values as util.parseEnv", async () => {
    const dir = await tempProject(null);
    const file = join(dir, ".env.local");
    const values = { FORKSTACK_ENV: "dev", ...TRICKY_VALUES };
    writeFileSync(file, planEnvLocal(USER_BEFORE, values, file).text);
    const loaded = JSON.parse(
      execFileSync(
        process.execPath,
        ["-e", `process.loadEnvFile(${JSON.stringify(file)}); console.log(JSON.stringify(process.env))`],
        { env: {}, encoding: "utf8" },
      ),
    ) as Record<string, string>;
    const python = JSON.parse(
      execFileSync(
        "python3",
        [
          "-c",
          "import json, sys; sys.path.insert(0, sys.argv[1]); from forkstack_env import _parse_env; " +
            "print(json.dumps(_parse_env(open(sys.argv[2]).read())))",
          join(REPO, "templates/python"),
          file,
        ],
        { encoding: "utf8" },
      ),
    ) as Record<string, string>;
    for (const [key, v] of Object.entries(values)) {
      expect(loaded[key], key).toBe(v);
      expect(python[key], key).toBe(v);
    }
    expect(loaded.OTHER).toBeUndefined();
    expect(python.OTHER).toBeUndefined();
    expect(markerLines(readFileSync(file, "utf8"))).toBe(2);
  });
});
