/**
 * @module core/duration
 * `--ttl` values: a number and a unit, e.g. `30m`, `2h`, `7d`, `1w`.
 */
import { UsageError } from "../errors.js";

const UNITS: Record<string, number> = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

export function parseDuration(text: string): number {
  const match = /^(\d+(?:\.\d+)?)\s*([smhdw])$/.exec(text.trim());
  const value = match ? Number(match[1]) * UNITS[match[2]!]! : NaN;
  if (!match || !(value > 0)) {
    throw new UsageError(`Invalid duration ${JSON.stringify(text)}.`, {
      hint: "Use a number and a unit: 30m, 2h, 7d, 1w (s, m, h, d, w).",
    });
  }
  return value;
}

/**
 * `--at`: a moment in the past, as an ISO 8601 time (`2026-11-30T10:00Z`, `2026-11-30 10:00:00+01:00`)
 * or as how long ago (`1h`, `2d`).
 */
export function parseAt(text: string, now = Date.now()): Date {
  const trimmed = text.trim();
  if (/^\d+(?:\.\d+)?\s*[smhdw]$/.test(trimmed)) return new Date(now - parseDuration(trimmed));
  // Only full dates with a time zone: a bare `10:00` would silently mean the machine's zone.
  const iso = /^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})$/i;
  const at = iso.test(trimmed) ? new Date(trimmed.replace(" ", "T")) : new Date(NaN);
  if (Number.isNaN(at.getTime())) {
    throw new UsageError(`Invalid --at ${JSON.stringify(text)}.`, {
      hint: "Give a time with its zone (2026-11-30T10:00Z) or how long ago (90m, 1h, 2d).",
    });
  }
  return at;
}

/** `3d 4h`, `12m`, `40s`: coarse, for people. */
export function formatAge(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 24) return `${h}h ${m % 60}m`;
  return `${Math.floor(h / 24)}d ${h % 24}h`;
}
