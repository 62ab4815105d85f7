/**
 * @module core/variables
 * The variables of an env (DESIGN.md §3), split into plain values and secrets so that output can mask
 * the secrets unless asked to reveal them.
 */
import { UserError } from "../errors.js";
import type { SecretsProvider } from "../providers/types.js";
export { formatDotenv } from "../providers/secrets/dotenv.js";
import { brokenEnvHint } from "./guards.js";
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
      hint:
        manifest.status === "creating"
          ? "A `forkstack new` may still be running; `forkstack list` shows its state."
          : brokenEnvHint(manifest),
    });
  }
  const vars: Record<string, string> = { FORKSTACK_ENV: name };
  const secrets: Record<string, string> = {};
  for (const resource of Object.values(manifest.resources)) {
    Object.assign(vars, resource.vars);
    Object.assign(secrets, resource.secretVars);
  }
  const secretsProvider = providerOf(project, "secrets") as SecretsProvider | undefined;
  if (secretsProvider) {
    Object.assign(
      secrets,
      await secretsProvider.read({ name, project: project.config.project }, project.op()),
    );
  }
  return { vars, secrets };
}

/** POSIX-shell `export` lines, single-quoted so nothing is expanded. */
export function formatShell(values: Record<string, string>): string {
  return Object.entries(values)
    .map(([key, value]) => `export ${key}='${value.replace(/'/g, "'\\''")}'`)
    .join("\n")
    .concat("\n");
}
