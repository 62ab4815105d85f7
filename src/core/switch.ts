/**
 * @module core/switch
 * Making an env current: `.current-env` (one line) and, unless the config opts out, forkstack's block
 * in `.env.local` with the env's variables for tools that read dotenv files (the user's own lines in
 * that file are kept: see core/env-local.ts). Both are written atomically.
 */
import { UserError } from "../errors.js";
import { readCurrentEnvFile, resolveEnv, type ResolvedEnv } from "../runtime/resolve.js";
import { writeFileAtomic } from "./fs-atomic.js";
import { requireManifest } from "./manifests.js";
import type { Project } from "./project.js";
import { writeEnvLocal } from "./env-local.js";
import { envVariables } from "./variables.js";

export interface SwitchResult {
  readonly previous: string;
  readonly current: string;
  readonly envLocal: string | null;
  /** Set when FORKSTACK_ENV or ENV is set in this environment: it still wins over `.current-env`. */
  readonly overriddenBy?: "FORKSTACK_ENV" | "ENV";
}

/**
 * The env a command acts on, through the one resolver (`runtime/resolve.ts`): `--env`, then
 * FORKSTACK_ENV, ENV, `.current-env`, the config's defaultEnv. Garbage anywhere is an error, not a guess.
 */
export function resolveProjectEnv(project: Project, flag?: string): ResolvedEnv {
  return resolveEnv({
    flag,
    currentEnvFile: project.layout.currentEnvFile,
    defaultEnv: () => project.config.defaultEnv,
  });
}

export function currentEnvOf(project: Project, flag?: string): string {
  return resolveProjectEnv(project, flag).name;
}

export async function switchEnv(project: Project, name: string): Promise<SwitchResult> {
  let previous: string;
  try {
    previous = readCurrentEnvFile(project.layout.currentEnvFile) ?? project.config.defaultEnv;
  } catch {
    previous = "(unreadable)";
  }
  const manifest = await requireManifest(project.layout, name);
  if (manifest.status !== "ready") {
    throw new UserError(`Cannot switch to "${name}": it is ${manifest.status}.`, "E_ENV_BROKEN", {
      hint: "Run `forkstack list` to see its state.",
    });
  }
  let envLocal: string | null = null;
  if (project.config.envLocal) {
    const { vars, secrets } = await envVariables(project, name);
    // Only forkstack's marked block is rewritten; the user's own lines stay (core/env-local.ts).
    const written = await writeEnvLocal(
      project.layout.envLocalFile,
      { ...vars, ...secrets },
      {
        envValues: async (env) => {
          const old = await envVariables(project, env);
          return { ...old.vars, ...old.secrets };
        },
      },
    );
    for (const warning of written.warnings) project.log.warn(warning);
    envLocal = project.layout.envLocalFile;
  }
  // After .env.local, so that a refusal there (its markers are broken) leaves the current env as it was.
  await writeFileAtomic(project.layout.currentEnvFile, `${name}\n`, 0o644);
  const overriddenBy = process.env.FORKSTACK_ENV ? "FORKSTACK_ENV" : process.env.ENV ? "ENV" : undefined;
  return { previous, current: name, envLocal, ...(overriddenBy ? { overriddenBy } : {}) };
}
