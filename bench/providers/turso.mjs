// CLI overhead of `forkstack new` and `forkstack delete` with the `turso` provider, beyond the API's
// own latency (issue 9's target: ≤ 50 ms above the emulator's response times). The Turso emulator runs
// in this process, so each command's exchanges and the time the emulator spent on each are known; the
// CLI runs as a real process (`npm run build` first). Per command:
//   overhead = wall time of the process − Σ emulator time of the requests it made
// which is what forkstack itself costs: Node's start, loading the CLI and config, the journal, the
// provider, the HTTP client, the client side of each round trip. `node -e 0` is measured in the same
// rounds, so the table also shows what is left beyond a bare Node start; and, for `new`, the time it
// reports for the operation itself minus the emulator's (no process start, no module loading).
// Run standalone with `node bench/providers/turso.mjs [runs]`, or import `run`.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { build } from "esbuild";

const ROOT = resolve(import.meta.dirname, "../..");
const BIN = join(ROOT, "bin/forkstack.mjs");
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** test/emulators/turso.ts, bundled as run.mjs does (the emulators are TypeScript). */
async function loadEmulator() {
  const out = mkdtempSync(join(ROOT, ".tmp", "bench-turso-"));
  const here = join(ROOT, "test/emulators");
  const outfile = join(out, "turso.mjs");
  await build({
    entryPoints: [join(here, "turso.ts")],
    bundle: true,
    platform: "node",
    format: "esm",
    packages: "external",
    outfile,
    logLevel: "error",
    define: { "import.meta.url": JSON.stringify(pathToFileURL(join(here, "turso.ts")).href) },
  });
  try {
    return await import(pathToFileURL(outfile).href);
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}

/** Wall time of one process. Asynchronous: the emulator answering it lives in this event loop. */
function timed(cwd, env, args) {
  return new Promise((resolvePromise, reject) => {
    const started = performance.now();
    const child = spawn(process.execPath, args, { cwd, env: { ...process.env, CI: "1", ...env } });
    let stderr = "";
    child.stderr.on("data", (d) => (stderr += d));
    child.on("error", reject);
    child.on("close", (code) => {
      const ms = performance.now() - started;
      if (code !== 0) reject(new Error(`${args.join(" ")}: ${stderr}`));
      else resolvePromise({ ms, stderr });
    });
  });
}

export async function run({ runs = 10, log = () => {} } = {}) {
  const { mkdirSync } = await import("node:fs");
  mkdirSync(join(ROOT, ".tmp"), { recursive: true });
  const { start } = await loadEmulator();
  const emulator = await start();
  const cwd = mkdtempSync(join(tmpdir(), "forkstack-bench-turso-"));
  const config = { project: "bench", database: { provider: "turso" }, secrets: false, local: false };
  writeFileSync(join(cwd, "forkstack.config.json"), JSON.stringify(config));
  const env = emulator.variables;
  const rows = { new: [], delete: [], node: [] };
  try {
    // The root and a first fork, unmeasured: the emulator compiles each operation's validators on first use.
    await timed(cwd, env, [BIN, "new", "warm", "--no-switch"]);
    await timed(cwd, env, [BIN, "delete", "warm", "--yes"]);
    for (let i = 0; i < runs; i++) {
      for (const command of ["new", "delete"]) {
        const args =
          command === "new" ? [BIN, "new", `b${i}`, "--no-switch"] : [BIN, "delete", `b${i}`, "--yes"];
        const before = emulator.exchanges.length;
        const { ms: wall, stderr } = await timed(cwd, env, args);
        // `new` reports the operation's own time ("Created b0 from dev in 206 ms"): process start excluded.
        const reported = /Created .* in ([\d.]+) (ms|s)\b/.exec(stderr);
        const op = reported ? Number(reported[1]) * (reported[2] === "s" ? 1000 : 1) : undefined;
        const made = emulator.exchanges.slice(before);
        const api = made.reduce((sum, e) => sum + (e.ms ?? 0), 0);
        rows[command].push({
          wall,
          api,
          requests: made.length,
          overhead: wall - api,
          inside: op && op - api,
        });
      }
      rows.node.push((await timed(cwd, {}, ["-e", "0"])).ms);
    }
  } finally {
    await emulator.close();
    rmSync(cwd, { recursive: true, force: true });
  }
  if (emulator.violations.length) log(`turso: ${emulator.violations.length} spec violations`);
  const node = median(rows.node);
  const line = (name) => {
    const r = rows[name];
    const overhead = median(r.map((x) => x.overhead));
    const inside = r.every((x) => x.inside !== undefined)
      ? `${median(r.map((x) => x.inside)).toFixed(0)} ms`
      : "–";
    return `| \`${name}\` | ${r[0].requests} | ${median(r.map((x) => x.wall)).toFixed(0)} ms | ${median(r.map((x) => x.api)).toFixed(1)} ms | ${overhead.toFixed(0)} ms | ${(overhead - node).toFixed(0)} ms | ${inside} |`;
  };
  const markdown = [
    `Medians of ${runs} runs against the Turso emulator (\`node -e 0\`: ${node.toFixed(0)} ms).`,
    "",
    "| command | API requests | wall | emulator time | CLI overhead | beyond `node -e 0` | inside the operation |",
    "| --- | --- | --- | --- | --- | --- | --- |",
    line("new"),
    line("delete"),
  ].join("\n");
  return { markdown, rows };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const { markdown } = await run({ runs: Number(process.argv[2] ?? 10), log: console.error });
  console.log(markdown);
}
