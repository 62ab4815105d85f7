/**
 * @module testing/suites/secrets
 * Conformance suite for secrets providers: the shared lifecycle, with data going through the provider's
 * own `read`/`write`, plus round-trips of awkward values and checks that no secret leaks into `vars`,
 * the recorded info or the log. On a read-only backend (no `write`) the tests below that write skip
 * themselves; the lifecycle tests, which put data through `write`, are skipped by name (`skip`).
 */
import { expect } from "../vitest-api.js";
import type { SecretsProvider } from "../../providers/types.js";
import {
  expectProviderError,
  setupSuite,
  type DataAccess,
  type SuiteContext,
  type SuiteOptions,
} from "./harness.js";
import { lifecycleTests } from "./lifecycle.js";

export type SecretsSuiteContext = SuiteContext<SecretsProvider>;

export type SecretsSuiteOptions = SuiteOptions<SecretsProvider>;

/**
 * Values that break naive dotenv writers: comment and assignment characters, quotes, newlines, unicode,
 * lines that read as variables or as forkstack's `.env.local` markers, backslashes and escape-like text.
 */
export const TRICKY_VALUES: Readonly<Record<string, string>> = {
  EMPTY: "",
  HASH: "abc#def # not a comment",
  EQUALS: "a=b==c",
  SINGLE: "it's",
  DOUBLE: 'say "hi"',
  BACKTICK: "run `this`",
  TWO_QUOTES: `it's "quoted"`,
  MULTILINE: "-----BEGIN KEY-----\nline two\n\nline four\n-----END KEY-----",
  SPACES: "  padded  ",
  DOLLAR: "$HOME ${PATH} $(whoami)",
  BACKSLASH: "C:\\path\\to\\n\\thing\\",
  UNICODE: "pässwörd ✓ 🔑",
  LOOKS_LIKE_LINE: "x\nOTHER=injected",
  URL: "postgres://user:p%40ss@host:5432/db?sslmode=require",
  TRAILING_BACKSLASH: "ends in a backslash \\",
  TABS: "\tTAB\t",
  ESCAPES_TEXT: "\\n \\r \\t \\\\ \\'",
  ALL_QUOTES: `it's "a" \`b\``,
  EXPORT_LINE: "x\nexport OTHER=injected",
  MARKERS:
    "x\n# >>> forkstack (managed: forkstack switch rewrites this block) >>>\n# <<< forkstack <<<\nOTHER=1",
  JSON_LINES: '{\n  "key": "line\\nnext",\n  "n": 1\n}',
  LINE_ENDS_IN_BACKSLASH: "a\\\nnb",
};

/** Tests that write skip themselves on a read-only backend (no `write`). */
const readOnly = (p: SecretsProvider) => (p.write ? undefined : "read-only backend (no write)");

export function secretsSuite(options: SecretsSuiteOptions): void {
  const { ctx, test } = setupSuite(options);
  const env = (name: string) => ctx.core.env(name);
  const data: DataAccess = {
    async put(name, key, value) {
      const current = await ctx.provider.read(env(name), ctx.project.op);
      await ctx.provider.write!(env(name), { ...current, [key]: value }, ctx.project.op);
    },
    read: (name) => ctx.provider.read(env(name), ctx.project.op),
  };

  lifecycleTests(ctx, test, data);

  test(
    "secrets never appear in vars",
    async () => {
      await ctx.core.create("dev");
      await ctx.provider.write!(env("dev"), { STRIPE_KEY: "sk_live_123" }, ctx.project.op);
      const info = await ctx.core.fork("dev", "alice");
      for (const found of [info, await ctx.core.describe("alice"), await ctx.core.describe("dev")]) {
        expect(JSON.stringify(found)).not.toContain("sk_live_123");
      }
      expect(JSON.stringify(ctx.project.logs)).not.toContain("sk_live_123");
    },
    readOnly,
  );

  test(
    "awkward values round-trip through write, fork and read",
    async () => {
      await ctx.core.create("dev");
      await ctx.provider.write!(env("dev"), { ...TRICKY_VALUES }, ctx.project.op);
      expect(await ctx.provider.read(env("dev"), ctx.project.op)).toEqual(TRICKY_VALUES);
      await ctx.core.fork("dev", "alice");
      expect(await ctx.provider.read(env("alice"), ctx.project.op)).toEqual(TRICKY_VALUES);
    },
    readOnly,
  );

  test(
    "write replaces the whole set",
    async () => {
      await ctx.core.create("dev");
      await ctx.provider.write!(env("dev"), { A: "1", B: "2" }, ctx.project.op);
      await ctx.provider.write!(env("dev"), { B: "3" }, ctx.project.op);
      expect(await ctx.provider.read(env("dev"), ctx.project.op)).toEqual({ B: "3" });
    },
    readOnly,
  );

  test(
    "read and write of a missing env are refused",
    async () => {
      await expectProviderError(
        ctx.provider.read(env("ghost"), ctx.project.op),
        ctx.provider,
        "E_ENV_NOT_FOUND",
      );
      await expectProviderError(
        ctx.provider.write!(env("ghost"), { A: "1" }, ctx.project.op),
        ctx.provider,
        "E_ENV_NOT_FOUND",
      );
      expect(await ctx.core.list()).toEqual([]);
    },
    readOnly,
  );

  test("vars carry nothing", async () => {
    const info = await ctx.core.create("dev");
    expect(info.vars).toEqual({});
  });

  options.additionalTests?.(ctx);
}
