/** `forkstack new <env>`: fork every resource of a parent env into a new env. */
import { parseAt, parseDuration } from "../../core/duration.js";
import { createEnv, type EnvSummary } from "../../core/lifecycle.js";
import { flag, stringValue, type CommandDef } from "../command.js";
import { formatBytes, formatMs } from "../output.js";
import { createProgress } from "../progress.js";

const command: CommandDef<EnvSummary> = {
  name: "new",
  summary: "Fork an env (database, buckets, secrets, local state)",
  usage:
    "forkstack new <env> [--from <env>] [--at <time|duration>] [--no-switch] [--ttl <duration>] [--yes] [--json]",
  description:
    "Forks every resource of the parent at one moment, in parallel; if one fails, the others are rolled back. " +
    "Forks are copy-on-write where the backend or filesystem allows it; the output says which method was used.",
  options: {
    from: {
      type: "string",
      value: "<env>",
      description:
        "Parent env (default: the config's defaultEnv, usually dev; a root such as prod is made empty without it)",
    },
    at: {
      type: "string",
      value: "<time|duration>",
      description:
        "Fork the parent as it was then: 2026-11-30T10:00Z, or how long ago (1h). Only where every provider keeps history (Neon, Turso)",
    },
    "no-switch": { type: "boolean", description: "Do not make the new env current" },
    ttl: {
      type: "string",
      value: "<duration>",
      description: "Expire after this long (30m, 2h, 7d; at most 36500d); `gc` deletes it",
    },
    yes: { type: "boolean", short: "y", description: "Confirm forking from a production env" },
  },
  positionals: ["env"],
  examples: ["forkstack new alice", "forkstack new pr-42 --from staging --ttl 2d --no-switch"],
  async run(ctx, args) {
    const ttl = stringValue(args, "ttl");
    const ttlMs = ttl === undefined ? undefined : parseDuration(ttl);
    const atText = stringValue(args, "at");
    const at = atText === undefined ? undefined : parseAt(atText);
    const project = await ctx.project();
    const progress = createProgress(ctx.io, "forking");
    try {
      return await createEnv(project, args.positionals[0]!, {
        from: stringValue(args, "from"),
        ttlMs,
        ...(at ? { at } : {}),
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
      `${io.paint("green", "✓")} Created ${io.paint("bold", result.name)} ${result.parent ? `from ${result.parent}` : "as a root env"} in ${formatMs(result.ms)}` +
        ` (+${formatBytes(added)} on disk)${result.expiresAt ? `, expires ${result.expiresAt}` : ""}.`,
    );
    if (result.switched) io.err(`${io.paint("green", "✓")} Switched to ${result.name}.`);
    io.out(result.name);
  },
};

export default command;
