/**
 * Every command and flag the CLI defines, fed random, huge, unicode and over-long arguments: the answer
 * is a result (exit 0) or one error line and a hint (exit 1 or 2), never "Unexpected error" or a stack
 * trace, and a refused command leaves the project as it was. The list of commands and flags comes from
 * the CLI's own table (`commandDefinitions`), so a new flag is fuzzed without touching this file.
 *
 * In-process against the built CLI (`dist/cli/main.js`, what `bin/forkstack.mjs` runs) with a captured
 * stdout/stderr, so a few hundred runs take seconds; the seed is fixed and printed.
 */
import { createHash } from "node:crypto";
import { readFile, readdir, stat } from "node:fs/promises";
import { join, relative } from "node:path";
import { Readable, Writable } from "node:stream";
import fc from "fast-check";
import Database from "libsql";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { REPO, cli, removeProject, runCli, tempProject } from "../helpers/project.js";

// Fixed, so a run is repeatable; FUZZ_SEED / FUZZ_RUNS explore further by hand.
const SEED = Number(process.env.FUZZ_SEED ?? 4242);
const RUNS = Number(process.env.FUZZ_RUNS ?? 16);

interface OptionDef {
  readonly type: "boolean" | "string";
  readonly short?: string;
}
interface CommandDef {
  readonly options: Record<string, OptionDef>;
  readonly positionals: readonly string[];
  readonly passthrough?: boolean;
}
interface Io {
  stdout: Writable;
  stderr: Writable;
  color: boolean;
  live: boolean;
  out(text: string): void;
  err(text: string): void;
  paint(style: string, text: string): string;
}
interface Cli {
  main(argv: string[], options: { cwd: string; io: Io; stdin: NodeJS.ReadableStream }): Promise<number>;
  commandDefinitions(): Promise<Record<string, CommandDef>>;
  GLOBAL_OPTIONS: Record<string, OptionDef>;
}

const built = (await import(join(REPO, "dist/cli/main.js"))) as Cli;

/** A stdout/stderr pair that keeps what is written. */
function captureIo(): Io & { text(): { stdout: string; stderr: string } } {
  const chunks = { stdout: "", stderr: "" };
  const sink = (key: keyof typeof chunks) =>
    new Writable({
      write(chunk: Buffer | string, _encoding, done) {
        chunks[key] += chunk.toString();
        done();
      },
    });
  const stdout = sink("stdout");
  const stderr = sink("stderr");
  return {
    stdout,
    stderr,
    color: false,
    live: false,
    out: (t) => void stdout.write(t.endsWith("\n") ? t : `${t}\n`),
    err: (t) => void stderr.write(t.endsWith("\n") ? t : `${t}\n`),
    paint: (_style, t) => t,
    text: () => ({ ...chunks }),
  };
}

/** Arguments people (and scripts gone wrong) pass: names, durations, times, huge numbers, unicode. */
const SPECIAL = [
  "",
  " ",
  "dev",
  "alice",
  "prod",
  "ghost",
  "a".repeat(300),
  "b".repeat(64),
  "pr-".repeat(30) + "x",
  "../../etc",
  "./x",
  "/",
  "-",
  "-x",
  "1h",
  "0s",
  "-1h",
  "1.5h",
  "99999999999999d",
  "9".repeat(400) + "w",
  "1e309h",
  "NaN",
  "Infinity",
  "2026-11-30T10:00Z",
  "9999-12-31T23:59Z",
  "+275760-09-13T00:00:00Z",
  "1970-01-01 00:00Z",
  "dotenv",
  "json",
  "shell",
  "serve",
  "set",
  "unset",
  "K=V",
  "K",
  "A-B=1",
  "=",
  "é",
  "🔑",
  "\n",
  "%s%n",
  "$(id)",
  "embedded",
  "postgres-local",
];
/** Values past every limit: huge numbers with units, names far over 48 characters, long unicode. */
const extreme = fc.oneof(
  {
    weight: 2,
    arbitrary: fc
      .tuple(fc.bigInt({ min: 10n ** 6n, max: 10n ** 40n }), fc.constantFrom("s", "m", "h", "d", "w"))
      .map(([n, unit]) => `${n}${unit}`),
  },
  { weight: 2, arbitrary: fc.integer({ min: 49, max: 400 }).map((n) => "a".repeat(n)) },
  { weight: 1, arbitrary: fc.stringMatching(/^[a-z][a-z0-9-]{48,299}$/) },
  { weight: 1, arbitrary: fc.string({ unit: "grapheme", minLength: 60, maxLength: 200 }) },
);
const argText = fc
  .oneof(
    { weight: 3, arbitrary: fc.constantFrom(...SPECIAL) },
    { weight: 4, arbitrary: extreme },
    { weight: 2, arbitrary: fc.stringMatching(/^[a-z][a-z0-9]{0,12}$/) },
    { weight: 1, arbitrary: fc.string({ maxLength: 30 }) },
    { weight: 1, arbitrary: fc.string({ unit: "grapheme", maxLength: 30 }) },
    { weight: 1, arbitrary: fc.double().map(String) },
  )
  // No process can be given an argument holding a NUL (execve's strings end there).
  .filter((s) => !s.includes("\0"));

/** A name that may pass the rules: most runs then reach past the name check, into the command. */
const plausibleName = fc.oneof(
  fc.stringMatching(/^[a-z][a-z0-9]{0,12}$/),
  fc.constantFrom("dev", "alice", "prod", "K=V", "serve", "set"),
);

/**
 * argv for one command. With a `focus` flag: that flag (a random value, or misused), at most one other
 * flag, and as many positionals as the command takes, mostly names that pass the rule, so that runs
 * reach deep into the command. Without: any number of positionals, up to two flags, now and then
 * `--help` or an unknown flag.
 */
function argvFor(name: string, def: CommandDef, focus?: string): fc.Arbitrary<string[]> {
  const options = { ...built.GLOBAL_OPTIONS, ...def.options };
  const given = (flag: string): fc.Arbitrary<string[]> => {
    const o = options[flag]!;
    if (o.type === "boolean") {
      return fc.oneof(
        { weight: 4, arbitrary: fc.constant<string[]>([o.short ? `-${o.short}` : `--${flag}`]) },
        { weight: 1, arbitrary: argText.map((v) => [`--${flag}=${v}`]) },
      );
    }
    return fc.oneof(
      { weight: 3, arbitrary: argText.map((v) => [`--${flag}`, v]) },
      { weight: 2, arbitrary: argText.map((v) => [`--${flag}=${v}`]) },
      { weight: 1, arbitrary: fc.constant<string[]>([`--${flag}`]) },
    );
  };
  const others = Object.keys(options).filter((f) => f !== "help" && f !== focus);
  const flags = fc
    .shuffledSubarray(others, { maxLength: Math.min(focus ? 1 : 2, others.length) })
    .chain((chosen) => fc.tuple(...[...(focus ? [focus] : []), ...chosen].map(given)));
  const count = def.positionals.length;
  const positional = fc.oneof({ weight: 3, arbitrary: plausibleName }, { weight: 1, arbitrary: argText });
  const positionals = focus
    ? fc.array(positional, { minLength: count, maxLength: count })
    : fc.array(positional, { maxLength: count + 1 });
  // --help answers before anything else, an unknown flag is refused first: only without a focus.
  const junk = focus
    ? fc.constant<string[]>([])
    : fc.oneof(
        { weight: 8, arbitrary: fc.constant<string[]>([]) },
        { weight: 1, arbitrary: fc.constant(["--help"]) },
        { weight: 1, arbitrary: fc.constantFrom(["--bogus"], ["-Z"], ["--jsn"], ["--from-env"]) },
      );
  // `run`'s command: a harmless one, a missing one, or none at all — never a random program.
  const passthrough = def.passthrough
    ? fc.constantFrom([], ["--"], ["--", process.execPath, "-e", "0"], ["--", "./fuzz-no-such-command"])
    : fc.constant([] as string[]);
  return fc.tuple(positionals, flags, junk, passthrough).chain(([pos, chosen, extra, rest]) => {
    const parts = [...pos.map((p) => [p]), ...chosen, ...(extra.length ? [extra] : [])];
    return fc
      .shuffledSubarray(parts, { minLength: parts.length })
      .map((shuffled) => [name, ...shuffled.flat(), ...rest]);
  });
}

/** What a refused command must not change: every file's bytes and mode, and the journal's rows. */
async function snapshot(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const walk = async (at: string): Promise<void> => {
    for (const entry of await readdir(at, { withFileTypes: true })) {
      const path = join(at, entry.name);
      const rel = relative(dir, path);
      // The storage server's own files change while it runs, whatever the CLI does; SQLite files are
      // compared by their rows below (a read may checkpoint the WAL).
      if (rel.startsWith(".forkstack/storage") || rel.startsWith(".forkstack/cache")) continue;
      if (/\.(db|sqlite)(-wal|-shm|-journal)?$/.test(entry.name) && rel.startsWith(".forkstack/state"))
        continue;
      if (entry.isDirectory()) {
        out[`${rel}/`] = "dir";
        await walk(path);
      } else {
        const mode = ((await stat(path)).mode & 0o777).toString(8);
        out[rel] = `${mode} ${createHash("sha1")
          .update(await readFile(path))
          .digest("hex")}`;
      }
    }
  };
  await walk(dir);
  const db = new Database(join(dir, ".forkstack/state.db"), { readonly: true });
  try {
    for (const table of ["locks", "journal", "steps"]) {
      out[`state.db:${table}`] = JSON.stringify(db.prepare(`SELECT * FROM ${table} ORDER BY 1, 2`).all());
    }
  } finally {
    db.close();
  }
  return out;
}

describe("cli: fuzzing every command and flag", () => {
  let cwd: string;
  beforeAll(async () => {
    cwd = await tempProject(
      {
        project: "fuzz",
        database: { provider: "sqlite" },
        storage: { provider: "local" },
        secrets: { provider: "dotenv" },
        local: { provider: "directory" },
      },
      { suite: true },
    );
    await cli(["new", "alice", "--no-switch"], { cwd });
  });
  afterAll(async () => {
    await runCli(["down"], { cwd });
    await removeProject(cwd);
  });

  it(`never crashes, answers one error line and a hint, and changes nothing when it refuses (seed ${SEED})`, async () => {
    const defs = await built.commandDefinitions();
    expect(Object.keys(defs)).toEqual(
      expect.arrayContaining(["new", "list", "env", "secrets", "run", "doctor"]),
    );
    // Every command on its own, then with each of its flags in turn (a new flag is in the table, so here).
    const targets = Object.entries(defs).flatMap(([name, def]) => [
      { name, def, focus: undefined as string | undefined },
      ...Object.keys(def.options).map((focus) => ({ name, def, focus })),
    ]);
    console.log(`fast-check seed ${SEED}: ${RUNS} runs for each of ${targets.length} commands and flags`);
    for (const { name, def, focus } of targets) {
      await fc.assert(
        fc.asyncProperty(argvFor(name, def, focus), async (argv) => {
          // `storage serve` accepted runs a server until Ctrl-C: the other `storage` input is fuzzed.
          fc.pre(!(name === "storage" && argv.includes("serve")));
          const before = await snapshot(cwd);
          const io = captureIo();
          // stdin as a pipe that is closed at once (`secrets set KEY` reads its value from it).
          const code = await built.main(argv, { cwd, io, stdin: Readable.from([]) });
          const { stdout, stderr } = io.text();
          if (process.env.FUZZ_LOG)
            (await import("node:fs")).appendFileSync(
              process.env.FUZZ_LOG,
              JSON.stringify({
                argv,
                code,
                err: io
                  .text()
                  .stderr.split("\n")
                  .find((l) => l.startsWith("✗")),
              }) + "\n",
            );
          const shown = `forkstack ${JSON.stringify(argv)} → ${code}\nstdout: ${stdout}\nstderr: ${stderr}`;
          expect(stderr, shown).not.toMatch(/Unexpected error|This is a bug/);
          // --verbose shows a stack on purpose; nothing else may.
          const verbose = argv.includes("--verbose") || argv.includes("-v");
          if (!verbose) expect(stderr, shown).not.toMatch(/^\s+at /m);
          // `run` answers like a shell when its command cannot start: 127 not found, 126 not executable.
          expect(name === "run" ? [0, 1, 2, 126, 127] : [0, 1, 2], shown).toContain(code);
          if (code === 0) return;
          // `doctor` exits 1 when a check it reports (on stdout) failed: a finding, not a refusal.
          if (name === "doctor" && !stderr.includes("✗ ") && /^✗ /m.test(stdout)) return;
          const errors = stderr.split("\n").filter((l) => l.startsWith("✗ "));
          expect(errors, shown).toHaveLength(1);
          const after = stderr.slice(stderr.indexOf(errors[0]!) + errors[0]!.length + 1).split("\n");
          expect(after[0], `a hint after the error: ${shown}`).toMatch(/^ {2}\S/);
          if (!verbose) expect(after.slice(1).join("").trim(), shown).toBe("");
          if (argv.includes("--json") && !argv.includes("--help")) {
            const json = JSON.parse(stdout.slice(stdout.lastIndexOf('{"error"'))) as {
              error: { hint: string };
            };
            expect(json.error.hint, shown).toEqual(expect.any(String));
          }
          expect(await snapshot(cwd), shown).toEqual(before);
        }),
        { seed: SEED, numRuns: RUNS, endOnFailure: true },
      );
    }
  });
});

describe("cli: what the fuzzing found, as a user meets it", () => {
  const long = "a".repeat(300);

  it("a ttl past the longest duration is a usage error that says the maximum, and nothing is made", async () => {
    const cwd = await tempProject();
    await cli(["list"], { cwd });
    for (const ttl of ["99999999999999d", `${"9".repeat(30)}w`, "36501d"]) {
      const result = await runCli(["new", "x", "--ttl", ttl], { cwd });
      expect(result.code, result.stderr).toBe(2);
      expect(result.stderr).toMatch(/is too long: the most is 36500d/);
      expect(result.stderr).not.toMatch(/Unexpected error|This is a bug/);
    }
    expect((await runCli(["new", "x", "--ttl", "36500d", "--no-switch"], { cwd })).code).toBe(0);
  });

  it("an over-long env name in any position gets the name rule's error, not ENAMETOOLONG", async () => {
    const cwd = await tempProject();
    await cli(["list"], { cwd });
    const before = await snapshot(cwd);
    const cases: Array<{ args: string[]; env?: Record<string, string> }> = [
      { args: ["new", "x", "--from", long] },
      { args: ["new", long] },
      { args: ["switch", long] },
      { args: ["delete", long, "--yes"] },
      { args: ["reset", long] },
      { args: ["env", long] },
      { args: ["env", "--env", long] },
      { args: ["run", "--env", long, "--", process.execPath, "-e", "0"] },
      { args: ["secrets", "set", "A=1", "--env", long] },
      { args: ["env"], env: { FORKSTACK_ENV: long } },
    ];
    for (const { args, env } of cases) {
      const result = await runCli(args, { cwd, ...(env ? { env } : {}) });
      const shown = `${args.join(" ").slice(0, 80)}: ${result.stderr}`;
      expect(result.code, shown).toBe(1);
      // The name rule's error: from the name check, or from the resolver (--env, FORKSTACK_ENV).
      expect(result.stderr, shown).toMatch(
        /Invalid env name "a{300}": it is 300 characters long|is not a valid env name/,
      );
      expect(result.stderr, shown).toMatch(/at most 48 characters/);
      expect(result.stderr, shown).not.toMatch(/ENAMETOOLONG|Unexpected error/);
    }
    expect(await snapshot(cwd)).toEqual(before);
  });

  it("an error stays one line and a hint, whatever the argument holds", async () => {
    const cwd = await tempProject();
    const ambiguous = await runCli(["new", "x", "--from", "-x"], { cwd });
    expect(ambiguous.code).toBe(2);
    expect(ambiguous.stderr.trimEnd().split("\n")).toEqual([
      "✗ Option '--from' argument is ambiguous.",
      expect.stringMatching(/^ {2}Did you forget .* use '--from=-XYZ'\.$/),
    ]);
    const newline = await runCli(["env", "--env=\nFORGED", "dev"], { cwd });
    expect(newline.code).toBe(2);
    expect(newline.stderr.trimEnd().split("\n")).toEqual([
      '✗ Two envs given: "dev" and --env "\\nFORGED".',
      expect.stringMatching(/^ {2}Name the env once/),
    ]);
  });
});
