/**
 * @module core/gc
 * `gc`: delete envs whose ttl has passed (children before parents; protected envs never) and resources
 * a backend holds for envs that have no manifest (orphans, e.g. from a crash before journaling existed
 * or a manual deletion of `.forkstack/`).
 */
import type { ResourceKind } from "../providers/types.js";
import { deleteEnv, envRef } from "./lifecycle.js";
import { listEnvs } from "./listing.js";
import type { Project } from "./project.js";

export interface GcResult {
  readonly dryRun: boolean;
  readonly expired: string[];
  readonly orphans: { kind: ResourceKind; provider: string; env: string }[];
  readonly failed: { env: string; error: string }[];
}

export async function gc(
  project: Project,
  options: { dryRun?: boolean; now?: number } = {},
): Promise<GcResult> {
  const dryRun = options.dryRun ?? false;
  const envs = await listEnvs(project, options.now);
  const known = new Set(envs.map((e) => e.name));
  const expiredSet = new Set(envs.filter((e) => e.expired && !e.protected).map((e) => e.name));
  // Children first: an env with forks cannot be deleted before them.
  const depth = (name: string): number => {
    const parent = envs.find((e) => e.name === name)?.parent;
    return parent ? 1 + depth(parent) : 0;
  };
  const expired = [...expiredSet].sort((a, b) => depth(b) - depth(a));
  const orphans: GcResult["orphans"] = [];
  for (const provider of project.providers) {
    for (const env of await provider.list(project.op())) {
      if (!known.has(env)) orphans.push({ kind: provider.kind, provider: provider.name, env });
    }
  }
  const failed: GcResult["failed"] = [];
  if (!dryRun) {
    for (const name of expired) {
      await deleteEnv(project, name).catch((error: unknown) =>
        failed.push({ env: name, error: (error as Error).message }),
      );
    }
    for (const orphan of orphans) {
      const provider = project.providers.find((p) => p.kind === orphan.kind)!;
      await provider
        .remove(envRef(project, orphan.env), project.op())
        .catch((error: unknown) => failed.push({ env: orphan.env, error: (error as Error).message }));
    }
  }
  return { dryRun, expired: expired.filter((n) => !failed.some((f) => f.env === n)), orphans, failed };
}
