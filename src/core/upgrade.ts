/**
 * @module core/upgrade
 * Bringing env records an older forkstack wrote up to date, on the next command that loads the project.
 * Today that is one thing: embedded storage records from before envs had keys of their own carry the
 * project's key, which may do anything on the storage server; each such env gets its own key
 * (`Provider.outdated` / `upgrade`), its manifest is rewritten under its lock, and so is forkstack's
 * block in `.env.local` if it is the current env.
 *
 * Cheap when there is nothing to do: the manifests are read and asked `outdated` (no I/O beyond that,
 * no SQLite, no server). An env that cannot be upgraded now (busy, a backend down, a read-only command
 * that must not start the storage server) is left for a later command, quietly: until then the runtime
 * library and `forkstack env` leave the project's key out of its variables (layout.ts).
 */
import { readFile } from "node:fs/promises";
import type { EnvManifest, ManifestResource } from "../layout.js";
import type { Provider } from "../providers/types.js";
import { readCurrentEnvFile } from "../runtime/resolve.js";
import { BLOCK_BEGIN, legacyEnvOf, writeEnvLocal } from "./env-local.js";
import { readAllManifests, readManifest, writeManifest } from "./manifests.js";
import type { Project } from "./project.js";
import { envRef, recordedInfo, toManifestResource } from "./steps.js";
import { envVariables } from "./variables.js";

export interface UpgradeOptions {
  /** The command must not start services (`list`, `doctor`): upgrade only what a running backend allows. */
  readonly readOnly?: boolean;
}

function outdatedKinds(project: Project, manifest: EnvManifest): Provider[] {
  if (manifest.status !== "ready") return []; // an operation in flight or a broken env: repair's business
  return project.providers.filter((p) => {
    const recorded = manifest.resources[p.kind];
    return (
      recorded !== undefined && p.outdated?.(recordedInfo(recorded)!) === true && p.upgrade !== undefined
    );
  });
}

/** Upgrade every env whose record is outdated; never throws (what fails is retried by a later command). */
export async function upgradeRecords(project: Project, options: UpgradeOptions = {}): Promise<void> {
  if (!project.providers.some((p) => p.outdated)) return;
  // Unreadable manifests are the command's to report (or `list`'s to show), not this pass's.
  const reads = await readAllManifests(project.layout).catch(() => []);
  const stale = reads.flatMap((read) =>
    read.ok && outdatedKinds(project, read.manifest).length > 0 ? [read.manifest.name] : [],
  );
  for (const name of stale) {
    try {
      await upgradeEnv(project, name, options);
    } catch (error) {
      project.log.debug(`could not bring the record of ${name} up to date yet: ${(error as Error).message}`);
      // Meanwhile `.env.local` must not keep handing out the project's key (envVariables leaves it out).
      await rewriteEnvLocal(project, name).catch(() => undefined);
    }
  }
}

async function upgradeEnv(project: Project, name: string, options: UpgradeOptions): Promise<void> {
  const lock = project.state.tryLock(name);
  if (!lock) return; // another command is changing it: a later one upgrades it
  try {
    const read = await readManifest(project.layout, name);
    if (!read?.ok) return;
    const manifest = read.manifest;
    const op = project.op(undefined, options.readOnly ? { readOnly: true } : undefined);
    const resources: Record<string, ManifestResource> = { ...manifest.resources };
    for (const provider of outdatedKinds(project, manifest)) {
      const recorded = manifest.resources[provider.kind]!;
      const info = await provider.upgrade!(envRef(project, name), op, recordedInfo(recorded)!);
      resources[provider.kind] = toManifestResource(provider, info, recorded.adopted);
    }
    await writeManifest(project.layout, { ...manifest, resources });
    project.log.debug(`gave ${name} a record of this version (its own storage key)`);
    await rewriteEnvLocal(project, name);
  } finally {
    lock.release();
  }
}

/** If `.env.local` holds the env's variables (it is the current env), they are written again. */
async function rewriteEnvLocal(project: Project, name: string): Promise<void> {
  if (!project.config.envLocal) return;
  let current: string | undefined;
  try {
    current = readCurrentEnvFile(project.layout.currentEnvFile) ?? project.config.defaultEnv;
  } catch {
    return; // garbage in .current-env: `switch` reports it
  }
  if (current !== name) return;
  const existing = await readFile(project.layout.envLocalFile, "utf8").catch(() => undefined);
  if (existing === undefined || (!existing.includes(BLOCK_BEGIN) && legacyEnvOf(existing) !== name)) return;
  const { vars, secrets } = await envVariables(project, name);
  // The same block `switch` wrote, with the new key: its warnings were shown then.
  await writeEnvLocal(project.layout.envLocalFile, { ...vars, ...secrets });
}
