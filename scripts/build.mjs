// Build: esbuild bundles each public entry (splitting shared code into chunks, and lazily imported
// modules into their own), so a start loads a handful of files instead of hundreds; tsc emits the .d.ts
// files the package's `exports` point at. Dependencies with native code or binaries stay external;
// pure-JS ones used on the CLI's path (zod) are bundled.
//
// Two builds. The library (`forkstack`, `forkstack/api`, the test glue) is one, its entries sharing
// chunks. The CLI is the other, on its own so that its chunks follow its own lazy imports only: the
// launcher with `--help` and `current`, then every other command with the core and the embedded
// providers in one chunk (`src/cli/commands/all.ts`), then zod, the config compiler and SDK-backed
// providers each on demand. In one build with the library, code shared with the library's entries
// would be cut into many small chunks (about 35 modules loaded by `forkstack new`). The two builds hold
// two copies of the shared code: errors are recognised by a brand, not by class (`src/errors.ts`).
import { build } from "esbuild";
import { execFileSync } from "node:child_process";
import { rmSync } from "node:fs";
import { resolve } from "node:path";

const root = resolve(import.meta.dirname, "..");
rmSync(resolve(root, "dist"), { recursive: true, force: true });

export const ENTRIES = {
  index: "src/index.ts",
  api: "src/api.ts",
  "storage-server/index": "src/storage-server/index.ts",
  // The background server `forkstack up` spawns: its own entry, so it starts without the CLI.
  "storage-server/daemon": "src/storage-server/daemon.ts",
  // Test-runner glue: `forkstack/vitest` and the setup files its config names by package path.
  vitest: "src/vitest.ts",
  "vitest/setup": "src/vitest/setup.ts",
  "vitest/global-setup": "src/vitest/global-setup.ts",
  // `forkstack/testing`: the provider conformance suites. They load vitest and the S3 SDK on demand;
  // both are optional peers of the package, so both stay external.
  "testing/index": "src/testing/index.ts",
  // `forkstack/testing/workers`: one env per test worker for any runner, without the suites.
  "testing/workers": "src/testing/workers.ts",
};

export const CLI_ENTRIES = { "cli/main": "src/cli/main.ts" };

const common = {
  absWorkingDir: root,
  outdir: "dist",
  bundle: true,
  splitting: true,
  format: "esm",
  platform: "node",
  target: "node20.19",
  external: [
    "libsql",
    "esbuild",
    "@clack/prompts",
    "@aws-sdk/*",
    "@smithy/*",
    "@aws-crypto/*",
    "fast-xml-parser",
    // CommonJS that requires node builtins: bundled into ESM it fails at load ("Dynamic require").
    "@fastify/busboy",
    // The user's own vitest (an optional peer dependency): never bundled, one instance per run.
    "vitest",
  ],
  logLevel: "warning",
};

await Promise.all([
  build({ ...common, entryPoints: ENTRIES, chunkNames: "chunks/[name]-[hash]" }),
  build({ ...common, entryPoints: CLI_ENTRIES, chunkNames: "cli/chunks/[name]-[hash]" }),
]);

execFileSync(
  process.execPath,
  [resolve(root, "node_modules/typescript/bin/tsc"), "-p", "tsconfig.build.json", "--emitDeclarationOnly"],
  {
    cwd: root,
    stdio: "inherit",
  },
);
