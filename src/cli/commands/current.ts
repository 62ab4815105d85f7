/**
 * `forkstack current`: the current env's name. Kept on the fast path: it reads only environment
 * variables and small files (no config loader, no provider, no SDK) unless the config changed since
 * the CLI last cached it.
 */
import { statSync, readFileSync } from "node:fs";
import { ENV_ALIASES, projectLayout, type ProjectCache } from "../../layout.js";
import { findProjectRoot, readCurrentEnvFile } from "../../runtime/resolve.js";
import { UserError } from "../../errors.js";
import type { CommandDef } from "../command.js";

export interface CurrentResult {
  readonly name: string;
  /** Where the name came from, first match wins. */
  readonly source: "FORKSTACK_ENV" | "ENV" | ".current-env" | "default";
}

function cachedDefault(root: string): string | undefined {
  const layout = projectLayout(root);
  try {
    const cache = JSON.parse(readFileSync(layout.projectCache, "utf8")) as ProjectCache;
    const mtime = statSync(cache.configFile, { throwIfNoEntry: false })?.mtimeMs;
    return mtime === cache.configMtimeMs ? cache.defaultEnv : undefined;
  } catch {
    return undefined;
  }
}

const command: CommandDef<CurrentResult> = {
  name: "current",
  summary: "Print the current env",
  usage: "forkstack current [--json]",
  description:
    "Resolution order: FORKSTACK_ENV, then ENV (production→prod, development→dev), then .current-env, then the config's defaultEnv.",
  options: {},
  positionals: [],
  async run(ctx) {
    if (process.env.FORKSTACK_ENV) return { name: process.env.FORKSTACK_ENV, source: "FORKSTACK_ENV" };
    if (process.env.ENV) return { name: ENV_ALIASES[process.env.ENV] ?? process.env.ENV, source: "ENV" };
    const root = findProjectRoot(ctx.cwd);
    if (!root) {
      throw new UserError(
        `No forkstack.config.* found in ${ctx.cwd} or any directory above it.`,
        "E_CONFIG_NOT_FOUND",
        {
          hint: "Run `npx forkstack init` at your project root.",
        },
      );
    }
    const fromFile = readCurrentEnvFile(projectLayout(root).currentEnvFile);
    if (fromFile) return { name: fromFile, source: ".current-env" };
    const cached = cachedDefault(root);
    if (cached) return { name: cached, source: "default" };
    // Config changed or never cached: load it (and refresh the cache) — the slow path, once.
    const project = await ctx.project();
    return { name: project.config.defaultEnv, source: "default" };
  },
  render(result, io) {
    io.out(result.name);
  },
};

export default command;
