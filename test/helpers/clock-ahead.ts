import { join } from "node:path";
import { pathToFileURL } from "node:url";

/**
 * Variables for a CLI run that happens `ms` later: its `Date` reads the wall clock plus `ms`
 * (test/helpers/clock-ahead.mjs, preloaded through NODE_OPTIONS). A ttl test runs `gc` "an hour
 * later" this way instead of sleeping until the ttl has passed.
 */
export function clockAhead(ms: number): Record<string, string> {
  const preload = pathToFileURL(join(import.meta.dirname, "clock-ahead.mjs")).href;
  return { NODE_OPTIONS: `--import ${preload}`, FS_TEST_CLOCK_AHEAD_MS: String(ms) };
}
