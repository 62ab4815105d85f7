/** `forkstack new <env>`: fork every resource of a parent env into a new env. */
import { parseDuration } from "../../core/duration.js";
import { createEnv, type EnvSummary } from "../../core/lifecycle.js";
import { flag, stringValue, type CommandDef } from "../command.js";
import { formatBytes, formatMs } from "../output.js";
import { createProgress } from "../progress.js";

const command: CommandDef<EnvSummary> = {
  name: "new",
  summary: "Fork an env (database, buckets, secrets, local state)",
  usage: "forkstack new <env> [--from <env>] [--no-switch] [--ttl <duration>] [--yes] [--json]",
  description:
    "Forks every resource of the parent at one moment, in parallel; if one fails, the others are rolled back. " +
    "Forks are copy-on-write where the backend or filesystem allows it; the output says which method was used.",
  options: {
    from: {
      type: "string",
      value: "<env>",
      description: "Parent env (default: the config's defaultEnv, usually dev)",
    },
    "no-switch": { type: "boolean", description: "Do not make the new env current" },
    ttl: {
      type: "string",
      value: "<duration>",
      description: "Expire after this long (30m, 2h, 7d); `gc` deletes it",
    },
    yes: { type: "boolean", short: "y", description: "Confirm forking from a production env" },
  },
  positionals: ["env"],
  examples: ["forkstack new alice", "forkstack new pr-42 --from staging --ttl 2d --no-switch"],
  async run(ctx, args) {
    const ttl = stringValue(args, "ttl");
    const ttlMs = ttl === undefined ? undefined : parseDuration(ttl);
    const project = await ctx.project();
    const progress = createProgress(ctx.io, "forking");
    try {
      return await createEnv(project, args.positionals[0]!, {
        from: stringValue(args, "from"),
        ttlMs,
        switchTo: !flag(args, "no-switch"),
        yes: flag(args, "yes"),
        confirm: (q) => ctx.confirm(q),
        signal: ctx.signal,
        onStep: (e) => progress.onStep(e),
      });
    } finally {
      progress.stop();
    }
  },
  render(result, io) {
    const added = Object.values(result.resources).reduce((sum, r) => sum + (r.bytesAdded ?? 0), 0);
    io.err(
      `${io.paint("green", "✓")} Created ${io.paint("bold", result.name)} from ${result.parent} in ${formatMs(result.ms)}` +
        ` (+${formatBytes(added)} on disk)${result.expiresAt ? `, expires ${result.expiresAt}` : ""}.`,
    );
    if (result.switched) io.err(`${io.paint("green", "✓")} Switched to ${result.name}.`);
    io.out(result.name);
  },
};

export default command;
