/**
 * @module core/listing
 * What `list` and `doctor` report: each env with its parent, age, expiry, the state of each of its
 * resources as the backend has it now, and the current marker. An env is `ready` only when its manifest
 * says so and every resource exists: a half-made env is never reported as healthy.
 */
import { isServiceStopped } from "../errors.js";
import { limit } from "../providers/_limit.js";
import type { Provider, ResourceInfo, ResourceKind } from "../providers/types.js";
import { envRef, recordedInfo } from "./steps.js";
import { readAllManifests } from "./manifests.js";
import type { Project } from "./project.js";
import { repairJournal } from "./repair.js";
import { currentEnvOf } from "./switch.js";

export interface ResourceState {
  readonly provider: string;
  /** `stopped`: an embedded service is stopped and starts on next use (not an error). */
  readonly status: "ok" | "missing" | "error" | "stopped";
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
  // Each provider describes every env at once (one request where it can: `describeMany`), rather than
  // each env asking each provider in turn: with 20 envs that is one ListBuckets instead of 20 HEADs.
  const names = reads.flatMap((read) => (read.ok ? [read.manifest.name] : []));
  const at = new Map(names.map((name, i) => [name, i]));
  // With what each manifest recorded: an adopted root's resource (Neon's `main` as dev) is not found
  // by the env's name alone.
  const recordedOf = new Map(reads.flatMap((read) => (read.ok ? [[read.manifest.name, read.manifest]] : [])));
  const described = await Promise.all(
    project.providers.map((p) =>
      describeEach(project, p, names, (name) => recordedInfo(recordedOf.get(name)?.resources[p.kind])),
    ),
  );
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
      const states = project.providers.map((provider, p): ResourceState => {
        const recorded = m.resources[provider.kind];
        const found = described[p]![at.get(m.name)!]!;
        if ("error" in found) {
          const stopped = isServiceStopped(found.error);
          return {
            provider: provider.name,
            status: stopped ? "stopped" : "error",
            ...(stopped ? { location: recorded?.location, method: recorded?.method } : {}),
            detail: (found.error as Error).message,
          };
        }
        const { info } = found;
        return {
          provider: provider.name,
          status: info ? "ok" : "missing",
          location: info?.location ?? recorded?.location,
          method: recorded?.method,
          ...(recorded?.adopted ? { adopted: true } : {}),
          ...(info?.bytes !== undefined ? { bytes: info.bytes } : {}),
        };
      });
      // Built in provider order (database, storage, secrets, local) so output is stable.
      const resources: EnvListing["resources"] = {};
      project.providers.forEach((provider, i) => (resources[provider.kind] = states[i]));
      // A stopped service is no fault of the env's: it starts on next use.
      const allOk = Object.values(resources).every((r) => r.status === "ok" || r.status === "stopped");
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

/**
 * Envs a provider without `describeMany` describes at once: enough to hide file and network latency,
 * few enough that `list` of hundreds of envs opens a bounded number of files and connections.
 */
const DESCRIBE_CONCURRENCY = 16;

type Described = { readonly info: ResourceInfo | null } | { readonly error: unknown };

/** `describe` of each env by one provider, in order; a failure is that env's (or, batched, every env's) status. */
async function describeEach(
  project: Project,
  provider: Provider,
  names: string[],
  recorded: (name: string) => ResourceInfo | undefined,
): Promise<Described[]> {
  const op = project.op(undefined, { readOnly: true });
  if (provider.describeMany && names.length > 1) {
    try {
      const infos = await provider.describeMany(
        names.map((name) => envRef(project, name)),
        op,
        names.map(recorded),
      );
      if (infos.length !== names.length) {
        throw new Error(`${provider.name} described ${infos.length} envs for ${names.length}`);
      }
      return infos.map((info) => ({ info }));
    } catch (error) {
      return names.map(() => ({ error }));
    }
  }
  const run = limit(DESCRIBE_CONCURRENCY);
  return Promise.all(
    names.map((name) =>
      run(() => provider.describe(envRef(project, name), op, recorded(name))).then(
        (info): Described => ({ info }),
        (error: unknown): Described => ({ error }),
      ),
    ),
  );
}
