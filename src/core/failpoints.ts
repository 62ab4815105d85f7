/**
 * @module core/failpoints
 * Named points in the lifecycle where tests make a real process die (kill -9) or a step fail, to prove
 * the journal repairs crashes and rollback leaves nothing behind. Set `FORKSTACK_FAILPOINT` to
 * `<point>` (SIGKILL there), `<point>=throw` (an error there), `<point>=sigint` (as if the user
 * pressed Ctrl-C there) or `<point>=stop` (SIGSTOP: the test changes the world, e.g. stops a backend,
 * then sends SIGCONT). Inert unless that variable is set.
 *
 * Every point is registered below, so a name cannot be misspelt (`failpoint` takes only registered
 * names) and the crash table (test/core/crash-table.test.ts) can require a case for each one: a new
 * point without a case fails that test. What a kill at each point must end in is docs/architecture.md,
 * "What each operation leaves".
 */
/** The commands whose crashes the journal (or, for `switch` and `secrets set`, their write order) repairs. */
export type CrashOperation = "new" | "delete" | "reset" | "switch" | "gc" | "secrets set";

export interface FailpointInfo {
  /** The operations that pass this point on the embedded defaults. */
  readonly ops: readonly CrashOperation[];
  /** What has happened when the point is reached. */
  readonly reached: string;
}

/** One point per step boundary of every operation, in the order an operation reaches them. */
export const LIFECYCLE_FAILPOINTS = {
  "create:after-journal": { ops: ["new"], reached: "the create is journaled; nothing is written yet" },
  "create:after-record": { ops: ["new"], reached: "the env's directory and its `creating` manifest exist" },
  "step:database": { ops: ["new", "reset"], reached: "the database step starts (steps run in parallel)" },
  "step:storage": { ops: ["new", "reset"], reached: "the storage step starts" },
  "step:secrets": { ops: ["new", "reset"], reached: "the secrets step starts" },
  "step:local": { ops: ["new", "reset"], reached: "the local-state step starts" },
  "fork:after-steps": { ops: ["new", "reset"], reached: "every resource is made; the manifest is not ready" },
  "rollback:before": { ops: ["new", "reset"], reached: "a step failed; nothing is rolled back yet" },
  "create:before-ready": { ops: ["new"], reached: "every resource is made and checked" },
  "create:after-ready": {
    ops: ["new"],
    reached: "the `ready` manifest is written; the env is not current yet",
  },
  "switch:after-current-env": {
    ops: ["new", "switch"],
    reached: "`.current-env` names the env; `.env.local` still has the previous env's block",
  },
  "create:after-switch": { ops: ["new"], reached: "the new env is current; the journal entry remains" },
  "delete:after-journal": { ops: ["delete", "gc"], reached: "the delete is journaled (with the parent)" },
  "delete:after-reparent": { ops: ["delete", "gc"], reached: "the env's forks name its parent" },
  "delete:after-remove": { ops: ["delete", "gc"], reached: "the env's resources are removed" },
  "delete:after-forget": { ops: ["delete", "gc"], reached: "the env's manifest and directory are gone" },
  "delete:after-env-local": {
    ops: ["delete"],
    reached: "the deleted env was current: its block is out of `.env.local`, `.current-env` still names it",
  },
  "delete:after-current-env": {
    ops: ["delete"],
    reached: "`.current-env` is gone; the journal entry remains",
  },
  "reset:after-journal": { ops: ["reset"], reached: "the reset is journaled; the env is untouched" },
  "reset:after-mark": { ops: ["reset"], reached: "the manifest says `resetting`" },
  "reset:after-remove": { ops: ["reset"], reached: "the env's old resources are removed" },
  "reset:before-ready": { ops: ["reset"], reached: "every resource is forked again" },
  "reset:after-ready": {
    ops: ["reset"],
    reached: "the `ready` manifest is written; the journal entry remains",
  },
  "gc:after-journal": { ops: ["gc"], reached: "gc's plan (expired envs, orphans) is journaled" },
  "gc:after-expired": { ops: ["gc"], reached: "the expired envs are deleted; no orphan is removed yet" },
  "gc:after-orphans": { ops: ["gc"], reached: "the orphans are removed; the journal entry remains" },
  "secrets:before-write": { ops: ["secrets set"], reached: "the new values are ready; nothing is written" },
  "secrets:after-write": {
    ops: ["secrets set"],
    reached: "the secrets are written; the runtime cache is not",
  },
} as const satisfies Record<string, FailpointInfo>;

/**
 * Points inside one provider's step, on backends the embedded defaults do not use: each is proved by
 * that provider's own crash test.
 */
export const PROVIDER_FAILPOINTS = {
  "postgres:fenced": { test: "test/providers/database/postgres-cli.test.ts" },
  /** After n objects of a copying fork (S3, R2): `storage-copy:500`. */
  "storage-copy:<n>": { test: "test/providers/storage/copy-fork.test.ts" },
  /** The embedded store's env key is minted; the storage step has not returned it yet. */
  "local:after-key": { test: "test/cli/storage-keys-repair.test.ts" },
} as const;

/** `steps.ts` calls `failpoint(\`step:${kind}\`)`: that type-checks only while every kind has its point. */
export type FailpointName =
  keyof typeof LIFECYCLE_FAILPOINTS | "postgres:fenced" | "local:after-key" | `storage-copy:${number}`;

export function failpoint(point: FailpointName): void {
  const spec = process.env.FORKSTACK_FAILPOINT;
  if (!spec) return;
  for (const item of spec.split(",")) {
    const [name, action] = item.split("=");
    if (name !== point) continue;
    if (action === "throw") throw new Error(`failpoint ${point}`);
    if (action === "stop") {
      process.kill(process.pid, "SIGSTOP");
      continue;
    }
    if (action === "sigint") {
      process.kill(process.pid, "SIGINT");
      continue;
    }
    process.kill(process.pid, "SIGKILL");
  }
}
