/**
 * @module core/delete-env
 * Deleting an env: only the resources it made (adopted ones stay on the backend), its forks
 * re-parented to its parent, refused while a process holds its data open. A crash in the middle is
 * finished by the next command (`repair.ts` calls `finishDelete`).
 */
import { rm } from "node:fs/promises";
import { UserError } from "../errors.js";
import type { EnvManifest } from "../layout.js";
import type { ResourceKind } from "../providers/types.js";
import { removeEnvLocalBlock } from "./env-local.js";
import { failpoint } from "./failpoints.js";
import { childrenOf, pendingRollback, refuseChildren, refuseProtected } from "./guards.js";
import { refuseInUse } from "./in-use.js";
import { listEnvNames, readManifest, writeManifest, type ManifestRead } from "./manifests.js";
import { checkEnvName } from "./names.js";
import type { Project } from "./project.js";
import { readCurrentEnvFile } from "../runtime/resolve.js";
import { repairJournal } from "./repair.js";
import { forgetEnvDir, removeEnvResources, type StepEvent } from "./steps.js";

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
 * The refusals of `delete` that need no lock (a bad name, a missing or protected env, forks that read
 * through it), so the CLI can say them before asking "Delete …?": a question answered yes must not be
 * followed by "cannot be deleted". `deleteEnv` checks them again under the lock.
 */
export async function checkDeletable(project: Project, name: string, force?: boolean): Promise<ManifestRead> {
  checkEnvName(name, project.config.project);
  refuseProtected(project, name, "deleted", force);
  const read = await readManifest(project.layout, name);
  if (!read) {
    const known = await listEnvNames(project.layout);
    throw new UserError(`Environment "${name}" not found.`, "E_ENV_NOT_FOUND", {
      hint: known.length ? `Available: ${known.join(", ")}.` : undefined,
    });
  }
  await refuseChildren(project, name, "deleted");
  return read;
}

export async function deleteEnv(
  project: Project,
  name: string,
  options: DeleteEnvOptions = {},
): Promise<DeleteResult> {
  checkEnvName(name, project.config.project);
  await repairJournal(project);
  const lock = await project.state.lock(name);
  try {
    pendingRollback(project, name);
    const read = await checkDeletable(project, name, options.force);
    await refuseInUse(project, name, "deleted", options.force);
    const manifest = read.ok ? read.manifest : null;
    project.state.beginOp(name, "delete", null);
    failpoint("delete:after-journal");
    const reparented = await reparent(project, await childrenOf(project, name), manifest?.parent ?? null);
    const kept = await finishDelete(project, manifest, name, options.onStep);
    await forgetCurrent(project, name);
    return { name, kept, reparented };
  } finally {
    lock.release();
  }
}

/** Remove an env's own resources and its record; adopted ones stay on the backend. Caller holds the lock. */
export async function finishDelete(
  project: Project,
  manifest: EnvManifest | null,
  name: string,
  onStep?: (e: StepEvent) => void,
): Promise<ResourceKind[]> {
  const { kept, left } = await removeEnvResources(project, manifest, name, onStep);
  // Recursive only when nothing of the env stays: an adopted or left resource may live in its dir.
  await forgetEnvDir(project, name, kept.length === 0 && left.length === 0);
  project.state.endOp(name);
  return kept;
}

/** If the deleted env was current, fall back to the default env rather than point at nothing. */
async function forgetCurrent(project: Project, name: string): Promise<void> {
  let current: string | undefined;
  try {
    current = readCurrentEnvFile(project.layout.currentEnvFile);
  } catch {
    return;
  }
  if (current === name) {
    await rm(project.layout.currentEnvFile, { force: true });
    // Only forkstack's block goes: the user's own lines in .env.local stay.
    await removeEnvLocalBlock(project.layout.envLocalFile);
  }
}
