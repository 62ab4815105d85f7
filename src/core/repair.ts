/**
 * @module core/repair
 * Finishing or undoing operations that a crash (kill -9, power loss) or an unreachable backend left
 * unfinished. Every command that changes or lists envs calls `repairJournal` first, so the next
 * command repairs it:
 * - an interrupted `create` is rolled back: exactly the resources its journaled steps made are
 *   removed (never one that existed before), then its record;
 * - an interrupted `delete` is finished: the user asked for the env to be gone;
 * - an interrupted `reset` is finished by forking again from the parent, if the parent is still there.
 * An entry whose env is locked by a live process is an operation in progress and is left alone. An
 * entry that cannot be finished now (a backend is down) stays, with the reason, for the next command.
 */
import type { JournalEntry } from "./state.js";
import { finishDelete } from "./delete-env.js";
import { reforkInPlace } from "./lifecycle.js";
import { readManifest, writeManifest } from "./manifests.js";
import type { Project } from "./project.js";
import { forgetEnvDir, removeEnvResources, rollbackSteps } from "./steps.js";

export interface Repair {
  readonly env: string;
  readonly op: JournalEntry["op"];
  readonly outcome: "rolled back" | "finished" | "broken" | "pending";
  /** Why it is still pending. */
  readonly error?: string;
}

export async function repairJournal(project: Project): Promise<Repair[]> {
  const repairs: Repair[] = [];
  for (const entry of project.state.journal()) {
    const lock = project.state.tryLock(entry.env);
    if (!lock) continue;
    try {
      // Re-read under the lock: the entry may have been completed meanwhile.
      if (!project.state.journal().some((e) => e.env === entry.env && e.startedAt === entry.startedAt))
        continue;
      try {
        repairs.push(await repairOne(project, entry));
      } catch (error) {
        const message = (error as Error).message ?? String(error);
        project.state.failOp(
          entry.env,
          `${entry.op === "create" ? "rollback" : entry.op} incomplete (${message})`,
        );
        repairs.push({ env: entry.env, op: entry.op, outcome: "pending", error: message });
      }
    } finally {
      lock.release();
    }
  }
  for (const repair of repairs) {
    project.log.warn(
      repair.outcome === "pending"
        ? `Could not finish the interrupted \`${repair.op}\` of "${repair.env}" yet (${repair.error}); the next command retries.`
        : `Repaired an interrupted \`${repair.op}\` of "${repair.env}": ${repair.outcome}.`,
    );
  }
  return repairs;
}

async function repairOne(project: Project, entry: JournalEntry): Promise<Repair> {
  const read = await readManifest(project.layout, entry.env);
  const manifest = read?.ok ? read.manifest : null;
  if (entry.op === "create") {
    await rollbackSteps(project, entry.env);
    await forgetEnvDir(project, entry.env, false);
    project.state.endOp(entry.env);
    return { env: entry.env, op: entry.op, outcome: "rolled back" };
  }
  if (entry.op === "delete") {
    await finishDelete(project, manifest, entry.env);
    return { env: entry.env, op: entry.op, outcome: "finished" };
  }
  // reset: whatever the interrupted re-fork made goes, then whatever is left of the old data; what
  // the env's apps hold (its storage key) is kept only when the reset can be finished.
  await rollbackSteps(project, entry.env);
  const parent = entry.parent ? await readManifest(project.layout, entry.parent) : null;
  const refork = manifest !== null && parent?.ok === true && parent.manifest.status === "ready";
  await removeEnvResources(project, manifest, entry.env, undefined, { reset: refork });
  if (manifest && refork) {
    try {
      await reforkInPlace(project, manifest);
      return { env: entry.env, op: entry.op, outcome: "finished" };
    } catch {
      if (project.state.journal().some((e) => e.env === entry.env && e.lastError)) {
        return { env: entry.env, op: entry.op, outcome: "pending" };
      }
      return { env: entry.env, op: entry.op, outcome: "broken" };
    }
  }
  if (manifest) await writeManifest(project.layout, { ...manifest, status: "broken", resources: {} });
  project.state.endOp(entry.env);
  return { env: entry.env, op: entry.op, outcome: "broken" };
}
