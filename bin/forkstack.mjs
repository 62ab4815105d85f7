#!/usr/bin/env node
// Thin launcher: everything lives in dist/cli/main.js so `--help` and `current` load nothing else.
import { main } from "../dist/cli/main.js";

process.exitCode = await main(process.argv.slice(2));

// The user's config had a top level that never settled and was given up on (dist/config/load.js sets
// this flag); its timers or sockets may still hold the process open. They are not ours to close, and
// the error is already printed: exit once stdout and stderr are flushed.
if (globalThis[Symbol.for("forkstack.abandonedConfigImport")]) {
  process.stdout.write("", () => process.stderr.write("", () => process.exit()));
}
