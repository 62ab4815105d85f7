/**
 * @module core/delete-env
 * Deleting an env: only the resources it made (adopted ones stay on the backend), its forks
 * re-parented to its parent, the current env moved off it, refused while a process holds its data
 * open. The journaled run, which crash repair shares, is in `remove-env.ts`.
 */
import type { Project } from "./project.js";
import { repairJournal } from "./repair.js";
import { deleteLocked, type DeleteEnvOptions, type DeleteResult } from "./remove-env.js";
import { checkEnvName } from "./names.js";

export { checkDeletable, type DeleteEnvOptions, type DeleteResult } from "./remove-env.js";

export async function deleteEnv(
  project: Project,
  name: string,
  options: DeleteEnvOptions = {},
): Promise<DeleteResult> {
  checkEnvName(name, project.config.project);
  await repairJournal(project);
  return deleteLocked(project, name, options);
}
