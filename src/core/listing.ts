/**
 * @module core/listing
 * What `list` and `doctor` report: each env with its parent, age, expiry, the state of each of its
 * resources as the backend has it now, and the current marker. An env is `ready` only when its manifest
 * says so and every resource exists: a half-made env is never reported as healthy.
 */
import type { ResourceKind } from "../providers/types.js";
import { envRef } from "./steps.js";
import { readAllManifests } from "./manifests.js";
import type { Project } from "./project.js";
import { repairJournal } from "./repair.js";
import { currentEnvOf } from "./switch.js";

export interface ResourceState {
  readonly provider: string;
  readonly status: "ok" | "missing" | "error";
  readonly location?: string;
  readonly method?: string;
  /** The root adopted an existing backend resource. */
  readonly adopted?: boolean;
  /** Size of its data now, where the backend says it cheaply. */
  readonly bytes?: number;
  readonly detail?: string;
}

export interface EnvListing {
  readonly name: string;
  readonly parent: string | null;
  readonly createdAt: string | null;
  readonly ageMs: number | null;
  readonly expiresAt: string | null;
  readonly expired: boolean;
  /**
   * ready | creating | resetting | deleting | broken | degraded (a resource is missing) |
   * interrupted (an operation could not be finished: its backend was unreachable)
   */
  readonly status: string;
  readonly problem?: string;
  readonly current: boolean;
  readonly protected: boolean;
  readonly resources: Partial<Record<ResourceKind, ResourceState>>;
}

export async function listEnvs(project: Project, now = Date.now()): Promise<EnvListing[]> {
  await repairJournal(project);
  let current: string | null;
  try {
    current = currentEnvOf(project);
  } catch {
    current = null; // an invalid FORKSTACK_ENV or .current-env: no marker, `current` reports the error
  }
  const busy = project.state.busyEnvs();
  // Operations that could not be finished (a backend was down): shown as such until a command does.
  const pending = new Map(
    project.state
      .journal()
      .filter((e) => e.lastError !== null && !busy.has(e.env))
      .map((e) => [e.env, e.lastError!]),
  );
  const reads = await readAllManifests(project.layout);
  return Promise.all(
    reads.map(async (read): Promise<EnvListing> => {
      if (!read.ok) {
        return {
          name: read.name,
          parent: null,
          createdAt: null,
          ageMs: null,
          expiresAt: null,
          expired: false,
          status: busy.has(read.name) ? "creating" : "broken",
          problem: read.problem,
          current: read.name === current,
          protected: project.config.protected.includes(read.name),
          resources: {},
        };
      }
      const m = read.manifest;
      const states = await Promise.all(
        project.providers.map(async (provider): Promise<ResourceState> => {
          const recorded = m.resources[provider.kind];
          try {
            const info = await provider.describe(envRef(project, m.name), project.op());
            return {
              provider: provider.name,
              status: info ? "ok" : "missing",
              location: info?.location ?? recorded?.location,
              method: recorded?.method,
              ...(recorded?.adopted ? { adopted: true } : {}),
              ...(info?.bytes !== undefined ? { bytes: info.bytes } : {}),
            };
          } catch (error) {
            return { provider: provider.name, status: "error", detail: (error as Error).message };
          }
        }),
      );
      // Built in provider order (database, storage, secrets, local) so output is stable.
      const resources: EnvListing["resources"] = {};
      project.providers.forEach((provider, i) => (resources[provider.kind] = states[i]));
      const allOk = Object.values(resources).every((r) => r.status === "ok");
      const unfinished = pending.get(m.name);
      const status = unfinished ? "interrupted" : m.status === "ready" && !allOk ? "degraded" : m.status;
      const expired = m.expiresAt !== null && Date.parse(m.expiresAt) <= now;
      return {
        name: m.name,
        parent: m.parent,
        createdAt: m.createdAt,
        ageMs: now - Date.parse(m.createdAt),
        expiresAt: m.expiresAt,
        expired,
        status,
        ...(unfinished ? { problem: `${unfinished}; the next command retries` } : {}),
        current: m.name === current,
        protected: project.config.protected.includes(m.name),
        resources,
      };
    }),
  );
}
