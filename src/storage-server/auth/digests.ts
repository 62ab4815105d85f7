/**
 * @module storage-server/auth/digests
 * MD5 (the ETag, always) and SHA-256 (only to check a signed `x-amz-content-sha256`; it then also
 * names the blob) of a request body. Together they cost ~35 ms of CPU per 16 MB (MD5 ~25 of it): on
 * the event loop that caps one upload's speed and stalls every other request meanwhile.
 * So large bodies are hashed on a worker thread, in parallel with the event loop receiving, checking
 * CRCs and writing the bytes; small ones inline, where a message round trip would cost more than
 * the hash.
 *
 * Bytes reach the workers (one per algorithm, so two hashes also run in parallel) copied once
 * into fixed-size SharedArrayBuffer slabs that both read and that are reused once both acked them
 * (no per-chunk allocation or message copy). The decoder waits (`drained`) while more than
 * `MAX_IN_FLIGHT` bytes of an upload are unhashed, so a slow worker slows the client instead of
 * filling memory.
 *
 * Every large body goes to the threads, however many are in flight. (An earlier cap of two jobs, the
 * rest hashed inline, put the hashing of 14 of 16 concurrent uploads on the event loop: profiled at
 * 16 × 16 MB, the loop spent a third of its time in MD5/SHA-256 while both threads sat idle 96 % of
 * the time, so every request, including GETs, queued behind it.) Each job holds at most
 * `MAX_IN_FLIGHT / SLAB_BYTES + 1` slabs, so memory grows with concurrent uploads the way their
 * socket and write buffers already do, and spare slabs are kept only up to `SPARE_SLABS`.
 */
import { createHash, type Hash } from "node:crypto";
import { Worker } from "node:worker_threads";

export interface BodyDigests {
  readonly md5: Buffer;
  /** Only when asked for (`createDigests(…, true)`). */
  readonly sha256: Buffer | undefined;
}

export interface Digests {
  update(data: Uint8Array): void;
  /** Resolves when the hasher can take more (undefined: it can right now). */
  drained(): Promise<void> | undefined;
  digest(): Promise<BodyDigests>;
  /** The body failed: release what the hasher holds. */
  abort(): void;
}

/** Bodies at least this large (or of unknown length) are hashed off the event loop. */
export const OFF_THREAD_MIN_BYTES = 1024 * 1024;
/**
 * 2 MB: each slab costs one `postMessage` per thread (~0.1 ms each, measured: 5 % of the event
 * loop at 1 MB slabs with 16 uploads), and one ack back. Two in flight keep one upload's receiving and
 * hashing overlapped (the decoder fills the next slab while the threads hash the last).
 */
const SLAB_BYTES = 2 * 1024 * 1024;
const MAX_IN_FLIGHT = 2 * SLAB_BYTES;
/**
 * Slabs kept for reuse (48 MB): enough for 8 uploads at full stride. Fresh SharedArrayBuffers are
 * external memory the GC must trace and free; with a pool sized for two jobs, 16 uploads allocated
 * ~16 MB of them per request and the event loop's GC time went from 8 % to 11 %.
 */
const SPARE_SLABS = 24;

/**
 * MD5 always (the ETag); SHA-256 only when `sha256` (a signed payload hash to check): costing a
 * quarter of the hashing, it is not computed just to name the blob.
 */
export function createDigests(expectedBytes: number | undefined, sha256: boolean): Digests {
  const small = expectedBytes !== undefined && expectedBytes < OFF_THREAD_MIN_BYTES;
  const algorithms: readonly Algorithm[] = sha256 ? ["md5", "sha256"] : ["md5"];
  return small ? new InlineDigests(algorithms) : new WorkerDigests(algorithms);
}

class InlineDigests implements Digests {
  private readonly md5 = createHash("md5");
  private readonly sha256: Hash | undefined;
  constructor(algorithms: readonly Algorithm[]) {
    this.sha256 = algorithms.includes("sha256") ? createHash("sha256") : undefined;
  }
  update(data: Uint8Array): void {
    this.md5.update(data);
    this.sha256?.update(data);
  }
  drained(): undefined {
    return undefined;
  }
  async digest(): Promise<BodyDigests> {
    return { md5: this.md5.digest(), sha256: this.sha256?.digest() };
  }
  abort(): void {}
}

// Source run with `eval`, so it survives bundling (no separate file to locate at runtime). An eval
// worker is CommonJS or ESM depending on the process's flags (`node --input-type=module` makes it
// ESM), so it uses neither `require` nor `import`: process.getBuiltinModule works in both (≥ 20.16).
// A task is one algorithm over one body; a body's MD5 and SHA-256 go to different threads when it
// can help, so they run in parallel with each other (and with the event loop).
export const WORKER_SOURCE = `
const { parentPort } = process.getBuiltinModule("node:worker_threads");
const { createHash } = process.getBuiltinModule("node:crypto");
const jobs = new Map();
parentPort.on("message", (m) => {
  if (m.type === "open") return void jobs.set(m.id, createHash(m.algorithm));
  const hash = jobs.get(m.id);
  if (m.type === "drop" || hash === undefined) return void jobs.delete(m.id);
  if (m.type === "data") {
    hash.update(new Uint8Array(m.slab, 0, m.length));
    parentPort.postMessage({ type: "ack", id: m.id, seq: m.seq, length: m.length });
  } else {
    jobs.delete(m.id);
    parentPort.postMessage({ type: "done", id: m.id, hex: hash.digest("hex") });
  }
});`;

type WorkerReply =
  { type: "ack"; id: number; seq: number; length: number } | { type: "done"; id: number; hex: string };
type Algorithm = "md5" | "sha256";
/** Relative CPU cost per byte (MD5 is ~2.5× SHA-256 with SHA extensions), to balance the threads. */
const COST: Readonly<Record<Algorithm, number>> = { md5: 3, sha256: 1 };

interface JobHandlers {
  acked(seq: number): void;
  done(hex: string): void;
  failed(error: Error): void;
}

/** A hashing thread, started on first use, unref'd so it never keeps the process up. */
class HashThread {
  private worker: Worker | undefined;
  private readonly jobs = new Map<number, JobHandlers & { cost: number }>();
  /** Weighted bytes sent and not yet acked: how far behind this thread is. */
  load = 0;
  /** Summed cost weight of the tasks open here: what this thread will have to hash. */
  assigned = 0;

  open(id: number, algorithm: Algorithm, handlers: JobHandlers): void {
    this.jobs.set(id, { ...handlers, cost: COST[algorithm] });
    this.assigned += COST[algorithm];
    this.ensureWorker().postMessage({ type: "open", id, algorithm });
  }

  /** The slab is shared, not copied: the caller must not reuse it before the ack of `seq`. */
  send(id: number, seq: number, slab: SharedArrayBuffer, length: number): void {
    this.load += length * (this.jobs.get(id)?.cost ?? 0);
    this.ensureWorker().postMessage({ type: "data", id, seq, slab, length });
  }

  end(id: number): void {
    this.ensureWorker().postMessage({ type: "end", id });
  }

  drop(id: number): void {
    const job = this.jobs.get(id);
    if (job === undefined) return;
    this.forget(id, job.cost);
    this.worker?.postMessage({ type: "drop", id });
  }

  private forget(id: number, cost: number): void {
    if (this.jobs.delete(id)) this.assigned -= cost;
  }

  private ensureWorker(): Worker {
    if (this.worker !== undefined) return this.worker;
    const worker = new Worker(WORKER_SOURCE, { eval: true });
    worker.unref();
    worker.on("message", (m: WorkerReply) => {
      const job = this.jobs.get(m.id);
      if (m.type === "ack") {
        this.load -= m.length * (job?.cost ?? 0);
        job?.acked(m.seq);
      } else {
        this.forget(m.id, job?.cost ?? 0);
        job?.done(m.hex);
      }
    });
    // A dead worker fails the uploads it was hashing (they answer 500); the next upload starts anew.
    const fail = (error: Error): void => {
      if (this.worker !== worker) return;
      this.worker = undefined;
      const jobs = [...this.jobs.values()];
      this.jobs.clear();
      this.load = 0;
      this.assigned = 0;
      for (const job of jobs) job.failed(error);
    };
    worker.on("error", fail);
    worker.on("exit", (code) => fail(new Error(`hash worker exited with code ${code}`)));
    this.worker = worker;
    return worker;
  }
}

const threads = [new HashThread(), new HashThread()] as const;

/**
 * The thread not in `taken` with the least work assigned (MD5 first, so the costlier task picks
 * first); by backlog on a tie. Choosing by backlog alone sent every MD5 to the first thread whenever
 * both were caught up at the moment a body started, so one thread did 3/4 of the hashing.
 */
function pickThread(taken: readonly HashThread[]): HashThread {
  const free = threads.filter((t) => !taken.includes(t));
  return (free.length > 0 ? free : threads).reduce((a, b) =>
    b.assigned < a.assigned || (b.assigned === a.assigned && b.load < a.load) ? b : a,
  );
}
const spareSlabs: SharedArrayBuffer[] = [];
let nextJobId = 1;

class WorkerDigests implements Digests {
  /** One task per algorithm (ALGORITHMS order): its thread and id there. */
  private readonly tasks: { thread: HashThread; id: number }[] = [];
  private slab: SharedArrayBuffer | undefined;
  private filled = 0;
  private inFlight = 0;
  /**
   * Shipped slabs by sequence number (a SharedArrayBuffer posted back arrives as a new object, so
   * acks name the number): the slab, its bytes, and how many threads have yet to ack it.
   */
  private readonly slabs = new Map<number, { slab: SharedArrayBuffer; bytes: number; pending: number }>();
  private shipped = 0;
  private readonly hex: (string | undefined)[];
  private waiter: { promise: Promise<void>; resolve: () => void } | undefined;
  private readonly result: Promise<BodyDigests>;
  private settle!: { resolve: () => void; reject: (error: Error) => void };
  private error: Error | undefined;

  constructor(algorithms: readonly Algorithm[]) {
    this.hex = algorithms.map(() => undefined);
    this.result = new Promise<void>((resolve, reject) => (this.settle = { resolve, reject })).then(() => ({
      md5: Buffer.from(this.hex[0]!, "hex"),
      sha256: this.hex[1] === undefined ? undefined : Buffer.from(this.hex[1], "hex"),
    }));
    // Observed by digest(); without this a failure on an aborted body would be an unhandled rejection.
    this.result.catch(() => undefined);
    algorithms.forEach((algorithm, i) => {
      const thread = pickThread(this.tasks.map((t) => t.thread));
      const id = nextJobId++;
      this.tasks.push({ thread, id });
      thread.open(id, algorithm, {
        acked: (seq) => this.acked(seq),
        done: (hex) => {
          this.hex[i] = hex;
          if (this.hex.every((h) => h !== undefined)) this.settle.resolve();
        },
        failed: (error) => {
          this.error ??= error;
          this.settle.reject(error);
          this.wake();
        },
      });
    });
  }

  update(data: Uint8Array): void {
    let offset = 0;
    while (offset < data.byteLength) {
      this.slab ??= spareSlabs.pop() ?? new SharedArrayBuffer(SLAB_BYTES);
      const n = Math.min(data.byteLength - offset, SLAB_BYTES - this.filled);
      new Uint8Array(this.slab, this.filled, n).set(data.subarray(offset, offset + n));
      this.filled += n;
      offset += n;
      if (this.filled === SLAB_BYTES) this.ship();
    }
  }

  drained(): Promise<void> | undefined {
    if (this.error !== undefined) return Promise.reject(this.error);
    if (this.inFlight < MAX_IN_FLIGHT) return undefined;
    if (this.waiter === undefined) {
      let resolve!: () => void;
      const promise = new Promise<void>((r) => (resolve = r));
      this.waiter = { promise, resolve };
    }
    return this.waiter.promise;
  }

  digest(): Promise<BodyDigests> {
    if (this.filled > 0) this.ship();
    if (this.error === undefined) for (const t of this.tasks) t.thread.end(t.id);
    return this.result;
  }

  abort(): void {
    for (const t of this.tasks) t.thread.drop(t.id);
    this.wake();
  }

  private ship(): void {
    const slab = this.slab!;
    this.slab = undefined;
    this.inFlight += this.filled;
    const seq = this.shipped++;
    this.slabs.set(seq, { slab, bytes: this.filled, pending: this.tasks.length });
    if (this.error === undefined) for (const t of this.tasks) t.thread.send(t.id, seq, slab, this.filled);
    this.filled = 0;
  }

  private acked(seq: number): void {
    const entry = this.slabs.get(seq);
    if (entry === undefined || --entry.pending > 0) return;
    // Both threads are done with it: reusable.
    this.slabs.delete(seq);
    if (spareSlabs.length < SPARE_SLABS) spareSlabs.push(entry.slab);
    this.inFlight -= entry.bytes;
    if (this.inFlight < MAX_IN_FLIGHT) this.wake();
  }

  private wake(): void {
    const w = this.waiter;
    this.waiter = undefined;
    w?.resolve();
  }
}
