/**
 * @module core/repair
 * Finishing or undoing operations that a crash (kill -9, power loss) interrupted. Every command that
 * changes or lists envs calls `repairJournal` first, so the next command after a crash repairs it:
 * - an interrupted `create` is rolled back (its resources removed): the user asked for an env and
 *   never got one, and nothing is left orphaned;
 * - an interrupted `delete` is finished: the user asked for the env to be gone;
 * - an interrupted `reset` is finished by forking again from the parent, if the parent is still there.
 * An entry whose env is locked by a live process is an operation in progress and is left alone.
 */
import type { JournalEntry } from "./state.js";
import { readManifest, writeManifest } from "./manifests.js";
import type { Project } from "./project.js";

export interface Repair {
  readonly env: string;
  readonly op: JournalEntry["op"];
  readonly outcome: "rolled back" | "finished" | "broken";
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
      repairs.push(await repairOne(project, entry));
    } finally {
      lock.release();
    }
  }
  for (const repair of repairs) {
    project.log.warn(`Repaired an interrupted \`${repair.op}\` of "${repair.env}": ${repair.outcome}.`);
  }
  return repairs;
}

async function repairOne(project: Project, entry: JournalEntry): Promise<Repair> {
  const { removeResources, reforkInPlace } = await import("./lifecycle.js");
  if (entry.op === "create" || entry.op === "delete") {
    await removeResources(project, entry.env);
    project.state.endOp(entry.env);
    return { env: entry.env, op: entry.op, outcome: entry.op === "create" ? "rolled back" : "finished" };
  }
  const read = await readManifest(project.layout, entry.env);
  const parent = entry.parent ? await readManifest(project.layout, entry.parent) : null;
  await removeResources(project, entry.env, undefined, true);
  if (read?.ok && parent?.ok && parent.manifest.status === "ready") {
    try {
      await reforkInPlace(project, read.manifest);
      project.state.endOp(entry.env);
      return { env: entry.env, op: entry.op, outcome: "finished" };
    } catch {
      // fall through: leave it visibly broken rather than half-made
    }
  }
  if (read?.ok) await writeManifest(project.layout, { ...read.manifest, status: "broken", resources: {} });
  project.state.endOp(entry.env);
  return { env: entry.env, op: entry.op, outcome: "broken" };
}
