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
    // The AWS SDK (a test-only dependency here) warns on Node 20 about its 2027 releases; keep the
    // test output clean so that real warnings stand out.
    env: { NO_COLOR: "1", AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true" },
    // In CI also a JSON report, from which `.ci/run` prints the plain "N passed, N failed" line.
    reporters: process.env.CI
      ? ["default", ["json", { outputFile: ".tmp/vitest-report.json" }]]
      : ["default"],
  },
});
