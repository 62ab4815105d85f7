// Benchmark of the embedded object store (DESIGN.md §7): fork cost against bucket size, PUT/GET side by
// side with s3rver, large-object writes against the local disk, listing through a fork chain, and the
// server's peak memory during a big upload.
//
// Both servers run as child processes (the built `dist/storage-server/index.js`, and s3rver 3.7.1) so the
// client, which lives in this process, never shares an event loop with the server it measures, and the
// server's RSS can be read from /proc. Every client is `@aws-sdk/client-s3` over loopback.
//
// Numbers are wall times seen by the client. On a shared 2-core machine they are noisy, so every figure is
// a median over repeats, the two servers are measured alternately (round-robin) so drift hits both alike,
// and the verdicts use ratios measured in the same run rather than absolute times.
//
//   node bench/storage.mjs [--quick] [--throughput]   # standalone: prints the markdown
//   npm run bench -- storage                          # through bench/run.mjs, which calls run()
//   npm run bench -- storage-throughput               # only the PUT/GET rows (README updated in place)
import { spawn, spawnSync } from "node:child_process";
import { createHash, randomBytes, randomUUID } from "node:crypto";
import {
  closeSync,
  cpSync,
  existsSync,
  fsyncSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  unlinkSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import { open } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { Readable } from "node:stream";
import { pathToFileURL } from "node:url";
import {
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";

const ROOT = resolve(import.meta.dirname, "..");
const KB = 1024;
const MB = 1024 * KB;
const CREDS = {
  accessKeyId: "FSBENCHACCESSKEY0001",
  secretAccessKey: "bench-secret-key-0123456789abcdefghijklm",
};
// s3rver checks only that the access key is its own (it does not verify SigV4 signatures).
const S3RVER_CREDS = { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" };

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const percentile = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)];
};
const fmt = (n, digits = 1) => (Number.isFinite(n) ? n.toFixed(digits) : "–");
const mb = (bytes) => `${fmt(bytes / MB, bytes >= 100 * MB ? 0 : 1)} MB`;
const sizeLabel = (bytes) => (bytes >= MB ? `${bytes / MB} MB` : `${bytes / KB} KB`);
const verdict = (ok) => (ok ? "**met**" : "**not met**");

/**
 * Sizes for a full run (≈ 8 min on 2 cores) and for a quick look (< 1 min). Throughput rows are short
 * and repeated rather than long: on a shared machine, five alternating 1–2 s samples per server give a
 * steadier median than one long one.
 */
function plan(quick) {
  return quick
    ? {
        forkSizes: [100, 1000, 5000],
        forkRuns: 15,
        forkBytesRuns: 3,
        objectBytes: 1 * KB,
        listChurn: 50,
        listRuns: 3,
        bigBytes: 200 * MB,
        reps: 1,
        ops: { [4 * KB]: { 1: 100, 16: 400 }, [16 * MB]: { 1: 4, 16: 16 } },
        diskRuns: 3,
      }
    : {
        forkSizes: [100, 10_000, 100_000],
        forkRuns: 31,
        forkBytesRuns: 5,
        objectBytes: 1 * KB,
        listChurn: 200,
        listRuns: 9,
        bigBytes: 2048 * MB,
        reps: 5,
        ops: { [4 * KB]: { 1: 200, 16: 800 }, [16 * MB]: { 1: 8, 16: 32 } },
        diskRuns: 9,
      };
}

// ---- servers (child processes) -----------------------------------------------------------------

// The child reports its URL on stdout, and shuts down when its stdin closes: that happens when we end it
// and also when this process dies, so no server outlives the benchmark. At exit it reports its peak RSS.
const FORKSTACK_CHILD = `
const [entry, root, creds] = process.argv.slice(1);
const { startStorageServer } = await import(entry);
const server = await startStorageServer({ root, port: 0, host: "127.0.0.1", credentials: [JSON.parse(creds)] });
process.stdout.write(JSON.stringify({ url: server.url }) + "\\n");
process.stdin.resume();
process.stdin.on("end", async () => {
  await server.close();
  process.stdout.write(JSON.stringify({ maxRssKb: process.resourceUsage().maxRSS }) + "\\n");
  process.exit(0);
});
`;

const S3RVER_CHILD = `
const [root] = process.argv.slice(1);
const { default: S3rver } = await import("s3rver");
const s3rver = new S3rver({ address: "127.0.0.1", port: 0, silent: true, directory: root });
const { port } = await s3rver.run();
process.stdout.write(JSON.stringify({ url: "http://127.0.0.1:" + port }) + "\\n");
process.stdin.resume();
process.stdin.on("end", async () => {
  await s3rver.close();
  process.stdout.write(JSON.stringify({ maxRssKb: process.resourceUsage().maxRSS }) + "\\n");
  process.exit(0);
});
`;

// ---- the fairer baseline: Ceph's RADOS Gateway (Debian's `radosgw`) -------------------------------

/**
 * What the Ceph baseline needs, from Debian's packages. Ceph's S3 gateway is what many S3-compatible
 * deployments run in production: it verifies SigV4 and writes every object durably (BlueStore, its
 * own journal) before answering, which s3rver does not. It is also the only well-known S3 server in
 * Debian 12 or on npm that installs and runs here (see the README's note under the table).
 */
const CEPH_PACKAGES = ["radosgw", "ceph-mon", "ceph-osd"];
const CEPH_CREDS = {
  accessKeyId: "FSBENCHRGW0000000001",
  secretAccessKey: "bench-rgw-secret-0123456789abcdefghij",
};

function onPath(name) {
  return spawnSync("sh", ["-c", `command -v ${name}`], { encoding: "utf8" }).status === 0;
}

/** Installs the Ceph packages when missing and this process may (root, apt-get); a reason when not. */
function ensureCeph(log) {
  if (["radosgw", "ceph-mon", "ceph-osd", "monmaptool", "radosgw-admin"].every(onPath)) return undefined;
  if (process.env.BENCH_NO_INSTALL) return "Ceph is not installed (BENCH_NO_INSTALL is set)";
  if (process.getuid?.() !== 0 || !onPath("apt-get")) return "Ceph is not installed, and apt-get needs root";
  log(`baseline: installing ${CEPH_PACKAGES.join(" ")} (Debian packages, ~300 MB)…`);
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  const install = () =>
    spawnSync("apt-get", ["install", "-y", "--no-install-recommends", ...CEPH_PACKAGES], {
      env,
      stdio: "ignore",
    });
  if (install().status !== 0) {
    spawnSync("apt-get", ["update"], { env, stdio: "ignore" });
    if (install().status !== 0) return `apt-get install ${CEPH_PACKAGES.join(" ")} failed`;
  }
  return undefined;
}

/** A port nobody listens on right now (Ceph daemons take a fixed port from their config). */
async function freePort() {
  const { createServer } = await import("node:net");
  const server = createServer();
  await new Promise((done) => server.listen(0, "127.0.0.1", done));
  const { port } = server.address();
  await new Promise((done) => server.close(done));
  return port;
}

/** A process that exists and is not a zombie (a daemon's exit is reaped by whoever adopted it). */
function alive(pid) {
  try {
    return readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.[0] !== "Z";
  } catch {
    return false;
  }
}

/**
 * Runs a Ceph tool to completion; throws with its output when it fails. A daemon forks into the
 * background still holding the stdio it was given, so daemons get a log file, never our pipes (with a
 * pipe, spawnSync would wait for the daemon to exit).
 */
function ceph(command, args, logFile) {
  const fd = logFile === undefined ? undefined : openSync(logFile, "a");
  try {
    const stdio = fd === undefined ? "pipe" : ["ignore", fd, fd];
    // In a session of its own (detached): with Ceph's tools in the bench's process group, the bench
    // and the shell that ran it were killed right after the cluster came up, with no error.
    const r = spawnSync(command, args, { encoding: "utf8", timeout: 120_000, stdio, detached: true });
    if (r.status !== 0) {
      const output = fd === undefined ? r.stderr : readFileSync(logFile, "utf8");
      throw new Error(`${command} ${args.join(" ")}: ${r.error ?? ""} ${output.trim().split("\n").at(-1)}`);
    }
    return (r.stdout ?? "").trim();
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/**
 * A one-node Ceph cluster in `dir` (monitor, one BlueStore OSD on a sparse file, the gateway), the way
 * Ceph's own `vstart.sh` makes one for development: no cephx, pools of size 1. Returns the gateway's
 * URL, the pids whose CPU counts as the server's, and `stop`; or `{ skipped }` with the reason.
 */
async function startCephRgw(dir, cleanup, log) {
  const missing = ensureCeph(log);
  if (missing) return { skipped: missing };
  const version = /ceph version (\S+)/.exec(ceph("radosgw", ["--version"]))?.[1] ?? "?";
  for (const sub of ["dev", "run", "log", "mon/mon.a", "osd/osd.0", "rgw"])
    mkdirSync(join(dir, sub), { recursive: true });
  const [monPort, rgwPort] = [await freePort(), await freePort()];
  const fsid = randomUUID();
  const conf = join(dir, "ceph.conf");
  writeFileSync(
    conf,
    `[global]
fsid = ${fsid}
mon_host = v1:127.0.0.1:${monPort}
ms_bind_msgr2 = false
auth_cluster_required = none
auth_service_required = none
auth_client_required = none
osd_pool_default_size = 1
osd_pool_default_min_size = 1
mon_allow_pool_size_one = true
mon_warn_on_pool_no_redundancy = false
osd_pool_default_pg_num = 8
osd_pool_default_pgp_num = 8
osd_pool_default_pg_autoscale_mode = off
osd_crush_chooseleaf_type = 0
osd_class_update_on_start = false
run_dir = ${dir}/run
admin_socket = ${dir}/run/$name.asok
pid_file = ${dir}/run/$name.pid
log_file = ${dir}/log/$name.log
mon_data = ${dir}/mon/$name
osd_data = ${dir}/osd/$name
osd_objectstore = bluestore
bluestore_block_path = ${dir}/dev/$name.block
bluestore_block_create = true
bluestore_block_size = ${32 * 1024 * MB}
osd_memory_target = ${2048 * MB}
rgw_data = ${dir}/rgw
`,
  );
  // A daemon's forked child writes the pid file, maybe after the command that started it returned.
  const pidOf = async (name) => {
    const file = join(dir, "run", `${name}.pid`);
    for (let i = 0; i < 100 && !existsSync(file); i++) await new Promise((r) => setTimeout(r, 100));
    return Number(readFileSync(file, "utf8").trim());
  };
  const daemons = [];
  // Each daemon forks into the background; they are stopped by pid, newest first, even on failure.
  const stop = cleanup.add(async () => {
    for (const pid of daemons.splice(0).reverse()) {
      try {
        process.kill(pid, "SIGTERM");
      } catch {
        continue;
      }
      for (let i = 0; i < 100 && alive(pid); i++) await new Promise((r) => setTimeout(r, 100));
      if (alive(pid)) process.kill(pid, "SIGKILL");
    }
  });
  const started = performance.now();
  ceph("monmaptool", [
    "--create",
    "--addv",
    "a",
    `[v1:127.0.0.1:${monPort}]`,
    "--fsid",
    fsid,
    join(dir, "monmap"),
  ]);
  ceph("ceph-mon", ["-c", conf, "--mkfs", "-i", "a", "--monmap", join(dir, "monmap")]);
  const daemonLog = join(dir, "log", "daemons.out");
  ceph("ceph-mon", ["-c", conf, "-i", "a"], daemonLog);
  daemons.push(await pidOf("mon.a"));
  const osdUuid = randomUUID();
  const id = ceph("ceph", ["-c", conf, "osd", "new", osdUuid]);
  ceph("ceph-osd", ["-c", conf, "-i", id, "--mkfs", "--osd-uuid", osdUuid]);
  ceph("ceph-osd", ["-c", conf, "-i", id], daemonLog);
  daemons.push(await pidOf(`osd.${id}`));
  ceph(
    "radosgw",
    ["-c", conf, "-n", "client.rgw", `--rgw-frontends=beast endpoint=127.0.0.1:${rgwPort}`],
    daemonLog,
  );
  daemons.push(await pidOf("client.rgw"));
  ceph("radosgw-admin", [
    "-c",
    conf,
    "user",
    "create",
    "--uid",
    "bench",
    "--display-name",
    "bench",
    "--access-key",
    CEPH_CREDS.accessKeyId,
    "--secret",
    CEPH_CREDS.secretAccessKey,
  ]);
  log(`baseline: Ceph ${version} up in ${fmt((performance.now() - started) / 1000)} s`);
  return { url: `http://127.0.0.1:${rgwPort}`, pids: [...daemons], version, stop };
}

/** Everything to undo at the end, newest first: children, temp dirs. Runs even when a step throws. */
class Cleanup {
  #steps = [];
  add(fn) {
    this.#steps.push(fn);
    return fn;
  }
  async run() {
    for (const fn of this.#steps.reverse()) {
      try {
        await fn();
      } catch (error) {
        process.stderr.write(`storage bench cleanup: ${error}\n`);
      }
    }
    this.#steps = [];
  }
}

/** `VmHWM` (peak RSS) and `VmRSS` of a live process, in bytes. */
function procMemory(pid) {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = (name) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? NaN);
  return { hwm: kb("VmHWM") * KB, rss: kb("VmRSS") * KB };
}

async function startChild(kind, args, cleanup) {
  const code = kind === "forkstack" ? FORKSTACK_CHILD : S3RVER_CHILD;
  const child = spawn(process.execPath, ["--input-type=module", "-e", code, ...args], {
    cwd: ROOT,
    stdio: ["pipe", "pipe", "inherit"],
  });
  // 'close' (not 'exit'): by then everything the child wrote to stdout has been read.
  const closed = new Promise((done) => child.once("close", (code) => done(code)));
  const messages = [];
  const waiting = [];
  createInterface({ input: child.stdout }).on("line", (line) => {
    let message;
    try {
      message = JSON.parse(line);
    } catch {
      return; // not ours (a stray log line)
    }
    const waiter = waiting.shift();
    if (waiter) waiter(message);
    else messages.push(message);
  });
  const next = (ms) =>
    messages.length
      ? Promise.resolve(messages.shift())
      : new Promise((done, fail) => {
          const timer = setTimeout(() => fail(new Error(`${kind} server: no answer in ${ms} ms`)), ms);
          waiting.push((message) => {
            clearTimeout(timer);
            done(message);
          });
          void closed.then((code) => {
            clearTimeout(timer);
            fail(new Error(`${kind} server exited (code ${code})`));
          });
        });
  let stopped;
  const stop = () =>
    (stopped ??= (async () => {
      child.stdin.end();
      const report = await next(20_000).catch(() => ({}));
      const killer = setTimeout(() => child.kill("SIGKILL"), 5000);
      await closed;
      clearTimeout(killer);
      return { maxRss: (report.maxRssKb ?? NaN) * KB };
    })());
  cleanup.add(stop);
  const { url } = await next(30_000);
  return { url, pid: child.pid, memory: () => procMemory(child.pid), stop };
}

// ---- client helpers ----------------------------------------------------------------------------

function client(url, credentials, extra = {}) {
  return new S3Client({ endpoint: url, region: "auto", credentials, forcePathStyle: true, ...extra });
}

/** Adds headers the SDK has no parameter for (the Tigris fork API), before signing so they are signed. */
function withHeaders(command, headers) {
  command.middlewareStack.add(
    (next) => (args) => {
      Object.assign(args.request.headers, headers);
      return next(args);
    },
    { step: "build", name: "benchExtraHeaders" },
  );
  return command;
}

const createBucket = (s3, Bucket, headers = {}) =>
  s3.send(withHeaders(new CreateBucketCommand({ Bucket }), headers));
const fork = (s3, Bucket, source) => createBucket(s3, Bucket, { "X-Tigris-Fork-Source-Bucket": source });
const dropFork = (s3, Bucket) =>
  s3.send(withHeaders(new DeleteBucketCommand({ Bucket }), { "Tigris-Force-Delete": "true" }));

/**
 * Runs `op(i, worker)` for i in [0, n) on `concurrency` workers; returns wall ms and per-op latencies.
 */
async function pool(n, concurrency, op) {
  let next = 0;
  const latencies = [];
  const started = performance.now();
  await Promise.all(
    Array.from({ length: Math.min(concurrency, n) }, async (_, worker) => {
      while (next < n) {
        const i = next++;
        const t = performance.now();
        await op(i, worker);
        latencies.push(performance.now() - t);
      }
    }),
  );
  return { ms: performance.now() - started, latencies };
}

/** Small distinct objects, many in flight: the fastest faithful way to fill a bucket through the API. */
async function load(s3, Bucket, from, to, bytes, prefix = "obj/") {
  const base = randomBytes(bytes);
  return pool(to - from, 64, (i) => {
    const Body = Buffer.from(base);
    Body.write(`${from + i}:`, 0);
    return s3.send(
      new PutObjectCommand({ Bucket, Key: `${prefix}${String(from + i).padStart(7, "0")}`, Body }),
    );
  });
}

async function drain(body) {
  let n = 0;
  for await (const chunk of body) n += chunk.length;
  return n;
}

/** Lists every key of a bucket in pages of 1000; returns the count. */
async function listAll(s3, Bucket) {
  let count = 0;
  let ContinuationToken;
  for (let page = 0; page < 100_000; page++) {
    const r = await s3.send(new ListObjectsV2Command({ Bucket, MaxKeys: 1000, ContinuationToken }));
    count += r.KeyCount ?? 0;
    if (!r.IsTruncated) return count;
    ContinuationToken = r.NextContinuationToken;
  }
  throw new Error("listing did not end");
}

/** Allocated bytes under `dir` (like `du`: st_blocks), leaving out its entry `skip`. */
function diskUsage(dir, skip) {
  let total = 0;
  const stack = [dir];
  while (stack.length) {
    const d = stack.pop();
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (d === dir && e.name === skip) continue;
      if (e.isDirectory()) stack.push(p);
      total += lstatSync(p).blocks * 512;
    }
  }
  return total;
}

// ---- 1. fork time against bucket size ----------------------------------------------------------

const sourceOf = (n) => `fork-source-${n}`;

/**
 * One source bucket per size, all loaded first; then forks are timed round-robin over the sources (one
 * of each size per round), so every size is measured in the same store, at the same moments. (Growing
 * one bucket and timing it after each load step instead measures the machine still settling from the
 * load: its medians drifted by 3× on this machine where the interleaved ones are flat.)
 */
async function benchForks(s3, root, p, log) {
  const rows = [];
  for (const n of p.forkSizes) {
    await createBucket(s3, sourceOf(n), { "X-Tigris-Enable-Snapshot": "true" });
    const loaded = await load(s3, sourceOf(n), 0, n, p.objectBytes);
    const rate = n / (loaded.ms / 1000);
    log(`forks: loaded ${n} objects in ${fmt(loaded.ms / 1000)} s (${fmt(rate, 0)}/s)`);
    rows.push({
      objects: n,
      loadS: loaded.ms / 1000,
      loadRate: rate,
      bucketBytes: n * p.objectBytes,
      times: [],
    });
  }
  // Each fork is timed alone (CreateBucket round trip as the client sees it), then force-deleted
  // untimed. Two untimed rounds first warm the path.
  for (let round = -2; round < p.forkRuns; round++) {
    for (const row of rows) {
      const name = `fork-${row.objects}-${round + 2}`;
      const t = performance.now();
      await fork(s3, name, sourceOf(row.objects));
      const ms = performance.now() - t;
      await dropFork(s3, name);
      if (round >= 0) row.times.push(ms);
    }
  }
  // Disk: `du` of the store root (blobs, meta.sqlite and its WAL) around a batch of forks kept alive.
  // Forks never touch blobs/, so that big tree is walked once around the whole phase, not per batch.
  const blobsBefore = diskUsage(join(root, "blobs"));
  for (const row of rows) {
    const before = diskUsage(root, "blobs");
    for (let i = 0; i < p.forkBytesRuns; i++)
      await fork(s3, `keep-${row.objects}-${i}`, sourceOf(row.objects));
    row.bytesPerFork = (diskUsage(root, "blobs") - before) / p.forkBytesRuns;
    for (let i = 0; i < p.forkBytesRuns; i++) await dropFork(s3, `keep-${row.objects}-${i}`);
  }
  const blobsAdded = diskUsage(join(root, "blobs")) - blobsBefore;
  for (const row of rows) {
    row.bytesPerFork += blobsAdded / (rows.length * p.forkBytesRuns);
    row.forkMs = median(row.times);
    row.minMs = Math.min(...row.times);
    row.p90Ms = percentile(row.times, 90);
    row.runs = row.times.length;
    log(
      `forks: ${row.objects} objects: median ${fmt(row.forkMs, 2)} ms, +${fmt(row.bytesPerFork, 0)} B/fork`,
    );
    delete row.times;
  }
  return rows;
}

// ---- 2. PUT/GET throughput and latency, side by side with s3rver ------------------------------

/** CPU time (user + system) a process has used so far, in ms (from /proc, 10 ms ticks). */
function procCpuMs(pid) {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

/** CPU ms of a server made of one or several processes (Ceph: the gateway, the OSD and the monitor). */
const serverCpuMs = (pids) => [pids].flat().reduce((sum, pid) => sum + procCpuMs(pid), 0);

/** Runs `fn` and reports what it cost: wall ms, and CPU ms of the server process(es) and of this one. */
async function metered(pids, fn) {
  const server = serverCpuMs(pids);
  const client = process.cpuUsage();
  const result = await fn();
  const c = process.cpuUsage(client);
  return { ...result, serverCpuMs: serverCpuMs(pids) - server, clientCpuMs: (c.user + c.system) / 1000 };
}

/**
 * One repeat of one row: PUT `n` objects of `bytes` with `concurrency` clients, then GET them back.
 * Each worker owns a body buffer and stamps it per request, so objects differ (no server can dedupe).
 */
async function throughputOnce(server, bytes, concurrency, n, tag) {
  const { s3, pid } = server;
  const Bucket = "throughput";
  const bodies = Array.from({ length: concurrency }, () => randomBytes(bytes));
  const key = (i) => `tp/${tag}/${i}`;
  const put = await metered(pid, () =>
    pool(n, concurrency, (i, w) => {
      bodies[w].write(`${tag}:${i}:`, 0);
      return s3.send(new PutObjectCommand({ Bucket, Key: key(i), Body: bodies[w] }));
    }),
  );
  const get = await metered(pid, () =>
    pool(n, concurrency, async (i) => {
      const r = await s3.send(new GetObjectCommand({ Bucket, Key: key(i) }));
      const got = await drain(r.Body);
      if (got !== bytes) throw new Error(`GET ${key(i)}: ${got} bytes, expected ${bytes}`);
    }),
  );
  await pool(n, 16, (i) => s3.send(new DeleteObjectCommand({ Bucket, Key: key(i) })));
  return { put, get };
}

/**
 * PUT/GET rows for every server in `servers` (forkstack first, then the baselines). Repeats go
 * round-robin over the servers, rotating which goes first, so drift on the shared machine hits all alike;
 * each row carries forkstack's ratio to every baseline, measured in the same run.
 */
async function benchThroughput(servers, p, log) {
  const rows = [];
  for (const s of servers) {
    await createBucket(s.s3, "throughput");
    // Untimed warm-up: the first requests of a fresh process run in the interpreter, not JIT-compiled
    // code; without this the first repeat of the first row is 2× slower for either server.
    await throughputOnce(s, 4 * KB, 16, p.ops[4 * KB][16], "warm-small");
    await throughputOnce(s, 16 * MB, 4, 8, "warm-large");
  }
  const [ours, ...baselines] = servers;
  // BENCH_ROWS=16MBx16,4KBx1 measures only those rows (and BENCH_REPS=n overrides the repeats), for
  // working on one case; the README is written from full runs only.
  const only = process.env.BENCH_ROWS?.split(",");
  const reps = Number(process.env.BENCH_REPS) || p.reps;
  for (const [bytesKey, byConcurrency] of Object.entries(p.ops)) {
    const bytes = Number(bytesKey);
    for (const [cKey, n] of Object.entries(byConcurrency)) {
      const concurrency = Number(cKey);
      if (only && !only.includes(`${sizeLabel(bytes).replace(" ", "")}x${concurrency}`)) continue;
      const acc = Object.fromEntries(
        servers.map((s) => [
          s.name,
          Object.fromEntries(
            ["put", "get"].map((op) => [op, { rates: [], lat: [], serverCpu: [], clientCpu: [] }]),
          ),
        ]),
      );
      for (let rep = 0; rep < reps; rep++) {
        // Rotate which server goes first, so none always runs on a warmer (or busier) machine.
        const shift = rep % servers.length;
        const order = [...servers.slice(shift), ...servers.slice(0, shift)];
        for (const s of order) {
          const r = await throughputOnce(s, bytes, concurrency, n, `${bytes}-${concurrency}-${rep}`);
          for (const op of ["put", "get"]) {
            const a = acc[s.name][op];
            a.rates.push(n / (r[op].ms / 1000));
            a.lat.push(...r[op].latencies);
            a.serverCpu.push(r[op].serverCpuMs / n);
            a.clientCpu.push(r[op].clientCpuMs / n);
          }
        }
      }
      for (const op of ["put", "get"]) {
        const row = { bytes, concurrency, op: op.toUpperCase(), n, reps, ratios: {} };
        for (const s of servers) {
          const a = acc[s.name][op];
          const opsPerS = median(a.rates);
          row[s.name] = {
            opsPerS,
            mbPerS: (opsPerS * bytes) / MB,
            p50: percentile(a.lat, 50),
            p99: percentile(a.lat, 99),
            serverCpuMs: median(a.serverCpu),
            clientCpuMs: median(a.clientCpu),
          };
        }
        for (const b of baselines) row.ratios[b.name] = row[ours.name].opsPerS / row[b.name].opsPerS;
        row.ratio = row.ratios.s3rver;
        rows.push(row);
        log(
          `throughput ${sizeLabel(bytes)} ×${concurrency} ${row.op}: ` +
            servers
              .map(
                (s) =>
                  `${s.name} ${fmt(row[s.name].opsPerS)} ops/s (server CPU ${fmt(row[s.name].serverCpuMs, 2)} ms/op)`,
              )
              .join(", ") +
            baselines.map((b) => `; ×${fmt(row.ratios[b.name], 2)} vs ${b.name}`).join(""),
        );
      }
    }
  }
  return rows;
}

// ---- 2b. large objects against the local disk -------------------------------------------------

/** The same bytes written straight to a file on the store's filesystem, two ways, each fsynced. */
async function benchDisk(dir, bytes, runs) {
  const data = randomBytes(bytes);
  const oneShot = [];
  const streamed = [];
  for (let i = 0; i < runs; i++) {
    data.write(`one:${i}:`, 0);
    const a = join(dir, `one-${i}`);
    let t = performance.now();
    const fh = await open(a, "w");
    await fh.writeFile(data);
    await fh.sync();
    await fh.close();
    oneShot.push(performance.now() - t);
    // `dd bs=1M conv=fsync`: 1 MB writes from a reused buffer, one fsync at the end.
    const b = join(dir, `stream-${i}`);
    t = performance.now();
    const fd = openSync(b, "w");
    for (let off = 0; off < bytes; off += MB) writeSync(fd, data, off, Math.min(MB, bytes - off));
    fsyncSync(fd);
    closeSync(fd);
    streamed.push(performance.now() - t);
    unlinkSync(a);
    unlinkSync(b);
  }
  // What any S3 server that returns MD5 ETags and addresses blobs by SHA-256 must compute per byte.
  const hashing = [];
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    createHash("md5").update(data).digest();
    createHash("sha256").update(data).digest();
    hashing.push(performance.now() - t);
  }
  return {
    writeFile: bytes / MB / (median(oneShot) / 1000),
    streamed: bytes / MB / (median(streamed) / 1000),
    hashing: bytes / MB / (median(hashing) / 1000),
  };
}

// ---- 3. listing through a three-level fork chain -----------------------------------------------

/**
 * The plain bucket is a fork source from section 1 (n keys, one layer); the chain is three forks stacked
 * on it. Each level deletes `churn` keys it inherited, overwrites `churn` more and adds `churn` new ones,
 * so the deepest fork also shows exactly n keys, drawn from all four layers.
 */
async function benchList(s3, n, p, log) {
  const churn = p.listChurn;
  const key = (i) => `obj/${String(i).padStart(7, "0")}`;
  let parent = sourceOf(n);
  let done = 0;
  for (const level of [1, 2, 3]) {
    const name = `list-fork-${level}`;
    await fork(s3, name, parent);
    await pool(churn, 16, (i) => s3.send(new DeleteObjectCommand({ Bucket: name, Key: key(done + i) })));
    await pool(churn, 16, (i) =>
      s3.send(new PutObjectCommand({ Bucket: name, Key: key(done + churn + i), Body: `level ${level}` })),
    );
    done += 2 * churn;
    await load(s3, name, 0, churn, 256, `new-${level}/`);
    parent = name;
  }
  const times = { plain: [], deep: [] };
  const buckets = { plain: sourceOf(n), deep: parent };
  for (let i = -1; i < p.listRuns; i++) {
    // Alternate which goes first, so neither always lists right after the other warmed the caches.
    for (const which of i % 2 ? ["plain", "deep"] : ["deep", "plain"]) {
      const t = performance.now();
      const count = await listAll(s3, buckets[which]);
      const ms = performance.now() - t;
      if (count !== n) throw new Error(`listing ${buckets[which]}: ${count} keys, expected ${n}`);
      if (i >= 0) times[which].push(ms);
    }
  }
  const row = { keys: n, churn, plainMs: median(times.plain), deepMs: median(times.deep), runs: p.listRuns };
  row.ratio = row.deepMs / row.plainMs;
  log(`list ${n}: plain ${fmt(row.plainMs)} ms, 3 forks deep ${fmt(row.deepMs)} ms (${fmt(row.ratio, 2)}×)`);
  return row;
}

// ---- 4. server memory during a big upload ------------------------------------------------------

/** `total` bytes made on the fly in 1 MB chunks: nothing big is held in this process either. */
function generated(total) {
  const block = randomBytes(MB);
  let sent = 0;
  return new Readable({
    read() {
      if (sent >= total) return this.push(null);
      const chunk = Buffer.from(block.subarray(0, Math.min(MB, total - sent)));
      chunk.writeUInt32LE(sent / MB, 0);
      sent += chunk.length;
      this.push(chunk);
    },
  });
}

async function benchMemory(entry, base, p, cleanup, log) {
  const methods = {
    "multipart (lib-storage Upload, default 5 MB parts × 4)": (s3) =>
      new Upload({ client: s3, params: { Bucket: "big", Key: "big", Body: generated(p.bigBytes) } }).done(),
    "single PutObject, streamed (aws-chunked)": (s3) =>
      s3.send(
        new PutObjectCommand({
          Bucket: "big",
          Key: "big",
          Body: generated(p.bigBytes),
          ContentLength: p.bigBytes,
        }),
      ),
  };
  const rows = [];
  for (const [method, upload] of Object.entries(methods)) {
    // A fresh server (and store) per method, so each peak belongs to one upload alone.
    const root = mkdtempSync(join(base, "mem-"));
    const server = await startChild("forkstack", [entry, root, JSON.stringify(CREDS)], cleanup);
    const s3 = client(server.url, CREDS);
    // How long the server takes to answer CompleteMultipartUpload (metadata only: the parts are the object).
    let completeMs = NaN;
    s3.middlewareStack.add(
      (next, context) => async (args) => {
        if (context.commandName !== "CompleteMultipartUploadCommand") return next(args);
        const t = performance.now();
        try {
          return await next(args);
        } finally {
          completeMs = performance.now() - t;
        }
      },
      { step: "initialize", name: "benchCompleteTimer" },
    );
    try {
      await createBucket(s3, "big");
      const idle = server.memory();
      const t = performance.now();
      await upload(s3);
      const ms = performance.now() - t;
      const head = await s3.send(new GetObjectCommand({ Bucket: "big", Key: "big", Range: "bytes=0-0" }));
      const size = Number(head.ContentRange?.split("/")[1]);
      await drain(head.Body);
      if (size !== p.bigBytes) throw new Error(`${method}: stored ${size} bytes, expected ${p.bigBytes}`);
      const during = server.memory();
      const stored = diskUsage(root);
      await s3.send(new DeleteObjectCommand({ Bucket: "big", Key: "big" }));
      const { maxRss } = await server.stop();
      rows.push({
        method,
        bytes: p.bigBytes,
        idleRss: idle.rss,
        peak: during.hwm,
        maxRss,
        stored,
        completeMs,
        mbPerS: p.bigBytes / MB / (ms / 1000),
      });
      log(
        `memory ${method}: peak ${mb(during.hwm)} (idle ${mb(idle.rss)}), ${fmt(p.bigBytes / MB / (ms / 1000), 0)} MB/s`,
      );
    } finally {
      s3.destroy();
      await server.stop();
      rmSync(root, { recursive: true, force: true });
    }
  }
  return rows;
}

// ---- report ------------------------------------------------------------------------------------

/** The PUT/GET table with its notes (what `npm run bench -- storage-throughput` writes). */
function throughputMarkdown(r, p) {
  const names = ["forkstack", ...r.baselines.map((b) => b.name)];
  const labels = ["forkstack", ...r.baselines.map((b) => b.label)];
  const baselines = r.baselines;
  const cell = (x) =>
    `${fmt(x.opsPerS)} | ${fmt(x.mbPerS)} | ${fmt(x.p50, 1)} | ${fmt(x.p99, 1)} | ${fmt(x.serverCpuMs, 2)}`;
  const out = [
    `**PUT/GET vs ${baselines.map((b) => b.label).join(" and ")}.** Each row PUTs n distinct objects, then GETs ` +
      `them back; ${p.reps} repeat${p.reps > 1 ? "s" : ""} per server, round-robin over the servers with a ` +
      "rotating first one. ops/s and server CPU per op are medians of the repeats, latencies are over all requests; " +
      "the ratios are forkstack's ops/s over the baseline's, all from the same run.",
    "",
    "| object | clients | op | n | " +
      baselines.map((b) => `forkstack / ${b.name}`).join(" | ") +
      " | " +
      labels.map((l) => `${l} ops/s | MB/s | p50 ms | p99 ms | CPU ms/op`).join(" | ") +
      " |",
    `|---:|---:|---|---:|${baselines.map(() => "---:|").join("")}${names.map(() => "---:|---:|---:|---:|---:|").join("")}`,
    ...r.throughput.map(
      (row) =>
        `| ${sizeLabel(row.bytes)} | ${row.concurrency} | ${row.op} | ${row.n} | ` +
        baselines.map((b) => `${fmt(row.ratios[b.name], 2)}×`).join(" | ") +
        " | " +
        names.map((n) => cell(row[n])).join(" | ") +
        " |",
    ),
    "",
    `_Client: \`@aws-sdk/client-s3\` ${r.sdkVersion} in this process; each server in its own. forkstack is used with ` +
      "the SDK's default settings (CRC32 computed for every PUT and sent, response checksums validated on GET); " +
      's3rver with `requestChecksumCalculation: "WHEN_REQUIRED"`, because it stores aws-chunked bodies undecoded. ' +
      "Not like for like: forkstack verifies SigV4 and the CRC32, hashes every body twice (MD5 for the ETag, SHA-256 " +
      "to check the payload hash the SDK signs over plain HTTP), and fsyncs the blob, its directory and the metadata before it answers; s3rver " +
      "checks no signature, computes MD5 only and never fsyncs. CPU ms/op: the server's user + system time " +
      "(for Ceph, its gateway, OSD and monitor together)._",
    "",
    "_Ceph RGW is the fairer baseline: a production S3 server (Debian 12's `radosgw`, `ceph-mon`, `ceph-osd`; the " +
      "bench installs them with apt-get when it runs as root) that verifies SigV4, computes MD5 ETags and writes " +
      "each object durably through BlueStore before it answers. It runs as a one-node cluster (monitor, one OSD on a " +
      "sparse file on the same filesystem, the gateway with its beast frontend, pools of size 1, no cephx), so three " +
      "daemons share the 2 cores with the client. Its SDK client uses the defaults too; Ceph 16 ignores the CRC32 it is sent " +
      "(flexible checksums came in a later Ceph). Its small GETs take ~44 ms each at one client, which looks like a " +
      "delayed-ACK stall in its frontend; it is run as configured by default, not tuned. Other candidates checked: MinIO, Garage, SeaweedFS and VersityGW are " +
      "not in Debian 12 nor on npm (MinIO's npm package is its client); `@zenko/cloudserver` (Scality's S3 server) " +
      "is on npm but depends on GitHub-only packages (Arsenal, bucketclient, …) that cannot be installed here; " +
      "rclone 1.60 in Debian predates `rclone serve s3`; `fauxqs` and `@20minutes/s3rver` are emulators like " +
      "s3rver._" +
      (r.cephSkipped ? ` _In this run Ceph was skipped: ${r.cephSkipped}._` : ""),
  ];
  return out.join("\n");
}

function toMarkdown(r, p) {
  const out = [];
  const [small, , big] = r.forks;
  const forkRatio = big.forkMs / small.forkMs;
  const maxAdded = Math.max(...r.forks.map((f) => f.bytesPerFork));
  out.push(
    "**Fork time vs bucket size.** Tigris API (`CreateBucket` + `X-Tigris-Fork-Source-Bucket`) on a source of " +
      `${p.objectBytes / KB} KB objects. One source per size, all in one store; ${small.runs} forks per size, ` +
      "timed round-robin over the sizes, each force-deleted untimed before the next.",
    "",
    "| objects in source | loaded in (PUT, 64 in flight) | fork median | min | p90 | disk added per fork | a copy would add |",
    "|---:|---:|---:|---:|---:|---:|---:|",
    ...r.forks.map(
      (f) =>
        `| ${f.objects.toLocaleString("en-US")} | ${fmt(f.loadS)} s (${fmt(f.loadRate, 0)}/s) | ${fmt(f.forkMs, 2)} ms | ` +
        `${fmt(f.minMs, 2)} ms | ${fmt(f.p90Ms, 2)} ms | ${fmt(f.bytesPerFork / KB)} KB | ≥ ${mb(f.bucketBytes)} |`,
    ),
    "",
    `_Disk added: growth of the store root's allocated blocks (\`du\`: blobs, \`meta.sqlite\`, its WAL) over ` +
      `${p.forkBytesRuns} forks kept alive, divided by ${p.forkBytesRuns}. A fork is one row in the buckets ` +
      "table; it lands in WAL pages SQLite already allocated, so no new blocks show up._",
    "",
  );

  // Between its own markers, so `npm run bench -- storage-throughput` can refresh it alone.
  out.push(
    "<!-- bench:storage-throughput -->",
    "",
    throughputMarkdown(r, p),
    "",
    "<!-- /bench:storage-throughput -->",
    "",
  );

  const put16 = (c) =>
    r.throughput.find((row) => row.bytes === 16 * MB && row.concurrency === c && row.op === "PUT");
  const bestPut = Math.max(...[1, 16].map((c) => put16(c).forkstack.mbPerS));
  const diskBest = Math.max(r.disk.writeFile, r.disk.streamed);
  const diskRatio = diskBest / bestPut;
  out.push(
    `**16 MB objects vs the local disk** (same filesystem; disk rows: median of ${p.diskRuns} runs, each fsynced)`,
    "",
    "| writer | MB/s |",
    "|---|---:|",
    `| forkstack PUT, 1 client | ${fmt(put16(1).forkstack.mbPerS)} |`,
    `| forkstack PUT, 16 clients | ${fmt(put16(16).forkstack.mbPerS)} |`,
    `| \`fs.writeFile\` + fsync | ${fmt(r.disk.writeFile)} |`,
    `| 1 MB \`write\`s + fsync (like \`dd bs=1M conv=fsync\`) | ${fmt(r.disk.streamed)} |`,
    `| for scale, no I/O: MD5 + SHA-256 of the bytes on one core | ${fmt(r.disk.hashing)} |`,
    "",
  );

  const pages = Math.ceil(r.list.keys / 1000);
  out.push(
    `**ListObjectsV2 of ${r.list.keys.toLocaleString("en-US")} keys**, all pages of 1000 (median of ${r.list.runs}, ` +
      "alternating which bucket goes first)",
    "",
    "| bucket | all pages | per page |",
    "|---|---:|---:|",
    `| plain bucket (the fork source above) | ${fmt(r.list.plainMs)} ms | ${fmt(r.list.plainMs / pages, 1)} ms |`,
    `| fork → fork → fork of it; each level deletes ${r.list.churn}, overwrites ${r.list.churn}, adds ${r.list.churn} | ` +
      `${fmt(r.list.deepMs)} ms | ${fmt(r.list.deepMs / pages, 1)} ms |`,
    "",
  );

  out.push(
    `**Server memory while uploading one ${mb(p.bigBytes)} object** (generated stream; server in its own process, ` +
      "a fresh one per upload; peak = its VmHWM)",
    "",
    "| upload | peak RSS | RSS idle before | MB/s | of which CompleteMultipartUpload | store on disk after (before GC) |",
    "|---|---:|---:|---:|---:|---:|",
    ...r.memory.map(
      (m) =>
        `| ${m.method} | ${mb(m.peak)} | ${mb(m.idleRss)} | ${fmt(m.mbPerS, 0)} | ` +
        `${Number.isFinite(m.completeMs) ? `${fmt(m.completeMs / 1000)} s` : "–"} | ${mb(m.stored)} |`,
    ),
    "",
  );

  const mp = r.multipartMarkdown;
  out.push(mp.table);

  const behind = r.throughput.filter((row) => row.ratio < 1);
  const peak = Math.max(...r.memory.map((m) => m.peak));
  out.push(
    "**Targets**",
    "",
    `- Fork time flat, fork(${big.objects.toLocaleString("en-US")}) / fork(${small.objects}) ≤ 1.5×: ` +
      `${fmt(forkRatio, 2)}× (${fmt(big.forkMs, 2)} / ${fmt(small.forkMs, 2)} ms): ${verdict(forkRatio <= 1.5)}`,
    `- Bytes added by a fork ≈ 0: ${fmt(maxAdded / KB)} KB per fork at most: ${verdict(maxAdded <= 64 * KB)}`,
    `- Ahead of s3rver on every row: ahead on ${r.throughput.length - behind.length} of ${r.throughput.length}` +
      `${behind.length ? `; behind on ${behind.map((b) => `${sizeLabel(b.bytes)} ×${b.concurrency} ${b.op} (${fmt(b.ratio, 2)}×)`).join(", ")}` : ""}: ` +
      verdict(behind.length === 0),
    ...r.baselines
      .filter((b) => b.name !== "s3rver")
      .map((b) => {
        const ahead = r.throughput.filter((row) => row.ratios[b.name] >= 1).length;
        return `- Against ${b.label}: ahead on ${ahead} of ${r.throughput.length} rows (no target)`;
      }),
    `- 16 MB PUT within 2× of the local disk: best disk ${fmt(diskBest, 0)} MB/s / best forkstack ${fmt(bestPut, 0)} MB/s ` +
      `= ${fmt(diskRatio, 1)}×: ${verdict(diskRatio <= 2)}`,
    `- Listing 3 forks deep vs a plain bucket: ${fmt(r.list.ratio, 2)}× (no target)`,
    `- Server peak RSS < 200 MB while uploading ${mb(p.bigBytes)}: ${mb(peak)}: ${verdict(peak < 200 * MB)}`,
    ...mp.targets,
  );
  return out.join("\n");
}

// ---- entry -------------------------------------------------------------------------------------

/** The helpers bench/storage-multipart.mjs borrows (it also runs alone: `node bench/storage-multipart.mjs`). */
export const helpers = {
  startChild,
  client,
  createBucket,
  diskUsage,
  drain,
  generated,
  Cleanup,
  CREDS,
  ROOT,
};

/**
 * The baselines for the PUT/GET rows, each in its own process(es) with its own client: s3rver always,
 * Ceph's gateway when it can be had here (otherwise `skipped` says why, and the table says so).
 */
async function startBaselines(base, cleanup, log) {
  const s3rverRoot = join(base, "s3rver");
  mkdirSync(s3rverRoot);
  const s3rver = await startChild("s3rver", [s3rverRoot], cleanup);
  const s3rverClient = client(s3rver.url, S3RVER_CREDS, { requestChecksumCalculation: "WHEN_REQUIRED" });
  cleanup.add(() => s3rverClient.destroy());
  const servers = [
    {
      name: "s3rver",
      label: "s3rver 3.7.1",
      s3: s3rverClient,
      pid: s3rver.pid,
      stop: async () => {
        await s3rver.stop();
        rmSync(s3rverRoot, { recursive: true, force: true });
      },
    },
  ];
  let skipped;
  if (process.env.BENCH_NO_CEPH) skipped = "BENCH_NO_CEPH is set";
  else {
    const cephRoot = join(base, "ceph");
    try {
      const rgw = await startCephRgw(cephRoot, cleanup, log);
      if (rgw.skipped) skipped = rgw.skipped;
      else {
        // The SDK's defaults, as for forkstack (Ceph 16 ignores the CRC32 it sends: it predates them).
        const rgwClient = client(rgw.url, CEPH_CREDS, { region: "us-east-1" });
        cleanup.add(() => rgwClient.destroy());
        servers.push({
          name: "ceph",
          label: `Ceph RGW ${rgw.version}`,
          s3: rgwClient,
          pid: rgw.pids,
          stop: async () => {
            await rgw.stop();
            rmSync(cephRoot, { recursive: true, force: true });
          },
        });
      }
    } catch (error) {
      skipped = `Ceph did not start: ${String(error.message ?? error).split("\n")[0]}`;
    }
  }
  if (skipped) log(`baseline: Ceph RGW skipped (${skipped})`);
  return { servers, skipped };
}

export async function run({
  quick = false,
  only = undefined,
  log = (line) => process.stderr.write(`${line}\n`),
} = {}) {
  const p = plan(quick);
  const cleanup = new Cleanup();
  try {
    const built = join(ROOT, "dist");
    if (!existsSync(join(built, "storage-server/index.js"))) {
      throw new Error("dist/storage-server/index.js is missing: run `npm run build` first");
    }
    // A private copy of the build, inside the repo so `node_modules` still resolves: a colleague's
    // `npm run build` (which empties dist/) must not pull the server out from under a running bench.
    const cache = join(ROOT, "node_modules/.cache");
    mkdirSync(cache, { recursive: true });
    const distCopy = mkdtempSync(join(cache, "forkstack-bench-storage-"));
    cleanup.add(() => rmSync(distCopy, { recursive: true, force: true }));
    cpSync(built, distCopy, { recursive: true });
    const entry = pathToFileURL(join(distCopy, "storage-server/index.js")).href;

    const base = mkdtempSync(join(tmpdir(), "forkstack-bench-storage-"));
    cleanup.add(() => rmSync(base, { recursive: true, force: true }));
    const fsRoot = join(base, "forkstack");

    const fsServer = await startChild("forkstack", [entry, fsRoot, JSON.stringify(CREDS)], cleanup);
    // BENCH_FS_CLIENT=like-s3rver drives forkstack with s3rver's client settings (no CRC32 computed by
    // the client, no aws-chunked body), to separate the client's checksum work from the server's; for
    // looking only (with BENCH_ROWS): the README's table is the SDK's defaults.
    const likeS3rver = process.env.BENCH_FS_CLIENT === "like-s3rver";
    const fsClient = client(
      fsServer.url,
      CREDS,
      likeS3rver ? { requestChecksumCalculation: "WHEN_REQUIRED" } : {},
    );
    cleanup.add(() => fsClient.destroy());
    const baselines = await startBaselines(base, cleanup, log);

    const results = {
      sdkVersion: JSON.parse(readFileSync(join(ROOT, "node_modules/@aws-sdk/client-s3/package.json"), "utf8"))
        .version,
      baselines: baselines.servers.map(({ name, label }) => ({ name, label })),
      cephSkipped: baselines.skipped,
    };
    results.throughput = await benchThroughput(
      [{ name: "forkstack", label: "forkstack", s3: fsClient, pid: fsServer.pid }, ...baselines.servers],
      p,
      log,
    );
    for (const b of baselines.servers) await b.stop();
    if (only === "throughput") {
      const rows = results.throughput.map((r) => ({ section: "throughput", ...r }));
      return { rows, markdown: throughputMarkdown(results, p) };
    }
    results.disk = await benchDisk(base, 16 * MB, p.diskRuns);
    log(
      `disk: writeFile ${fmt(results.disk.writeFile, 0)} MB/s, streamed ${fmt(results.disk.streamed, 0)} MB/s`,
    );
    results.forks = await benchForks(fsClient, fsRoot, p, log);
    results.list = await benchList(fsClient, p.forkSizes[1], p, log);
    await fsServer.stop();
    rmSync(fsRoot, { recursive: true, force: true });
    spawnSync("sync");
    results.memory = await benchMemory(entry, base, p, cleanup, log);
    // Imported here, not at the top: storage-multipart.mjs also runs alone and then imports this file.
    const { benchMultipart, multipartMarkdown } = await import("./storage-multipart.mjs");
    results.multipart = await benchMultipart(
      { startChild, client, createBucket, diskUsage, drain, generated },
      { entry, base, creds: CREDS, cleanup, quick, log },
    );
    results.multipartMarkdown = multipartMarkdown(results.multipart);
    const rows = [
      ...results.forks.map((r) => ({ section: "fork", ...r })),
      ...results.throughput.map((r) => ({ section: "throughput", ...r })),
      { section: "disk", ...results.disk },
      { section: "list", ...results.list },
      ...results.memory.map((r) => ({ section: "memory", ...r })),
      ...results.multipart.complete.map((r) => ({ section: "multipart-complete", ...r })),
      { section: "multipart-get", ...results.multipart.get },
    ];
    return { rows, markdown: toMarkdown(results, p) };
  } finally {
    await cleanup.run();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const quick = process.argv.includes("--quick") || !!process.env.BENCH_QUICK;
  const only = process.argv.includes("--throughput") ? "throughput" : undefined;
  const { markdown } = await run({ quick, only });
  process.stdout.write(`${markdown}\n`);
}
