/**
 * The `neon` provider against the real Neon API, when NEON_API_KEY and NEON_PROJECT_ID are set (use a
 * project kept for tests: each test makes branches named `fs-<random>/…` in it, at most a few at a
 * time). Skipped otherwise, with the reason — also when FORKSTACK_NEON_API_URL points elsewhere. The suite removes every branch it made after each test,
 * passed or failed; `afterAll` then deletes, in `finally`, any `fs-…` branch of this run still there.
 * Here the point-in-time test runs for real (the emulator cannot keep history).
 */
import { afterAll, expect, it } from "vitest";
import provider from "../../../src/providers/database/neon.js";
import { optionsSchema } from "../../../src/providers/database/neon.options.js";
import { databaseSuite, tempProject } from "../../../src/testing/index.js";
import { describeLive, liveGuard } from "../../helpers/live.js";
import { pgQuery as query } from "../../helpers/pg-query.js";

const guard = liveGuard({
  vendor: "Neon",
  provider: "neon",
  credentials: ["NEON_API_KEY", "NEON_PROJECT_ID"],
});
const projects = new Set<string>();

describeLive(guard, "neon provider, live (NEON_API_KEY and NEON_PROJECT_ID set)", () => {
  databaseSuite({
    provider: (project) => {
      projects.add(project.context.project);
      return provider(optionsSchema.parse({}), project.context);
    },
    dialect: "postgres",
    query,
    timeout: 300_000,
  });

  it("doctor passes with these credentials", async () => {
    const project = await tempProject();
    try {
      const findings = await provider(optionsSchema.parse({}), project.context).doctor!(project.op);
      expect(
        findings.every((f) => f.level === "ok"),
        JSON.stringify(findings),
      ).toBe(true);
    } finally {
      await project.cleanup();
    }
  });

  // Whatever a failed cleanup left: every branch of this run's projects, forks first.
  afterAll(async () => {
    const project = await tempProject();
    try {
      for (const name of projects) {
        const p = provider(optionsSchema.parse({}), { ...project.context, project: name });
        for (let pass = 0; pass < 3; pass++) {
          const left = await p.list(project.op).catch(() => [] as string[]);
          for (const env of left.reverse()) {
            await p.remove({ project: name, name: env }, project.op).catch(() => undefined);
          }
        }
      }
    } finally {
      await project.cleanup();
    }
  }, 600_000);
});
