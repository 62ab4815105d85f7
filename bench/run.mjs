// `npm run bench`: every benchmark, same machine, same run, each side by side with its baseline, and
// the results written into the README between `<!-- bench:<name> -->` markers.
//
//   npm run bench                     # everything
//   npm run bench -- database cli     # some sections
//   npm run bench -- storage-throughput   # only the storage PUT/GET table (not part of a plain run)
//   npm run bench -- storage-copy     # copy forks (s3/r2 providers) against `aws s3 sync`
//   BENCH_QUICK=1 npm run bench       # smaller sizes, for a quick look (README is not updated)
//   BENCH_ROWS=16MBx1 BENCH_REPS=3 npm run bench -- storage-throughput   # some rows (README not updated)
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { cpus, totalmem, tmpdir } from "node:os";
import { resolve } from "node:path";
import { mountReflinkFs } from "../scripts/reflink-fs.mjs";

const root = resolve(import.meta.dirname, "..");
const quick = !!process.env.BENCH_QUICK;
const wanted = process.argv.slice(2);
const log = (line) => process.stderr.write(`${line}\n`);

const sections = {
  database: async () => {
    const { run } = await import("./database.mjs");
    return run({ sizesMb: quick ? [10, 100] : [10, 100, 1024], log });
  },
  cli: async () => {
    const { run } = await import("./cli.mjs");
    const reflink = mountReflinkFs({ sizeGb: 8 });
    const bases = [{ label: "working fs", dir: tmpdir() }];
    if (reflink.dir) bases.push({ label: "XFS (reflink)", dir: reflink.dir });
    else log(`cli: no reflink filesystem (${reflink.reason})`);
    try {
      return await run({ bases, log, bigMb: quick ? 100 : 1024, runs: quick ? 5 : 15 });
    } finally {
      reflink.cleanup?.();
    }
  },
  providers: async () => {
    const { run } = await import("./providers.mjs");
    return run({ quick, log });
  },
  postgres: async () => {
    const { run } = await import("./postgres.mjs");
    return run({ sizesMb: quick ? [10, 100] : [10, 100, 1024], log });
  },
  storage: async () => {
    const { run } = await import("./storage.mjs");
    return run({ quick, log });
  },
  "storage-copy": async () => {
    const { run } = await import("./storage-copy.mjs");
    return run({ quick, log });
  },
  // Only the PUT/GET rows of `storage` (which includes them), refreshed inside its section: run only
  // when named, so a plain `npm run bench` does not measure them twice.
  "storage-throughput": async () => {
    const { run } = await import("./storage.mjs");
    return run({ quick, log, only: "throughput" });
  },
};
const explicitOnly = new Set(["storage-throughput"]);

function machine() {
  return `${cpus().length} × ${cpus()[0]?.model ?? "cpu"}, ${(totalmem() / 1024 ** 3).toFixed(0)} GB RAM, Node ${process.version}`;
}

async function writeSection(name, markdown) {
  const readme = resolve(root, "README.md");
  const text = readFileSync(readme, "utf8");
  const start = `<!-- bench:${name} -->`;
  const end = `<!-- /bench:${name} -->`;
  const i = text.indexOf(start);
  const j = text.indexOf(end);
  if (i < 0 || j < i) {
    log(`README has no ${start} … ${end} markers; not updated`);
    return;
  }
  const stamp = `_Measured ${new Date().toISOString().slice(0, 10)} on ${machine()}._`;
  const next = `${text.slice(0, i + start.length)}\n${stamp}\n\n${markdown}\n${text.slice(j)}`;
  // Formatted as `npm test`'s prettier check wants it, so a benchmark run never breaks the lint.
  const prettier = await import("prettier");
  const options = (await prettier.resolveConfig(readme)) ?? {};
  writeFileSync(readme, await prettier.format(next, { ...options, filepath: readme }));
}

for (const [name, section] of Object.entries(sections)) {
  if (wanted.length ? !wanted.includes(name) : explicitOnly.has(name)) continue;
  const file = [name, name.split("-")[0]].find((f) => existsSync(resolve(import.meta.dirname, `${f}.mjs`)));
  if (!file) {
    log(`skip ${name}: bench/${name}.mjs is missing`);
    continue;
  }
  log(`\n== ${name} ==`);
  const { markdown } = await section();
  process.stdout.write(`\n## ${name}\n\n${markdown}\n`);
  // A partial run (BENCH_QUICK, BENCH_ROWS/BENCH_REPS picking rows, another client) is for a look, not the README.
  const partial = quick || process.env.BENCH_ROWS || process.env.BENCH_REPS || process.env.BENCH_FS_CLIENT;
  if (!partial) await writeSection(name, markdown);
  else log(`(partial run: README not updated)`);
}
