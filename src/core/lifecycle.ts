/**
 * @module core/lifecycle
 * Creating and resetting envs (deleting: `delete-env.ts`) with the guarantees of docs/architecture.md.
 * This module checks and refuses; the journaled runs themselves, which crash repair shares, are in
 * `make-env.ts`:
 * - all resources of an env are made in parallel, and if one fails the others are rolled back;
 * - every change is journaled before it touches a resource, so a kill -9 at any point is repaired by
 *   the next command (`repair.ts`), and a half-made env is never reported as ready;
 * - each env is changed under its own lock, so different envs are created concurrently and the same
 *   name twice yields one env and one "already exists" error.
 */
import { UsageError, UserError, isForkstackError } from "../errors.js";
import type { EnvManifest } from "../layout.js";
import type { ResourceKind } from "../providers/types.js";
import { notReadyHint } from "../runtime/resolve.js";
import { checkTtlMs } from "./duration.js";
import { failpoint } from "./failpoints.js";
import { readManifest, requireManifest } from "./manifests.js";
import { beginReset, forkEach, makeNewEnv, resetInPlace } from "./make-env.js";
import { checkEnvName } from "./names.js";
import { isRootEnv, type Project } from "./project.js";
import { refuseInUse } from "./in-use.js";
import { pendingRollback, refuseChildren, refuseProtected } from "./guards.js";
import { repairJournal } from "./repair.js";
import { adoptOrCreate, envRef, prepareAll, type StepEvent } from "./steps.js";

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
 * Create a root env (no parent): each resource the backend already has is adopted (never created
 * over, never removed), the others are made empty. Used by `init` and when `dev` is missing here.
 */
export async function createRootEnv(
  project: Project,
  name: string,
  onStep?: (e: StepEvent) => void,
  options: { switchTo?: boolean } = {},
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
      { onStep, switchTo: options.switchTo ?? false },
    );
    return {
      ...pick(made.manifest),
      resources: made.summary,
      switched: made.switched,
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

const AT_HINT = "Give a past time (2026-11-30T10:00Z) or how long ago (1h, 2d).";

/** `--at`: only where every provider can fork at a past time, and never in the future. */
function checkAt(project: Project, at: Date | undefined): void {
  if (!at) return;
  if (Number.isNaN(at.getTime())) throw new UsageError("--at is not a valid time.", { hint: AT_HINT });
  if (at.getTime() > Date.now()) {
    throw new UsageError(`--at ${at.toISOString()} is in the future.`, {
      hint: AT_HINT,
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

/**
 * A fork that touches production data asks first: one from a production env copies its data out; one
 * into a production env (`new prod --from dev`) makes production a copy of another env's data.
 */
function productionQuestion(
  project: Project,
  name: string,
  parent: string,
): { question: string; refusal: string } | undefined {
  const { production } = project.config;
  if (production.includes(parent)) {
    return {
      question: `"${parent}" holds production data. Fork it into "${name}"?`,
      refusal: `Forking from the production env "${parent}" needs confirmation.`,
    };
  }
  if (production.includes(name)) {
    return {
      question: `"${name}" is a production env. Make it a fork of "${parent}", starting as a copy of its data?`,
      refusal: `Making the production env "${name}" a fork of "${parent}" needs confirmation.`,
    };
  }
  return undefined;
}

export async function createEnv(
  project: Project,
  name: string,
  options: CreateEnvOptions = {},
): Promise<EnvSummary> {
  const started = performance.now();
  checkEnvName(name, project.config.project, project.providers);
  // `new dev` or `new prod` (a root: see isRootEnv) without --from makes that root, empty or adopting
  // what its backends have: how a root is first made on this machine, or a deleted one started over.
  if (options.from === undefined && isRootEnv(project, name)) {
    const root = await createRootEnv(project, name, options.onStep, { switchTo: options.switchTo ?? true });
    return { ...root, ms: performance.now() - started };
  }
  const parent = options.from ?? project.config.defaultEnv;
  // The parent's name is a path too (its manifest): checked before anything reads it.
  checkEnvName(parent, project.config.project);
  if (parent === name) throw new UsageError(`An env cannot be forked from itself ("${name}").`);
  if (options.ttlMs !== undefined) checkTtlMs(options.ttlMs);
  checkAt(project, options.at);
  await repairJournal(project);
  // A parent that does not exist is said before any question about it (the default env is the one
  // parent made on demand).
  if (parent !== project.config.defaultEnv) await requireManifest(project.layout, parent);
  const asked = productionQuestion(project, name, parent);
  if (asked && !options.yes && !(options.confirm && (await options.confirm(asked.question)))) {
    throw new UserError(asked.refusal, "E_CONFIRMATION_REQUIRED", {
      hint: "Pass --yes to confirm (required when not running in a terminal).",
    });
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
      { ...options, switchTo: options.switchTo ?? true },
    );
    return {
      ...pick(made.manifest),
      resources: made.summary,
      switched: made.switched,
      ms: performance.now() - started,
    };
  } finally {
    lock.release();
  }
}

export interface ResetEnvOptions {
  force?: boolean;
  signal?: AbortSignal;
  onStep?: (event: StepEvent) => void;
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
    beginReset(project, manifest);
    failpoint("reset:after-journal");
    const made = await resetInPlace(project, manifest, options);
    const next = await requireManifest(project.layout, name);
    return { ...pick(next), resources: made.summary, switched: false, ms: performance.now() - started };
  } finally {
    lock.release();
  }
}
