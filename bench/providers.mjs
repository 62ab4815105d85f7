// CLI overhead of `forkstack new` and `forkstack delete` with the API providers (turso, neon,
// planetscale), beyond the API's own latency (issue 9's target: ≤ 50 ms above the emulator's response
// times). Each vendor's emulator (test/emulators/<vendor>.ts) runs in this process, so every request a
// command makes, and the time the emulator spent on it, are known: `ms` of each exchange runs from the
// request's arrival to its answer, the OpenAPI validation of the request and of the response included.
// The CLI runs as a real process (`npm run build` first), in a project whose only resource is the
// database (no storage server, no secrets file, no local state), so a row is the database provider's.
//
//   API time       Σ emulator time of the command's requests
//   overhead       wall time − API time − `node -e 0`: what forkstack itself costs beyond starting Node
//                  (loading the CLI and config, the journal, the provider, the client side of each request)
//   inside the op  the time `new` reports for the operation (no process start, no module loading) − API time
//
// The emulators answer at once: Neon's operations finish and PlanetScale's branches are ready as soon as
// they are made (`operationDelayMs: 0`, `readyAfterMs: 0`), so no poll waits; the branches hold
// metadata only (no PostgreSQL/MariaDB behind them), which an overhead measurement does not need.
// Providers and `node -e 0` are measured round-robin, so a busy machine slows every row alike; medians.
//
//   node bench/providers.mjs [runs]      # standalone
//   npm run bench -- providers           # through bench/run.mjs, which calls run()
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { build } from "esbuild";

const ROOT = resolve(import.meta.dirname, "..");
const BIN = join(ROOT, "bin/forkstack.mjs");
const TARGET_MS = 50;
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** Each vendor: its emulator's options for the benchmark, and the project's `database` config. */
const PROVIDERS = {
  turso: {
    options: {},
    database: { provider: "turso" },
  },
  neon: {
    options: { operationDelayMs: 0, pgUrl: undefined },
    database: { provider: "neon" },
    roots: { dev: { database: { branch: "main" } } },
  },
  planetscale: {
    options: { readyAfterMs: 0, backupAfterMs: 0, mariadb: undefined, postgres: undefined },
    database: { provider: "planetscale", organization: "acme", database: "shop", data: "schema" },
    roots: { dev: { database: { branch: "main" } } },
  },
};

/** test/emulators/<vendor>.ts, bundled as run.mjs does (the emulators are TypeScript). */
async function loadEmulators(vendors) {
  mkdirSync(join(ROOT, ".tmp"), { recursive: true });
  const out = mkdtempSync(join(ROOT, ".tmp", "bench-emulators-"));
  const here = join(ROOT, "test/emulators");
  try {
    await build({
      entryPoints: vendors.map((v) => join(here, `${v}.ts`)),
      bundle: true,
      platform: "node",
      format: "esm",
      packages: "external",
      outdir: out,
      outExtension: { ".js": ".mjs" },
      logLevel: "error",
      // The bundles live in a temp dir: the specs are found next to the sources.
      define: { "import.meta.url": JSON.stringify(pathToFileURL(join(here, "_base.ts")).href) },
    });
    const modules = {};
    for (const v of vendors) modules[v] = await import(pathToFileURL(join(out, `${v}.mjs`)).href);
    return modules;
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}

/** Wall time of one process. Asynchronous: the emulators answering it live in this event loop. */
function timed(cwd, env, args) {
  return new Promise((resolvePromise, reject) => {
    const started = performance.now();
    const child = spawn(process.execPath, args, {
      cwd,
      env: { ...process.env, CI: "1", ...env },
      stdio: ["ignore", "ignore", "pipe"],
    });
    let stderr = "";
    child.stderr.on("data", (d) => (stderr += d));
    child.on("error", reject);
    child.on("close", (code) => {
      const ms = performance.now() - started;
      if (code !== 0) reject(new Error(`${args.slice(1).join(" ")}: ${stderr}`));
      else resolvePromise({ ms, stderr });
    });
  });
}

/** `new` reports the operation's own time ("Created b0 from dev in 206 ms"): process start excluded. */
function reportedMs(stderr) {
  const m = /Created .* in ([\d.]+) (ms|s)\b/.exec(stderr);
  return m ? Number(m[1]) * (m[2] === "s" ? 1000 : 1) : undefined;
}

/**
 * Where the projects live: the working filesystem, and tmpfs, where an fsync costs nothing. The journal
 * (state.db) and the manifests are written durably, so the difference between the two is what the
 * disk's fsync latency adds to a command — on a shared machine, most of the variance.
 */
const BASES = [
  { label: "disk", dir: tmpdir(), project: "bench" },
  { label: "tmpfs", dir: "/dev/shm", project: "benchmem" },
].filter((b) => existsSync(b.dir));

async function setUp(vendor, emulator, base) {
  const spec = PROVIDERS[vendor];
  const cwd = mkdtempSync(join(base.dir, `forkstack-bench-${vendor}-`));
  const config = {
    project: base.project,
    database: spec.database,
    secrets: false,
    local: false,
    ...(spec.roots ? { roots: spec.roots } : {}),
  };
  writeFileSync(join(cwd, "forkstack.config.json"), JSON.stringify(config));
  // The env var FORKSTACK_TURSO_DB_URL etc. of the emulator, and nothing of another vendor's.
  return { vendor, base: base.label, emulator, cwd, env: emulator.variables, rows: { new: [], delete: [] } };
}

/** One command of one provider, with the exchanges it caused. */
async function measure(p, command, env) {
  const args = command === "new" ? [BIN, "new", env, "--no-switch"] : [BIN, "delete", env, "--yes"];
  const before = p.emulator.exchanges.length;
  const { ms: wall, stderr } = await timed(p.cwd, p.env, args);
  const made = p.emulator.exchanges.slice(before);
  const api = made.reduce((sum, e) => sum + (e.ms ?? 0), 0);
  const op = reportedMs(stderr);
  return { wall, api, requests: made.length, inside: op === undefined ? undefined : op - api };
}

export async function run({ quick = false, runs = quick ? 3 : 11, log = () => {}, only } = {}) {
  const vendors = only ?? Object.keys(PROVIDERS);
  const modules = await loadEmulators(vendors);
  const providers = [];
  const emulators = [];
  const node = [];
  const loadBefore = loadavg()[0];
  try {
    for (const v of vendors) {
      const emulator = await modules[v].start(PROVIDERS[v].options);
      emulators.push({ vendor: v, emulator });
      for (const base of BASES) providers.push(await setUp(v, emulator, base));
    }
    // Unmeasured: the root env (made or adopted), and a first fork and delete, so that each emulator has
    // compiled its validators for every operation and the page cache holds the CLI.
    for (const p of providers) {
      await measure(p, "new", "warm");
      await measure(p, "delete", "warm");
    }
    for (let i = 0; i < runs; i++) {
      log(`providers: round ${i + 1}/${runs}`);
      for (const p of providers) {
        for (const command of ["new", "delete"]) p.rows[command].push(await measure(p, command, `b${i}`));
      }
      node.push((await timed(ROOT, {}, ["-e", "0"])).ms);
    }
  } finally {
    for (const { emulator } of emulators) await emulator.close();
    for (const p of providers) rmSync(p.cwd, { recursive: true, force: true });
  }
  for (const { vendor, emulator } of emulators) {
    if (emulator.violations.length)
      throw new Error(`${vendor}: ${JSON.stringify(emulator.violations).slice(0, 2000)}`);
  }
  const base = median(node);
  const results = [];
  for (const p of providers) {
    for (const command of ["new", "delete"]) {
      const r = p.rows[command];
      const wall = median(r.map((x) => x.wall));
      const api = median(r.map((x) => x.api));
      const overhead = median(r.map((x) => x.wall - x.api - base));
      const inside = r.every((x) => x.inside !== undefined) ? median(r.map((x) => x.inside)) : undefined;
      results.push({
        provider: p.vendor,
        base: p.base,
        command,
        requests: median(r.map((x) => x.requests)),
        wall,
        api,
        overhead,
        inside,
      });
    }
  }
  const load = `load average ${loadBefore.toFixed(1)} → ${loadavg()[0].toFixed(1)} on ${cpus().length} cores`;
  const ms = (x) => (x === undefined ? "–" : `${x.toFixed(0)} ms`);
  const met = (x) => `${ms(x)} (${x <= TARGET_MS ? "met" : "**not met**"})`;
  const pairs = [];
  for (const r of results.filter((x) => x.base === BASES[0].label)) {
    pairs.push([r, results.find((x) => x.provider === r.provider && x.command === r.command && x !== r)]);
  }
  const other = BASES[1]?.label;
  const markdown = [
    `Medians of ${runs} interleaved rounds against each vendor's emulator; \`node -e 0\`: ${base.toFixed(0)} ms (${load}). Overhead = wall − API time − \`node -e 0\` (target ≤ ${TARGET_MS} ms); "in the op" = the time \`new\` reports for the operation itself − API time. The project on the disk${other ? `, and on ${other} (where an fsync is free: the journal's durable commits cost nothing there)` : ""}.`,
    "",
    `| provider | command | API requests | API time (emulator) | wall (disk) | overhead (disk) | in the op (disk) |${other ? ` wall (${other}) | overhead (${other}) | in the op (${other}) |` : ""}`,
    `| --- | --- | ---: | ---: | ---: | ---: | ---: |${other ? " ---: | ---: | ---: |" : ""}`,
    ...pairs.map(
      ([r, o]) =>
        `| ${r.provider} | \`${r.command}\` | ${r.requests} | ${r.api.toFixed(1)} ms | ${ms(r.wall)} | ${met(r.overhead)} | ${ms(r.inside)} |${o ? ` ${ms(o.wall)} | ${met(o.overhead)} | ${ms(o.inside)} |` : ""}`,
    ),
  ].join("\n");
  return { markdown, rows: results, nodeMs: base };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const { markdown } = await run({ runs: Number(process.argv[2] ?? 11), log: console.error });
  console.log(markdown);
}
