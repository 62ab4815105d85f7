/** `forkstack gc`: delete envs whose ttl has passed and resources no env owns. */
import { gc, type GcResult } from "../../core/gc.js";
import { flag, type CommandDef } from "../command.js";

interface GcOutput extends GcResult {
  /** Not a terminal and no --yes: nothing was deleted, only reported. */
  readonly needsYes: boolean;
}

function nothingToDo(result: GcResult): boolean {
  return !result.expired.length && !result.orphans.length;
}

const command: CommandDef<GcOutput> = {
  name: "gc",
  summary: "Delete expired envs and orphaned resources",
  usage: "forkstack gc [--dry-run] [--yes] [--json]",
  description:
    "Deletes envs whose --ttl has passed (forks before parents; protected envs never) and orphans: resources " +
    "this project's record says it made whose env is gone, removed by that record on any backend. What a " +
    "backend holds that is not on the record (it existed before, or another machine or tool made it) is only " +
    "reported, never deleted; so are roots' resources and those of operations in flight. Outside a terminal " +
    "it only reports unless --yes; on a terminal it asks first.",
  options: {
    "dry-run": { type: "boolean", description: "Only report what would be deleted" },
    yes: { type: "boolean", short: "y", description: "Delete without asking (required outside a terminal)" },
  },
  positionals: [],
  readOnly: true,
  async run(ctx, args) {
    const project = await ctx.project();
    if (flag(args, "dry-run") || (!flag(args, "yes") && !ctx.interactive)) {
      const result = await gc(project, { dryRun: true });
      return { ...result, needsYes: !flag(args, "dry-run") && !nothingToDo(result) };
    }
    if (!flag(args, "yes")) {
      const plan = await gc(project, { dryRun: true });
      if (nothingToDo(plan)) return { ...plan, needsYes: false };
      const what = [
        ...plan.expired.map((e) => `expired env ${e}`),
        ...plan.orphans.map((o) => `orphaned ${o.kind} of ${o.env}`),
      ];
      if (!(await ctx.confirm(`Delete ${what.join(", ")}?`))) return { ...plan, needsYes: false };
    }
    return { ...(await gc(project)), needsYes: false };
  },
  render(result, io) {
    const verb = result.dryRun ? "Would delete" : "Deleted";
    const reported = result.unrecorded.length + result.unreachable.length;
    if (nothingToDo(result) && !reported && !result.pending.length) {
      io.err("Nothing to collect.");
    }
    for (const env of result.expired) io.out(`${verb} expired env ${env}`);
    for (const o of result.orphans) {
      io.out(`${verb} orphaned ${o.kind} (${o.provider}) of ${o.env}${o.location ? `: ${o.location}` : ""}`);
    }
    for (const s of result.skipped) io.err(`  Kept expired env ${s.env}: ${s.reason}.`);
    for (const o of result.unrecorded) {
      io.err(
        `  Not deleting ${o.kind} (${o.provider}) of "${o.env}": forkstack has no record of making it (it existed before, or another machine or tool made it). Delete it in ${o.provider} yourself if it is a leftover.`,
      );
    }
    for (const o of result.unreachable) {
      io.err(
        `  Not deleting ${o.kind} of "${o.env}"${o.location ? ` (${o.location})` : ""}: ${o.provider} made it, and the config no longer uses ${o.provider} for ${o.kind}. Configure it again to collect it, or delete it yourself.`,
      );
    }
    for (const u of result.unlisted) {
      io.err(`${io.paint("yellow", "!")} Could not list ${u.provider}'s resources: ${u.error}`);
    }
    for (const p of result.pending)
      io.err(`${io.paint("yellow", "!")} Unfinished ${p.op} of ${p.env}: ${p.error}`);
    for (const f of result.failed) io.err(`${io.paint("red", "✗")} Could not delete ${f.env}: ${f.error}`);
    if (result.needsYes) io.err("Dry run (not a terminal): pass --yes to delete these.");
  },
  exitCode: (result) => (result.failed.length ? 1 : 0),
};

export default command;
