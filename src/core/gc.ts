/**
 * @module core/gc
 * `gc`: delete envs whose ttl has passed (children before parents; protected envs never) and
 * resources that no env owns — only what it can prove is this project's and unowned:
 * - an orphan is collected only from a backend private to this machine (`flags.private`: files
 *   under `.forkstack/`, the embedded store), where everything of this project was made here. On a
 *   shared backend another machine's env looks exactly like an orphan: those are reported, never
 *   deleted;
 * - never a root's or a protected env's resources (a fresh clone's `dev` has no manifest yet);
 * - never a resource of an operation in flight: each orphan is removed under its env's lock, and
 *   envs with a journal entry are left to the repair that owns them.
 */
import type { ResourceKind } from "../providers/types.js";
import { deleteEnv } from "./delete-env.js";
import { listEnvs } from "./listing.js";
import { NO_MANIFEST } from "./manifests.js";
import { isRootEnv, type Project } from "./project.js";
import { envRef, forgetEnvDir } from "./steps.js";

export interface OrphanResource {
  readonly kind: ResourceKind;
  readonly provider: string;
  readonly env: string;
}

export interface GcResult {
  readonly dryRun: boolean;
  /** Expired envs deleted (or that would be). */
  readonly expired: string[];
  /** Resources of no env on backends private to this machine, deleted (or that would be). */
  readonly orphans: OrphanResource[];
  /** Resources of no env here on shared backends: maybe another machine's, so only reported. */
  readonly foreign: OrphanResource[];
  /** Expired envs not deleted, and why (forks not expired, in use). */
  readonly skipped: { env: string; reason: string }[];
  /** Providers whose backend could not be listed (unreachable): their orphans are unknown. */
  readonly unlisted: { provider: string; error: string }[];
  /** Interrupted operations that could not be finished yet. */
  readonly pending: { env: string; op: string; error: string }[];
  readonly failed: { env: string; error: string }[];
}

/** A root, or a protected env: gc never deletes its resources. */
function isRoot(project: Project, env: string): boolean {
  return isRootEnv(project, env) || project.config.protected.includes(env);
}

export async function gc(
  project: Project,
  options: { dryRun?: boolean; now?: number } = {},
): Promise<GcResult> {
  const dryRun = options.dryRun ?? false;
  const envs = await listEnvs(project, options.now); // repairs the journal first
  const pending = project.state
    .journal()
    .map((e) => ({ env: e.env, op: e.op, error: e.lastError ?? "in progress" }));
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

  const orphans: OrphanResource[] = [];
  const foreign: OrphanResource[] = [];
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
      if (known.has(env) || inFlight.has(env) || isRoot(project, env)) continue;
      const orphan = { kind: provider.kind, provider: provider.name, env };
      (provider.flags.private ? orphans : foreign).push(orphan);
    }
  }

  const failed: GcResult["failed"] = [];
  if (!dryRun) {
    for (const name of expired) {
      await deleteEnv(project, name).catch((error: unknown) =>
        failed.push({ env: name, error: (error as Error).message }),
      );
    }
    for (const orphan of orphans) {
      const lock = project.state.tryLock(orphan.env);
      if (!lock) {
        failed.push({ env: orphan.env, error: "an operation on it started meanwhile" });
        continue;
      }
      try {
        const provider = project.providers.find((p) => p.kind === orphan.kind)!;
        await provider.remove(envRef(project, orphan.env), project.op());
      } catch (error) {
        failed.push({ env: orphan.env, error: (error as Error).message });
      } finally {
        lock.release();
      }
    }
  }
  if (!dryRun) {
    for (const env of new Set(orphans.map((o) => o.env))) {
      if (!failed.some((f) => f.env === env)) await forgetEnvDir(project, env, false);
    }
  }
  const done = (env: string) => !failed.some((f) => f.env === env);
  return {
    dryRun,
    expired: expired.filter(done),
    orphans: orphans.filter((o) => done(o.env)),
    foreign,
    skipped,
    unlisted,
    pending: project.state
      .journal()
      .map((e) => ({ env: e.env, op: e.op, error: e.lastError ?? "in progress" })),
    failed,
  };
}
