/**
 * @module core/lifecycle
 * Creating, resetting and deleting envs with the guarantees of DESIGN.md §5:
 * - all resources of an env are made in parallel, and if one fails the others are rolled back;
 * - every change is journaled before it touches a resource, so a kill -9 at any point is repaired by
 *   the next command (`repair.ts`), and a half-made env is never reported as ready;
 * - each env is changed under its own lock, so different envs are created concurrently and the same
 *   name twice yields one env and one "already exists" error.
 */
import { mkdir, rm } from "node:fs/promises";
import { InterruptedError, UsageError, UserError, isForkstackError } from "../errors.js";
import type { EnvManifest, ManifestResource } from "../layout.js";
import type { EnvRef, OpContext, Provider, ResourceInfo, ResourceKind } from "../providers/types.js";
import { failpoint } from "./failpoints.js";
import { listEnvNames, readAllManifests, readManifest, requireManifest, writeManifest } from "./manifests.js";
import { checkEnvName } from "./names.js";
import type { Project } from "./project.js";
import { repairJournal } from "./repair.js";
import { switchEnv } from "./switch.js";

export interface StepEvent {
  readonly kind: ResourceKind;
  readonly provider: string;
  readonly phase: "start" | "done" | "failed" | "rollback";
  readonly ms?: number;
  readonly info?: ResourceInfo;
  readonly error?: unknown;
}

export interface CreateEnvOptions {
  /** Parent env. @default the config's defaultEnv */
  from?: string;
  /** Delete the env with `forkstack gc` after this many ms. */
  ttlMs?: number;
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

function toManifestResource(provider: Provider, info: ResourceInfo): ManifestResource {
  const { location, method, bytesAdded, bytes, vars, secretVars, data } = info;
  return { provider: provider.name, location, method, bytesAdded, bytes, vars, secretVars, data };
}

export function envRef(project: Project, name: string): EnvRef {
  return { name, project: project.config.project };
}

/**
 * Make every backend reachable (e.g. start the storage server) before anything is journaled or written:
 * a backend that cannot be reached then fails the command with nothing to repair or roll back.
 */
async function prepareAll(project: Project, signal?: AbortSignal): Promise<void> {
  await Promise.all(project.providers.map((p) => p.prepare?.(project.op(signal))));
}

/** Run one provider operation per resource kind in parallel, reporting each step. */
export async function runSteps(
  project: Project,
  fn: (provider: Provider) => Promise<ResourceInfo>,
  onStep?: (event: StepEvent) => void,
): Promise<{ results: PromiseSettledResult<ResourceInfo>[]; ms: number[] }> {
  const ms: number[] = [];
  const results = await Promise.allSettled(
    project.providers.map(async (provider, i) => {
      const started = performance.now();
      onStep?.({ kind: provider.kind, provider: provider.name, phase: "start" });
      try {
        failpoint(`step:${provider.kind}`);
        const info = await fn(provider);
        ms[i] = performance.now() - started;
        onStep?.({ kind: provider.kind, provider: provider.name, phase: "done", ms: ms[i], info });
        return info;
      } catch (error) {
        ms[i] = performance.now() - started;
        onStep?.({ kind: provider.kind, provider: provider.name, phase: "failed", ms: ms[i], error });
        throw error;
      }
    }),
  );
  return { results, ms };
}

/**
 * Remove every resource of an env (each removal is idempotent), then its directory, manifest included,
 * unless `keepDir` (reset keeps the manifest: it records what the env is while it is re-forked).
 */
export async function removeResources(
  project: Project,
  name: string,
  onStep?: (e: StepEvent) => void,
  keepDir = false,
): Promise<void> {
  const env = envRef(project, name);
  const results = await Promise.allSettled(
    project.providers.map(async (provider) => {
      onStep?.({ kind: provider.kind, provider: provider.name, phase: "rollback" });
      await provider.remove(env, project.op());
    }),
  );
  const failed = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
  if (failed) throw failed.reason;
  if (!keepDir) await rm(project.layout.envDir(name), { recursive: true, force: true });
}

function firstFailure(results: PromiseSettledResult<unknown>[]): unknown {
  return results.find((r): r is PromiseRejectedResult => r.status === "rejected")?.reason;
}

interface MadeResources {
  resources: Record<string, ManifestResource>;
  summary: EnvSummary["resources"];
}

/**
 * Make every resource of env `name` in parallel with `make` (a fork, or an empty create for roots),
 * rolling back all of them if any fails or the user interrupts. The caller holds `name`'s lock and
 * has journaled the operation, so a crash in here is repaired by the next command.
 */
async function makeResources(
  project: Project,
  name: string,
  make: (provider: Provider, op: OpContext) => Promise<ResourceInfo>,
  options: { signal?: AbortSignal; onStep?: (e: StepEvent) => void; keepDirOnRollback?: boolean },
): Promise<MadeResources> {
  const op = project.op(options.signal);
  await mkdir(project.layout.envDir(name), { recursive: true });
  await prepareAll(project, options.signal); // already done by new/reset; needed by repair
  const { results, ms } = await runSteps(project, (provider) => make(provider, op), options.onStep);
  failpoint("fork:after-steps");
  const failure = firstFailure(results) ?? (options.signal?.aborted ? new InterruptedError() : undefined);
  if (failure !== undefined) {
    await removeResources(project, name, options.onStep, options.keepDirOnRollback).catch(
      (error: unknown) => {
        project.log.warn(
          `Rollback of ${name} was incomplete (${(error as Error).message}); \`forkstack gc\` will retry.`,
        );
      },
    );
    throw failure;
  }
  const made: MadeResources = { resources: {}, summary: {} };
  project.providers.forEach((provider, i) => {
    const info = (results[i] as PromiseFulfilledResult<ResourceInfo>).value;
    made.resources[provider.kind] = toManifestResource(provider, info);
    const { location, method, bytesAdded } = info;
    made.summary[provider.kind] = { provider: provider.name, location, method, bytesAdded, ms: ms[i] };
  });
  return made;
}

function forkAll(
  project: Project,
  parent: string,
  name: string,
  options: { signal?: AbortSignal; onStep?: (e: StepEvent) => void; keepDirOnRollback?: boolean },
): Promise<MadeResources> {
  const parentRef = envRef(project, parent);
  const child = envRef(project, name);
  return makeResources(project, name, (provider, op) => provider.fork(parentRef, child, op), options);
}

/** Create a root env (no parent) with empty resources. Used by `init` and when `dev` is missing. */
export async function createRootEnv(
  project: Project,
  name: string,
  onStep?: (e: StepEvent) => void,
): Promise<EnvSummary> {
  const started = performance.now();
  const env = checkEnvName(name, project.config.project, project.providers);
  await prepareAll(project);
  const lock = await project.state.lock(name);
  try {
    if (await readManifest(project.layout, name)) {
      throw new UserError(`Environment "${name}" already exists.`, "E_ENV_EXISTS");
    }
    project.state.beginOp(name, "create", null);
    const base = { name, parent: null, createdAt: new Date().toISOString(), expiresAt: null };
    await writeManifest(project.layout, { ...base, status: "creating", resources: {} });
    let made;
    try {
      made = await makeResources(project, name, (provider, op) => provider.create(env, op), { onStep });
    } finally {
      if (!made) project.state.endOp(name);
    }
    const manifest = await writeManifest(project.layout, {
      ...base,
      status: "ready",
      resources: made.resources,
    });
    project.state.endOp(name);
    return { ...pick(manifest), resources: made.summary, switched: false, ms: performance.now() - started };
  } finally {
    lock.release();
  }
}

function pick(m: EnvManifest): Pick<EnvSummary, "name" | "parent" | "createdAt" | "expiresAt" | "status"> {
  return { name: m.name, parent: m.parent, createdAt: m.createdAt, expiresAt: m.expiresAt, status: m.status };
}

async function ensureParent(
  project: Project,
  parent: string,
  onStep?: (e: StepEvent) => void,
): Promise<EnvManifest> {
  const existing = await readManifest(project.layout, parent);
  // A fresh clone has the config but not `.forkstack/`: the default env is then made empty on demand.
  if (!existing && parent === project.config.defaultEnv) {
    project.log.info(`The default env "${parent}" did not exist on this machine; created it empty.`);
    await createRootEnv(project, parent, onStep).catch((error: unknown) => {
      if (!(isForkstackError(error) && error.code === "E_ENV_EXISTS")) throw error;
    });
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
        hint: `Run \`forkstack list\` to see its state; \`forkstack reset ${parent}\` or delete it.`,
      },
    );
  }
  return manifest;
}

export async function createEnv(
  project: Project,
  name: string,
  options: CreateEnvOptions = {},
): Promise<EnvSummary> {
  const started = performance.now();
  checkEnvName(name, project.config.project, project.providers);
  const parent = options.from ?? project.config.defaultEnv;
  if (parent === name) throw new UsageError(`An env cannot be forked from itself ("${name}").`);
  await repairJournal(project);
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
  await prepareAll(project, options.signal);
  const lock = await project.state.lock(name);
  try {
    if (await readManifest(project.layout, name)) {
      throw new UserError(`Environment "${name}" already exists.`, "E_ENV_EXISTS", {
        hint: `Switch to it with \`forkstack switch ${name}\`, or pick another name.`,
      });
    }
    await ensureParent(project, parent, options.onStep);
    const createdAt = new Date().toISOString();
    const expiresAt = options.ttlMs ? new Date(Date.now() + options.ttlMs).toISOString() : null;
    project.state.beginOp(name, "create", parent);
    failpoint("create:after-journal");
    await writeManifest(project.layout, {
      name,
      parent,
      createdAt,
      expiresAt,
      status: "creating",
      resources: {},
    });
    let forked;
    try {
      forked = await forkAll(project, parent, name, options);
    } catch (error) {
      project.state.endOp(name);
      throw error;
    }
    failpoint("create:before-ready");
    const manifest = await writeManifest(project.layout, {
      name,
      parent,
      createdAt,
      expiresAt,
      status: "ready",
      resources: forked.resources,
    });
    project.state.endOp(name);
    const switched = options.switchTo ?? true;
    if (switched) await switchEnv(project, name);
    return { ...pick(manifest), resources: forked.summary, switched, ms: performance.now() - started };
  } finally {
    lock.release();
  }
}

function refuseProtected(project: Project, name: string, verb: string, force?: boolean): void {
  if (project.config.protected.includes(name) && !force) {
    throw new UserError(
      `"${name}" is a protected env: it cannot be ${verb} without --force.`,
      "E_ENV_PROTECTED",
      {
        hint: `Protected envs are set by \`protected\` in ${project.configFile.split("/").pop()}.`,
      },
    );
  }
}

async function refuseChildren(project: Project, name: string, verb: string): Promise<void> {
  const pinning = project.providers.filter((p) => p.flags.forksPinParent);
  if (!pinning.length) return;
  const children = (await readAllManifests(project.layout))
    .filter((r) => r.ok && r.manifest.parent === name)
    .map((r) => (r.ok ? r.manifest.name : ""));
  if (children.length) {
    throw new UserError(
      `"${name}" cannot be ${verb}: envs were forked from it (${children.join(", ")}).`,
      "E_ENV_HAS_CHILDREN",
      {
        hint: `Delete ${children.length > 1 ? "them" : "it"} first (forks keep a reference to their parent, as on Tigris).`,
      },
    );
  }
}

export interface DeleteEnvOptions {
  force?: boolean;
  onStep?: (event: StepEvent) => void;
}

export async function deleteEnv(
  project: Project,
  name: string,
  options: DeleteEnvOptions = {},
): Promise<{ name: string }> {
  checkEnvName(name, project.config.project);
  await repairJournal(project);
  refuseProtected(project, name, "deleted", options.force);
  const lock = await project.state.lock(name);
  try {
    const read = await readManifest(project.layout, name);
    if (!read) {
      const known = await listEnvNames(project.layout);
      throw new UserError(`Environment "${name}" not found.`, "E_ENV_NOT_FOUND", {
        hint: known.length ? `Available: ${known.join(", ")}.` : undefined,
      });
    }
    await refuseChildren(project, name, "deleted");
    project.state.beginOp(name, "delete", null);
    failpoint("delete:after-journal");
    await removeResources(project, name, options.onStep);
    project.state.endOp(name);
    await forgetCurrent(project, name);
    return { name };
  } finally {
    lock.release();
  }
}

/** If the deleted env was current, fall back to the default env rather than point at nothing. */
async function forgetCurrent(project: Project, name: string): Promise<void> {
  const { readCurrentEnvFile } = await import("../runtime/resolve.js");
  let current: string | undefined;
  try {
    current = readCurrentEnvFile(project.layout.currentEnvFile);
  } catch {
    return;
  }
  if (current === name) {
    await rm(project.layout.currentEnvFile, { force: true });
    await rm(project.layout.envLocalFile, { force: true });
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

/** Fork an env's resources again from its parent (repair of an interrupted reset). Caller holds the lock. */
export async function reforkInPlace(project: Project, manifest: EnvManifest): Promise<void> {
  const forked = await forkAll(project, manifest.parent!, manifest.name, { keepDirOnRollback: true });
  await writeManifest(project.layout, readyAfterReset(manifest, forked.resources));
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
  refuseProtected(project, name, "reset", options.force);
  const lock = await project.state.lock(name);
  try {
    const manifest = await requireManifest(project.layout, name);
    if (!manifest.parent) {
      throw new UsageError(`"${name}" is a root env: it has no parent to reset from.`);
    }
    await refuseChildren(project, name, "reset");
    await prepareAll(project, options.signal);
    await ensureParent(project, manifest.parent);
    project.state.beginOp(name, "reset", manifest.parent);
    await writeManifest(project.layout, { ...manifest, status: "resetting" });
    await removeResources(project, name, options.onStep, true);
    failpoint("reset:after-remove");
    let forked;
    try {
      forked = await forkAll(project, manifest.parent, name, { ...options, keepDirOnRollback: true });
    } catch (error) {
      await writeManifest(project.layout, { ...manifest, status: "broken", resources: {} });
      project.state.endOp(name);
      throw error;
    }
    const next = await writeManifest(project.layout, readyAfterReset(manifest, forked.resources));
    project.state.endOp(name);
    return { ...pick(next), resources: forked.summary, switched: false, ms: performance.now() - started };
  } finally {
    lock.release();
  }
}
