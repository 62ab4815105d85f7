#!/usr/bin/env node
// Thin launcher: everything lives in dist/cli/main.js so `--help` and `current` load nothing else.
import { main } from "../dist/cli/main.js";

process.exitCode = await main(process.argv.slice(2));
