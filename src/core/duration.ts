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
