#!/usr/bin/env node
/**
 * Runs one vendor emulator standalone, for manual trials of a provider:
 *   node test/emulators/run.mjs <turso|neon|planetscale|doppler> [--port <n>]
 * prints its URL and the variables to export, then serves until Ctrl-C. The emulators are TypeScript
 * (the tests import them directly); esbuild, already a dependency, bundles the one asked for first.
 */
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { build } from "esbuild";

const VENDORS = ["turso", "neon", "planetscale", "doppler"];
const { positionals, values } = parseArgs({ allowPositionals: true, options: { port: { type: "string" } } });
const vendor = positionals[0];
if (!VENDORS.includes(vendor ?? "")) {
  console.error(`usage: node test/emulators/run.mjs <${VENDORS.join("|")}> [--port <n>]`);
  process.exit(2);
}
const port = values.port === undefined ? 0 : Number(values.port);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`--port must be a port number (0-65535), got "${values.port}"`);
  process.exit(2);
}

const here = dirname(fileURLToPath(import.meta.url));
// Inside the repository, so that bare imports (openapi-backend, postgres…) resolve from its node_modules.
await mkdir(join(here, "../../.tmp"), { recursive: true });
const out = await mkdtemp(join(here, "../../.tmp/emulator-"));
const outfile = join(out, `${vendor}.mjs`);
await build({
  entryPoints: [join(here, `${vendor}.ts`)],
  bundle: true,
  platform: "node",
  format: "esm",
  packages: "external",
  outfile,
  logLevel: "error",
  // The bundle lives in a temp dir: the specs are found next to the sources.
  define: { "import.meta.url": JSON.stringify(pathToFileURL(join(here, `${vendor}.ts`)).href) },
});
const mod = await import(pathToFileURL(outfile).href);
await rm(out, { recursive: true, force: true });
const emulator = await mod.start({ port });
console.log(`${vendor} emulator: ${emulator.url}`);
for (const [name, value] of Object.entries(emulator.variables ?? {})) console.log(`export ${name}=${value}`);
const stop = () => void emulator.close().then(() => process.exit(0));
process.on("SIGINT", stop);
process.on("SIGTERM", stop);
