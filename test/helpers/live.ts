/**
 * The one guard every live suite (Turso, Neon, PlanetScale, Doppler) stands behind. A live suite runs
 * only when its credential variables are set AND no API-URL override points the provider elsewhere:
 * the emulators print exactly the variables a live suite looks for (`node test/emulators/run.mjs neon`
 * prints `FORKSTACK_NEON_API_URL`, `NEON_API_KEY`, `NEON_PROJECT_ID`), so credentials alone would run the
 * "live" suite against an emulator a shell left configured and call it live. Skipped suites say why.
 */
import { describe, it } from "vitest";
import { apiUrlVariable } from "../../src/providers/_http.js";

export interface LiveGuard {
  /** Credentials set and nothing overridden: the suite reaches the vendor itself. */
  readonly live: boolean;
  /** Why it does not run (empty when it does), shown as the skipped test's title. */
  readonly reason: string;
}

export interface LiveGuardOptions {
  /** The vendor, for the message: `Neon`. */
  readonly vendor: string;
  /** Registry name of the provider (`neon`): its `FORKSTACK_<PROVIDER>_API_URL` is an override. */
  readonly provider: string;
  /** Variables that must all be set (non-blank) to run live. */
  readonly credentials: readonly string[];
  /** Further variables that point the provider away from the vendor (Turso's database URL). */
  readonly overrides?: readonly string[];
  readonly env?: Readonly<Record<string, string | undefined>>;
}

export function liveGuard(options: LiveGuardOptions): LiveGuard {
  const env = options.env ?? process.env;
  const set = (name: string) => Boolean(env[name]?.trim());
  const missing = options.credentials.filter((name) => !set(name));
  if (missing.length > 0) {
    return {
      live: false,
      reason: `set ${options.credentials.join(", ")} to run (${missing.join(", ")} unset)`,
    };
  }
  const overrides = [apiUrlVariable(options.provider), ...(options.overrides ?? [])].filter(set);
  if (overrides.length > 0) {
    const where = overrides.map((name) => `${name}=${env[name]!.trim()}`).join(", ");
    return {
      live: false,
      reason: `${where} points the provider away from ${options.vendor}: a live suite refuses API-URL overrides (an emulator's variables are not a live run); unset ${overrides.join(" and ")} to run`,
    };
  }
  return { live: true, reason: "" };
}

/**
 * `describe(title, body)` when the guard says live; otherwise one skipped test whose title is the
 * reason, so that the report says why nothing ran.
 */
export function describeLive(guard: LiveGuard, title: string, body: () => void): void {
  if (guard.live) describe(title, body);
  else describe(title, () => it.skip(`skipped: ${guard.reason}`, () => {}));
}
