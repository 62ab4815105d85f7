/**
 * @module cli/progress
 * Step-by-step progress of multi-resource work on stderr. On a TTY each resource has a line that a
 * spinner animates until it is done; elsewhere (CI, pipes) a plain line is printed when a step ends.
 */
import type { StepEvent } from "../core/steps.js";
import type { CopyProgress, ResourceInfo } from "../providers/types.js";
import { formatBytes, formatMs, type Io } from "./output.js";

const FRAMES = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];

interface Line {
  label: string;
  state: "running" | "done" | "failed" | "rollback";
  detail: string;
}

/** `copying 4,312/10,000 objects · 12.0 MB/30.0 MB · 850 objects/s · 41.2 MB/s · ETA 7 s` */
export function describeCopy(p: CopyProgress): string {
  const seconds = (p.elapsedMs ?? 0) / 1000;
  const total = (n: number) => (p.listed ? n.toLocaleString("en-US") : `${n.toLocaleString("en-US")}+`);
  const parts = [
    `copying ${p.objects.toLocaleString("en-US")}/${total(p.totalObjects)} objects`,
    `${formatBytes(p.bytes)}/${p.listed ? formatBytes(p.totalBytes) : `${formatBytes(p.totalBytes)}+`}`,
  ];
  if (seconds > 0 && p.objects > 0) {
    parts.push(`${Math.round(p.objects / seconds).toLocaleString("en-US")} objects/s`);
    parts.push(`${formatBytes(p.bytes / seconds)}/s`);
    // By objects or by bytes, whichever is further behind (many small objects, or a few big ones).
    const left = Math.max(1 - p.objects / p.totalObjects, p.totalBytes ? 1 - p.bytes / p.totalBytes : 0);
    const done = 1 - left;
    if (p.listed && done > 0 && left > 0) parts.push(`ETA ${formatMs(((seconds * left) / done) * 1000)}`);
  }
  return parts.join(" · ");
}

/** Without a live terminal, a long copy prints its progress this often. */
const PLAIN_PROGRESS_EVERY_MS = 5_000;

function describeDone(info: ResourceInfo | undefined, ms: number | undefined): string {
  const parts = [info?.method, formatMs(ms)];
  if (info?.bytesAdded !== undefined) parts.push(`+${formatBytes(info.bytesAdded)}`);
  return parts.filter(Boolean).join(", ");
}

export interface Progress {
  onStep(event: StepEvent): void;
  stop(): void;
}

export function createProgress(io: Io, verb: string): Progress {
  const lines = new Map<string, Line>();
  let drawn = 0;
  let frame = 0;
  let timer: NodeJS.Timeout | undefined;
  let printed = 0;

  const render = (line: Line): string => {
    const icon =
      line.state === "running"
        ? io.paint("cyan", FRAMES[frame % FRAMES.length]!)
        : line.state === "done"
          ? io.paint("green", "✓")
          : line.state === "failed"
            ? io.paint("red", "✗")
            : io.paint("yellow", "↺");
    return `${icon} ${line.label.padEnd(22)} ${io.paint("dim", line.detail)}`;
  };

  const redraw = () => {
    if (drawn) io.stderr.write(`\x1b[${drawn}A`);
    for (const line of lines.values()) io.stderr.write(`\x1b[2K${render(line)}\n`);
    drawn = lines.size;
  };

  return {
    onStep(event) {
      if (event.phase === "prepared") {
        const line: Line = {
          label: `${event.kind} (${event.provider})`,
          state: "done",
          detail: `backend ready, ${formatMs(event.ms)}`,
        };
        lines.set(`${event.kind}:prepare`, line);
        if (io.live) redraw();
        else io.err(render(line));
        return;
      }
      const key = event.kind;
      const label = `${event.kind} (${event.provider})`;
      const line: Line = lines.get(key) ?? { label, state: "running", detail: `${verb}…` };
      if (event.phase === "start") Object.assign(line, { state: "running", detail: `${verb}…` });
      if (event.phase === "removing") Object.assign(line, { state: "running", detail: "removing…" });
      if (event.phase === "progress" && event.progress) {
        Object.assign(line, { state: "running", detail: describeCopy(event.progress) });
        if (!io.live) {
          lines.set(key, line);
          const now = Date.now();
          if (!printed)
            printed = now; // a copy that ends within the interval prints only its result
          else if (now - printed >= PLAIN_PROGRESS_EVERY_MS) {
            printed = now;
            io.err(render(line));
          }
          return;
        }
      }
      if (event.phase === "done")
        Object.assign(line, { state: "done", detail: describeDone(event.info, event.ms) });
      if (event.phase === "adopted") {
        Object.assign(line, {
          state: "done",
          detail: `adopted the existing one (${event.info?.location ?? "?"}), ${formatMs(event.ms)}`,
        });
      }
      if (event.phase === "failed") {
        Object.assign(line, {
          state: "failed",
          detail: `failed after ${formatMs(event.ms)}: ${(event.error as Error)?.message}`,
        });
      }
      if (event.phase === "rollback")
        Object.assign(line, { state: "rollback", detail: "removing (rollback)" });
      lines.set(key, line);
      if (io.live) {
        timer ??= setInterval(() => {
          frame++;
          redraw();
        }, 80);
        redraw();
      } else if (event.phase !== "start" && event.phase !== "removing" && event.phase !== "progress") {
        io.err(render(line));
      }
    },
    stop() {
      if (timer) clearInterval(timer);
      if (io.live && lines.size) redraw();
    },
  };
}
