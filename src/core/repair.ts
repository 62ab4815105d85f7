/**
 * @module core/repair
 * Finishing or undoing operations that a crash (kill -9, power loss) or an unreachable backend left
 * unfinished, so that they end where the uninterrupted operation ends (docs/architecture.md, "What each
 * operation leaves"). Every command that changes or lists envs calls `repairJournal` first, so the next
 * command repairs it, through the same code the operation runs (`make-env.ts`, `remove-env.ts`):
 * - an interrupted `create` before its `ready` manifest is rolled back: exactly the resources its
 *   journaled steps made are removed (never one that existed before), then its record; after it, the
 *   create is finished (the switch it was to make, unless the user switched elsewhere since);
 * - an interrupted `delete` is finished: forks re-parented, resources and record removed, the current
 *   env moved off it;
 * - an interrupted `reset` is finished by forking again from the parent, if the parent is still there;
 * - an interrupted `gc` carries out the rest of its plan;
 * - an interrupted `switch` (not journaled) is finished from the files: `alignEnvLocal` (core/switch.ts).
 * An entry whose env is locked by a live process is an operation in progress and is left alone. An
 * entry that cannot be finished now (a backend is down) stays, with the reason, for the next command.
 */
import type { JournalEntry } from "./state.js";
import { finishCreate, finishReset } from "./make-env.js";
import type { Project } from "./project.js";
import { finishDelete, finishGcEntry } from "./remove-env.js";
import { alignEnvLocal } from "./switch.js";

export interface Repair {
  readonly env: string;
  readonly op: JournalEntry["op"];
  readonly outcome: "rolled back" | "finished" | "broken" | "pending";
  /** Why it is still pending. */
  readonly error?: string;
  /** A finished delete of the current env: the env that is current now. */
  readonly current?: string;
}

/** Envs' own operations first, then gc, whose plan skips what they have finished meanwhile. */
function repairOrder(entries: JournalEntry[]): JournalEntry[] {
  return [...entries.filter((e) => e.op !== "gc"), ...entries.filter((e) => e.op === "gc")];
}

export async function repairJournal(project: Project): Promise<Repair[]> {
  const repairs: Repair[] = [];
  for (const entry of repairOrder(project.state.journal())) {
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
    const what = repair.op === "gc" ? "`gc`" : `\`${repair.op}\` of "${repair.env}"`;
    project.log.warn(
      repair.outcome === "pending"
        ? `Could not finish the interrupted ${what} yet (${repair.error}); the next command retries.`
        : `Repaired an interrupted ${what}: ${repair.outcome}${repair.current ? `; ${repair.current} is the current env now` : ""}.`,
    );
  }
  // A switch is not journaled: its files say whether one was interrupted.
  await alignEnvLocal(project).catch((error: unknown) =>
    project.log.warn(
      `Could not bring .env.local up to date with the current env: ${(error as Error).message}`,
    ),
  );
  return repairs;
}

async function repairOne(project: Project, entry: JournalEntry): Promise<Repair> {
  const { env, op } = entry;
  switch (op) {
    case "create":
      return { env, op, outcome: await finishCreate(project, entry) };
    case "delete": {
      const result = await finishDelete(project, env, entry.parent);
      return { env, op, outcome: "finished", ...(result.current ? { current: result.current.env } : {}) };
    }
    case "reset":
      return { env, op, outcome: await finishReset(project, entry) };
    case "gc":
      await finishGcEntry(project, entry);
      return { env, op, outcome: "finished" };
  }
}
