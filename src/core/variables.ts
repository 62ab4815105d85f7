/**
 * @module core/variables
 * The variables of an env (docs/architecture.md), split into plain values and secrets so that output can mask
 * the secrets unless asked to reveal them.
 */
import { readFile, rm } from "node:fs/promises";
import { UserError } from "../errors.js";
import { FILE_SECRETS_PROVIDER, STORAGE_KEY_VARS, holdsProjectStorageKey } from "../layout.js";
import type { SecretsProvider } from "../providers/types.js";
import { formatDotenv } from "../providers/secrets/dotenv.js";
export { formatDotenv };
import { writeFileAtomic } from "./fs-atomic.js";
import { notReadyHint } from "../runtime/resolve.js";
import { requireManifest } from "./manifests.js";
import { providerOf, type Project } from "./project.js";

export interface EnvVariables {
  /** FORKSTACK_ENV, DATABASE_URL, BUCKET_NAME, … */
  readonly vars: Record<string, string>;
  /** Secrets of the secrets provider and secret variables of other providers (storage keys, tokens). */
  readonly secrets: Record<string, string>;
}

export async function envVariables(
  project: Project,
  name: string,
  options: { requireReady?: boolean } = {},
): Promise<EnvVariables> {
  const manifest = await requireManifest(project.layout, name);
  // A half-made env has a partial set of variables: an app started with them would run against
  // nothing (DATABASE_URL undefined) or against what it inherited. Refuse instead.
  if (options.requireReady && manifest.status !== "ready") {
    throw new UserError(`Environment "${name}" is ${manifest.status}, not ready.`, "E_ENV_BROKEN", {
      hint: notReadyHint(name, manifest),
    });
  }
  const vars: Record<string, string> = { FORKSTACK_ENV: name };
  const secrets: Record<string, string> = {};
  for (const resource of Object.values(manifest.resources)) {
    // A record still holding the project's key (core/upgrade.ts could not replace it yet): never hand it out.
    const withheld = holdsProjectStorageKey(resource) ? STORAGE_KEY_VARS : [];
    for (const [target, from] of [
      [vars, resource.vars],
      [secrets, resource.secretVars ?? {}],
    ] as const) {
      for (const [key, value] of Object.entries(from)) if (!withheld.includes(key)) target[key] = value;
    }
  }
  const secretsProvider = providerOf(project, "secrets") as SecretsProvider | undefined;
  if (secretsProvider) {
    const values = await secretsProvider.read({ name, project: project.config.project }, project.op());
    Object.assign(secrets, values);
    await cacheSecrets(project, name, values, manifest.resources.secrets?.provider);
  }
  return { vars, secrets };
}

/**
 * Keep what a non-file secrets provider (Doppler) just gave for the runtime library, which reads no
 * provider (runtime/resolve.ts): a test worker that picks another env, or a script started without
 * `forkstack run`, then gets the values `run`, `env`, `switch` or `new` last resolved. A 0600 file
 * beside the manifest, like `.env.local`; rewritten only when a value changed. Best effort: a read-only
 * `.forkstack/` must not stop `run`.
 */
export async function cacheSecrets(
  project: Project,
  name: string,
  values: Record<string, string>,
  provider: string | undefined,
): Promise<void> {
  // The embedded provider's file is read directly; an env without secrets has nothing to cache.
  if (provider === undefined || provider === FILE_SECRETS_PROVIDER) return;
  const path = project.layout.secretsCache(name);
  try {
    const text = formatDotenv(values);
    if ((await readFile(path, "utf8").catch(() => undefined)) === text) return;
    await writeFileAtomic(path, text, 0o600);
  } catch (error) {
    // A stale cache would be worse than none (a value it cannot format, a write that failed).
    await rm(path, { force: true }).catch(() => undefined);
    project.log.debug(
      `could not cache the secrets of ${name} for the runtime library: ${(error as Error).message}`,
    );
  }
}

/** POSIX-shell `export` lines, single-quoted so nothing is expanded. */
export function formatShell(values: Record<string, string>): string {
  return Object.entries(values)
    .map(([key, value]) => `export ${key}='${value.replace(/'/g, "'\\''")}'`)
    .join("\n")
    .concat("\n");
}
