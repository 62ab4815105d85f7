/**
 * @module native-sqlite
 * `require("libsql")` for the journal (`core/state.ts`) and the sqlite provider, minus the diagnostic
 * report its loader builds.
 *
 * libsql's loader (`@neon-rs/load`) tells a glibc Linux from a musl one by calling
 * `process.report.getReport()`, which gathers a whole diagnostic report (the heap, every shared object,
 * the environment, network interfaces) to read one field: 4–7 ms of every `forkstack new` and `list`.
 * Where `/usr/bin/ldd` says it is GNU libc — the check detect-libc, which libsql also uses, makes
 * first — the report is answered with just that field while libsql loads (synchronously, so nothing
 * else runs meanwhile). Anywhere else libsql loads as it always does.
 */
import type Database from "libsql";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";

function glibcByLdd(): boolean {
  try {
    return readFileSync("/usr/bin/ldd", "latin1").includes("GNU C Library");
  } catch {
    return false;
  }
}

export function requireLibsql(): typeof Database {
  const require = createRequire(import.meta.url);
  const report = process.report as { getReport: () => object } | undefined;
  if (process.platform !== "linux" || !report || !glibcByLdd()) return require("libsql") as typeof Database;
  const getReport = report.getReport;
  report.getReport = () => ({ header: { glibcVersionRuntime: "from /usr/bin/ldd" } });
  try {
    return require("libsql") as typeof Database;
  } finally {
    report.getReport = getReport;
  }
}
