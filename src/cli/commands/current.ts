/**
 * `forkstack current`: the current env's name. Kept on the fast path: it reads only environment
 * variables and small files (no config loader, no provider, no SDK) unless the config changed since
 * the CLI last cached it.
 */
import { statSync, readFileSync } from "node:fs";
import { projectLayout, type ProjectCache } from "../../layout.js";
import { findProjectRoot, resolveEnv, type ResolvedEnv } from "../../runtime/resolve.js";
import { UserError } from "../../errors.js";
import type { CommandDef } from "../command.js";

export type CurrentResult = ResolvedEnv;

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

/** Thrown out of the resolver when only the config can say the default env. */
class NeedsConfig extends Error {}

const command: CommandDef<CurrentResult> = {
  name: "current",
  summary: "Print the current env",
  usage: "forkstack current [--json]",
  description:
    "Resolution order: FORKSTACK_ENV, then ENV (production→prod, development→dev), then .current-env, then the config's defaultEnv. " +
    "Every command and the runtime library resolve it the same way; commands that act on one env also take --env. " +
    "`--json` says where the name came from (source).",
  options: {},
  positionals: [],
  async run(ctx) {
    const root = findProjectRoot(ctx.cwd);
    // FORKSTACK_ENV and ENV need no project (a deployed app, a CI job); the rest does.
    if (!root && !process.env.FORKSTACK_ENV && !process.env.ENV) {
      throw new UserError(
        `No forkstack.config.* found in ${ctx.cwd} or any directory above it.`,
        "E_CONFIG_NOT_FOUND",
        { hint: "Run `npx forkstack init` at your project root." },
      );
    }
    try {
      return resolveEnv({
        currentEnvFile: root ? projectLayout(root).currentEnvFile : undefined,
        defaultEnv: () => {
          const cached = root ? cachedDefault(root) : undefined;
          if (cached === undefined) throw new NeedsConfig();
          return cached;
        },
      });
    } catch (error) {
      if (!(error instanceof NeedsConfig)) throw error;
    }
    // Config changed or never cached: load it (and refresh the cache) — the slow path, once.
    const project = await ctx.project();
    return { name: project.config.defaultEnv, source: "default" };
  },
  render(result, io) {
    io.out(result.name);
  },
};

export default command;
