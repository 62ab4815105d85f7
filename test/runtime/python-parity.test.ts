/**
 * templates/python/forkstack_env.py against the TypeScript runtime library: the same projects (made
 * with the built CLI, then broken in the ways users break them), the same environment variables, the
 * same calls, one Node process and one Python process each, and the answers (values, or error code,
 * message and hint) must be identical. Every case also pins what the answer is, so both cannot be
 * wrong together. Debian's python3 when present (what CI installs), else the first on PATH.
 */
import { execFileSync } from "node:child_process";
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEFAULT_TOKEN, start, type DopplerEmulator } from "../emulators/doppler.js";
import { REPO, cli, removeProject, runProcess, tempProject } from "../helpers/project.js";

const MODULE_DIR = join(REPO, "templates/python");
const LIB = pathToFileURL(join(REPO, "dist/index.js")).href;

function findPython(): string | undefined {
  // FORKSTACK_TEST_PYTHON picks another interpreter (e.g. a 3.9, the oldest the module supports).
  const candidates = [process.env.FORKSTACK_TEST_PYTHON, "/usr/bin/python3", "python3"];
  for (const candidate of candidates.filter((c): c is string => !!c)) {
    try {
      const version = execFileSync(candidate, ["-c", "import sys; print(sys.version_info >= (3, 9))"]);
      if (version.toString().trim() === "True") return candidate;
    } catch {
      // not there, or too old: try the next
    }
  }
  return undefined;
}
const PYTHON = findPython();
// Nothing of Python's own lands in the checkout or the projects.
const PY_ENV = { PYTHONDONTWRITEBYTECODE: "1" };

/** One call of the library: the TypeScript name and its arguments (Python's name is derived). */
type Call = [string, ...string[]];
type Answer = { ok: unknown } | { error: { code: unknown; message: string; hint: unknown } };

const NODE_PROBE = `
const fs = await import(${JSON.stringify(LIB)});
// storageConfig() in boto3's words, as the Python module gives it.
const boto = (c) => ({ endpoint_url: c.endpoint, region_name: c.region, aws_access_key_id: c.credentials.accessKeyId, aws_secret_access_key: c.credentials.secretAccessKey });
const out = [];
const { writeFileSync } = await import("node:fs");
for (const [name, ...args] of JSON.parse(process.argv[2])) {
  // Two steps that are not library calls, to see what a long-running process sees.
  if (name === "setEnv") { process.env[args[0]] = args[1]; out.push({ ok: null }); continue; }
  if (name === "writeFile") { writeFileSync(args[0], args[1]); out.push({ ok: null }); continue; }
  try {
    const value = fs[name](...args);
    out.push({ ok: name === "storageConfig" ? boto(value) : value ?? null });
  } catch (e) {
    out.push({ error: { code: e.code ?? "not a ForkstackError: " + e, message: e.message, hint: e.hint ?? null } });
  }
}
console.log(JSON.stringify(out));
`;

const PYTHON_PROBE = `
import json, os, re, sys
sys.path.insert(0, ${JSON.stringify(MODULE_DIR)})
import forkstack_env as fe
out = []
for name, *args in json.loads(sys.argv[1]):
    if name in ("setEnv", "writeFile"):
        if name == "setEnv":
            os.environ[args[0]] = args[1]
        else:
            open(args[0], "w").write(args[1])
        out.append({"ok": None})
        continue
    snake = re.sub(r"[A-Z]", lambda m: "_" + m.group(0).lower(), name)
    try:
        out.append({"ok": getattr(fe, snake)(*args)})
    except fe.ForkstackError as e:
        out.append({"error": {"code": e.code, "message": e.message, "hint": e.hint}})
    except Exception as e:
        out.append({"error": {"code": "not a ForkstackError: " + repr(e), "message": str(e), "hint": None}})
print(json.dumps(out))
`;

/** What every case asks. */
const CALLS: Call[] = [
  ["currentEnv"],
  ["databaseUrl"],
  ["databaseAuthToken"],
  ["bucketName"],
  ["bucketName", "uploads"],
  ["storageConfig"],
  ["localPath"],
  ["localPath", "graph", "x.bin"],
  ["localPath", "../up/./x/"],
  ["secret", "STRIPE_KEY"],
  ["secret", "NOPE"],
  ["envVars"],
];

let probes: string;
beforeAll(async () => {
  probes = await mkdtemp(join(tmpdir(), "fs-probes-"));
  await writeFile(join(probes, "probe.mjs"), NODE_PROBE);
  await writeFile(join(probes, "probe.py"), PYTHON_PROBE);
});
afterAll(() => rm(probes, { recursive: true, force: true }));

async function run(command: string, script: string, cwd: string, env: Record<string, string>, calls: Call[]) {
  const result = await runProcess(command, [join(probes, script), JSON.stringify(calls)], {
    cwd,
    env: { ...PY_ENV, ...env },
  });
  if (result.code !== 0) throw new Error(`${command} ${script} exited ${result.code}: ${result.stderr}`);
  return JSON.parse(result.stdout) as Answer[];
}

/**
 * Ask both libraries the same calls in `cwd` with `env` on top of a clean environment; fail on the
 * first call they answer differently, and return the (common) answers in order.
 */
async function answersOf(cwd: string, env: Record<string, string>, calls: Call[]): Promise<Answer[]> {
  const [node, python] = await Promise.all([
    run(process.execPath, "probe.mjs", cwd, env, calls),
    run(PYTHON!, "probe.py", cwd, env, calls),
  ]);
  calls.forEach((call, i) => {
    expect(python[i], `${i}: ${call.join(" ")} with ${JSON.stringify(env)}`).toEqual(node[i]);
  });
  return node;
}

/** `answersOf`, keyed by the call ("secret STRIPE_KEY"). */
async function both(
  cwd: string,
  env: Record<string, string> = {},
  calls: Call[] = CALLS,
): Promise<Record<string, Answer>> {
  const answers = await answersOf(cwd, env, calls);
  return Object.fromEntries(calls.map((call, i) => [call.join(" "), answers[i]!]));
}

const code = (answer: Answer | undefined) => (answer && "error" in answer ? answer.error.code : undefined);

describe.skipIf(!PYTHON)(
  `python parity${PYTHON ? "" : " (skipped: no python3 >= 3.9 on this machine)"}`,
  () => {
    let cwd: string;
    let alice: Record<string, string>;
    const dbOf = (env: string) => `file:${join(cwd, `.forkstack/envs/${env}/db.sqlite`)}`;
    const SECRETS = {
      STRIPE_KEY: "sk_alice",
      QUOTED: "it's `odd` here", // stored in double quotes
      MULTILINE: "line one\nline two",
      HASHED: "with # a hash",
      SPACED: "  spaced  ",
      BACKSLASH_N: "a\\nb",
    };

    beforeAll(async () => {
      cwd = await tempProject(null, { suite: true });
      await cli(["init", "--yes", "--project", "shop"], { cwd });
      await cli(["new", "alice"], { cwd });
      await cli(["secrets", "set", ...Object.entries(SECRETS).map(([k, v]) => `${k}=${v}`)], { cwd });
      await mkdir(join(cwd, "src/deeper"), { recursive: true });
      alice = JSON.parse(await cli(["env", "alice", "--format", "json", "--reveal"], { cwd })) as Record<
        string,
        string
      >;
    });
    afterAll(async () => {
      await cli(["down"], { cwd }).catch(() => undefined);
      await removeProject(cwd);
    });

    it("the current env's values, from the project root and from a subdirectory", async () => {
      for (const dir of [cwd, join(cwd, "src/deeper")]) {
        const answers = await both(dir, {}, [
          ...CALLS,
          ...Object.keys(SECRETS).map((k): Call => ["secret", k]),
        ]);
        expect(answers["currentEnv"]).toEqual({ ok: "alice" });
        expect(answers["databaseUrl"]).toEqual({ ok: dbOf("alice") });
        expect(answers["databaseAuthToken"]).toEqual({ ok: null });
        expect(answers["bucketName"]).toEqual({ ok: "shop-bucket-alice" });
        expect(code(answers["bucketName uploads"])).toBe("E_CONFIG_INVALID");
        expect(answers["storageConfig"]).toEqual({
          ok: {
            endpoint_url: alice.AWS_ENDPOINT_URL_S3,
            region_name: "auto",
            aws_access_key_id: alice.AWS_ACCESS_KEY_ID,
            aws_secret_access_key: alice.AWS_SECRET_ACCESS_KEY,
          },
        });
        expect(answers["localPath graph x.bin"]).toEqual({ ok: join(cwd, "shop.alice.db/graph/x.bin") });
        expect(answers["localPath ../up/./x/"]).toEqual({ ok: join(cwd, "up/x/") });
        for (const [key, value] of Object.entries(SECRETS))
          expect(answers[`secret ${key}`]).toEqual({ ok: value });
        expect(answers["secret NOPE"]).toEqual({ ok: null });
        expect(answers["envVars"]).toEqual({ ok: alice });
      }
    });

    it("FORKSTACK_ENV, then ENV and its aliases, win over .current-env; a switch moves both", async () => {
      const cases: [Record<string, string>, string][] = [
        [{ FORKSTACK_ENV: "dev" }, "dev"],
        [{ ENV: "development" }, "dev"],
        [{ ENV: "production" }, "prod"],
        [{ ENV: "staging", FORKSTACK_ENV: "alice" }, "alice"],
        [{ ENV: "constructor" }, "constructor"], // a name, not a property of JavaScript objects
        [{ FORKSTACK_ENV: "", ENV: "dev" }, "dev"], // empty counts as unset
      ];
      for (const [env, expected] of cases) {
        const answers = await both(cwd, env);
        expect(answers["currentEnv"]).toEqual({ ok: expected });
        if (expected === "dev") expect(answers["databaseUrl"]).toEqual({ ok: dbOf("dev") });
        else if (expected !== "alice") expect(code(answers["databaseUrl"])).toBe("E_ENV_NOT_FOUND");
      }
      await cli(["switch", "dev"], { cwd });
      try {
        expect((await both(cwd))["databaseUrl"]).toEqual({ ok: dbOf("dev") });
      } finally {
        await cli(["switch", "alice"], { cwd });
      }
    });

    it("refuses env names that break the rule, whatever names them, with the same message", async () => {
      for (const name of ["../x", "Alice", "a--b", "-a", "alice\n", "ü", "a".repeat(49), "a/../../etc"]) {
        for (const variable of ["FORKSTACK_ENV", "ENV"]) {
          const answers = await both(cwd, { [variable]: name }, [
            ["currentEnv"],
            ["databaseUrl"],
            ["secret", "X"],
          ]);
          for (const answer of Object.values(answers)) expect(code(answer)).toBe("E_INVALID_ENV_NAME");
        }
      }
      expect(await both(cwd, { FORKSTACK_ENV: "a".repeat(48) }, [["currentEnv"]])).toEqual({
        currentEnv: { ok: "a".repeat(48) },
      });
    });

    it("process.env wins (a deployed app); `forkstack run`'s own values lose to a worker's FORKSTACK_ENV", async () => {
      const deployed = await both(cwd, {
        DATABASE_URL: "libsql://prod.example",
        STRIPE_KEY: "sk_live",
        BUCKET_NAME: "",
      });
      expect(deployed["databaseUrl"]).toEqual({ ok: "libsql://prod.example" });
      expect(deployed["secret STRIPE_KEY"]).toEqual({ ok: "sk_live" });
      expect(code(deployed["bucketName"])).toBe("E_CONFIG_INVALID"); // set but empty: not a bucket

      // The environment `forkstack run` gives its command, exactly.
      const printed = await cli(
        ["run", "--", PYTHON!, "-c", "import json, os; print(json.dumps(dict(os.environ)))"],
        { cwd },
      );
      const runEnv = JSON.parse(printed) as Record<string, string>;
      expect(runEnv.FORKSTACK_RUN_ENV).toBe("alice");
      const names = [...runEnv.FORKSTACK_RUN_VARS!.split(","), "FORKSTACK_RUN_ENV", "FORKSTACK_RUN_VARS"];
      expect(names).toEqual(expect.arrayContaining(["DATABASE_URL", "STRIPE_KEY", "FORKSTACK_ENV"]));
      const injected = Object.fromEntries(names.map((n) => [n, runEnv[n]!]));

      const underRun = await both(cwd, { ...injected, DATABASE_URL: "file:/changed-by-the-app.db" });
      expect(underRun["databaseUrl"]).toEqual({ ok: "file:/changed-by-the-app.db" });
      expect(underRun["secret STRIPE_KEY"]).toEqual({ ok: "sk_alice" });

      // A test worker under `run` picking dev: dev's values, not the inherited alice ones; its own
      // variables (not injected by run) still win.
      const worker = await both(cwd, { ...injected, FORKSTACK_ENV: "dev", MY_OWN: "x" }, [
        ...CALLS,
        ["secret", "MY_OWN"],
      ]);
      expect(worker["currentEnv"]).toEqual({ ok: "dev" });
      expect(worker["databaseUrl"]).toEqual({ ok: dbOf("dev") });
      expect(worker["secret STRIPE_KEY"]).toEqual({ ok: null });
      expect(worker["secret MY_OWN"]).toEqual({ ok: "x" });
    });

    it("a Python app under `forkstack run` gets alice's values, as a Node app does, and writes alice's database", async () => {
      // As the template's README says: the module copied into the app, sqlite3 opening DATABASE_URL.
      await copyFile(join(MODULE_DIR, "forkstack_env.py"), join(cwd, "forkstack_env.py"));
      await writeFile(
        join(cwd, "app.py"),
        [
          "import json, sqlite3",
          "from forkstack_env import current_env, database_url, bucket_name, local_path, secret",
          "db = sqlite3.connect(database_url(), uri=True)",
          "db.execute('create table if not exists visits (at text)')",
          "db.execute(\"insert into visits values (datetime('now'))\")",
          "db.commit()",
          "visits = db.execute('select count(*) from visits').fetchone()[0]",
          'print(json.dumps([current_env(), database_url(), bucket_name(), local_path("kv"), secret("STRIPE_KEY"), visits]))',
        ].join("\n"),
      );
      await writeFile(
        join(cwd, "app.mjs"),
        `import { currentEnv, databaseUrl, bucketName, localPath, secret } from ${JSON.stringify(LIB)};\n` +
          'console.log(JSON.stringify([currentEnv(), databaseUrl(), bucketName(), localPath("kv"), secret("STRIPE_KEY")]));\n',
      );
      const python = async (args: string[] = []) =>
        JSON.parse(await cli(["run", ...args, "--", PYTHON!, "app.py"], { cwd, env: PY_ENV })) as unknown[];
      try {
        const first = await python();
        expect(first).toEqual([
          "alice",
          dbOf("alice"),
          "shop-bucket-alice",
          join(cwd, "shop.alice.db/kv"),
          "sk_alice",
          1,
        ]);
        expect(JSON.parse(await cli(["run", "--", process.execPath, "app.mjs"], { cwd }))).toEqual(
          first.slice(0, 5),
        );
        expect((await python()).at(-1)).toBe(2);
        // `run --env dev` decides, whatever .current-env says; alice's visits never reached dev.
        const dev = await python(["--env", "dev"]);
        expect([dev[0], dev[1], dev.at(-1)]).toEqual(["dev", dbOf("dev"), 1]);
      } finally {
        for (const file of ["forkstack_env.py", "app.py", "app.mjs"])
          await rm(join(cwd, file), { force: true });
      }
    });

    it("without .current-env: the config's defaultEnv from the CLI's cache, never by running the config", async () => {
      const currentEnvFile = join(cwd, ".current-env");
      const projectJson = join(cwd, ".forkstack/project.json");
      const config = join(cwd, "forkstack.config.ts");
      const [savedCache, savedConfig] = await Promise.all([
        readFile(projectJson, "utf8"),
        readFile(config, "utf8"),
      ]);
      await rm(currentEnvFile);
      try {
        expect((await both(cwd, {}, [["currentEnv"]]))["currentEnv"]).toEqual({ ok: "dev" });
        await writeFile(
          config,
          savedConfig.replace('project: "shop",', 'project: "shop",\n  defaultEnv: "alice",'),
        );
        await cli(["list"], { cwd }); // any command that loads the config refreshes the cache
        expect(JSON.parse(await readFile(projectJson, "utf8"))).toMatchObject({ defaultEnv: "alice" });
        expect((await both(cwd, {}, [["currentEnv"], ["databaseUrl"]]))["databaseUrl"]).toEqual({
          ok: dbOf("alice"),
        });
        // A cache that is missing or unreadable means the default default, dev; a bad name is refused.
        const variants: [string | null, string][] = [
          [null, "dev"],
          ["{not json", "dev"],
          ["null", "dev"],
          ['{"defaultEnv": ""}', "dev"],
          ['{"defaultEnv": "Prod"}', "E_INVALID_ENV_NAME"],
        ];
        for (const [text, expected] of variants) {
          if (text === null) await rm(projectJson);
          else await writeFile(projectJson, text);
          const answer = (await both(cwd, {}, [["currentEnv"]]))["currentEnv"]!;
          expect("ok" in answer ? answer.ok : answer.error.code).toBe(expected);
        }
      } finally {
        await writeFile(config, savedConfig);
        await writeFile(projectJson, savedCache);
        await writeFile(currentEnvFile, "alice\n");
      }
    });

    it("reads .current-env as JavaScript trims it, and reports garbage in it as E_STATE_CORRUPT", async () => {
      const file = join(cwd, ".current-env");
      const cases: [string, unknown][] = [
        ["  alice \r\n", "alice"],
        ["\ufeffalice\n", "alice"], // a BOM some editors add: JavaScript's trim() takes it
        ["\u00a0alice\u2003", "alice"],
        ["\x1calice", "E_STATE_CORRUPT"], // Python's strip() would take this one, JavaScript's not
        ["", "E_STATE_CORRUPT"],
        ["../../etc/passwd\n", "E_STATE_CORRUPT"],
        ["alice\ndev\n", "E_STATE_CORRUPT"],
        ['"quoted"\t\x1b[0m', "E_STATE_CORRUPT"],
      ];
      try {
        for (const [text, expected] of cases) {
          await writeFile(file, text);
          const answers = await both(cwd, {}, [["currentEnv"], ["secret", "STRIPE_KEY"]]);
          if (expected === "alice") expect(answers["currentEnv"]).toEqual({ ok: "alice" });
          else {
            expect(code(answers["currentEnv"])).toBe(expected);
            expect(code(answers["secret STRIPE_KEY"])).toBe(expected);
          }
        }
      } finally {
        await writeFile(file, "alice\n");
      }
    });

    it("a missing, broken or half-made manifest", async () => {
      await cli(["new", "carol", "--no-switch"], { cwd });
      const path = join(cwd, ".forkstack/envs/carol/manifest.json");
      const saved = await readFile(path, "utf8");
      const manifest = JSON.parse(saved) as Record<string, unknown>;
      const cases: [string | null, string | undefined][] = [
        [JSON.stringify({ ...manifest, status: "creating" }), "E_ENV_BROKEN"],
        [JSON.stringify({ ...manifest, status: "broken" }), "E_ENV_BROKEN"],
        [saved.slice(0, saved.length / 2), "E_STATE_CORRUPT"],
        ["null", "E_STATE_CORRUPT"],
        ["[1, 2]", "E_STATE_CORRUPT"],
        [saved.replace('"status"', '"bytes": NaN, "status"'), "E_STATE_CORRUPT"],
        [null, "E_ENV_NOT_FOUND"],
        [saved, undefined],
      ];
      try {
        for (const [text, expected] of cases) {
          if (text === null) await rm(path);
          else await writeFile(path, text);
          const answers = await both(cwd, { FORKSTACK_ENV: "carol" }, [
            ["currentEnv"],
            ["databaseUrl"],
            ["secret", "STRIPE_KEY"],
            ["envVars"],
          ]);
          expect(answers["currentEnv"]).toEqual({ ok: "carol" });
          for (const call of ["databaseUrl", "secret STRIPE_KEY", "envVars"])
            expect(code(answers[call])).toBe(expected);
        }
      } finally {
        await writeFile(path, saved);
      }
    });

    it("no project: errors where a value is required, undefined for optional ones, FORKSTACK_ROOT points at one", async () => {
      const outside = await tempProject(null);
      const none = await both(outside);
      expect(code(none["currentEnv"])).toBe("E_CONFIG_NOT_FOUND");
      expect(code(none["databaseUrl"])).toBe("E_CONFIG_NOT_FOUND");
      expect(none["secret STRIPE_KEY"]).toEqual({ ok: null });
      expect(none["databaseAuthToken"]).toEqual({ ok: null });
      // A deployed app: the platform's variables alone.
      const deployed = await both(outside, {
        FORKSTACK_ENV: "prod",
        DATABASE_URL: "libsql://x",
        STRIPE_KEY: "k",
      });
      expect(deployed["databaseUrl"]).toEqual({ ok: "libsql://x" });
      expect(deployed["secret STRIPE_KEY"]).toEqual({ ok: "k" });
      expect(code(deployed["bucketName"])).toBe("E_CONFIG_NOT_FOUND");
      const rooted = await both(outside, { FORKSTACK_ROOT: cwd });
      expect(rooted["databaseUrl"]).toEqual({ ok: dbOf("alice") });
    });

    it("a long-running process: files are read once (until refresh()), variables on every call", async () => {
      const secrets = join(cwd, ".forkstack/envs/alice/secrets.env");
      const saved = await readFile(secrets, "utf8");
      const steps: Call[] = [
        ["secret", "STRIPE_KEY"],
        ["writeFile", secrets, "STRIPE_KEY='rotated'\n"],
        ["writeFile", join(cwd, ".current-env"), "dev\n"],
        ["secret", "STRIPE_KEY"],
        ["currentEnv"],
        ["setEnv", "FORKSTACK_ENV", "dev"],
        ["currentEnv"],
        ["setEnv", "FORKSTACK_ENV", ""],
        ["refresh"],
        ["currentEnv"],
        ["writeFile", join(cwd, ".current-env"), "alice\n"],
        ["refresh"],
        ["secret", "STRIPE_KEY"],
      ];
      const restore = () =>
        Promise.all([
          writeFile(secrets, saved, { mode: 0o600 }),
          writeFile(join(cwd, ".current-env"), "alice\n"),
        ]);
      // One after the other, from the same files: the steps write them.
      const node = await run(process.execPath, "probe.mjs", cwd, {}, steps).finally(restore);
      const python = await run(PYTHON!, "probe.py", cwd, {}, steps).finally(restore);
      expect(python).toEqual(node);
      expect(node.map((a) => ("ok" in a ? a.ok : a.error.code))).toEqual([
        "sk_alice",
        null,
        null,
        "sk_alice", // the file changed, the process still has what it read
        "alice",
        null,
        "dev", // a variable set in the process counts at once
        null,
        null,
        "dev", // after refresh(): .current-env as it is now
        null,
        null,
        "rotated",
      ]);
    });

    it("reads a hand-written secrets file as Node's parseEnv does", async () => {
      const file = join(cwd, ".forkstack/envs/alice/secrets.env");
      const saved = await readFile(file, "utf8");
      const text = [
        "# a comment",
        "export EXPORTED=yes",
        "PLAIN = plain value # a comment",
        'DOUBLE="one\\ntwo"',
        "SINGLE='one\\ntwo'",
        'BACKTICK=`it\'s "both"`',
        'MULTI="first',
        'second"',
        "EMPTY=",
        "CRLF=windows\r",
        "   =spaces only",
        "OPEN='no closing quote",
        "LAST=last",
      ].join("\n");
      const keys = [
        "EXPORTED",
        "PLAIN",
        "DOUBLE",
        "SINGLE",
        "BACKTICK",
        "OPEN",
        "EMPTY",
        "CRLF",
        "MULTI",
        "LAST",
      ];
      try {
        await writeFile(file, text, { mode: 0o600 });
        const answers = await both(
          cwd,
          {},
          keys.map((k): Call => ["secret", k]),
        );
        expect(
          Object.fromEntries(keys.map((k) => [k, (answers[`secret ${k}`] as { ok: unknown }).ok])),
        ).toEqual({
          EXPORTED: "yes",
          PLAIN: "plain value",
          DOUBLE: "one\ntwo",
          SINGLE: "one\\ntwo",
          BACKTICK: 'it\'s "both"',
          OPEN: "'no closing quote",
          EMPTY: "",
          CRLF: "windows",
          MULTI: "first\nsecond",
          LAST: "last",
        });
      } finally {
        await writeFile(file, saved, { mode: 0o600 });
      }
    });

    it("the dotenv parser matches Node's util.parseEnv on 3000 generated files", async () => {
      // Seeded, so a failure reproduces; the pieces are what the parser cares about.
      const pieces = ["A", "B", "=", "'", '"', "`", "#", "\n", "\r", " ", "\\n", "export ", "x", "\t"];
      let seed = 12345;
      const random = (n: number) => (
        (seed = (seed * 1103515245 + 12345) % 2 ** 31),
        Math.floor(seed / 65536) % n
      );
      const texts = Array.from({ length: 3000 }, () =>
        Array.from({ length: random(30) }, () => pieces[random(pieces.length)]).join(""),
      );
      await writeFile(join(probes, "texts.json"), JSON.stringify(texts));
      const node = await runProcess(
        process.execPath,
        [
          "-e",
          `const t = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")); console.log(JSON.stringify(t.map((s) => require("util").parseEnv(s))))`,
          join(probes, "texts.json"),
        ],
        { cwd: probes },
      );
      const python = await runProcess(
        PYTHON!,
        [
          "-c",
          `import json, sys; sys.path.insert(0, ${JSON.stringify(MODULE_DIR)}); import forkstack_env as fe; print(json.dumps([fe._parse_env(t) for t in json.load(open(sys.argv[1]))]))`,
          join(probes, "texts.json"),
        ],
        { cwd: probes, env: PY_ENV },
      );
      expect(node.code, node.stderr).toBe(0);
      expect(python.code, python.stderr).toBe(0);
      const fromNode = JSON.parse(node.stdout) as Record<string, string>[];
      const fromPython = JSON.parse(python.stdout) as Record<string, string>[];
      // A key of spaces alone makes Node 20 read the byte before it (undefined behaviour; its key comes
      // out as "\n"): the Python module drops that line, so the "\n" key is left out of the comparison.
      const tidy = (o: Record<string, string>) => {
        const { "\n": _, ...rest } = o;
        return rest;
      };
      expect(fromPython.map(tidy)).toEqual(fromNode.map(tidy));
      // Most of them do define something, so this compares values, not empty objects.
      expect(fromNode.filter((o) => Object.keys(tidy(o)).length > 0).length).toBeGreaterThan(1000);
    });
  },
);

describe.skipIf(!PYTHON)(`python parity: Doppler secrets${PYTHON ? "" : " (skipped: no python3)"}`, () => {
  let emulator: DopplerEmulator;
  let cwd: string;
  beforeAll(async () => {
    emulator = await start();
    cwd = await tempProject(
      { project: "myapp", database: false, local: false, secrets: { provider: "doppler", project: "acme" } },
      { suite: true },
    );
    const env = {
      FORKSTACK_DOPPLER_API_URL: emulator.variables.FORKSTACK_DOPPLER_API_URL!,
      DOPPLER_TOKEN: DEFAULT_TOKEN,
    };
    await cli(["new", "alice"], { cwd, env });
  }, 60_000);
  afterAll(async () => {
    await removeProject(cwd);
    await emulator?.close();
  });

  it("both read the values the CLI cached, without a Doppler credential", async () => {
    const calls: Call[] = [
      ["currentEnv"],
      ["secret", "STRIPE_KEY"],
      ["secret", "LOG_LEVEL"],
      ["databaseUrl"],
      ["envVars"],
    ];
    const answers = await both(cwd, {}, calls);
    expect(answers["secret STRIPE_KEY"]).toEqual({ ok: "sk_test_dev" });
    expect(answers["secret LOG_LEVEL"]).toEqual({ ok: "debug" });
    expect(code(answers["databaseUrl"])).toBe("E_CONFIG_INVALID");
    await rm(join(cwd, ".forkstack/envs/alice/secrets.cache.env"));
    expect((await both(cwd, {}, calls))["secret STRIPE_KEY"]).toEqual({ ok: null });
    expect(emulator.violations).toEqual([]);
  });
});

describe("python module: shipped", () => {
  it("is in the npm package, so an app copies the version that matches its CLI", () => {
    const packed = JSON.parse(
      // --ignore-scripts: prepack would rebuild dist/ under the tests running beside this one.
      execFileSync("npm", ["pack", "--dry-run", "--json", "--ignore-scripts"], {
        cwd: REPO,
        stdio: ["ignore", "pipe", "ignore"],
      }).toString(),
    ) as { files: { path: string }[] }[];
    const paths = packed[0]!.files.map((f) => f.path);
    expect(paths).toEqual(
      expect.arrayContaining(["templates/python/forkstack_env.py", "templates/python/README.md"]),
    );
    expect(paths.filter((p) => p.startsWith("templates/"))).toHaveLength(2);
  });
});
