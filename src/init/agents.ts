/**
 * @module init/agents
 * `forkstack init --agents`: a block for a coding agent's instructions (AGENTS.md, and CLAUDE.md when
 * the project has one) saying how it makes its own env before risky work, works in it, stays away
 * from prod, and cleans up. Every command in it is run by a test, in order, as written.
 */
import { realpath } from "node:fs/promises";
import { join } from "node:path";
import { readIfExists, setBlock, type FileChange } from "./files.js";

export const AGENTS_MARKERS = {
  begin: "<!-- >>> forkstack (managed: forkstack init --agents rewrites this block) >>> -->",
  end: "<!-- <<< forkstack <<< -->",
};

export const AGENTS_BLOCK = `## Environments (forkstack)

This project runs on forkstack: each env (\`dev\`, \`prod\`, and one per developer or task) has its own
database, buckets, secrets and local state, forked from another in about a second. \`dev\` is the
shared development env; \`prod\` is production.

Before risky work (a migration, a data fix, deleting or rewriting data, a dependency upgrade, a test
run that writes), make your own env and do the work there:

\`\`\`sh
npx forkstack new agent-<task> --ttl 4h   # fork dev; it becomes this checkout's current env
npx forkstack current                     # prints agent-<task>
npx forkstack run -- <command>            # the app, its tests or a script, on agent-<task>'s data
npx forkstack switch dev                  # when done: back to dev,
npx forkstack delete agent-<task> --yes   # and delete yours (\`forkstack gc\` would, after 4 hours)
\`\`\`

- \`<task>\` is lowercase letters, digits and hyphens: \`agent-fix-login\`.
- Never touch \`prod\`: no \`--env prod\`, \`switch prod\`, \`FORKSTACK_ENV=prod\` or \`--from prod\`, and no
  \`--force\`, unless the user asks for exactly that.
- Never reset or delete an env you did not make (\`npx forkstack list\` shows each one's parent and age).
- Secrets stay secret: \`npx forkstack env\` masks them; do not print them with \`--reveal\`.
`;

const RERUN = "forkstack init --agents";

/** AGENTS.md, plus CLAUDE.md where the project has its own (not a link to AGENTS.md). */
export async function planAgents(dir: string): Promise<FileChange[]> {
  const agents = join(dir, "AGENTS.md");
  const claude = join(dir, "CLAUDE.md");
  const changes = [setBlock(await readIfExists(agents), AGENTS_MARKERS, AGENTS_BLOCK, agents, RERUN)];
  const claudeText = await readIfExists(claude);
  if (claudeText !== undefined && (await realpath(claude)) !== (await realpath(agents).catch(() => agents))) {
    changes.push(setBlock(claudeText, AGENTS_MARKERS, AGENTS_BLOCK, claude, RERUN));
  }
  return changes;
}
