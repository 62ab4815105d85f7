/**
 * @module core/lifecycle
 * Creating and resetting envs (deleting: `delete-env.ts`) with the guarantees of DESIGN.md §5:
 * - all resources of an env are made in parallel, and if one fails the others are rolled back;
 * - every change is journaled before it touches a resource, so a kill -9 at any point is repaired by
 *   the next command (`repair.ts`), and a half-made env is never reported as ready;
 * - each env is changed under its own lock, so different envs are created concurrently and the same
 *   name twice yields one env and one "already exists" error.
 */
import { rm } from "node:fs/promises";
import { mkdirPrivate } from "../durable-fs.js";
import { UsageError, UserError, isForkstackError } from "../errors.js";
import type { EnvManifest, ManifestResource } from "../layout.js";
import type { ResourceKind } from "../providers/types.js";
import { notReadyHint } from "../runtime/resolve.js";
import { failpoint } from "./failpoints.js";
import { readManifest, requireManifest, writeManifest } from "./manifests.js";
import { checkEnvName } from "./names.js";
import type { Project } from "./project.js";
import { refuseInUse } from "./in-use.js";
import { pendingRollback, refuseChildren, refuseProtected } from "./guards.js";
import { repairJournal } from "./repair.js";
import {
  adoptOrCreate,
  envRef,
  forgetEnvDir,
  makeResources,
  makeStep,
  prepareAll,
  recordedInfo,
  removeEnvResources,
  type MadeResources,
  type StepEvent,
} from "./steps.js";
import { switchEnv } from "./switch.js";

export { envRef, type StepEvent };

export interface CreateEnvOptions {
  /** Parent env. @default the config's defaultEnv */
  from?: string;
  /** Delete the env with `forkstack gc` after this many ms. */
  ttlMs?: number;
  /** Fork the parent as it was at this moment (providers with `flags.pointInTime` only). */
  at?: Date;
  /** Make the new env current. @default true */
  switchTo?: boolean;
  /** Forking from an env marked `production` needs this, or `confirm` answering yes. */
  yes?: boolean;
  confirm?: (question: string) => Promise<boolean>;
  signal?: AbortSignal;
  onStep?: (event: StepEvent) => void;
}

export interface ResourceSummary {
  readonly provider: string;
  readonly location: string;
  readonly method?: string;
  readonly bytesAdded?: number;
  readonly ms?: number;
  /** An existing backend resource the root adopted (never removed by forkstack). */
  readonly adopted?: boolean;
}

export interface EnvSummary {
  readonly name: string;
  readonly parent: string | null;
  readonly createdAt: string;
  readonly expiresAt: string | null;
  readonly status: string;
  readonly resources: Partial<Record<ResourceKind, ResourceSummary>>;
  readonly switched: boolean;
  readonly ms: number;
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

/** The maker for `makeResources`: fork each resource of `parent` into `name` as a journaled step. */
function forkEach(
  project: Project,
  parent: EnvManifest,
  name: string,
  when: { at?: Date; expiresAt?: string | null } = {},
): Maker {
  const parentRef = envRef(project, parent.name);
  const child = envRef(project, name);
  return (provider, op) =>
    makeStep(project, name, provider, op, () =>
      provider.fork(parentRef, child, op, {
        parent: recordedInfo(parent.resources[provider.kind]),
        ...(when.at ? { at: when.at } : {}),
        ...(when.expiresAt ? { expiresAt: new Date(when.expiresAt) } : {}),
      }),
    );
}

type Maker = Parameters<typeof makeResources>[2];

/**
 * The journaled making of a new env, root or fork: journal entry, `creating` record, every resource
 * (rolled back on failure), then the `ready` manifest. The caller holds the env's lock.
 */
async function makeNewEnv(
  project: Project,
  base: Pick<EnvManifest, "name" | "parent" | "createdAt" | "expiresAt">,
  make: Maker,
  options: { signal?: AbortSignal; onStep?: (e: StepEvent) => void },
): Promise<{ manifest: EnvManifest; summary: MadeResources["summary"] }> {
  const { name } = base;
  project.state.beginOp(name, "create", base.parent);
  failpoint("create:after-journal");
  await startRecord(project, name, { ...base, status: "creating", resources: {} });
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
  project.state.endOp(name);
  return { manifest, summary: outcome.made.summary };
}

/**
 * Create a root env (no parent): each resource the backend already has is adopted (never created
 * over, never removed), the others are made empty. Used by `init` and when `dev` is missing here.
 */
export async function createRootEnv(
  project: Project,
  name: string,
  onStep?: (e: StepEvent) => void,
): Promise<EnvSummary> {
  const started = performance.now();
  checkEnvName(name, project.config.project, project.providers);
  await prepareAll(project, undefined, onStep);
  const lock = await project.state.lock(name);
  try {
    pendingRollback(project, name);
    if (await readManifest(project.layout, name)) {
      throw new UserError(`Environment "${name}" already exists.`, "E_ENV_EXISTS", {
        hint: `Switch to it with \`forkstack switch ${name}\`.`,
      });
    }
    const base = { name, parent: null, createdAt: new Date().toISOString(), expiresAt: null };
    const made = await makeNewEnv(
      project,
      base,
      (provider, op) => adoptOrCreate(project, name, provider, op),
      { onStep },
    );
    return {
      ...pick(made.manifest),
      resources: made.summary,
      switched: false,
      ms: performance.now() - started,
    };
  } finally {
    lock.release();
  }
}

function pick(m: EnvManifest): Pick<EnvSummary, "name" | "parent" | "createdAt" | "expiresAt" | "status"> {
  return { name: m.name, parent: m.parent, createdAt: m.createdAt, expiresAt: m.expiresAt, status: m.status };
}

/**
 * On a fresh clone (the config, no `.forkstack/`), the default env is made on first use — by `run` and
 * `secrets set` as by `new` — adopting what its backends already have, so `git clone && npm install &&
 * forkstack run -- npm run dev` works. Any other missing env is left for the caller to refuse.
 */
export async function ensureDefaultEnv(
  project: Project,
  name: string,
  onStep?: (e: StepEvent) => void,
): Promise<void> {
  if (name !== project.config.defaultEnv || (await readManifest(project.layout, name))) return;
  await ensureParent(project, name, onStep);
}

async function ensureParent(
  project: Project,
  parent: string,
  onStep?: (e: StepEvent) => void,
): Promise<EnvManifest> {
  const existing = await readManifest(project.layout, parent);
  // A fresh clone has the config but not `.forkstack/`: the default env is then made on demand, its
  // existing backend resources adopted (a team's shared dev branch), the missing ones made empty.
  if (!existing && parent === project.config.defaultEnv) {
    await createRootEnv(project, parent, onStep).then(
      (made) => {
        const adopted = Object.entries(made.resources).filter(([, r]) => r.adopted);
        project.log.info(
          adopted.length
            ? `The default env "${parent}" had no manifest here; adopted its existing ${adopted.map(([k]) => k).join(", ")}.`
            : `The default env "${parent}" did not exist on this machine; created it empty.`,
        );
      },
      (error: unknown) => {
        if (!(isForkstackError(error) && error.code === "E_ENV_EXISTS")) throw error;
      },
    );
  }
  let manifest = await requireManifest(project.layout, parent);
  if (manifest.status === "creating" || manifest.status === "resetting") {
    // Another process is making the parent (e.g. many `new` at once on a fresh clone): wait for it.
    (await project.state.lock(parent)).release();
    await repairJournal(project);
    manifest = await requireManifest(project.layout, parent);
  }
  if (manifest.status !== "ready") {
    throw new UserError(
      `Cannot fork from "${parent}": it is ${manifest.status}, not ready.`,
      "E_ENV_BROKEN",
      {
        hint: notReadyHint(parent, manifest),
      },
    );
  }
  return manifest;
}

/** `--at`: only where every provider can fork at a past time, and never in the future. */
function checkAt(project: Project, at: Date | undefined): void {
  if (!at) return;
  if (at.getTime() > Date.now()) {
    throw new UsageError(`--at ${at.toISOString()} is in the future.`, {
      hint: "Give a past time (2026-11-30T10:00Z) or how long ago (1h, 2d).",
    });
  }
  const cannot = project.providers.filter((p) => !p.flags.pointInTime).map((p) => `${p.kind} (${p.name})`);
  if (cannot.length) {
    throw new UserError(
      `Cannot fork at a past time: ${cannot.join(", ")} ${cannot.length > 1 ? "keep" : "keeps"} no history to fork from.`,
      "E_UNSUPPORTED",
      { hint: "Drop --at to fork the parent as it is now." },
    );
  }
}

export async function createEnv(
  project: Project,
  name: string,
  options: CreateEnvOptions = {},
): Promise<EnvSummary> {
  const started = performance.now();
  checkEnvName(name, project.config.project, project.providers);
  // `new dev` (the default env) or `new prod` (a root the config names) without --from makes that root
  // again, adopting what its backends have: how a deleted root is started over.
  if (options.from === undefined && (name === project.config.defaultEnv || name in project.config.roots)) {
    const root = await createRootEnv(project, name, options.onStep);
    if (options.switchTo ?? true) await switchEnv(project, name);
    return { ...root, switched: options.switchTo ?? true, ms: performance.now() - started };
  }
  const parent = options.from ?? project.config.defaultEnv;
  if (parent === name) throw new UsageError(`An env cannot be forked from itself ("${name}").`);
  checkAt(project, options.at);
  await repairJournal(project);
  // A parent that does not exist is said before any question about it (the default env is the one
  // parent made on demand).
  if (parent !== project.config.defaultEnv) await requireManifest(project.layout, parent);
  if (project.config.production.includes(parent) && !options.yes) {
    const question = `"${parent}" holds production data. Fork it into "${name}"?`;
    if (!(options.confirm && (await options.confirm(question)))) {
      throw new UserError(
        `Forking from the production env "${parent}" needs confirmation.`,
        "E_CONFIRMATION_REQUIRED",
        {
          hint: "Pass --yes to confirm (required when not running in a terminal).",
        },
      );
    }
  }
  await prepareAll(project, options.signal, options.onStep);
  const lock = await project.state.lock(name);
  try {
    pendingRollback(project, name);
    if (await readManifest(project.layout, name)) {
      throw new UserError(`Environment "${name}" already exists.`, "E_ENV_EXISTS", {
        hint: `Switch to it with \`forkstack switch ${name}\`, or pick another name.`,
      });
    }
    const parentManifest = await ensureParent(project, parent, options.onStep);
    // One moment for both, so that an env's ttl is exactly what was asked (expiresAt − createdAt).
    const now = Date.now();
    const createdAt = new Date(now).toISOString();
    const expiresAt = options.ttlMs ? new Date(now + options.ttlMs).toISOString() : null;
    const made = await makeNewEnv(
      project,
      { name, parent, createdAt, expiresAt },
      forkEach(project, parentManifest, name, { at: options.at, expiresAt }),
      options,
    );
    const switched = options.switchTo ?? true;
    if (switched) await switchEnv(project, name);
    return { ...pick(made.manifest), resources: made.summary, switched, ms: performance.now() - started };
  } finally {
    lock.release();
  }
}

export interface ResetEnvOptions {
  force?: boolean;
  signal?: AbortSignal;
  onStep?: (event: StepEvent) => void;
}

function readyAfterReset(manifest: EnvManifest, resources: Record<string, ManifestResource>): EnvManifest {
  return { ...manifest, createdAt: new Date().toISOString(), status: "ready", resources };
}

/**
 * Fork an env's resources again from its parent, keeping its name; on failure it is left `broken`
 * (visibly, with nothing half-made in it). Caller holds the lock and has journaled a `reset`.
 */
export async function reforkInPlace(
  project: Project,
  manifest: EnvManifest,
  options: { signal?: AbortSignal; onStep?: (e: StepEvent) => void } = {},
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
    forkEach(project, parent, manifest.name, { expiresAt: manifest.expiresAt }),
    options,
  );
  if (!outcome.made) {
    return settleFailure(project, manifest.name, outcome, async () => {
      await writeManifest(project.layout, { ...manifest, status: "broken", resources: {} });
    });
  }
  await writeManifest(project.layout, readyAfterReset(manifest, outcome.made.resources));
  project.state.endOp(manifest.name);
  return outcome.made;
}

/** Throw away an env's data and fork it again from its parent, keeping its name (and resource names). */
export async function resetEnv(
  project: Project,
  name: string,
  options: ResetEnvOptions = {},
): Promise<EnvSummary> {
  const started = performance.now();
  checkEnvName(name, project.config.project);
  await repairJournal(project);
  const lock = await project.state.lock(name);
  try {
    pendingRollback(project, name);
    const manifest = await requireManifest(project.layout, name);
    if (!manifest.parent) {
      throw new UsageError(`"${name}" is a root env: it has no parent to reset from.`, {
        hint:
          `Only forks can be reset. To start a root over: \`forkstack delete ${name}${project.config.protected.includes(name) ? " --force" : ""}\`, ` +
          `then \`forkstack new ${name}\` makes it again (empty, or adopting what its backends already have).`,
      });
    }
    refuseProtected(project, name, "reset", options.force);
    await refuseChildren(project, name, "reset");
    await refuseInUse(project, name, "reset", options.force);
    const parentRead = await readManifest(project.layout, manifest.parent);
    if (!parentRead) {
      throw new UserError(
        `Cannot reset "${name}": its parent "${manifest.parent}" no longer exists.`,
        "E_ENV_NOT_FOUND",
        { hint: `Delete it with \`forkstack delete ${name}\` and fork a new one from another env.` },
      );
    }
    await prepareAll(project, options.signal, options.onStep);
    await ensureParent(project, manifest.parent);
    project.state.beginOp(name, "reset", manifest.parent);
    await writeManifest(project.layout, { ...manifest, status: "resetting" });
    // The runtime's cached copy of the old secrets would outlive them (core/variables.ts).
    await rm(project.layout.secretsCache(name), { force: true });
    await removeEnvResources(project, manifest, name, options.onStep);
    failpoint("reset:after-remove");
    const made = await reforkInPlace(project, manifest, options);
    const next = await requireManifest(project.layout, name);
    return { ...pick(next), resources: made.summary, switched: false, ms: performance.now() - started };
  } finally {
    lock.release();
  }
}
