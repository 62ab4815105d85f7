import { chmod, mkdir, readFile, readdir, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { parseEnv } from "node:util";
import { describe, expect, it } from "vitest";
import dotenv, { formatDotenv } from "../../../src/providers/secrets/dotenv.js";
import { optionsSchema } from "../../../src/providers/secrets/dotenv.options.js";
import { makeReadOnly } from "../_helpers.js";
import { TRICKY_VALUES, expectProviderError, secretsSuite } from "../../../src/testing/index.js";
import type { SecretsSuiteContext } from "../../../src/testing/index.js";

const fileOf = (ctx: SecretsSuiteContext, env: string) =>
  join(ctx.project.context.envDir(env), "secrets.env");
const modeOf = async (path: string) => (await stat(path)).mode & 0o777;

describe("providers: secrets/dotenv", () => {
  secretsSuite({
    provider: (project) => dotenv({}, project.context),
    additionalTests(ctx) {
      const env = (name: string) => ctx.core.env(name);

      it("keeps files at 0600 after create, write and fork, whatever the umask", async () => {
        const previous = process.umask(0);
        try {
          await ctx.core.create("dev");
          expect(await modeOf(fileOf(ctx, "dev"))).toBe(0o600);
          await ctx.provider.write!(env("dev"), { A: "1" }, ctx.project.op);
          expect(await modeOf(fileOf(ctx, "dev"))).toBe(0o600);
          await ctx.core.fork("dev", "alice");
          expect(await modeOf(fileOf(ctx, "alice"))).toBe(0o600);
        } finally {
          process.umask(previous);
        }
      });

      it("writes a file that Node's own dotenv parser reads back", async () => {
        await ctx.core.create("dev");
        await ctx.provider.write!(env("dev"), { ...TRICKY_VALUES }, ctx.project.op);
        const text = await readFile(fileOf(ctx, "dev"), "utf8");
        expect(parseEnv(text)).toEqual(TRICKY_VALUES);
        expect(text.startsWith("EMPTY=''\n")).toBe(true);
      });

      it("forks a hand-edited file byte for byte, comments included", async () => {
        await ctx.core.create("dev");
        const text = '# Stripe test keys\nexport STRIPE_KEY=sk_test_1\nMULTI="a\nb"\n\n# trailing comment\n';
        await writeFile(fileOf(ctx, "dev"), text);
        await ctx.core.fork("dev", "alice");
        expect(await readFile(fileOf(ctx, "alice"), "utf8")).toBe(text);
        expect(await ctx.provider.read(env("alice"), ctx.project.op)).toEqual({
          STRIPE_KEY: "sk_test_1",
          MULTI: "a\nb",
        });
      });

      it("refuses values and names it cannot store, naming the key but not the value, and changes nothing", async () => {
        await ctx.core.create("dev");
        await ctx.provider.write!(env("dev"), { KEEP: "me" }, ctx.project.op);
        const before = await readFile(fileOf(ctx, "dev"), "utf8");
        const cases: Array<Record<string, string>> = [
          { ALL_QUOTES: `'"\`hunter2` },
          { CR: "line\r\nhunter2" },
          { NUL: "a\0hunter2" },
          { QUOTE_AND_ESCAPE: "'`\\nhunter2" },
        ];
        for (const values of cases) {
          const error = await expectProviderError(
            ctx.provider.write!(env("dev"), values, ctx.project.op),
            ctx.provider,
            "E_USAGE",
          );
          expect(error.message).toContain(Object.keys(values)[0]);
          expect(error.message).not.toContain("hunter2");
        }
        for (const key of ["1ABC", "A-B", "A B", "", "__proto__"]) {
          await expectProviderError(
            ctx.provider.write!(env("dev"), { [key]: "x" }, ctx.project.op),
            ctx.provider,
            "E_USAGE",
          );
        }
        expect(await readFile(fileOf(ctx, "dev"), "utf8")).toBe(before);
        expect(() => formatDotenv({ A: 1 as unknown as string })).toThrow(/not a string/);
      });

      it("tightens a file others can read to 0600 and warns, by default", async () => {
        await ctx.core.create("dev");
        await ctx.provider.write!(env("dev"), { A: "1" }, ctx.project.op);
        await chmod(fileOf(ctx, "dev"), 0o644);
        expect(await ctx.provider.read(env("dev"), ctx.project.op)).toEqual({ A: "1" });
        expect(await modeOf(fileOf(ctx, "dev"))).toBe(0o600);
        const warnings = ctx.project.logs.filter((l) => l.level === "warn");
        expect(warnings).toHaveLength(1);
        expect(warnings[0]!.message).toContain("0644");
        expect(JSON.stringify(ctx.project.logs)).not.toContain("A=");
      });

      it("doctor flags secrets files others can read", async () => {
        await ctx.core.create("dev");
        expect(await ctx.provider.doctor!(ctx.project.op)).toEqual([
          { level: "ok", message: expect.any(String) },
        ]);
        await chmod(fileOf(ctx, "dev"), 0o640);
        const findings = await ctx.provider.doctor!(ctx.project.op);
        expect(findings).toEqual([{ level: "warn", message: expect.stringContaining("640") }]);
      });

      it("a fork into an unwritable directory fails clearly and leaves nothing", async (test) => {
        await ctx.core.create("dev");
        await ctx.provider.write!(env("dev"), { A: "1" }, ctx.project.op);
        const dir = ctx.project.context.envDir("alice");
        await mkdir(dir, { recursive: true });
        const restore = await makeReadOnly(dir);
        if (!restore) return test.skip("cannot make a directory read-only here");
        try {
          const error = await expectProviderError(
            ctx.provider.fork(env("dev"), env("alice"), ctx.project.op),
            ctx.provider,
            "E_PROVIDER",
          );
          expect(error.message).toMatch(/Could not write the secrets of "alice": .*(permission|read-only)/);
        } finally {
          await restore();
        }
        expect(await readdir(dir)).toEqual([]);
        expect(await ctx.core.describe("alice")).toBeNull();
      });

      it("remove also deletes temp files left by an interrupted write", async () => {
        await ctx.core.create("dev");
        const dir = ctx.project.context.envDir("dev");
        await writeFile(join(dir, ".secrets.env.abcdef.tmp"), "A='leaked'\n");
        await writeFile(join(dir, "manifest.json"), "{}");
        await ctx.provider.remove(env("dev"), ctx.project.op, ctx.core.recorded("dev"));
        expect(await readdir(dir)).toEqual(["manifest.json"]);
      });
    },
  });

  describe("with strictPermissions", () => {
    it("refuses to read a file others can read, and leaves its mode for the user to look at", async () => {
      const { tempProject, coreDriver } = await import("../_helpers.js");
      const project = await tempProject();
      try {
        const provider = dotenv({ strictPermissions: true }, project.context);
        const core = coreDriver(provider, project);
        await core.create("dev");
        const path = join(project.context.envDir("dev"), "secrets.env");
        await chmod(path, 0o604);
        const error = await expectProviderError(
          provider.read(core.env("dev"), project.op),
          provider,
          "E_PROVIDER",
        );
        expect(error.message).toContain("0604");
        expect(error.hint).toContain("chmod 600");
        expect(await modeOf(path)).toBe(0o604);
        await expectProviderError(core.fork("dev", "alice"), provider, "E_PROVIDER");
        expect(await core.describe("alice")).toBeNull();
      } finally {
        await project.cleanup();
      }
    });
  });

  it("optionsSchema rejects unknown keys", () => {
    expect(optionsSchema.safeParse({}).success).toBe(true);
    expect(optionsSchema.safeParse({ strictPermissions: true }).success).toBe(true);
    expect(optionsSchema.safeParse({ file: "x" }).success).toBe(false);
  });
});
