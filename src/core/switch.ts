/**
 * @module core/switch
 * Making an env current: `.current-env` (one line) and, unless the config opts out, `.env.local` with
 * the env's variables for tools that read dotenv files. Both are written atomically.
 */
import { UserError } from "../errors.js";
import { readCurrentEnvFile, resolveEnv, type ResolvedEnv } from "../runtime/resolve.js";
import { writeFileAtomic } from "./fs-atomic.js";
import { requireManifest } from "./manifests.js";
import type { Project } from "./project.js";
import { envVariables, formatDotenv } from "./variables.js";

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
  await writeFileAtomic(project.layout.currentEnvFile, `${name}\n`, 0o644);
  let envLocal: string | null = null;
  if (project.config.envLocal) {
    const { vars, secrets } = await envVariables(project, name);
    await writeFileAtomic(project.layout.envLocalFile, formatDotenv({ ...vars, ...secrets }), 0o600);
    envLocal = project.layout.envLocalFile;
  }
  const overriddenBy = process.env.FORKSTACK_ENV ? "FORKSTACK_ENV" : process.env.ENV ? "ENV" : undefined;
  return { previous, current: name, envLocal, ...(overriddenBy ? { overriddenBy } : {}) };
}
