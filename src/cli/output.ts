/**
 * @module cli/output
 * The CLI's two channels: stdout carries results only (a table, or JSON with `--json`), stderr carries
 * progress, warnings and errors. Colour only on a TTY, never under NO_COLOR, TERM=dumb or CI.
 */
import type { Writable } from "node:stream";
import type { Logger } from "../providers/types.js";

export interface Io {
  readonly stdout: Writable & { isTTY?: boolean };
  readonly stderr: Writable & { isTTY?: boolean };
  readonly color: boolean;
  /** Live redrawing progress (spinners) is allowed: stderr is a TTY and not CI. */
  readonly live: boolean;
  out(text: string): void;
  err(text: string): void;
  paint(style: Style, text: string): string;
}

export type Style = "bold" | "dim" | "red" | "green" | "yellow" | "cyan";
const CODES: Record<Style, [number, number]> = {
  bold: [1, 22],
  dim: [2, 22],
  red: [31, 39],
  green: [32, 39],
  yellow: [33, 39],
  cyan: [36, 39],
};

export function createIo(
  stdout: Io["stdout"] = process.stdout,
  stderr: Io["stderr"] = process.stderr,
  env: NodeJS.ProcessEnv = process.env,
): Io {
  const ci = !!env.CI && env.CI !== "false";
  const color = !!stderr.isTTY && !env.NO_COLOR && env.TERM !== "dumb" && !ci;
  return {
    stdout,
    stderr,
    color,
    live: !!stderr.isTTY && !ci && env.TERM !== "dumb",
    out: (text) => void stdout.write(text.endsWith("\n") ? text : `${text}\n`),
    err: (text) => void stderr.write(text.endsWith("\n") ? text : `${text}\n`),
    paint: (style, text) => (color ? `\x1b[${CODES[style][0]}m${text}\x1b[${CODES[style][1]}m` : text),
  };
}

/** The logger handed to the core and providers: stderr, debug only when asked. */
export function createLogger(io: Io, verbose: boolean): Logger {
  return {
    debug: (message) => {
      if (verbose) io.err(io.paint("dim", `debug: ${message}`));
    },
    info: (message) => io.err(`${io.paint("cyan", "→")} ${message}`),
    warn: (message) => io.err(`${io.paint("yellow", "!")} ${message}`),
  };
}

/** A plain text table: columns padded to the widest cell. */
export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!)))
      .join("  ")
      .trimEnd();
  return [line(header), ...rows.map(line)].join("\n");
}

export { formatBytes, formatMs } from "../format.js";
