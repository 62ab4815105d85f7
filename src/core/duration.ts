/**
 * @module core/duration
 * `--ttl` values: a number and a unit, e.g. `30m`, `2h`, `7d`, `1w`.
 */
import { UsageError } from "../errors.js";

const UNITS: Record<string, number> = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/**
 * The longest duration taken: a ttl or an `--at` beyond it is a typo, and far enough beyond it the
 * moment it names is past what a date can hold (±8.64e15 ms around 1970), which would fail later.
 */
export const MAX_DURATION_DAYS = 36_500;
const MAX_DURATION_MS = MAX_DURATION_DAYS * UNITS.d!;

export function parseDuration(text: string): number {
  const match = /^(\d+(?:\.\d+)?)\s*([smhdw])$/.exec(text.trim());
  const value = match ? Number(match[1]) * UNITS[match[2]!]! : NaN;
  if (!match || !(value > 0)) {
    throw new UsageError(`Invalid duration ${JSON.stringify(text)}.`, {
      hint: "Use a number and a unit: 30m, 2h, 7d, 1w (s, m, h, d, w).",
    });
  }
  if (value > MAX_DURATION_MS) {
    throw new UsageError(
      `Duration ${JSON.stringify(text)} is too long: the most is ${MAX_DURATION_DAYS}d (about 100 years).`,
      { hint: `Give at most ${MAX_DURATION_DAYS}d, e.g. 30m, 2h, 7d, 1w.` },
    );
  }
  return value;
}

/** A ttl in ms from the library (`createEnv({ ttlMs })`): above zero and at most the longest duration. */
export function checkTtlMs(ms: number): void {
  if (!(ms > 0 && ms <= MAX_DURATION_MS)) {
    throw new UsageError(`ttlMs ${ms} is out of range.`, {
      hint: `Give a number of milliseconds above 0 and at most ${MAX_DURATION_MS} (${MAX_DURATION_DAYS} days).`,
    });
  }
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
