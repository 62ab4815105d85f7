/**
 * @module core/guards
 * The refusals `new`, `delete` and `reset` share, checked before anything is touched: protected envs,
 * envs with forks that read through them, and an env whose last operation is still unfinished; and
 * which envs are roots.
 */
import { UserError } from "../errors.js";
import { readAllManifests } from "./manifests.js";
import { isRootEnv, type Project } from "./project.js";

export function pendingRollback(project: Project, name: string): void {
  const entry = project.state.journal().find((e) => e.env === name && e.lastError !== null);
  if (entry) {
    throw new UserError(`"${name}" has an unfinished \`${entry.op}\`: ${entry.lastError}`, "E_ENV_BUSY", {
      hint: "Make the backend reachable again (e.g. `forkstack up`); the next command finishes it.",
    });
  }
}

/**
 * A root of this project: the default env, a protected or production env, or one `roots` names. gc never
 * collects their resources (a fresh clone's `dev` has no manifest yet), and a root is made again by
 * `new <root>`, adopting what its backends have.
 */
export function isRoot(project: Project, env: string): boolean {
  return isRootEnv(project, env) || project.config.protected.includes(env);
}

export function refuseProtected(project: Project, name: string, verb: string, force?: boolean): void {
  if (project.config.protected.includes(name) && !force) {
    throw new UserError(
      `"${name}" is a protected env: it cannot be ${verb} without --force.`,
      "E_ENV_PROTECTED",
      {
        hint: `If you mean it: \`forkstack ${verb === "reset" ? "reset" : "delete"} ${name} --force\`. (Protected envs are listed in \`protected\` in ${project.configFile.split("/").pop()}.)`,
      },
    );
  }
}

/** Envs whose manifest names `name` as their parent. */
export async function childrenOf(project: Project, name: string): Promise<string[]> {
  return (await readAllManifests(project.layout)).flatMap((r) =>
    r.ok && r.manifest.parent === name ? [r.manifest.name] : [],
  );
}

/**
 * Where forks read through their parent (`flags.forksPinParent`, Tigris), an env with forks can be
 * neither deleted nor reset. Elsewhere forks are independent copies: deleting a parent re-parents its
 * forks to the grandparent (`reparent`), so they can still be reset.
 */
export async function refuseChildren(
  project: Project,
  name: string,
  verb: "deleted" | "reset",
): Promise<void> {
  if (!project.providers.some((p) => p.flags.forksPinParent)) return;
  const children = await childrenOf(project, name);
  if (children.length) {
    throw new UserError(
      `"${name}" cannot be ${verb}: envs were forked from it (${children.join(", ")}).`,
      "E_ENV_HAS_CHILDREN",
      {
        hint: `Delete ${children.length > 1 ? "them" : "it"} first: ${children.map((c) => `\`forkstack delete ${c}\``).join(", ")}.`,
      },
    );
  }
}
