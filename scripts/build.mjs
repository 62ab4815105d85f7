// Build: esbuild bundles each public entry (splitting shared code into chunks, and lazily imported
// commands and providers into their own), so a CLI start loads a handful of files instead of hundreds;
// tsc emits the .d.ts files the package's `exports` point at. Dependencies with native code or
// binaries stay external; pure-JS ones used on the CLI's path (zod) are bundled.
import { build } from "esbuild";
import { execFileSync } from "node:child_process";
import { rmSync } from "node:fs";
import { resolve } from "node:path";

const root = resolve(import.meta.dirname, "..");
rmSync(resolve(root, "dist"), { recursive: true, force: true });

export const ENTRIES = {
  index: "src/index.ts",
  api: "src/api.ts",
  "cli/main": "src/cli/main.ts",
  "storage-server/index": "src/storage-server/index.ts",
  // The background server `forkstack up` spawns: its own entry, so it starts without the CLI.
  "storage-server/daemon": "src/storage-server/daemon.ts",
  // `forkstack/testing`: the provider conformance suites. They load vitest and the S3 SDK on demand;
  // both are optional peers of the package, so both stay external.
  "testing/index": "src/testing/index.ts",
};

await build({
  absWorkingDir: root,
  entryPoints: ENTRIES,
  outdir: "dist",
  bundle: true,
  splitting: true,
  format: "esm",
  platform: "node",
  target: "node20.19",
  chunkNames: "chunks/[name]-[hash]",
  external: [
    "libsql",
    "esbuild",
    "@clack/prompts",
    "@aws-sdk/*",
    "@smithy/*",
    "@aws-crypto/*",
    "fast-xml-parser",
    "vitest",
  ],
  logLevel: "warning",
});

execFileSync(
  process.execPath,
  [resolve(root, "node_modules/typescript/bin/tsc"), "-p", "tsconfig.build.json", "--emitDeclarationOnly"],
  {
    cwd: root,
    stdio: "inherit",
  },
);
