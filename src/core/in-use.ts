/**
 * @module core/in-use
 * `reset` and `delete` unlink an env's files. A process that has them open (the app, a REPL, a shell in
 * the env's state directory) keeps the unlinked files: it goes on reading old data and writing where
 * nobody will ever see it, with no error. So both refuse while any local process holds the env's
 * resources, naming each one, unless `--force`. Providers say who holds what (`Provider.holders`); only
 * the file-backed ones can know, and only where the platform tells (see `providers/_internal/holders.ts`).
 */
import { relative } from "node:path";
import { UserError } from "../errors.js";
import type { Holder } from "../providers/types.js";
import type { Project } from "./project.js";

/** A process holding an env's resources, with the provider kinds it holds (`database`, `local`). */
export interface EnvHolder extends Holder {
  readonly kinds: readonly string[];
}

/**
 * Every local process holding env `envName`'s resources, one entry per process, by pid. A provider whose
 * check fails is skipped (logged at debug level): this is a safety net, and an unreadable `/proc` must
 * not make `delete` impossible.
 */
export async function findEnvHolders(project: Project, envName: string): Promise<EnvHolder[]> {
  const env = { name: envName, project: project.config.project };
  const op = project.op();
  const asking = project.providers.filter((p) => p.holders);
  // All at once: the providers then share one read of /proc.
  const results = await Promise.allSettled(asking.map((p) => p.holders!(env, op)));
  const byPid = new Map<number, { holder: Holder; kinds: string[] }>();
  results.forEach((result, i) => {
    const provider = asking[i]!;
    if (result.status === "rejected") {
      project.log.debug(
        `[${provider.name}] could not list processes using "${envName}": ${String(result.reason)}`,
      );
      return;
    }
    for (const holder of result.value) {
      const seen = byPid.get(holder.pid);
      if (seen) seen.kinds.push(provider.kind);
      else byPid.set(holder.pid, { holder, kinds: [provider.kind] });
    }
  });
  return [...byPid.values()]
    .sort((a, b) => a.holder.pid - b.holder.pid)
    .map(({ holder, kinds }) => ({ ...holder, kinds }));
}

/** `pid 1234 node server.js (uses .forkstack/envs/alice/db.sqlite)`, paths relative to the project. */
export function describeHolder(project: Project, holder: Holder): string {
  if (holder.path === undefined) return `pid ${holder.pid} ${holder.command}`;
  const rel = relative(project.layout.root, holder.path);
  const shown = rel && !rel.startsWith("..") ? rel : holder.path;
  return `pid ${holder.pid} ${holder.command} (uses ${shown})`;
}

/**
 * Throw `E_ENV_BUSY` if any local process holds env `envName`'s resources, naming each process. With
 * `force`, warn instead and return: the caller goes on, and those processes keep the old data. Called by
 * `resetEnv` and `deleteEnv` under the env's lock, before anything is journaled or removed. `verb`
 * completes "cannot be …", as in the other refusals.
 */
export async function refuseInUse(
  project: Project,
  envName: string,
  verb: "reset" | "deleted",
  force?: boolean,
): Promise<void> {
  const holders = await findEnvHolders(project, envName);
  if (holders.length === 0) return;
  const lines = holders.map((h) => `  ${describeHolder(project, h)}`).join("\n");
  const many = holders.length > 1;
  if (force) {
    project.log.warn(
      `"${envName}" is ${verb} with --force while in use; ${many ? "these processes keep" : "this process keeps"} the old data until restarted:\n${lines}`,
    );
    return;
  }
  // One line, as every error is (the CLI prints it beside a ✗); the warning above may take several.
  throw new UserError(
    `"${envName}" cannot be ${verb} while ${many ? `${holders.length} processes use` : "a process uses"} its data: ${holders.map((h) => describeHolder(project, h)).join("; ")}.`,
    "E_ENV_BUSY",
    {
      hint: `Stop ${many ? "them" : "it"} (\`kill ${holders.map((h) => h.pid).join(" ")}\`) and run the command again, or pass --force (${many ? "they" : "it"} would keep the old files and lose ${many ? "their" : "its"} writes).`,
    },
  );
}
