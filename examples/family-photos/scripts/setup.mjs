#!/usr/bin/env node
/**
 * `npm run setup [-- <name>]`: make this clone ready to run, in three idempotent steps, each a plain
 * forkstack command (the same ones you would type):
 *   1. your own env `<name>` (default: alice), forked from dev and made current — on a fresh clone
 *      `forkstack new` also makes dev itself;
 *   2. a SESSION_SECRET (signs the sign-in cookie) on dev and on `<name>`, where it is missing; forks
 *      made later inherit dev's;
 *   3. nothing else: the app migrates its database on start.
 */
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { fileURLToPath } from "node:url";

const name = process.argv[2] ?? "alice";
const bin = fileURLToPath(new URL("bin/forkstack.mjs", import.meta.resolve("forkstack/package.json")));

/** Run forkstack; its messages go to our stderr, its result is returned. */
function forkstack(...args) {
  return execFileSync(process.execPath, [bin, ...args], {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "inherit"],
  });
}

const envs = new Set(JSON.parse(forkstack("list", "--json")).map((e) => e.name));
if (envs.has(name)) forkstack("switch", name);
else forkstack("new", name);

const value = randomBytes(32).toString("hex");
for (const env of new Set(["dev", name])) {
  const { masked } = JSON.parse(forkstack("env", env, "--json"));
  if (!masked.includes("SESSION_SECRET"))
    forkstack("secrets", "set", `SESSION_SECRET=${value}`, "--env", env);
}
console.error(
  `Ready: the current env is ${name}. \`npm run dev\` (or \`npm run build && npm start\`) serves it.`,
);
