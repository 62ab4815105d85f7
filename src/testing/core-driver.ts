/**
 * @module testing/core-driver
 * The lifecycle calls as forkstack's core makes them (`src/core/steps.ts`, `lifecycle.ts`), for a
 * provider under test without a config, a state database or a CLI:
 * - it creates an env's directory before `create`/`fork` and deletes it after `remove`;
 * - it keeps what `create`/`fork` returned as the manifest would (through JSON, so a `data` that does not
 *   survive serialisation fails here, not in a user's project) and passes it back: `recorded` to
 *   `describe`/`remove`, `options.parent` to `fork`;
 * - it remembers every env it made, so a suite can remove them all after a test, passed or failed;
 * - for an env it holds no record of, `remove` passes what the provider's `target` says it would make,
 *   as the core's rollback of a step interrupted while making does.
 */
import { mkdir, rm } from "node:fs/promises";
import { targetInfo, type Provider, type ResourceInfo } from "../providers/types.js";
import { envRef, type TestProject } from "./project.js";

export interface ForkCallOptions {
  /** Fork the parent as it was at this moment (providers with `flags.pointInTime`). */
  readonly at?: Date;
}

export interface CoreDriver {
  /** The provider this driver calls. */
  readonly provider: Provider;
  env(name: string): { name: string; project: string };
  create(name: string): Promise<ResourceInfo>;
  fork(parent: string, child: string, options?: ForkCallOptions): Promise<ResourceInfo>;
  remove(name: string): Promise<void>;
  /** The resource as the backend has it, given what was recorded for it (if this driver made it). */
  describe(name: string): Promise<ResourceInfo | null>;
  list(): Promise<string[]>;
  /** What this driver recorded for env `name`, as a manifest holds it (JSON round-tripped). */
  recorded(name: string): ResourceInfo | undefined;
  /** Names of the envs this driver made and has not removed, oldest first. */
  made(): string[];
  /**
   * What the core records before it calls `create` (no parent) or `fork` for env `name`, as the record
   * its rollback passes to `remove` if the process dies before the provider returns (the provider's
   * `target`); undefined for a provider without `target`.
   */
  target(name: string, parent?: string): ResourceInfo | undefined;
  /** Drop the record of env `name`, as a crash before the core recorded what `fork` returned would. */
  forget(name: string): void;
  /**
   * A driver calling `other` (the same backend under a changed config) with this driver's records, as
   * the core calls today's provider with what an older config made.
   */
  withProvider(other: Provider): CoreDriver;
}

/** A deep copy through JSON: what the manifest on disk gives the core back. */
export function throughJson<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}

export function coreDriver(
  provider: Provider,
  project: TestProject,
  manifests = new Map<string, ResourceInfo>(),
): CoreDriver {
  const env = (name: string) => envRef(project, name);
  const target = (name: string, parent?: string) => {
    const data = provider.target?.(env(name), parent === undefined ? undefined : manifests.get(parent));
    return data ? targetInfo(data) : undefined;
  };
  return {
    provider,
    env,
    async create(name) {
      await mkdir(project.context.envDir(name), { recursive: true });
      const info = await provider.create(env(name), project.op);
      manifests.set(name, throughJson(info));
      return info;
    },
    async fork(parent, child, options = {}) {
      await mkdir(project.context.envDir(child), { recursive: true });
      const parentInfo = manifests.get(parent);
      const info = await provider.fork(env(parent), env(child), project.op, {
        ...(parentInfo ? { parent: parentInfo } : {}),
        ...(options.at ? { at: options.at } : {}),
      });
      manifests.set(child, throughJson(info));
      return info;
    },
    async remove(name) {
      await provider.remove(env(name), project.op, manifests.get(name) ?? target(name));
      manifests.delete(name);
      await rm(project.context.envDir(name), { recursive: true, force: true });
    },
    describe: (name) => provider.describe(env(name), project.op, manifests.get(name)),
    list: () => provider.list(project.op),
    recorded: (name) => manifests.get(name),
    made: () => [...manifests.keys()],
    target,
    forget: (name) => void manifests.delete(name),
    withProvider: (other) => coreDriver(other, project, manifests),
  };
}
