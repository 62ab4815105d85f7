/**
 * @module core/remove-env
 * The journaled removal of envs — `delete`, and what `gc` removes (expired envs, orphans) — in one code
 * path for the normal run and for the repair of a run a crash interrupted (`repair.ts`). Every step is
 * idempotent, so finishing from any point ends where the uninterrupted run ends (docs/architecture.md,
 * "What each operation leaves"):
 * - delete: journal (with the parent its forks go to) → forks re-parented → its resources removed (the
 *   adopted ones stay) → manifest and directory gone → the current env moved off it → entry gone;
 * - gc: journal (the plan: expired envs, children first, and orphans) → each expired env deleted as
 *   above → each orphan removed → entry gone.
 * The public entry points (`deleteEnv`, `gc`) repair the journal first; nothing here does.
 */
import { UserError } from "../errors.js";
import type { EnvManifest } from "../layout.js";
import type { ResourceKind } from "../providers/types.js";
import { failpoint } from "./failpoints.js";
import { childrenOf, isRoot, pendingRollback, refuseChildren, refuseProtected } from "./guards.js";
import { refuseInUse } from "./in-use.js";
import {
  listEnvNames,
  missingEnvError,
  readManifest,
  writeManifest,
  type ManifestRead,
} from "./manifests.js";
import { checkEnvName } from "./names.js";
import type { Project } from "./project.js";
import type { JournalEntry } from "./state.js";
import {
  envRef,
  forgetEnvDir,
  recordedInfo,
  removeEnvResources,
  type RemovedResources,
  type StepEvent,
} from "./steps.js";
import { forgetCurrent, resolveProjectEnv } from "./switch.js";

export interface DeleteEnvOptions {
  force?: boolean;
  onStep?: (event: StepEvent) => void;
}

export interface DeleteResult {
  readonly name: string;
  /** Resources the env had adopted: left in place on the backend, only forgotten here. */
  readonly kept: ResourceKind[];
  /** Forks of the deleted env, now forks of its parent (null: they have no parent any more). */
  readonly reparented: { env: string; parent: string | null }[];
  /** Set when the deleted env was current: the env that is current now, and whether it exists here. */
  readonly current?: { readonly env: string; readonly exists: boolean };
}

/** Point the forks of a deleted env at its parent, each under its own lock. */
async function reparent(
  project: Project,
  children: string[],
  parent: string | null,
): Promise<DeleteResult["reparented"]> {
  const done: DeleteResult["reparented"] = [];
  for (const child of children) {
    const lock = await project.state.lock(child);
    try {
      const read = await readManifest(project.layout, child);
      if (!read?.ok) continue;
      await writeManifest(project.layout, { ...read.manifest, parent });
      done.push({ env: child, parent });
    } finally {
      lock.release();
    }
  }
  return done;
}

/**
 * An env directory without a manifest: `delete` removes nothing (what is left is gc's to collect, by
 * the project's record of what it made, or a root's to adopt again); it says what the backends still
 * have and how to take it back or collect it.
 */
async function noManifestError(project: Project, name: string): Promise<UserError> {
  const missing = await missingEnvError(project.layout, name);
  if (!(await listEnvNames(project.layout)).includes(name)) return missing;
  const found = await Promise.all(
    project.providers.map(async (provider) => {
      try {
        const info = await provider.describe(envRef(project, name), project.op());
        return info ? `${provider.kind} (${info.location})` : undefined;
      } catch (error) {
        return `${provider.kind} (could not check: ${(error as Error).message})`;
      }
    }),
  );
  const left = found.filter((f) => f !== undefined);
  return new UserError(
    `Environment "${name}" has no manifest here (${project.layout.manifest(name)} is missing), so \`delete\` deletes nothing. ` +
      (left.length
        ? `Its backends still have: ${left.join(", ")}.`
        : "Its backends have nothing by its name."),
    "E_ENV_NOT_FOUND",
    {
      hint: isRoot(project, name)
        ? `\`forkstack new ${name}\` makes the root again, adopting what its backends have; forkstack never deletes a resource it has no record of making, so remove one you do not want with the backend's own tools.`
        : "`forkstack gc --dry-run` lists what forkstack's record (.forkstack/state.db) shows it made for it, and `forkstack gc --yes` removes that; it never deletes the rest, which it has no record of making.",
    },
  );
}

/**
 * The refusals of `delete` that need no lock (a bad name, a missing or protected env, forks that read
 * through it), so the CLI can say them before asking "Delete …?": a question answered yes must not be
 * followed by "cannot be deleted". The delete checks them again under the lock.
 */
export async function checkDeletable(project: Project, name: string, force?: boolean): Promise<ManifestRead> {
  checkEnvName(name, project.config.project);
  refuseProtected(project, name, "deleted", force);
  const read = await readManifest(project.layout, name);
  if (!read) throw await noManifestError(project, name);
  await refuseChildren(project, name, "deleted");
  return read;
}

/**
 * The journaled delete of env `name` under its lock, without repairing the journal first: `deleteEnv`
 * does that, and gc's plan (also run by repair) must not.
 */
export async function deleteLocked(
  project: Project,
  name: string,
  options: DeleteEnvOptions = {},
): Promise<DeleteResult> {
  const lock = await project.state.lock(name);
  try {
    pendingRollback(project, name);
    const read = await checkDeletable(project, name, options.force);
    await refuseInUse(project, name, "deleted", options.force);
    const parent = read.ok ? read.manifest.parent : null;
    project.state.beginOp(name, "delete", parent);
    failpoint("delete:after-journal");
    return await finishDelete(project, name, parent, options.onStep);
  } finally {
    lock.release();
  }
}

/**
 * Everything a delete does after its journal entry, for the normal run and for repair (which passes
 * the parent the entry recorded: the user asked for the env to be gone, so an interrupted delete is
 * always finished). The manifest goes only after every resource is removed, so an env
 * without one has nothing left to remove. Caller holds the lock.
 */
export async function finishDelete(
  project: Project,
  name: string,
  recordedParent: string | null,
  onStep?: (e: StepEvent) => void,
): Promise<DeleteResult> {
  const read = await readManifest(project.layout, name);
  const manifest: EnvManifest | null = read?.ok ? read.manifest : null;
  // An entry from before the parent was journaled has null: the manifest, if still there, knows it.
  const parent = recordedParent ?? manifest?.parent ?? null;
  const reparented = await reparent(project, await childrenOf(project, name), parent);
  failpoint("delete:after-reparent");
  let removed: RemovedResources = { kept: [], left: [] };
  if (read) {
    removed = await removeEnvResources(project, manifest, name, onStep);
    failpoint("delete:after-remove");
  }
  const { kept, left } = removed;
  // Recursive only when nothing of the env stays: an adopted or left resource may live in its dir.
  await forgetEnvDir(project, name, read !== null && kept.length === 0 && left.length === 0);
  failpoint("delete:after-forget");
  const wasCurrent = await forgetCurrent(project, name);
  project.state.endOp(name);
  return { name, kept, reparented, ...(wasCurrent ? { current: await currentNow(project) } : {}) };
}

/** The env that is current once the current one is gone (the resolver's answer), and whether it exists. */
async function currentNow(project: Project): Promise<NonNullable<DeleteResult["current"]>> {
  const env = resolveProjectEnv(project).name;
  const read = await readManifest(project.layout, env);
  return { env, exists: read?.ok === true };
}

export interface OrphanResource {
  readonly kind: ResourceKind;
  readonly provider: string;
  readonly env: string;
  /** Where the record says it is (orphans, unreachable ones). */
  readonly location?: string;
}

/** What gc journals before it removes anything, so that repair removes the same. */
export interface GcPlan {
  /** Expired envs, forks before their parents. */
  readonly expired: string[];
  readonly orphans: OrphanResource[];
}

/** gc's journal key: it changes many envs, and two gc runs at once take turns on it. */
export const GC_JOURNAL_KEY = "(gc)";

/**
 * Carry out gc's plan, for the normal run and for repair: each expired env that is still there is
 * deleted, then each orphan that no env has claimed since is removed (under its env's lock) by its
 * record in the project's record of what it made (state.ts) — what the provider returned when it made
 * it, never what a backend lists — then what is left of the orphans' env directories. An orphan whose
 * record is gone was removed before a crash. The caller holds the gc key's lock and ends its entry.
 */
export async function runGcPlan(project: Project, plan: GcPlan): Promise<{ env: string; error: string }[]> {
  const failed: { env: string; error: string }[] = [];
  for (const name of plan.expired) {
    if (!(await readManifest(project.layout, name))) continue; // deleted before a crash
    await deleteLocked(project, name).catch((error: unknown) =>
      failed.push({ env: name, error: (error as Error).message }),
    );
  }
  failpoint("gc:after-expired");
  for (const orphan of plan.orphans) {
    const lock = project.state.tryLock(orphan.env);
    if (!lock) {
      failed.push({ env: orphan.env, error: "an operation on it started meanwhile" });
      continue;
    }
    try {
      if (await readManifest(project.layout, orphan.env)) continue; // an env of that name was made since
      const record = project.state
        .recorded(orphan.env)
        .find((r) => r.kind === orphan.kind && r.provider === orphan.provider);
      const provider = project.providers.find((p) => p.kind === orphan.kind && p.name === orphan.provider);
      if (!record || !provider) continue;
      await provider.remove(envRef(project, orphan.env), project.op(), recordedInfo(record.info));
      project.state.forgetRecorded(orphan.env, orphan.kind, orphan.provider);
    } catch (error) {
      failed.push({ env: orphan.env, error: (error as Error).message });
    } finally {
      lock.release();
    }
  }
  for (const env of new Set(plan.orphans.map((o) => o.env))) {
    if (!failed.some((f) => f.env === env) && !(await readManifest(project.layout, env))) {
      await forgetEnvDir(project, env, false);
    }
  }
  failpoint("gc:after-orphans");
  return failed;
}

/** Repair of an interrupted gc: its plan is carried out again (what is done already is skipped). */
export async function finishGcEntry(project: Project, entry: JournalEntry): Promise<void> {
  const plan = (entry.plan ?? { expired: [], orphans: [] }) as GcPlan;
  await runGcPlan(project, plan);
  project.state.endOp(entry.env);
}
