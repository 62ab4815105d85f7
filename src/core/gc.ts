/**
 * @module core/gc
 * `gc`: delete envs whose ttl has passed (children before parents; protected envs never) and
 * resources that no env owns — only what this project's own record says it made:
 * - an orphan is a resource on the project's record of what it made (state.ts) whose env has no
 *   manifest; it is removed by that record (what the provider returned for it), on any backend,
 *   private or shared;
 * - what a backend lists that is not on the record (it existed before `new` refused it, or another
 *   machine or tool made it) is reported, never deleted, on private backends too;
 * - never a root's or a protected env's resources (a fresh clone's `dev` has no manifest yet);
 * - never a resource of an operation in flight: each orphan is removed under its env's lock, and
 *   envs with a journal entry are left to the repair that owns them.
 */
import { failpoint } from "./failpoints.js";
import { isRoot } from "./guards.js";
import { listEnvs } from "./listing.js";
import { NO_MANIFEST } from "./manifests.js";
import type { Project } from "./project.js";
import { GC_JOURNAL_KEY, runGcPlan, type OrphanResource } from "./remove-env.js";
import type { ResourceKind } from "../providers/types.js";
import type { RecordedResource } from "./state.js";

export type { OrphanResource };

export interface GcResult {
  readonly dryRun: boolean;
  /** Expired envs deleted (or that would be). */
  readonly expired: string[];
  /** Resources on this project's record whose env is gone: removed by their record (or would be). */
  readonly orphans: OrphanResource[];
  /** Resources a backend has for no env here that are not on the record: only reported, never deleted. */
  readonly unrecorded: OrphanResource[];
  /** Orphans on the record that the configured provider cannot remove (another one made them): reported. */
  readonly unreachable: OrphanResource[];
  /** Expired envs not deleted, and why (forks not expired, in use). */
  readonly skipped: { env: string; reason: string }[];
  /** Providers whose backend could not be listed (unreachable): what else they hold is unknown. */
  readonly unlisted: { provider: string; error: string }[];
  /** Interrupted operations that could not be finished yet. */
  readonly pending: { env: string; op: string; error: string }[];
  readonly failed: { env: string; error: string }[];
}

/** Operations on envs that are unfinished (another gc in progress is not one: it takes turns with this one). */
function pendingOps(project: Project): GcResult["pending"] {
  return project.state
    .journal()
    .filter((e) => e.op !== "gc")
    .map((e) => ({ env: e.env, op: e.op, error: e.lastError ?? "in progress" }));
}

const orphanOf = (r: RecordedResource): OrphanResource => ({
  kind: r.kind as ResourceKind,
  provider: r.provider,
  env: r.env,
  ...(typeof r.info.location === "string" ? { location: r.info.location } : {}),
});

export async function gc(
  project: Project,
  options: { dryRun?: boolean; now?: number } = {},
): Promise<GcResult> {
  const dryRun = options.dryRun ?? false;
  const envs = await listEnvs(project, options.now); // repairs the journal first
  const pending = pendingOps(project);
  // An env dir whose manifest is gone owns nothing (its resources are orphans); a corrupt manifest
  // still claims its env, which `doctor` reports for a person to look at.
  const known = new Set(envs.filter((e) => e.problem !== NO_MANIFEST).map((e) => e.name));
  const inFlight = new Set([...pending.map((p) => p.env), ...project.state.busyEnvs()]);

  const expiredSet = new Set(envs.filter((e) => e.expired && !e.protected).map((e) => e.name));
  const skipped: GcResult["skipped"] = [];
  for (const env of [...expiredSet]) {
    const liveChildren = envs.filter((c) => c.parent === env && !expiredSet.has(c.name)).map((c) => c.name);
    if (liveChildren.length) {
      expiredSet.delete(env);
      skipped.push({ env, reason: `forks not expired: ${liveChildren.join(", ")}` });
    }
  }
  // Children first: an env with forks cannot be deleted before them.
  const depth = (name: string, seen = new Set<string>()): number => {
    const parent = envs.find((e) => e.name === name)?.parent;
    if (!parent || seen.has(parent)) return 0;
    return 1 + depth(parent, seen.add(name));
  };
  const expired = [...expiredSet].sort((a, b) => depth(b) - depth(a));

  // Orphans: what the record says this project made, for envs that no longer have a manifest.
  const unowned = (env: string) => !known.has(env) && !inFlight.has(env) && !isRoot(project, env);
  const orphaned = project.state.recorded().filter((r) => unowned(r.env));
  const removable = orphaned.filter(
    (r) => project.providers.find((p) => p.kind === r.kind)?.name === r.provider,
  );
  const orphans = removable.map(orphanOf);
  const unreachable = orphaned.filter((r) => !removable.includes(r)).map(orphanOf);
  const onRecord = new Set(orphaned.map((r) => `${r.kind}:${r.env}`));

  // What the backends hold for no env here that the record does not show: reported, never deleted.
  const unrecorded: OrphanResource[] = [];
  const unlisted: GcResult["unlisted"] = [];
  for (const provider of project.providers) {
    let names: string[];
    try {
      names = await provider.list(project.op(undefined, { readOnly: dryRun }));
    } catch (error) {
      unlisted.push({ provider: provider.name, error: (error as Error).message });
      continue;
    }
    for (const env of names) {
      if (!unowned(env) || onRecord.has(`${provider.kind}:${env}`)) continue;
      unrecorded.push({ kind: provider.kind, provider: provider.name, env });
    }
  }

  const failed: GcResult["failed"] = [];
  if (!dryRun) {
    // The plan is journaled before anything is removed: a crash part-way is finished by the next
    // command (repair.ts), which removes what this run would have.
    const lock = await project.state.lock(GC_JOURNAL_KEY);
    try {
      const plan = { expired, orphans };
      project.state.beginOp(GC_JOURNAL_KEY, "gc", null, plan);
      failpoint("gc:after-journal");
      failed.push(...(await runGcPlan(project, plan)));
      project.state.endOp(GC_JOURNAL_KEY);
    } finally {
      lock.release();
    }
  }
  const done = (env: string) => !failed.some((f) => f.env === env);
  return {
    dryRun,
    expired: expired.filter(done),
    orphans: orphans.filter((o) => done(o.env)),
    unrecorded,
    unreachable,
    skipped,
    unlisted,
    pending: pendingOps(project),
    failed,
  };
}
