// Fork time of the `postgres` provider against database size, side by side with what a user would do
// by hand, on a local PostgreSQL (Debian's binaries, a cluster in a temp dir on a free port, fsync on:
// test/helpers/postgres-server.ts, bundled here with esbuild):
//
//   WAL_LOG            CREATE DATABASE c TEMPLATE s STRATEGY WAL_LOG   (PostgreSQL 15's default)
//   FILE_COPY          CREATE DATABASE c TEMPLATE s STRATEGY FILE_COPY (two cluster-wide checkpoints)
//   forkstack fork     the provider's fork() with `strategy: "auto"` (connection fence included)
//   pg_dump -Fc | pg_restore   createdb c, then the custom-format dump piped into pg_restore -d c
//   pg_dump | psql     createdb c, then the plain SQL dump piped into psql
//
// Each source is a table of random hex text with a primary key (what pg_restore must rebuild), filled
// until pg_database_size reaches the size. Methods run round-robin per size (so drift on a shared
// machine spreads over all alike), each after an untimed CHECKPOINT and `sync`, and each copy is dropped
// untimed before the next. Medians.
//
//   node bench/postgres.mjs [sizes in MB…]      # standalone, default 10 100 1024
//   npm run bench -- postgres                   # through bench/run.mjs, which calls run()
import { spawn, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { build } from "esbuild";
import postgres from "postgres";

const ROOT = resolve(import.meta.dirname, "..");
const MB = 1024 * 1024;
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const runsFor = (sizeMb) => (sizeMb >= 1024 ? 5 : 7);

/** TypeScript modules of the repository (the server helper, the provider), bundled to .mjs. */
async function bundle(entries) {
  mkdirSync(join(ROOT, ".tmp"), { recursive: true });
  const out = mkdtempSync(join(ROOT, ".tmp", "bench-pg-"));
  try {
    await build({
      entryPoints: Object.fromEntries(Object.entries(entries).map(([k, p]) => [k, join(ROOT, p)])),
      bundle: true,
      platform: "node",
      format: "esm",
      target: "node20.19",
      packages: "external",
      outdir: out,
      outExtension: { ".js": ".mjs" },
      logLevel: "error",
    });
    const modules = {};
    for (const key of Object.keys(entries)) {
      modules[key] = await import(pathToFileURL(join(out, `${key}.mjs`)).href);
    }
    return modules;
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}

/** A shell pipeline with the server's password in the environment; resolves to its wall time. */
function shell(command, env) {
  return new Promise((resolvePromise, reject) => {
    const started = performance.now();
    const child = spawn("bash", ["-o", "pipefail", "-c", command], {
      env: { ...process.env, ...env },
      stdio: ["ignore", "ignore", "pipe"],
    });
    let stderr = "";
    child.stderr.on("data", (d) => (stderr += d));
    child.on("error", reject);
    child.on("close", (code) => {
      if (code !== 0) reject(new Error(`${command}: ${stderr.slice(0, 2000)}`));
      else resolvePromise(performance.now() - started);
    });
  });
}

/** Fill `database` with random text until it holds `sizeMb`; returns its size in bytes. */
async function fill(sql, sizeMb) {
  await sql`CREATE TABLE blobs (id bigint PRIMARY KEY, payload text NOT NULL)`;
  // ~330 bytes a row on disk: 8 random md5s (hex compresses little, so TOAST keeps it as is).
  const batch = 20_000;
  let next = 1;
  for (;;) {
    const [{ bytes }] = await sql`SELECT pg_database_size(current_database())::bigint AS bytes`;
    if (Number(bytes) >= sizeMb * MB) return Number(bytes);
    const rows = Math.max(1000, Math.min(batch * 10, Math.ceil((sizeMb * MB - Number(bytes)) / 330)));
    await sql.unsafe(
      `INSERT INTO blobs SELECT g, md5(random()::text) || md5(random()::text) || md5(random()::text) || md5(random()::text)
        || md5(random()::text) || md5(random()::text) || md5(random()::text) || md5(random()::text)
       FROM generate_series(${next}, ${next + rows - 1}) g`,
    );
    next += rows;
  }
}

export async function run({ sizesMb = [10, 100, 1024], log = () => {}, runs: fixedRuns } = {}) {
  const { helper, provider } = await bundle({
    helper: "test/helpers/postgres-server.ts",
    provider: "src/providers/database/postgres.ts",
  });
  const bin = await helper.postgresBin();
  if (!bin) throw new Error("PostgreSQL is not installed (apt-get install postgresql)");
  const server = await helper.startPostgres();
  log(`postgres: PostgreSQL ${server.version} on port ${server.port}`);
  const admin = postgres(server.url, { max: 1, onnotice: () => undefined, fetch_types: false });
  const url = new URL(server.url);
  const pgEnv = { PGPASSWORD: decodeURIComponent(url.password) };
  const srv = `-h 127.0.0.1 -p ${server.port} -U postgres`;
  const conn = (db) => `${srv} -d ${db}`;
  const cli = (name) => join(bin, name);
  const dataDir = mkdtempSync(join(tmpdir(), "forkstack-bench-pg-"));
  const quiet = { debug() {}, info() {}, warn() {} };
  const forkstack = provider.default(
    provider.optionsSchema.parse({ connectionString: server.url, strategy: "auto" }),
    { project: "bench", projectRoot: dataDir, dataDir, envDir: () => dataDir, log: quiet },
  );
  const env = (name) => ({ name, project: "bench" });
  const rows = [];
  try {
    for (const sizeMb of sizesMb) {
      const source = `bench_s${sizeMb}`;
      await admin.unsafe(`CREATE DATABASE "${source}"`);
      const started = performance.now();
      const filler = postgres(server.urlOf(source), {
        max: 1,
        onnotice: () => undefined,
        fetch_types: false,
      });
      let bytes;
      try {
        bytes = await fill(filler, sizeMb);
        await filler`VACUUM ANALYZE blobs`;
      } finally {
        await filler.end({ timeout: 5 });
      }
      log(
        `postgres: ${sizeMb} MB source (${(bytes / MB).toFixed(0)} MB) filled in ${((performance.now() - started) / 1000).toFixed(1)} s`,
      );
      const drop = (db) => admin.unsafe(`DROP DATABASE IF EXISTS "${db}" WITH (FORCE)`);
      const timeSql = async (statement) => {
        const t = performance.now();
        await admin.unsafe(statement);
        return performance.now() - t;
      };
      let n = 0;
      const methods = {
        WAL_LOG: async (c) => timeSql(`CREATE DATABASE "${c}" TEMPLATE "${source}" STRATEGY WAL_LOG`),
        FILE_COPY: async (c) => timeSql(`CREATE DATABASE "${c}" TEMPLATE "${source}" STRATEGY FILE_COPY`),
        'forkstack fork (`strategy: "auto"`)': async () => {
          const t = performance.now();
          await forkstack.fork(env(`s${sizeMb}`), env(`f${sizeMb}x${n}`), { log: quiet });
          return performance.now() - t;
        },
        "pg_dump -Fc | pg_restore": async (c) =>
          shell(
            `${cli("createdb")} ${srv} "${c}" && ${cli("pg_dump")} -Fc ${conn(source)} | ${cli("pg_restore")} ${conn(c)}`,
            pgEnv,
          ),
        "pg_dump | psql": async (c) =>
          shell(
            `${cli("createdb")} ${srv} "${c}" && ${cli("pg_dump")} ${conn(source)} | ${cli("psql")} -q -v ON_ERROR_STOP=1 ${conn(c)}`,
            pgEnv,
          ),
      };
      const times = Object.fromEntries(Object.keys(methods).map((m) => [m, []]));
      const runs = fixedRuns ?? runsFor(sizeMb);
      for (let i = 0; i < runs; i++) {
        for (const [name, method] of Object.entries(methods)) {
          n++;
          const copy = name.startsWith("forkstack") ? `bench_f${sizeMb}x${n}` : `bench_c${sizeMb}x${n}`;
          await admin`CHECKPOINT`;
          spawnSync("sync");
          times[name].push(await method(copy));
          await drop(copy);
        }
        log(`postgres: ${sizeMb} MB, round ${i + 1}/${runs}`);
      }
      for (const [name, t] of Object.entries(times)) {
        rows.push({ sizeMb, bytes, method: name, ms: median(t), minMs: Math.min(...t), runs: t.length });
      }
      await drop(source);
    }
  } finally {
    await admin.end({ timeout: 5 }).catch(() => undefined);
    await server.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
  return { rows, markdown: render(rows, server.version) };
}

function render(rows, version) {
  const fmt = (ms) => (ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(0)} ms`);
  const sizes = [...new Set(rows.map((r) => r.sizeMb))];
  const methods = [...new Set(rows.map((r) => r.method))];
  const at = (size, method) => rows.find((r) => r.sizeMb === size && r.method === method);
  const lines = [
    `PostgreSQL ${version}, a cluster in a temp dir with fsync on; median (fastest) of the runs per size in the header, methods round-robin, an untimed \`CHECKPOINT\` and \`sync\` before each (so \`FILE_COPY\`'s two checkpoints find little to write, and the WAL that \`WAL_LOG\` wrote is checkpointed outside the timing: both are best cases).`,
    "",
    `| method | ${sizes.map((s) => `${s >= 1024 ? `${s / 1024} GB` : `${s} MB`} (${(at(s, methods[0]).bytes / MB).toFixed(0)} MB, ${at(s, methods[0]).runs} runs)`).join(" | ")} |`,
    `| --- | ${sizes.map(() => "---:").join(" | ")} |`,
    // A pipe inside a table cell must be escaped, in code spans too.
    ...methods.map(
      (m) =>
        `| ${m.replaceAll("|", "\\|")} | ${sizes.map((s) => `${fmt(at(s, m).ms)} (${fmt(at(s, m).minMs)})`).join(" | ")} |`,
    ),
    "",
  ];
  for (const s of sizes) {
    const wal = at(s, "WAL_LOG").ms;
    const file = at(s, "FILE_COPY").ms;
    const dump = at(s, "pg_dump -Fc | pg_restore").ms;
    const psql = at(s, "pg_dump | psql").ms;
    const best = Math.min(wal, file);
    lines.push(
      `- ${s >= 1024 ? `${s / 1024} GB` : `${s} MB`}: FILE_COPY / WAL_LOG = ${(file / wal).toFixed(2)}× (fastest runs: ${(at(s, "FILE_COPY").minMs / at(s, "WAL_LOG").minMs).toFixed(2)}×); pg_dump -Fc | pg_restore takes ${(dump / best).toFixed(1)}× and pg_dump | psql ${(psql / best).toFixed(1)}× the faster template copy`,
    );
  }
  return lines.join("\n");
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const sizes = process.argv.slice(2).map(Number);
  const { markdown } = await run({
    sizesMb: sizes.length ? sizes : [10, 100, 1024],
    log: console.error,
    runs: process.env.BENCH_REPS ? Number(process.env.BENCH_REPS) : undefined,
  });
  console.log(markdown);
}
