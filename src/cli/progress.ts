/**
 * @module cli/progress
 * Step-by-step progress of multi-resource work on stderr. On a TTY each resource has a line that a
 * spinner animates until it is done; elsewhere (CI, pipes) a plain line is printed when a step ends.
 */
import type { StepEvent } from "../core/steps.js";
import type { ResourceInfo } from "../providers/types.js";
import { formatBytes, formatMs, type Io } from "./output.js";

const FRAMES = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];

interface Line {
  label: string;
  state: "running" | "done" | "failed" | "rollback";
  detail: string;
}

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
      const key = event.kind;
      const label = `${event.kind} (${event.provider})`;
      const line: Line = lines.get(key) ?? { label, state: "running", detail: `${verb}…` };
      if (event.phase === "start") Object.assign(line, { state: "running", detail: `${verb}…` });
      if (event.phase === "removing") Object.assign(line, { state: "running", detail: "removing…" });
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
      } else if (event.phase !== "start" && event.phase !== "removing") {
        io.err(render(line));
      }
    },
    stop() {
      if (timer) clearInterval(timer);
      if (io.live && lines.size) redraw();
    },
  };
}
