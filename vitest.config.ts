import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // Suites under test/**/_suites are shared conformance suites, run only through their importers.
    exclude: ["**/node_modules/**", "**/_suites/**"],
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
