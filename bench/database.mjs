// Benchmark of the sqlite provider's fork against the ways people copy a SQLite file by hand:
// `cp --reflink=never` (a plain copy), `cp` as GNU coreutils ≥ 9 runs it by default (`--reflink=auto`:
// a reflink where it can), and SQLite's own `VACUUM INTO`. Databases of each size are generated once per
// filesystem (1 MB random blobs in one transaction), on the working filesystem and, when we can mount
// one (root + mkfs.xfs), on an XFS image with reflinks.
//
// Time is wall time of the operation alone, median of several runs (fewer for big sizes), with `sync`
// before each run so one run's writeback does not land in the next. One more fork per size runs right
// after the data was written, before any `sync`: the case where a reflink first waits for writeback. "Disk added" is the drop in the
// filesystem's free space across the operation (statfs), the same yardstick for every row; `reported`
// is what the provider itself tells the user (`bytesAdded`). Sources are warm in the page cache for
// every method alike.
//
//   node bench/database.mjs [sizes in MB…]      # standalone, default 10 100 1024
//   npm run bench -- database                   # through bench/run.mjs, which calls run()
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync, statfsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import Database from "libsql";
import { mountReflinkFs } from "../scripts/reflink-fs.mjs";

const ROOT = resolve(import.meta.dirname, "..");
const MB = 1024 * 1024;
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const free = (dir) => {
  const s = statfsSync(dir);
  return s.bavail * s.bsize;
};
// Forks on a reflink filesystem take a few ms, where a shared machine's noise is of the same order: enough
// runs that the median means something, fewer for 1 GB, where each plain copy takes seconds.
const runsFor = (sizeMb) => (sizeMb >= 1024 ? 5 : 9);

/**
 * The provider as shipped. The build bundles providers into chunks behind the CLI and API entries, so
 * unless a standalone `dist/providers/database/sqlite.js` exists we bundle the source the same way
 * (esbuild, packages external) into node_modules/.cache.
 */
async function loadProvider() {
  const built = join(ROOT, "dist/providers/database/sqlite.js");
  if (existsSync(built)) return (await import(pathToFileURL(built).href)).default;
  const { build } = await import("esbuild");
  const outfile = join(ROOT, "node_modules/.cache/forkstack-bench/sqlite.mjs");
  await build({
    entryPoints: [join(ROOT, "src/providers/database/sqlite.ts")],
    outfile,
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20.19",
    packages: "external",
    logLevel: "warning",
  });
  return (await import(`${pathToFileURL(outfile).href}?t=${Date.now()}`)).default;
}

function projectAt(base, sqlite) {
  const root = mkdtempSync(join(base, "forkstack-bench-db-"));
  const dataDir = join(root, ".forkstack");
  const envDir = (env) => join(dataDir, "envs", env);
  const quiet = { debug() {}, info() {}, warn() {} };
  const provider = sqlite({}, { project: "bench", projectRoot: root, dataDir, envDir, log: quiet });
  const env = (name) => ({ name, project: "bench" });
  const op = { log: quiet };
  return {
    root,
    provider,
    envDir,
    async create(name) {
      mkdirSync(envDir(name), { recursive: true });
      return provider.create(env(name), op);
    },
    async fork(parent, child) {
      mkdirSync(envDir(child), { recursive: true });
      return provider.fork(env(parent), env(child), op);
    },
    async remove(name) {
      await provider.remove(env(name), op);
      rmSync(envDir(name), { recursive: true, force: true });
    },
  };
}

/** A WAL database of `sizeMb` made by the provider, filled fast: no journal while loading, then back to WAL. */
async function generate(project, name, sizeMb) {
  const info = await project.create(name);
  const db = new Database(info.location);
  db.exec("PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF");
  db.exec("CREATE TABLE blobs (id INTEGER PRIMARY KEY, data BLOB NOT NULL)");
  db.exec(
    `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ${sizeMb})
     INSERT INTO blobs (data) SELECT randomblob(${MB - 512}) FROM n`,
  );
  db.exec("PRAGMA journal_mode=WAL");
  db.close();
  return info.location;
}

/**
 * Time each method `runs` times, round-robin (fork, cp, cp, VACUUM, fork, …) so that drift on a shared
 * machine (writeback, other processes) spreads over all methods alike. Each run starts after a `sync`
 * and is undone (not timed) before the next. One untimed warm-up round first.
 */
async function measureAll(dir, runs, methods) {
  const results = Object.fromEntries(
    Object.keys(methods).map((name) => [name, { times: [], added: [], last: null }]),
  );
  for (let i = -1; i < runs; i++) {
    for (const [name, { op, undo }] of Object.entries(methods)) {
      spawnSync("sync");
      const before = free(dir);
      const started = performance.now();
      const last = await op(i);
      const ms = performance.now() - started;
      const added = Math.max(0, before - free(dir));
      await undo(i);
      if (i < 0) continue;
      results[name].times.push(ms);
      results[name].added.push(added);
      results[name].last = last;
    }
  }
  return Object.fromEntries(
    Object.entries(results).map(([name, r]) => [
      name,
      { ms: median(r.times), minMs: Math.min(...r.times), addedBytes: median(r.added), last: r.last },
    ]),
  );
}

function cp(args, src, dst) {
  const r = spawnSync("cp", [...args, src, dst]);
  if (r.status !== 0) throw new Error(`cp ${args.join(" ")}: ${r.stderr}`);
}

async function benchFilesystem(label, base, sizesMb, sqlite, log) {
  const project = projectAt(base, sqlite);
  const rows = [];
  try {
    for (const sizeMb of sizesMb) {
      const started = performance.now();
      const src = await generate(project, `src${sizeMb}`, sizeMb);
      log(`${label}: generated ${sizeMb} MB in ${((performance.now() - started) / 1000).toFixed(1)} s`);
      // What a developer sees who forks right after filling a database: its pages are not on disk yet,
      // and a reflink can share only what is, so the fork first waits for the writeback (and says so).
      // Once per size: the case cannot be repeated without writing the data again.
      const freshStarted = performance.now();
      const fresh = await project.fork(`src${sizeMb}`, "fresh");
      const freshMs = performance.now() - freshStarted;
      await project.remove("fresh");
      rows.push({
        filesystem: label,
        sizeMb,
        method: "forkstack fork, right after writing",
        runs: 1,
        medianMs: Number(freshMs.toFixed(1)),
        minMs: Number(freshMs.toFixed(1)),
        diskAddedMb: "",
        forkMethod: fresh.method,
        reportedMb: Number((fresh.bytesAdded / MB).toFixed(2)),
      });
      log(`${label} ${sizeMb} MB fork right after writing: ${freshMs.toFixed(1)} ms ${fresh.method}`);
      const runs = runsFor(sizeMb);
      const copy = join(project.root, "copy.sqlite");
      const dropCopy = () => rmSync(copy, { force: true });
      const methods = {
        "forkstack fork": {
          op: (i) => project.fork(`src${sizeMb}`, `child${i + 1}`),
          undo: (i) => project.remove(`child${i + 1}`),
        },
        "cp --reflink=never": { op: () => cp(["--reflink=never"], src, copy), undo: dropCopy },
        "cp (default)": { op: () => cp([], src, copy), undo: dropCopy },
        "VACUUM INTO": {
          op: () => {
            const db = new Database(src);
            db.exec(`VACUUM INTO '${copy.replaceAll("'", "''")}'`);
            db.close();
          },
          undo: dropCopy,
        },
      };
      for (const [method, r] of Object.entries(await measureAll(project.root, runs, methods))) {
        const row = {
          filesystem: label,
          sizeMb,
          method,
          runs,
          medianMs: Number(r.ms.toFixed(1)),
          minMs: Number(r.minMs.toFixed(1)),
          diskAddedMb: Number((r.addedBytes / MB).toFixed(2)),
          forkMethod: method === "forkstack fork" ? r.last.method : "",
          reportedMb: method === "forkstack fork" ? Number((r.last.bytesAdded / MB).toFixed(2)) : "",
        };
        rows.push(row);
        log(`${label} ${sizeMb} MB ${method}: ${row.medianMs} ms, +${row.diskAddedMb} MB ${row.forkMethod}`);
      }
      await project.remove(`src${sizeMb}`);
    }
  } finally {
    rmSync(project.root, { recursive: true, force: true });
  }
  return rows;
}

function findRow(rows, filesystem, sizeMb, method) {
  return rows.find((r) => r.filesystem === filesystem && r.sizeMb === sizeMb && r.method === method);
}

function summarize(rows, sizesMb) {
  const lines = [];
  const small = Math.min(...sizesMb);
  const big = Math.max(...sizesMb);
  for (const filesystem of [...new Set(rows.map((r) => r.filesystem))]) {
    const a = findRow(rows, filesystem, small, "forkstack fork");
    const b = findRow(rows, filesystem, big, "forkstack fork");
    const ratio = b.medianMs / a.medianMs;
    const minRatio = b.minMs / a.minMs;
    if (b.forkMethod === "reflink") {
      const ok = ratio <= 1.5 && b.diskAddedMb < 1;
      lines.push(
        `- ${filesystem}: fork ${big} MB / fork ${small} MB = **${ratio.toFixed(2)}×** (medians; ${minRatio.toFixed(2)}× by fastest run), ` +
          `${big} MB fork added ${b.diskAddedMb} MB (target ≤ 1.5× and < 1 MB: ${ok ? "met" : "**missed**"})`,
      );
    } else {
      lines.push(
        `- ${filesystem}: fork ${big} MB / fork ${small} MB = ${ratio.toFixed(2)}× (full copies: O(size))`,
      );
    }
    for (const sizeMb of sizesMb) {
      const fork = findRow(rows, filesystem, sizeMb, "forkstack fork");
      const never = findRow(rows, filesystem, sizeMb, "cp --reflink=never");
      const auto = findRow(rows, filesystem, sizeMb, "cp (default)");
      const vacuum = findRow(rows, filesystem, sizeMb, "VACUUM INTO");
      const fresh = findRow(rows, filesystem, sizeMb, "forkstack fork, right after writing");
      const verdict =
        fork.forkMethod === "copy"
          ? ` (target: no slower than cp: ${fork.medianMs <= never.medianMs * 1.1 ? "met" : "**missed**"})`
          : "";
      lines.push(
        `  - ${sizeMb} MB: fork/cp --reflink=never ${(fork.medianMs / never.medianMs).toFixed(2)}×, ` +
          `fork/cp ${(fork.medianMs / auto.medianMs).toFixed(2)}×, fork/VACUUM INTO ${(fork.medianMs / vacuum.medianMs).toFixed(2)}×${verdict}` +
          (fresh ? `; right after writing (before \`sync\`) the fork took ${fresh.medianMs} ms` : ""),
      );
    }
  }
  return lines.join("\n");
}

function toMarkdown(rows, sizesMb, notes) {
  const header =
    "| filesystem | size | method | median ms | min ms | runs | disk added (MB) | fork method | reported bytesAdded (MB) |\n" +
    "|---|---:|---|---:|---:|---:|---:|---|---:|";
  const body = rows
    .map(
      (r) =>
        `| ${r.filesystem} | ${r.sizeMb >= 1024 ? `${r.sizeMb / 1024} GB` : `${r.sizeMb} MB`} | ${r.method} | ${r.medianMs} | ${r.minMs} | ${r.runs} | ${r.diskAddedMb} | ${r.forkMethod} | ${r.reportedMb} |`,
    )
    .join("\n");
  return `${header}\n${body}\n\n${summarize(rows, sizesMb)}\n${notes.map((n) => `\n_${n}_`).join("")}\n`;
}

export async function run({
  sizesMb = [10, 100, 1024],
  log = (line) => process.stderr.write(`${line}\n`),
} = {}) {
  const sqlite = await loadProvider();
  const notes = [];
  const base = mkdtempSync(join(tmpdir(), "forkstack-bench-"));
  const fsType = spawnSync("findmnt", ["-n", "-o", "FSTYPE", "-T", base], {
    encoding: "utf8",
  }).stdout?.trim();
  const rows = [];
  try {
    rows.push(...(await benchFilesystem(`working fs (${fsType || "unknown"})`, base, sizesMb, sqlite, log)));
  } finally {
    rmSync(base, { recursive: true, force: true });
  }
  const needGb = Math.ceil((Math.max(...sizesMb) * 3) / 1024) + 1;
  const reflink = mountReflinkFs({ sizeGb: Math.max(2, needGb) });
  if (reflink.dir) {
    try {
      rows.push(...(await benchFilesystem("XFS (reflink)", reflink.dir, sizesMb, sqlite, log)));
    } finally {
      reflink.cleanup();
    }
  } else {
    const why = `No reflink filesystem: ${reflink.reason}; that section is skipped.`;
    log(why);
    notes.push(why);
  }
  return { rows, markdown: toMarkdown(rows, sizesMb, notes) };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const sizes = process.argv
    .slice(2)
    .map(Number)
    .filter((n) => n > 0);
  const { markdown } = await run(sizes.length ? { sizesMb: sizes } : {});
  process.stdout.write(`${markdown}\n`);
}
