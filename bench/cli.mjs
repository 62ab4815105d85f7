// Benchmark of the CLI and the runtime library as users meet them:
// - everyday commands (`current`, `--help`, `new` with the storage server warm and cold, `list` of 20
//   envs) on a project with every embedded provider, each as a ratio to `node -e 0` measured in the same
//   rounds (interleaved, so a busy machine slows both alike), against the targets of issue 7 §6;
// - wall time of `forkstack new` and `forkstack current` as whole processes (median of N), and the
//   peak memory (max RSS) of `forkstack new` against a small and a large database;
// - the cost per call of `currentEnv()` and `databaseUrl()` after the first call.
// Run standalone with `node bench/cli.mjs` or through `npm run bench`.
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import Database from "libsql";

const ROOT = resolve(import.meta.dirname, "..");
const BIN = join(ROOT, "bin/forkstack.mjs");
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

function cliOnce(cwd, args) {
  // GNU time reports the child's peak RSS; the wall time is ours, around the whole process.
  const started = performance.now();
  const r = spawnSync("/usr/bin/time", ["-f", "%M", process.execPath, BIN, ...args], {
    cwd,
    encoding: "utf8",
    env: { ...process.env, CI: "1" },
  });
  const ms = performance.now() - started;
  if (r.status !== 0) throw new Error(`forkstack ${args.join(" ")}: ${r.stderr}`);
  return { ms, maxRssKb: Number(r.stderr.trim().split("\n").pop()) };
}

function project(base, mb) {
  const dir = mkdtempSync(join(base, "forkstack-bench-cli-"));
  writeFileSync(join(dir, "package.json"), JSON.stringify({ name: "bench", private: true }));
  execFileSync(process.execPath, [BIN, "init", "--yes"], {
    cwd: dir,
    stdio: "ignore",
    env: { ...process.env, CI: "1" },
  });
  if (mb) {
    const url = JSON.parse(
      execFileSync(process.execPath, [BIN, "env", "dev", "--format", "json"], { cwd: dir, encoding: "utf8" }),
    ).DATABASE_URL;
    const db = new Database(new URL(url).pathname);
    db.exec("CREATE TABLE blobs (id INTEGER PRIMARY KEY, b BLOB)");
    const rows = Math.round((mb * 1024 * 1024) / 4200);
    db.exec(
      `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ${rows}) INSERT INTO blobs (b) SELECT randomblob(4096) FROM n`,
    );
    db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
    db.close();
  }
  return dir;
}

/** Wall time and peak memory of whole `forkstack` processes in a project under `base`. */
export function measureCli(base, { runs = 7, bigMb = 1024 } = {}) {
  const rows = [];
  const small = project(base, 10);
  try {
    cliOnce(small, ["list"]); // warm caches (the config's compiled form, the page cache)
    const news = Array.from({ length: runs }, (_, i) => cliOnce(small, ["new", `w${i}`, "--no-switch"]));
    const currents = Array.from({ length: runs * 3 }, () => cliOnce(small, ["current"]));
    rows.push({
      what: "`forkstack new` (10 MB db), whole process",
      ms: median(news.map((r) => r.ms)),
      maxRssMb: Math.max(...news.map((r) => r.maxRssKb)) / 1024,
    });
    rows.push({
      what: "`forkstack current`, whole process",
      ms: median(currents.map((r) => r.ms)),
      maxRssMb: Math.max(...currents.map((r) => r.maxRssKb)) / 1024,
    });
  } finally {
    rmSync(small, { recursive: true, force: true });
  }
  if (bigMb) {
    const big = project(base, bigMb);
    try {
      const r = cliOnce(big, ["new", "big", "--no-switch"]);
      rows.push({
        what: `\`forkstack new\` (${bigMb} MB db), whole process`,
        ms: r.ms,
        maxRssMb: r.maxRssKb / 1024,
      });
    } finally {
      rmSync(big, { recursive: true, force: true });
    }
  }
  return rows;
}

/** A whole process, wall time only (no /usr/bin/time in between: ratios to `node -e 0` must be fair). */
function wall(cwd, args) {
  const started = performance.now();
  const r = spawnSync(process.execPath, args, { cwd, encoding: "utf8", env: { ...process.env, CI: "1" } });
  const ms = performance.now() - started;
  if (r.status !== 0) throw new Error(`${args.join(" ")}: ${r.stderr}`);
  return ms;
}

/**
 * Everyday commands against `node -e 0`, interleaved round by round. Two projects with the embedded
 * providers (SQLite, the local object store, dotenv, a state directory): one holds 20 envs for `list`,
 * the other takes the `new`s. "Cold" stops the project's storage server before the run (untimed), so
 * that `new` starts it; the warm `new` right after finds it running.
 */
export function measureEveryday(base, { runs = 9, envs = 20 } = {}) {
  const listed = project(base, 0);
  const forked = project(base, 0);
  try {
    for (let i = 1; i < envs; i++)
      execFileSync(process.execPath, [BIN, "new", `e${i}`, "--no-switch"], {
        cwd: listed,
        stdio: "ignore",
        env: { ...process.env, CI: "1" },
      });
    let n = 0;
    const cases = [
      { what: "`node -e 0` (baseline)", run: () => wall(listed, ["-e", "0"]) },
      { what: "`forkstack --help`", run: () => wall(listed, [BIN, "--help"]) },
      { what: "`forkstack current`", target: 1.3, run: () => wall(listed, [BIN, "current"]) },
      { what: `\`forkstack list\`, ${envs} envs`, target: 2.0, run: () => wall(listed, [BIN, "list"]) },
      {
        what: "`forkstack new`, storage server cold",
        target: 4.0,
        run: () => {
          execFileSync(process.execPath, [BIN, "down"], { cwd: forked, stdio: "ignore" });
          return wall(forked, [BIN, "new", `c${n++}`, "--no-switch"]);
        },
      },
      {
        what: "`forkstack new`, storage server warm",
        target: 2.0,
        run: () => wall(forked, [BIN, "new", `w${n++}`, "--no-switch"]),
      },
    ];
    for (const c of cases) c.run(); // warm the page cache and the compiled and validated config
    const times = cases.map(() => []);
    for (let round = 0; round < runs; round++) cases.forEach((c, i) => times[i].push(c.run()));
    const baseline = median(times[0]);
    return cases.map((c, i) => {
      const ms = median(times[i]);
      const ratio = ms / baseline;
      return {
        what: c.what,
        ms,
        ratio,
        target: c.target,
        met: c.target === undefined ? undefined : ratio <= c.target,
      };
    });
  } finally {
    for (const dir of [listed, forked]) {
      spawnSync(process.execPath, [BIN, "down"], { cwd: dir, stdio: "ignore" });
      rmSync(dir, { recursive: true, force: true });
    }
  }
}

/** ns per call of the runtime library's hot functions, after the first call. */
export async function measureRuntime(base) {
  const dir = project(base, 0);
  const previous = process.cwd();
  try {
    process.chdir(dir);
    const lib = await import(pathToFileURL(join(ROOT, "dist/index.js")).href);
    const out = [];
    for (const [name, fn] of [
      ["currentEnv()", lib.currentEnv],
      ["databaseUrl()", lib.databaseUrl],
      ["localPath('x')", () => lib.localPath("x")],
    ]) {
      fn(); // first call reads the files
      const n = 200_000;
      let sink = 0;
      const started = process.hrtime.bigint();
      for (let i = 0; i < n; i++) sink += fn().length;
      const ns = Number(process.hrtime.bigint() - started) / n;
      if (sink === 0) throw new Error("unreachable");
      out.push({ what: name, nsPerCall: ns });
    }
    return out;
  } finally {
    process.chdir(previous);
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function run({ bases, log = console.error, bigMb = 1024, runs = 9 }) {
  log(`cli: everyday commands against node -e 0 (${runs} interleaved rounds)…`);
  const loadBefore = loadavg()[0];
  const everyday = measureEveryday(bases[0].dir, { runs });
  // Other work on the machine inflates multi-process commands (`new` + the storage server) more than a
  // bare `node -e 0`: the load is part of the result.
  const load = `_Load average ${loadBefore.toFixed(1)} → ${loadavg()[0].toFixed(1)} during these rounds, on ${cpus().length} cores._`;
  const rows = [];
  for (const { label, dir } of bases) {
    log(`cli: measuring on ${label}…`);
    for (const r of measureCli(dir, { bigMb })) rows.push({ fs: label, ...r });
  }
  const runtime = await measureRuntime(bases[0].dir);
  const markdown = [
    `| command (${bases[0].label}, median of ${runs} interleaved rounds) | wall time | × \`node -e 0\` | target |`,
    "| --- | ---: | ---: | --- |",
    ...everyday.map(
      (r) =>
        `| ${r.what} | ${r.ms.toFixed(0)} ms | ${r.ratio.toFixed(2)}× | ${r.target === undefined ? "" : `≤ ${r.target.toFixed(1)}× (${r.met ? "met" : "**not met**"})`} |`,
    ),
    "",
    load,
    "",
    "| filesystem | what | wall time (median) | peak memory |",
    "| --- | --- | ---: | ---: |",
    ...rows.map((r) => `| ${r.fs} | ${r.what} | ${r.ms.toFixed(0)} ms | ${r.maxRssMb.toFixed(0)} MB |`),
    "",
    "| runtime library call (after the first) | cost per call |",
    "| --- | ---: |",
    ...runtime.map((r) => `| \`${r.what}\` | ${(r.nsPerCall / 1000).toFixed(3)} µs |`),
  ].join("\n");
  return { rows: [...everyday, ...rows, ...runtime], markdown };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { markdown } = await run({
    bases: [{ label: "working fs", dir: tmpdir() }],
    bigMb: Number(process.env.BENCH_BIG_MB ?? 1024),
  });
  console.log(markdown);
}
