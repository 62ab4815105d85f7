/**
 * @module core/switch
 * Making an env current: `.current-env` (one line) and, unless the config opts out, forkstack's block
 * in `.env.local` with the env's variables for tools that read dotenv files (the user's own lines in
 * that file are kept: see core/env-local.ts). Each file is written atomically.
 *
 * A switch is not journaled (it keeps the state database off its path); the two files are written in
 * an order that makes a crash between them repairable from the files alone. `.current-env` is written
 * first and is what counts; the block follows it. So a block for another env than `.current-env` names
 * is an interrupted switch, and the next command that repairs (`repair.ts` → `alignEnvLocal`) rewrites
 * the block. Taking the current env away (its env was deleted) goes the other way round: the block
 * first, then `.current-env`, so that a crash between leaves `.current-env` naming the deleted env,
 * which the delete's repair finishes.
 */
import { rm } from "node:fs/promises";
import { UserError } from "../errors.js";
import { readCurrentEnvFile, resolveEnv, type ResolvedEnv } from "../runtime/resolve.js";
import { failpoint } from "./failpoints.js";
import { writeFileAtomic } from "./fs-atomic.js";
import { readManifest, requireManifest } from "./manifests.js";
import type { Project } from "./project.js";
import { envLocalBlockState, prepareEnvLocal, removeEnvLocalBlock } from "./env-local.js";
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

/** The env `.current-env` names; undefined when there is none or it holds garbage (`current` reports that). */
export function currentEnvFileOf(project: Project): string | undefined {
  try {
    return readCurrentEnvFile(project.layout.currentEnvFile);
  } catch {
    return undefined;
  }
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
  const envLocal = await applySwitch(project, name);
  const overriddenBy = process.env.FORKSTACK_ENV ? "FORKSTACK_ENV" : process.env.ENV ? "ENV" : undefined;
  return { previous, current: name, envLocal, ...(overriddenBy ? { overriddenBy } : {}) };
}

/** forkstack's block in `.env.local` for env `name`, planned (and refused if its markers are broken). */
async function prepareBlock(project: Project, name: string) {
  const { vars, secrets } = await envVariables(project, name);
  const prepared = await prepareEnvLocal(
    project.layout.envLocalFile,
    { ...vars, ...secrets },
    {
      envValues: async (env) => {
        const old = await envVariables(project, env);
        return { ...old.vars, ...old.secrets };
      },
    },
  );
  for (const warning of prepared.warnings) project.log.warn(warning);
  return prepared;
}

/**
 * Write the files that make ready env `name` current: everything that can fail (the env's variables,
 * `.env.local`'s markers) is settled first, then `.current-env`, then the block. Used by `switch`, by
 * `new` (finishing a create, also in repair) and by `alignEnvLocal`. Returns the `.env.local` written.
 */
export async function applySwitch(project: Project, name: string): Promise<string | null> {
  const block = project.config.envLocal ? await prepareBlock(project, name) : undefined;
  await writeFileAtomic(project.layout.currentEnvFile, `${name}\n`, 0o644);
  failpoint("switch:after-current-env");
  await block?.write();
  return block ? project.layout.envLocalFile : null;
}

/**
 * A deleted env must not stay current: if `.current-env` names it, its block leaves `.env.local` (the
 * user's lines stay), then `.current-env` goes, so the default env is current again. Returns whether
 * it was current. Idempotent, for the delete's repair.
 */
export async function forgetCurrent(project: Project, name: string): Promise<boolean> {
  if (currentEnvFileOf(project) !== name) return false;
  await removeEnvLocalBlock(project.layout.envLocalFile);
  failpoint("delete:after-env-local");
  await rm(project.layout.currentEnvFile, { force: true });
  failpoint("delete:after-current-env");
  return true;
}

/**
 * Finish an interrupted switch: when `.current-env` names a ready env and `.env.local`'s block is
 * another env's (or missing), write the block for the current env. Returns the env it was written for.
 * A block with broken markers is left to the user, as `switch` leaves it.
 */
export async function alignEnvLocal(project: Project): Promise<string | undefined> {
  if (!project.config.envLocal) return undefined;
  const current = currentEnvFileOf(project);
  if (current === undefined) return undefined;
  const state = await envLocalBlockState(project.layout.envLocalFile);
  if (state.kind === "broken" || (state.kind === "block" && state.env === current)) return undefined;
  const read = await readManifest(project.layout, current);
  if (!read?.ok || read.manifest.status !== "ready") return undefined;
  const block = await prepareBlock(project, current);
  await block.write();
  const had = state.kind === "block" ? `the variables of "${state.env ?? "?"}"` : "no forkstack block";
  project.log.warn(
    `The current env is "${current}" but .env.local had ${had} (a \`switch\` was interrupted, or the block was removed): wrote its block for ${current}. \`envLocal: false\` in the config stops forkstack writing .env.local.`,
  );
  return current;
}
