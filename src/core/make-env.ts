/**
 * @module core/make-env
 * The journaled making of an env — `new` (root or fork) and the re-fork of `reset` — in one code path
 * for the normal run and for the repair of a run a crash interrupted (`repair.ts`), so that both end
 * in the same state (docs/architecture.md, "What each operation leaves"):
 * - create: journal (parent, whether to switch) → env dir and `creating` manifest → every resource →
 *   `ready` manifest, the commit point → the switch → journal entry gone. Repair rolls back a create
 *   that had not reached its commit point and finishes (switches, ends) one that had.
 * - reset: journal (parent, the manifest it replaces) → `resetting` → old resources removed → forked
 *   again → `ready` → journal entry gone. Repair finishes it from wherever it stopped.
 * The public entry points (`createEnv`, `resetEnv`) are in `lifecycle.ts`; nothing here repairs the
 * journal first, so `repair.ts` can call it.
 */
import { rm } from "node:fs/promises";
import { mkdirPrivate } from "../durable-fs.js";
import { UserError } from "../errors.js";
import type { EnvManifest, ManifestResource } from "../layout.js";
import { failpoint } from "./failpoints.js";
import { readManifest, requireManifest, writeManifest } from "./manifests.js";
import type { Project } from "./project.js";
import type { JournalEntry } from "./state.js";
import {
  envRef,
  forgetEnvDir,
  makeResources,
  makeStep,
  recordedInfo,
  removeEnvResources,
  rollbackSteps,
  type MadeResources,
  type StepEvent,
} from "./steps.js";
import { applySwitch, currentEnvFileOf } from "./switch.js";

type Maker = Parameters<typeof makeResources>[2];

interface MakeOptions {
  signal?: AbortSignal;
  onStep?: (e: StepEvent) => void;
}

/** What a create's journal entry carries for its repair. */
interface CreatePlan {
  /** Make the env current once it is ready. */
  readonly switchTo: boolean;
  /** What `.current-env` named when the create began: if it names another env by repair time, the user switched since, and that stands. */
  readonly currentBefore: string | null;
}

/** What a reset's journal entry carries: the `createdAt` of the manifest it replaces, to tell a finished re-fork from one not begun. */
interface ResetPlan {
  readonly replaces?: string;
}

function createPlanOf(entry: JournalEntry): CreatePlan {
  const plan = (entry.plan ?? {}) as Partial<CreatePlan>;
  // An entry written before plans existed: that version switched after ending the create.
  return { switchTo: plan.switchTo === true, currentBefore: plan.currentBefore ?? null };
}

/**
 * The env's directory and its `creating` manifest, after the journal entry. If they cannot be written
 * (a full disk), nothing was made yet: undo them and the entry at once rather than leave it to repair.
 */
async function startRecord(project: Project, name: string, manifest: Omit<EnvManifest, "version">) {
  try {
    await mkdirPrivate(project.layout.envDir(name));
    await writeManifest(project.layout, manifest);
  } catch (error) {
    await forgetEnvDir(project, name, false).catch(() => undefined);
    project.state.endOp(name);
    throw error;
  }
}

/**
 * After a failed make: the rollback is done (the journal entry goes, with the env dir unless it holds
 * something that is not ours), or it failed and the entry stays for the next command to finish.
 */
async function settleFailure(
  project: Project,
  name: string,
  outcome: { failure?: unknown; rollbackError?: unknown },
  onRolledBack: () => Promise<void>,
): Promise<never> {
  if (outcome.rollbackError === undefined) {
    await onRolledBack();
    project.state.endOp(name);
  } else {
    const reason = (outcome.rollbackError as Error).message ?? String(outcome.rollbackError);
    project.state.failOp(name, `rollback incomplete (${reason})`);
    project.log.warn(
      `Rollback of ${name} is incomplete (${reason}); the next forkstack command (or \`forkstack gc\`) finishes it once the backend is reachable.`,
    );
  }
  throw outcome.failure;
}

/**
 * The maker for `makeResources`: fork each resource of `parent` into `name` as a journaled step.
 * `previous`: the env's manifest before a reset, whose records each fork gets back (ForkOptions).
 */
export function forkEach(
  project: Project,
  parent: EnvManifest,
  name: string,
  when: { at?: Date; expiresAt?: string | null; previous?: EnvManifest } = {},
): Maker {
  const parentRef = envRef(project, parent.name);
  const child = envRef(project, name);
  return (provider, op) => {
    const parentRecord = recordedInfo(parent.resources[provider.kind]);
    const previous = recordedInfo(when.previous?.resources[provider.kind]);
    return makeStep(
      project,
      name,
      provider,
      op,
      () =>
        provider.fork(parentRef, child, op, {
          parent: parentRecord,
          ...(when.at ? { at: when.at } : {}),
          ...(when.expiresAt ? { expiresAt: new Date(when.expiresAt) } : {}),
          ...(previous ? { previous } : {}),
        }),
      parentRecord,
    );
  };
}

/**
 * The journaled making of a new env, root or fork: journal entry, `creating` record, every resource
 * (rolled back on failure), the `ready` manifest, then the switch if asked. The caller holds the lock.
 */
export async function makeNewEnv(
  project: Project,
  base: Pick<EnvManifest, "name" | "parent" | "createdAt" | "expiresAt">,
  make: Maker,
  options: MakeOptions & { switchTo?: boolean },
): Promise<{ manifest: EnvManifest; summary: MadeResources["summary"]; switched: boolean }> {
  const { name } = base;
  const switchTo = options.switchTo ?? false;
  const plan: CreatePlan = { switchTo, currentBefore: switchTo ? (currentEnvFileOf(project) ?? null) : null };
  project.state.beginOp(name, "create", base.parent, plan);
  failpoint("create:after-journal");
  await startRecord(project, name, { ...base, status: "creating", resources: {} });
  failpoint("create:after-record");
  const outcome = await makeResources(project, name, make, options);
  if (!outcome.made) {
    return settleFailure(project, name, outcome, () => forgetEnvDir(project, name, false));
  }
  failpoint("create:before-ready");
  const manifest = await writeManifest(project.layout, {
    ...base,
    status: "ready",
    resources: outcome.made.resources,
  });
  failpoint("create:after-ready");
  const switched = await completeCreate(project, name, plan);
  return { manifest, summary: outcome.made.summary, switched };
}

/**
 * A create past its commit point (the `ready` manifest): switch to the env if asked, end the entry.
 * The env is made whatever the switch does: a switch that fails (`.env.local`'s markers are broken)
 * is reported, and does not leave the create unfinished.
 */
async function completeCreate(project: Project, name: string, plan: CreatePlan): Promise<boolean> {
  try {
    const now = currentEnvFileOf(project) ?? null;
    if (!plan.switchTo || (now !== plan.currentBefore && now !== name)) return false;
    await applySwitch(project, name);
    failpoint("create:after-switch");
    return true;
  } finally {
    project.state.endOp(name);
  }
}

/**
 * Repair of an interrupted create: past its commit point it is finished as `new` would have; before
 * it, exactly what its steps recorded making is removed, then its record.
 */
export async function finishCreate(
  project: Project,
  entry: JournalEntry,
): Promise<"finished" | "rolled back"> {
  const read = await readManifest(project.layout, entry.env);
  if (read?.ok && read.manifest.status === "ready") {
    await completeCreate(project, entry.env, createPlanOf(entry)).catch((error: unknown) =>
      project.log.warn(`"${entry.env}" is made, but could not be made current: ${(error as Error).message}`),
    );
    return "finished";
  }
  await rollbackSteps(project, entry.env);
  await forgetEnvDir(project, entry.env, false);
  project.state.endOp(entry.env);
  return "rolled back";
}

function readyAfterReset(manifest: EnvManifest, resources: Record<string, ManifestResource>): EnvManifest {
  return { ...manifest, createdAt: new Date().toISOString(), status: "ready", resources };
}

/**
 * Fork an env's resources again from its parent, keeping its name, after `removeEnvResources` with
 * `reset` removed the old ones: each fork gets the env's old record as `previous`, to take up what the
 * remove kept (the env's storage key). On failure it is left `broken` (visibly, with nothing half-made
 * in it, and nothing kept: the old records are removed once more without `reset`). Caller holds the
 * lock and has journaled a `reset`.
 */
async function reforkInPlace(
  project: Project,
  manifest: EnvManifest,
  options: MakeOptions = {},
): Promise<MadeResources> {
  const parent = await requireManifest(project.layout, manifest.parent!);
  if (parent.status !== "ready") {
    throw new UserError(
      `Cannot reset "${manifest.name}": its parent "${parent.name}" is ${parent.status}.`,
      "E_ENV_BROKEN",
    );
  }
  const outcome = await makeResources(
    project,
    manifest.name,
    forkEach(project, parent, manifest.name, { expiresAt: manifest.expiresAt, previous: manifest }),
    options,
  );
  if (!outcome.made) {
    return settleFailure(project, manifest.name, outcome, async () => {
      // What the reset's remove kept for the forks (the env's key) goes now: no record will name it.
      await removeEnvResources(project, manifest, manifest.name);
      await writeManifest(project.layout, { ...manifest, status: "broken", resources: {} });
    });
  }
  failpoint("reset:before-ready");
  await writeManifest(project.layout, readyAfterReset(manifest, outcome.made.resources));
  failpoint("reset:after-ready");
  project.state.endOp(manifest.name);
  return outcome.made;
}

/** The journal entry for resetting `manifest`'s env, with what its repair needs. */
export function beginReset(project: Project, manifest: EnvManifest): void {
  const plan: ResetPlan = { replaces: manifest.createdAt };
  project.state.beginOp(manifest.name, "reset", manifest.parent, plan);
}

/**
 * Everything a reset does after its journal entry: mark the env `resetting`, remove its resources,
 * fork them again from the parent. Idempotent up to the re-fork, so repair runs it again from the top.
 */
export async function resetInPlace(
  project: Project,
  manifest: EnvManifest,
  options: MakeOptions = {},
): Promise<MadeResources> {
  await writeManifest(project.layout, { ...manifest, status: "resetting" });
  // The runtime's cached copy of the old secrets would outlive them (core/variables.ts).
  await rm(project.layout.secretsCache(manifest.name), { force: true });
  failpoint("reset:after-mark");
  // `reset`: what the env's running apps hold (its storage key) is kept for the re-fork.
  await removeEnvResources(project, manifest, manifest.name, options.onStep, { reset: true });
  failpoint("reset:after-remove");
  return reforkInPlace(project, manifest, options);
}

/**
 * Repair of an interrupted reset: a re-fork that wrote its `ready` manifest is done; otherwise what
 * the re-fork made goes and the reset runs again, if the parent is still there (else the env is left
 * `broken`, with nothing of its own left).
 */
export async function finishReset(
  project: Project,
  entry: JournalEntry,
): Promise<"finished" | "broken" | "pending"> {
  const read = await readManifest(project.layout, entry.env);
  const manifest = read?.ok ? read.manifest : null;
  const { replaces } = (entry.plan ?? {}) as ResetPlan;
  if (manifest?.status === "ready" && replaces !== undefined && manifest.createdAt !== replaces) {
    project.state.endOp(entry.env);
    return "finished";
  }
  const parent = entry.parent ? await readManifest(project.layout, entry.parent) : null;
  const again = manifest !== null && parent?.ok === true && parent.manifest.status === "ready";
  // When the reset runs again, what its interrupted re-fork took up (the env's key) is kept for it.
  await rollbackSteps(project, entry.env, undefined, again ? { reset: true } : undefined);
  if (manifest && again) {
    try {
      await resetInPlace(project, manifest);
      return "finished";
    } catch {
      return project.state.journal().some((e) => e.env === entry.env && e.lastError) ? "pending" : "broken";
    }
  }
  if (manifest) {
    await removeEnvResources(project, manifest, entry.env);
    await writeManifest(project.layout, { ...manifest, status: "broken", resources: {} });
  }
  project.state.endOp(entry.env);
  return "broken";
}
