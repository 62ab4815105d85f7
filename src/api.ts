/**
 * @module forkstack/api
 * The env lifecycle as a library, for CI scripts and test runners that fork an env per worker without
 * spawning the CLI. Each call opens the project found from `cwd` (default: `process.cwd()`), does its
 * work under the same journal and locks as the CLI, and closes it.
 *
 * @example
 * import { createEnv, deleteEnv } from "forkstack/api";
 * const env = await createEnv(`test-${process.env.VITEST_POOL_ID}`, { from: "dev", switchTo: false });
 */
import * as lifecycle from "./core/lifecycle.js";
import type { CreateEnvOptions, EnvSummary, ResetEnvOptions } from "./core/lifecycle.js";
import * as deletion from "./core/delete-env.js";
import type { DeleteEnvOptions, DeleteResult } from "./core/delete-env.js";
import type { EnvListing } from "./core/listing.js";
import { openProject, type Project } from "./core/project.js";
import type { SwitchResult } from "./core/switch.js";
import { upgradeRecords, type UpgradeOptions } from "./core/upgrade.js";
import type { EnvVariables } from "./core/variables.js";

export type {
  CreateEnvOptions,
  DeleteEnvOptions,
  DeleteResult,
  EnvListing,
  EnvSummary,
  EnvVariables,
  ResetEnvOptions,
  SwitchResult,
};
export type { StepEvent } from "./core/lifecycle.js";
export { ForkstackError, UserError, UsageError, ProviderError, ServiceStoppedError } from "./errors.js";

export interface ApiOptions {
  /** Directory inside the project. @default process.cwd() */
  cwd?: string;
}

async function withProject<T>(
  options: ApiOptions,
  fn: (project: Project) => Promise<T>,
  upgrade: UpgradeOptions = {},
): Promise<T> {
  const project = await openProject({ cwd: options.cwd });
  try {
    // Records an older forkstack wrote are brought up to date first, as the CLI does (core/upgrade.ts).
    await upgradeRecords(project, upgrade);
    return await fn(project);
  } finally {
    await project.close();
  }
}

/**
 * Fork `options.from` (default: the config's defaultEnv) into a new env. Unlike `forkstack new`, it
 * does not switch the current env unless `switchTo: true`: an API caller is usually a test worker or
 * a CI script, which must not change what the developer's shell and dev server use.
 */
export function createEnv(name: string, options: CreateEnvOptions & ApiOptions = {}): Promise<EnvSummary> {
  return withProject(options, (p) =>
    lifecycle.createEnv(p, name, { ...options, switchTo: options.switchTo ?? false }),
  );
}

/** Delete an env and its resources. Protected envs need `force: true`. */
export function deleteEnv(name: string, options: DeleteEnvOptions & ApiOptions = {}): Promise<DeleteResult> {
  return withProject(options, (p) => deletion.deleteEnv(p, name, options));
}

/** Re-fork an env from its parent, keeping its name. */
export function resetEnv(name: string, options: ResetEnvOptions & ApiOptions = {}): Promise<EnvSummary> {
  return withProject(options, (p) => lifecycle.resetEnv(p, name, options));
}

export async function listEnvs(options: ApiOptions = {}): Promise<EnvListing[]> {
  const { listEnvs: list } = await import("./core/listing.js");
  return withProject(options, (p) => list(p), { readOnly: true });
}

export async function switchEnv(name: string, options: ApiOptions = {}): Promise<SwitchResult> {
  const { switchEnv: doSwitch } = await import("./core/switch.js");
  return withProject(options, (p) => doSwitch(p, name));
}

/** An env's variables: plain ones and secrets, kept apart. */
export async function envVars(name: string, options: ApiOptions = {}): Promise<EnvVariables> {
  const { envVariables } = await import("./core/variables.js");
  return withProject(options, (p) => envVariables(p, name));
}
