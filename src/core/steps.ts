/**
 * @module core/steps
 * Making and removing an env's resources, one step per provider, in parallel, under the journal.
 *
 * The rule this module exists for (docs/architecture.md, "Guarantees"): rollback and repair remove only what the
 * operation itself made. Before a provider is asked to make a resource, the core checks that the
 * resource does not exist and records the step (`making`, with the provider's `target`: what it is
 * about to make); when the provider returns, the step is `made` with what the provider reported, and
 * the resource goes on the project's record of what it made (state.ts), in the same transaction. A
 * rollback — after a failure, Ctrl-C, or a crash repaired by the next command — removes exactly the
 * recorded steps, by their record. `delete` and `reset` remove by the env's manifest (or, without
 * one, by the project's record), never by what today's config would name. A resource that existed
 * before (a team's shared `dev` branch, a database whose manifest was deleted) is never in that
 * record, so it is never removed; a root's existing resources are adopted instead of created over.
 */
import { rm, rmdir } from "node:fs/promises";
import { InterruptedError, UserError, errnoCode, isForkstackError } from "../errors.js";
import type { EnvManifest, ManifestResource } from "../layout.js";
import {
  targetInfo,
  type CopyProgress,
  type EnvRef,
  type OpContext,
  type Provider,
  type RemoveOptions,
  type ResourceInfo,
  type ResourceKind,
} from "../providers/types.js";
import { failpoint } from "./failpoints.js";
import type { Project } from "./project.js";

export interface StepEvent {
  readonly kind: ResourceKind;
  readonly provider: string;
  /**
   * `adopted`: an existing root resource taken over; `removing`: a resource being deleted;
   * `progress`: how far a long step has come (a fork that copies objects), in `progress`.
   */
  readonly phase: "start" | "done" | "adopted" | "failed" | "rollback" | "removing" | "prepared" | "progress";
  readonly ms?: number;
  readonly progress?: CopyProgress;
  readonly info?: ResourceInfo;
  readonly error?: unknown;
}

export function envRef(project: Project, name: string): EnvRef {
  return { name, project: project.config.project };
}

export function toManifestResource(
  provider: Provider,
  info: ResourceInfo,
  adopted = false,
): ManifestResource {
  const { location, method, bytesAdded, bytes, vars, secretVars, data } = info;
  return {
    provider: provider.name,
    location,
    method,
    bytesAdded,
    bytes,
    vars,
    secretVars,
    data,
    ...(adopted ? { adopted } : {}),
  };
}

/** A manifest's (or a step's) record, as the `recorded` argument providers get back. */
export function recordedInfo(resource: ManifestResource | Record<string, unknown> | null | undefined) {
  return (resource ?? undefined) as ResourceInfo | undefined;
}

/**
 * Make every backend reachable (e.g. start the storage server) before anything is journaled or written:
 * a backend that cannot be reached then fails the command with nothing to repair or roll back.
 */
export async function prepareAll(
  project: Project,
  signal?: AbortSignal,
  onStep?: (event: StepEvent) => void,
): Promise<void> {
  await Promise.all(
    project.providers.map(async (provider) => {
      if (!provider.prepare) return;
      const started = performance.now();
      await provider.prepare(project.op(signal));
      const ms = performance.now() - started;
      // A backend that took noticeable time to get ready (the storage server starting) is its own
      // step in the output, so the per-resource times and the total add up.
      if (ms >= PREPARE_REPORT_MS)
        onStep?.({ kind: provider.kind, provider: provider.name, phase: "prepared", ms });
    }),
  );
}

const PREPARE_REPORT_MS = 50;

/** Run one provider operation per resource kind in parallel, reporting each step. */
export async function runSteps(
  project: Project,
  fn: (provider: Provider) => Promise<ResourceInfo & { adopted?: boolean }>,
  onStep?: (event: StepEvent) => void,
): Promise<{ results: PromiseSettledResult<ResourceInfo & { adopted?: boolean }>[]; ms: number[] }> {
  const ms: number[] = [];
  const results = await Promise.allSettled(
    project.providers.map(async (provider, i) => {
      const started = performance.now();
      onStep?.({ kind: provider.kind, provider: provider.name, phase: "start" });
      try {
        failpoint(`step:${provider.kind}`);
        const info = await fn(provider);
        ms[i] = performance.now() - started;
        const phase = info.adopted ? "adopted" : "done";
        onStep?.({ kind: provider.kind, provider: provider.name, phase, ms: ms[i], info });
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

function existsError(provider: Provider, name: string, where: string): UserError {
  return new UserError(
    `[${provider.name}] The ${provider.kind} of "${name}" already exists (${where}), but this project has no record of making it.`,
    "E_ENV_EXISTS",
    {
      hint: `Pick another env name; forkstack never creates over or removes a resource it did not make.`,
    },
  );
}

/**
 * One journaled step: check that env `name` has no such resource yet, record the step, make it.
 * A provider refusing with E_ENV_EXISTS (someone else made it meanwhile) drops the record, so a
 * rollback leaves that resource alone.
 */
export async function makeStep(
  project: Project,
  name: string,
  provider: Provider,
  op: OpContext,
  make: () => Promise<ResourceInfo>,
  parent?: ResourceInfo,
): Promise<ResourceInfo> {
  const env = envRef(project, name);
  const existing = await provider.describe(env, op);
  if (existing) throw existsError(provider, name, existing.location);
  // Recorded before the provider is called: a crash before it returns is rolled back by this target.
  project.state.stepStarted(name, provider.kind, provider.name, provider.target?.(env, parent));
  try {
    const info = await make();
    project.state.stepDone(name, provider.kind, toManifestResource(provider, info));
    return info;
  } catch (error) {
    if (isForkstackError(error) && error.code === "E_ENV_EXISTS") {
      project.state.stepForget(name, provider.kind);
    }
    throw error;
  }
}

/**
 * A root env's resource: the existing one adopted (named by `roots.<env>.<kind>` in the config, or
 * found by `describe`), else a new empty one made as a journaled step.
 */
export async function adoptOrCreate(
  project: Project,
  name: string,
  provider: Provider,
  op: OpContext,
): Promise<ResourceInfo & { adopted?: boolean }> {
  const env = envRef(project, name);
  const ref = project.config.roots[name]?.[provider.kind];
  if (ref && !provider.adopt) {
    throw new UserError(
      `\`roots.${name}.${provider.kind}\` names an existing resource, but the ${provider.name} provider cannot adopt one.`,
      "E_CONFIG_INVALID",
      { hint: `Remove \`roots.${name}.${provider.kind}\` from the config.` },
    );
  }
  const found = provider.adopt ? await provider.adopt(env, ref, op) : await provider.describe(env, op);
  if (found) return { ...found, adopted: true };
  if (ref) {
    throw new UserError(
      `[${provider.name}] \`roots.${name}.${provider.kind}\` names ${JSON.stringify(ref)}, which does not exist.`,
      "E_CONFIG_INVALID",
      { hint: "Fix the name in the config; forkstack adopts existing roots and never creates them there." },
    );
  }
  return makeStep(project, name, provider, op, () => provider.create(env, op));
}

function firstRejection(results: PromiseSettledResult<unknown>[]): unknown {
  return results.find((r): r is PromiseRejectedResult => r.status === "rejected")?.reason;
}

/**
 * Undo the recorded steps of env `name`: remove each resource the operation made (passing back what
 * the provider reported), forgetting each step once its resource is gone. `options.reset`: the steps
 * are a reset's re-fork that is about to run again (see `RemoveOptions`). Throws the first failure
 * after trying every step; the steps that failed stay recorded for the next attempt.
 */
export async function rollbackSteps(
  project: Project,
  name: string,
  onStep?: (e: StepEvent) => void,
  options?: RemoveOptions,
): Promise<void> {
  const env = envRef(project, name);
  const results = await Promise.allSettled(
    project.state.steps(name).map(async (step) => {
      const provider = project.providers.find((p) => p.kind === step.kind);
      // The kind was removed from the config since, or another provider serves it now: this one
      // cannot reach what the step made, and another's record is never handed to it.
      if (!provider) return;
      if (provider.name !== step.provider) {
        project.log.warn(
          `Left the ${step.kind} an interrupted step of "${name}" made with ${step.provider} in place: the config now uses ${provider.name} for ${step.kind}.`,
        );
        return;
      }
      onStep?.({ kind: provider.kind, provider: provider.name, phase: "rollback" });
      // What the provider returned; else (a crash before it returned) what it said it would make;
      // else (a provider without `target`) nothing, as before targets existed.
      const recorded = recordedInfo(step.info) ?? (step.target ? targetInfo(step.target) : undefined);
      await provider.remove(env, project.op(), recorded, options);
      project.state.stepRolledBack(name, step.kind, step.provider);
    }),
  );
  const failure = firstRejection(results);
  if (failure !== undefined) throw failure;
}

export interface RemovedResources {
  /** Kinds whose resource the root adopted: left on the backend, only forgotten here. */
  readonly kept: ResourceKind[];
  /** Kinds whose recorded resource another provider made than the config names now: left, still recorded. */
  readonly left: ResourceKind[];
}

/**
 * Remove the resources of an env this project owns (`delete`, and the first half of `reset`, which
 * says so with `options.reset`: see `RemoveOptions`), each by its record: the manifest's, else (a
 * manifest that is gone or unreadable) the project's record of what it made. A kind with neither was
 * never made for this env and is not touched; an adopted resource stays; one made by another provider
 * than the config names now stays (and stays recorded), since today's provider cannot reach it and is
 * never handed another's record.
 */
export async function removeEnvResources(
  project: Project,
  manifest: EnvManifest | null,
  name: string,
  onStep?: (e: StepEvent) => void,
  options?: RemoveOptions,
): Promise<RemovedResources> {
  const env = envRef(project, name);
  const removed: RemovedResources = { kept: [], left: [] };
  const recorded = project.state.recorded(name);
  const results = await Promise.allSettled(
    project.providers.map(async (provider) => {
      const fromManifest = manifest?.resources[provider.kind];
      if (fromManifest?.adopted) {
        removed.kept.push(provider.kind);
        return;
      }
      const records: { provider: string; info: ManifestResource | Record<string, unknown> }[] = fromManifest
        ? [{ provider: fromManifest.provider, info: fromManifest }]
        : recorded.filter((r) => r.kind === provider.kind);
      for (const record of records) {
        if (record.provider !== provider.name) {
          removed.left.push(provider.kind);
          project.log.warn(
            `Left the ${provider.kind} of "${name}" in place: ${record.provider} made it, and the config now uses ${provider.name} (forkstack removes a resource only through the provider that made it; \`forkstack gc\` lists it).`,
          );
          continue;
        }
        onStep?.({ kind: provider.kind, provider: provider.name, phase: "removing" });
        await provider.remove(env, project.op(), recordedInfo(record.info), options);
        project.state.forgetRecorded(name, provider.kind, provider.name);
      }
    }),
  );
  const failure = firstRejection(results);
  if (failure !== undefined) throw failure;
  return removed;
}

/**
 * Remove an env's manifest and then its directory if nothing else is in it. Never recursive: a file a
 * provider did not remove (an adopted database inside the env dir, something a user put there) stays.
 */
export async function forgetEnvDir(project: Project, name: string, recursive: boolean): Promise<void> {
  const dir = project.layout.envDir(name);
  if (recursive) {
    await rm(dir, { recursive: true, force: true });
    return;
  }
  await rm(project.layout.manifest(name), { force: true });
  // The CLI's copy of a non-file secrets provider's values (core/variables.ts) goes with the env.
  await rm(project.layout.secretsCache(name), { force: true });
  try {
    await rmdir(dir);
  } catch (error) {
    const code = errnoCode(error);
    if (code !== "ENOENT" && code !== "ENOTEMPTY" && code !== "EEXIST") throw error;
  }
}

export interface MadeResources {
  resources: Record<string, ManifestResource>;
  summary: Partial<
    Record<
      ResourceKind,
      {
        provider: string;
        location: string;
        method?: string;
        bytesAdded?: number;
        ms?: number;
        adopted?: boolean;
      }
    >
  >;
}

/**
 * Make every resource of env `name` in parallel with `make`. If one fails or the user interrupts,
 * roll back what this call made and rethrow; if the rollback itself fails (a backend went away), the
 * operation's journal entry stays with the reason, and the next command finishes the rollback.
 * The caller holds `name`'s lock and has journaled the operation.
 */
export async function makeResources(
  project: Project,
  name: string,
  make: (provider: Provider, op: OpContext) => Promise<ResourceInfo & { adopted?: boolean }>,
  options: { signal?: AbortSignal; onStep?: (e: StepEvent) => void },
): Promise<{ made?: MadeResources; failure?: unknown; rollbackError?: unknown }> {
  const op = project.op(options.signal);
  const { onStep } = options;
  // Each provider reports its own progress, shown on its own line.
  const opOf = (provider: Provider): OpContext =>
    onStep
      ? {
          ...op,
          progress: (progress) =>
            onStep({ kind: provider.kind, provider: provider.name, phase: "progress", progress }),
        }
      : op;
  const { results, ms } = await runSteps(project, (provider) => make(provider, opOf(provider)), onStep);
  failpoint("fork:after-steps");
  const failure = firstRejection(results) ?? (options.signal?.aborted ? new InterruptedError() : undefined);
  if (failure !== undefined) {
    failpoint("rollback:before");
    try {
      await rollbackSteps(project, name, options.onStep);
      return { failure };
    } catch (rollbackError) {
      return { failure, rollbackError };
    }
  }
  const made: MadeResources = { resources: {}, summary: {} };
  project.providers.forEach((provider, i) => {
    const info = (results[i] as PromiseFulfilledResult<ResourceInfo & { adopted?: boolean }>).value;
    made.resources[provider.kind] = toManifestResource(provider, info, info.adopted);
    const { location, method, bytesAdded, adopted } = info;
    made.summary[provider.kind] = {
      provider: provider.name,
      location,
      method,
      bytesAdded,
      ms: ms[i],
      ...(adopted ? { adopted } : {}),
    };
  });
  return { made };
}
