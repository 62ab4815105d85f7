/** `forkstack gc`: delete envs whose ttl has passed and resources no env owns. */
import { gc, type GcResult } from "../../core/gc.js";
import { flag, type CommandDef } from "../command.js";

const command: CommandDef<GcResult> = {
  name: "gc",
  summary: "Delete expired envs and orphaned resources",
  usage: "forkstack gc [--dry-run] [--json]",
  description: "Protected envs are never collected. Children are deleted before their parents.",
  options: { "dry-run": { type: "boolean", description: "Only report what would be deleted" } },
  positionals: [],
  async run(ctx, args) {
    return gc(await ctx.project(), { dryRun: flag(args, "dry-run") });
  },
  render(result, io) {
    const verb = result.dryRun ? "Would delete" : "Deleted";
    if (!result.expired.length && !result.orphans.length) io.err("Nothing to collect.");
    for (const env of result.expired) io.out(`${verb} expired env ${env}`);
    for (const o of result.orphans) io.out(`${verb} orphaned ${o.kind} (${o.provider}) of ${o.env}`);
    for (const f of result.failed) io.err(`${io.paint("red", "✗")} Could not delete ${f.env}: ${f.error}`);
  },
  exitCode: (result) => (result.failed.length ? 1 : 0),
};

export default command;
