/**
 * @module core/manifests
 * An env's manifest (`.forkstack/envs/<env>/manifest.json`) is the record that the env exists and what
 * its resources are. It is written atomically and 0600 (it can hold secret variables such as storage
 * keys). A manifest that cannot be read is reported as broken, never silently skipped.
 */
import { readdir, readFile } from "node:fs/promises";
import { UserError, errnoCode } from "../errors.js";
import { MANIFEST_VERSION, type EnvManifest, type ProjectLayout } from "../layout.js";
import { writeFileAtomic } from "./fs-atomic.js";

export type ManifestRead =
  | { readonly ok: true; readonly manifest: EnvManifest }
  | { readonly ok: false; readonly name: string; readonly problem: string };

function isManifest(value: unknown, name: string): value is EnvManifest {
  if (!value || typeof value !== "object") return false;
  const m = value as Record<string, unknown>;
  return (
    m.name === name &&
    typeof m.status === "string" &&
    typeof m.createdAt === "string" &&
    (m.parent === null || typeof m.parent === "string") &&
    !!m.resources &&
    typeof m.resources === "object"
  );
}

/** Read one manifest; null when the env does not exist. */
export async function readManifest(layout: ProjectLayout, name: string): Promise<ManifestRead | null> {
  let text: string;
  try {
    text = await readFile(layout.manifest(name), "utf8");
  } catch (error) {
    if (errnoCode(error) === "ENOENT") return null;
    throw error;
  }
  return parseManifest(text, name);
}

/** A manifest's text as read: the manifest, or what is wrong with it. */
export function parseManifest(text: string, name: string): ManifestRead {
  try {
    const value: unknown = JSON.parse(text);
    if (isManifest(value, name)) return { ok: true, manifest: value };
    return { ok: false, name, problem: "its manifest does not have the expected fields" };
  } catch {
    return { ok: false, name, problem: "its manifest is not valid JSON" };
  }
}

/**
 * The error for an env without a manifest. A directory left without one (a crash, a manifest deleted
 * by hand) is not an env: it is never offered as "Available", and is named for what it is.
 */
export async function missingEnvError(layout: ProjectLayout, name: string): Promise<UserError> {
  const reads = await readAllManifests(layout);
  if (reads.some((read) => !read.ok && read.name === name)) {
    return new UserError(
      `Environment "${name}" has no manifest here: ${layout.manifest(name)} is missing.`,
      "E_ENV_NOT_FOUND",
      { hint: `\`forkstack delete ${name}\` says what is left of it and how to take it back or collect it.` },
    );
  }
  const names = reads.flatMap((read) =>
    read.ok ? [read.manifest.name] : read.problem === NO_MANIFEST ? [] : [read.name],
  );
  return new UserError(`Environment "${name}" not found.`, "E_ENV_NOT_FOUND", {
    hint: names.length ? `Available: ${names.join(", ")}.` : "Create one with `forkstack new <env>`.",
  });
}

/** Like readManifest, but a missing or corrupt manifest is an error naming the env. */
export async function requireManifest(layout: ProjectLayout, name: string): Promise<EnvManifest> {
  const read = await readManifest(layout, name);
  if (!read) throw await missingEnvError(layout, name);
  if (!read.ok) {
    throw new UserError(
      `Environment "${name}" is broken: ${read.problem} (${layout.manifest(name)}).`,
      "E_STATE_CORRUPT",
      {
        hint: `Run \`forkstack delete ${name} --force\` to remove what is left of it.`,
      },
    );
  }
  return read.manifest;
}

export async function writeManifest(
  layout: ProjectLayout,
  manifest: Omit<EnvManifest, "version">,
): Promise<EnvManifest> {
  const full: EnvManifest = { version: MANIFEST_VERSION, ...manifest };
  await writeFileAtomic(layout.manifest(manifest.name), `${JSON.stringify(full, null, 2)}\n`, 0o600);
  return full;
}

/** Names of every env directory under `.forkstack/envs/`, sorted. */
export async function listEnvNames(layout: ProjectLayout): Promise<string[]> {
  try {
    const entries = await readdir(layout.envsDir, { withFileTypes: true });
    return entries
      .filter((e) => e.isDirectory() && !e.name.startsWith("."))
      .map((e) => e.name)
      .sort();
  } catch (error) {
    if (errnoCode(error) === "ENOENT") return [];
    throw error;
  }
}

export const NO_MANIFEST = "it has no manifest";

export async function readAllManifests(layout: ProjectLayout): Promise<ManifestRead[]> {
  const names = await listEnvNames(layout);
  const reads = await Promise.all(names.map((name) => readManifest(layout, name)));
  // A directory without a manifest is the leftover of a crash; it shows up as broken until repaired.
  return reads.map((read, i) => read ?? { ok: false, name: names[i]!, problem: NO_MANIFEST });
}
