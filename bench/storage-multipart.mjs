// Multipart objects stored as their parts (issue 8 §3), for bench/storage.mjs:
//  - CompleteMultipartUpload time for a small and a 1 GB upload (target: big within 2× of small; a
//    Complete that copied the parts would grow with the size);
//  - disk used by the store after the big Complete, against the object size (target ≤ 1.05×);
//  - GET throughput of a multipart object against a single-part one of the same size (target: within
//    10 %), read alternately so drift hits both alike.
// Each size gets a fresh server process and store, so the disk figure belongs to that one object.
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { GetObjectCommand, PutObjectCommand } from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";

const MB = 1024 * 1024;
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const fmt = (n, digits = 1) => (Number.isFinite(n) ? n.toFixed(digits) : "–");
const verdict = (ok) => (ok ? "**met**" : "**not met**");

export function multipartPlan(quick) {
  return quick
    ? { smallBytes: 10 * MB, bigBytes: 128 * MB, smallRuns: 3, bigRuns: 3, getBytes: 64 * MB, getRuns: 5 }
    : { smallBytes: 10 * MB, bigBytes: 1024 * MB, smallRuns: 7, bigRuns: 5, getBytes: 256 * MB, getRuns: 7 };
}

/**
 * Times how long the server takes to answer CompleteMultipartUpload: from the request going out to its
 * answer, innermost in the SDK's middleware stack (after the response deserializer, so around the HTTP
 * exchange alone). Timing from the outermost step also counted the SDK building and signing the XML
 * part list on this side, which grows with the part count (128 parts vs 2) and is no work of the server.
 */
function timeCompletes(s3) {
  const times = [];
  s3.middlewareStack.add(
    (next, context) => async (args) => {
      if (context.commandName !== "CompleteMultipartUploadCommand") return next(args);
      const t = performance.now();
      try {
        return await next(args);
      } finally {
        times.push(performance.now() - t);
      }
    },
    { step: "deserialize", priority: "low", name: "benchMultipartCompleteTimer" },
  );
  return times;
}

const PART = 8 * MB; // the aws CLI's part size

/**
 * `h` holds the helpers of bench/storage.mjs: startChild(kind, args, cleanup), client(url, creds),
 * createBucket(s3, name), diskUsage(dir), drain(body), generated(bytes).
 */
export async function benchMultipart(h, { entry, base, creds, cleanup, quick, log }) {
  const p = multipartPlan(quick);
  const complete = [];
  for (const [label, bytes, runs] of [
    ["small", p.smallBytes, p.smallRuns],
    ["big", p.bigBytes, p.bigRuns],
  ]) {
    const root = mkdtempSync(join(base, `mpu-${label}-`));
    const server = await h.startChild("forkstack", [entry, root, JSON.stringify(creds)], cleanup);
    const s3 = h.client(server.url, creds);
    const times = timeCompletes(s3);
    try {
      await h.createBucket(s3, "mpu");
      const empty = h.diskUsage(root);
      let stored = NaN;
      for (let i = 0; i < runs; i++) {
        const key = `obj-${i}`;
        await new Upload({
          client: s3,
          params: { Bucket: "mpu", Key: key, Body: h.generated(bytes) },
          partSize: PART,
          queueSize: 4,
        }).done();
        // Disk after the first Complete, before anything else is written or collected.
        if (i === 0) stored = h.diskUsage(root) - empty;
      }
      const row = { label, bytes, runs, parts: Math.ceil(bytes / PART), completeMs: median(times), stored };
      log(
        `multipart ${bytes / MB} MB: Complete ${fmt(row.completeMs)} ms (${row.parts} parts), disk ${fmt(stored / bytes, 3)}× the object`,
      );
      complete.push(row);
    } finally {
      s3.destroy();
      await server.stop();
      rmSync(root, { recursive: true, force: true });
    }
  }

  // GET throughput: one single-part and one multipart object of the same size, read alternately.
  const root = mkdtempSync(join(base, "mpu-get-"));
  const server = await h.startChild("forkstack", [entry, root, JSON.stringify(creds)], cleanup);
  // The SDK validates a response CRC only when the object has a full-object one (the PutObject does,
  // a plain multipart object does not): without validation both GETs measure the server alone.
  const s3 = h.client(server.url, creds, { responseChecksumValidation: "WHEN_REQUIRED" });
  const get = { bytes: p.getBytes, runs: p.getRuns, single: [], multipart: [] };
  try {
    await h.createBucket(s3, "get");
    await s3.send(
      new PutObjectCommand({
        Bucket: "get",
        Key: "single",
        Body: h.generated(p.getBytes),
        ContentLength: p.getBytes,
      }),
    );
    await new Upload({
      client: s3,
      params: { Bucket: "get", Key: "multipart", Body: h.generated(p.getBytes) },
      partSize: PART,
      queueSize: 4,
    }).done();
    for (let i = -1; i < p.getRuns; i++) {
      for (const which of i % 2 ? ["single", "multipart"] : ["multipart", "single"]) {
        const t = performance.now();
        const r = await s3.send(new GetObjectCommand({ Bucket: "get", Key: which }));
        const n = await h.drain(r.Body);
        const s = (performance.now() - t) / 1000;
        if (n !== p.getBytes) throw new Error(`GET ${which}: ${n} bytes, expected ${p.getBytes}`);
        if (i >= 0) get[which].push(n / MB / s);
      }
    }
  } finally {
    s3.destroy();
    await server.stop();
    rmSync(root, { recursive: true, force: true });
  }
  get.singleMbPerS = median(get.single);
  get.multipartMbPerS = median(get.multipart);
  get.ratio = get.multipartMbPerS / get.singleMbPerS;
  log(
    `multipart GET ${p.getBytes / MB} MB: single-part ${fmt(get.singleMbPerS, 0)} MB/s, multipart ${fmt(get.multipartMbPerS, 0)} MB/s`,
  );
  return { complete, get };
}

export function multipartMarkdown(r) {
  const [small, big] = r.complete;
  const completeRatio = big.completeMs / small.completeMs;
  const diskRatio = big.stored / big.bytes;
  return {
    table: [
      `**Multipart objects are stored as their parts** (lib-storage \`Upload\`, ${PART / MB} MB parts; a fresh ` +
        "server and store per size; Complete time from the request going out to its answer, not counting the SDK building the part list; median of the runs)",
      "",
      "| object | parts | runs | CompleteMultipartUpload | store on disk after Complete |",
      "|---:|---:|---:|---:|---:|",
      ...r.complete.map(
        (c) =>
          `| ${c.bytes / MB} MB | ${c.parts} | ${c.runs} | ${fmt(c.completeMs)} ms | ${fmt(c.stored / MB)} MB (${fmt(c.stored / c.bytes, 3)}×) |`,
      ),
      "",
      `| GET of a ${r.get.bytes / MB} MB object (median of ${r.get.runs}, alternating) | MB/s |`,
      "|---|---:|",
      `| single-part (PutObject) | ${fmt(r.get.singleMbPerS, 0)} |`,
      `| multipart (${Math.ceil(r.get.bytes / PART)} parts) | ${fmt(r.get.multipartMbPerS, 0)} |`,
      "",
    ].join("\n"),
    targets: [
      `- Complete of ${big.bytes / MB} MB within 2× of ${small.bytes / MB} MB: ${fmt(big.completeMs)} / ` +
        `${fmt(small.completeMs)} ms = ${fmt(completeRatio, 2)}×: ${verdict(completeRatio <= 2)}`,
      `- Disk after Complete ≤ 1.05× the object: ${fmt(diskRatio, 3)}×: ${verdict(diskRatio <= 1.05)}`,
      `- Multipart GET within 10 % of single-part: ${fmt(r.get.ratio, 2)}×: ${verdict(r.get.ratio >= 0.9)}`,
    ],
  };
}

// Standalone: `node bench/storage-multipart.mjs [--quick]` runs only this section (after `npm run build`).
if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const { helpers } = await import("./storage.mjs");
  const built = join(helpers.ROOT, "dist/storage-server/index.js");
  if (!existsSync(built))
    throw new Error("dist/storage-server/index.js is missing: run `npm run build` first");
  const cleanup = new helpers.Cleanup();
  const base = mkdtempSync(join(tmpdir(), "forkstack-bench-mpu-"));
  try {
    const r = await benchMultipart(helpers, {
      entry: pathToFileURL(built).href,
      base,
      creds: helpers.CREDS,
      cleanup,
      quick: process.argv.includes("--quick"),
      log: (line) => process.stderr.write(`${line}\n`),
    });
    const md = multipartMarkdown(r);
    process.stdout.write(`${md.table}\n${md.targets.join("\n")}\n`);
  } finally {
    await cleanup.run();
    rmSync(base, { recursive: true, force: true });
  }
}
