import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // The conformance suites live in src/testing (forkstack/testing) and run through test/providers.
    exclude: ["**/node_modules/**"],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Two cores here: keep file-level parallelism modest so process-spawning tests are not starved.
    maxWorkers: 2,
    env: { NO_COLOR: "1" },
    // In CI also a JSON report, from which `.ci/run` prints the plain "N passed, N failed" line.
    reporters: process.env.CI
      ? ["default", ["json", { outputFile: ".tmp/vitest-report.json" }]]
      : ["default"],
  },
});
