#!/usr/bin/env node
/**
 * Copies the vendors' published OpenAPI descriptions (Turso, Neon, PlanetScale) into
 * test/emulators/specs/ as JSON, keeping only what validation needs: paths, operations, parameters,
 * schemas. Prose (`description` emptied, `summary`) and examples are dropped — the tests check shapes, and the
 * vendors' sentences are theirs. Run again when a vendor publishes a new version:
 *   node scripts/vendor-specs.mjs ../shared/specs
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import yaml from "js-yaml";
import { format, resolveConfig } from "prettier";

const from = process.argv[2] ?? "../shared/specs";
const to = new URL("../test/emulators/specs/", import.meta.url);
mkdirSync(to, { recursive: true });

const PROSE = new Set(["description", "summary", "example", "examples", "externalDocs"]);

/** Drops prose keys, except where they name a schema property or a component. */
function strip(node, parentKey) {
  if (Array.isArray(node)) return node.map((item) => strip(item, undefined));
  if (!node || typeof node !== "object") return node;
  const out = {};
  const namesOnly = parentKey === "properties" || parentKey === "schemas" || parentKey === "examples";
  for (const [key, value] of Object.entries(node)) {
    if (!namesOnly && (PROSE.has(key) || key.startsWith("x-"))) {
      // OpenAPI requires `description` on response objects: keep the key, drop the words.
      if (key === "description" && typeof value === "string") out[key] = "";
      continue;
    }
    out[key] = strip(value, key);
  }
  return out;
}

for (const [name, file] of [
  ["turso", "turso-openapi.json"],
  ["neon", "neon-openapi.yaml"],
  ["planetscale", "planetscale-openapi.yaml"],
]) {
  const text = readFileSync(join(from, file), "utf8");
  const spec = file.endsWith(".json") ? JSON.parse(text) : yaml.load(text);
  const slim = strip(spec, undefined);
  slim.info = { title: spec.info.title, version: spec.info.version };
  // Formatted as prettier would, so that a new version shows up as a readable diff.
  const out = new URL(`${name}.json`, to);
  const options = (await resolveConfig(out)) ?? {};
  writeFileSync(out, await format(JSON.stringify(slim), { ...options, parser: "json" }));
  console.log(`${name}: ${Object.keys(slim.paths).length} paths`);
}
