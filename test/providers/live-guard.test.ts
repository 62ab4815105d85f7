/**
 * The live suites' guard (test/helpers/live.ts): credentials alone do not make a run live. With an
 * emulator's printed variables exported — credentials AND `FORKSTACK_<P>_API_URL` — a live suite is
 * skipped, and its report says which variable stopped it; without credentials it says what to set.
 */
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { start } from "../emulators/neon.js";
import { liveGuard } from "../helpers/live.js";
import { REPO, runProcess } from "../helpers/project.js";

const SUITES = [
  { vendor: "Turso", provider: "turso", credentials: ["TURSO_API_TOKEN", "TURSO_ORG"] },
  { vendor: "Neon", provider: "neon", credentials: ["NEON_API_KEY", "NEON_PROJECT_ID"] },
  {
    vendor: "PlanetScale",
    provider: "planetscale",
    credentials: ["PLANETSCALE_SERVICE_TOKEN_ID", "PLANETSCALE_SERVICE_TOKEN", "PLANETSCALE_ORG"],
  },
  { vendor: "Doppler", provider: "doppler", credentials: ["DOPPLER_TOKEN", "DOPPLER_PROJECT"] },
];

describe("live suites: one guard", () => {
  it.each(SUITES)("$vendor: credentials run live, an API-URL override skips with the reason", (suite) => {
    const credentials = Object.fromEntries(suite.credentials.map((name) => [name, "set"]));
    const variable = `FORKSTACK_${suite.provider.toUpperCase()}_API_URL`;
    expect(liveGuard({ ...suite, env: credentials })).toEqual({ live: true, reason: "" });

    const overridden = liveGuard({ ...suite, env: { ...credentials, [variable]: "http://127.0.0.1:4000" } });
    expect(overridden.live).toBe(false);
    expect(overridden.reason).toContain(`${variable}=http://127.0.0.1:4000`);
    expect(overridden.reason).toContain(`points the provider away from ${suite.vendor}`);
    expect(overridden.reason).toContain(`unset ${variable} to run`);

    // A blank override is no override; a blank credential is no credential.
    expect(liveGuard({ ...suite, env: { ...credentials, [variable]: " " } }).live).toBe(true);
    const blank = liveGuard({ ...suite, env: { ...credentials, [suite.credentials[0]!]: "" } });
    expect(blank).toEqual({
      live: false,
      reason: `set ${suite.credentials.join(", ")} to run (${suite.credentials[0]} unset)`,
    });
  });

  it("Turso's database URL override counts too", () => {
    const env = {
      TURSO_API_TOKEN: "t",
      TURSO_ORG: "o",
      FORKSTACK_TURSO_DB_URL: "http://127.0.0.1:9/{name}/",
    };
    const guard = liveGuard({
      vendor: "Turso",
      provider: "turso",
      credentials: ["TURSO_API_TOKEN", "TURSO_ORG"],
      overrides: ["FORKSTACK_TURSO_DB_URL"],
      env,
    });
    expect(guard.live).toBe(false);
    expect(guard.reason).toContain("FORKSTACK_TURSO_DB_URL=http://127.0.0.1:9/{name}/");
  });

  it(
    "the Neon live suite, run with the Neon emulator's printed variables, skips and sends nothing",
    { timeout: 120_000 },
    async () => {
      const emulator = await start();
      const out = await mkdtemp(join(tmpdir(), "fs-live-guard-"));
      try {
        const report = join(out, "report.json");
        const run = await runProcess(
          process.execPath,
          [
            join(REPO, "node_modules/vitest/vitest.mjs"),
            "run",
            "test/providers/database/neon.live.test.ts",
            "--reporter=json",
            `--outputFile=${report}`,
          ],
          // What a user has after `eval "$(node test/emulators/run.mjs neon)"`; CI off, so that the
          // nested run writes no CI report of its own.
          { cwd: REPO, env: { ...emulator.variables, CI: "" }, timeoutMs: 110_000 },
        );
        expect(run.code, run.stdout + run.stderr).toBe(0);
        const results = JSON.parse(await readFile(report, "utf8")) as {
          numPassedTests: number;
          numFailedTests: number;
          testResults: { assertionResults: { title: string; status: string }[] }[];
        };
        const tests = results.testResults.flatMap((f) => f.assertionResults);
        expect(results.numPassedTests + results.numFailedTests).toBe(0);
        expect(tests).toHaveLength(1);
        expect(tests[0]!.status).toBe("skipped");
        expect(tests[0]!.title).toContain(`FORKSTACK_NEON_API_URL=${emulator.url}`);
        expect(tests[0]!.title).toContain("a live suite refuses API-URL overrides");
        expect(emulator.exchanges).toEqual([]);
      } finally {
        await emulator.close();
        await rm(out, { recursive: true, force: true });
      }
    },
  );
});
