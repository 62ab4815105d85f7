/**
 * @module core/switch
 * Making an env current: `.current-env` (one line) and, unless the config opts out, `.env.local` with
 * the env's variables for tools that read dotenv files. Both are written atomically.
 */
import { UserError } from "../errors.js";
import { readCurrentEnvFile } from "../runtime/resolve.js";
import { writeFileAtomic } from "./fs-atomic.js";
import { requireManifest } from "./manifests.js";
import type { Project } from "./project.js";
import { envVariables, formatDotenv } from "./variables.js";

export interface SwitchResult {
  readonly previous: string;
  readonly current: string;
  readonly envLocal: string | null;
}

/** The env `.current-env` names, or the default env. Garbage in the file is an error, not a guess. */
export function currentEnvOf(project: Project): string {
  return readCurrentEnvFile(project.layout.currentEnvFile) ?? project.config.defaultEnv;
}

export async function switchEnv(project: Project, name: string): Promise<SwitchResult> {
  let previous: string;
  try {
    previous = currentEnvOf(project);
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
  return { previous, current: name, envLocal };
}
