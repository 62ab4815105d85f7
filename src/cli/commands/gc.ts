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
    "Deletes envs whose --ttl has passed (forks before parents; protected envs never) and resources no env " +
    "owns on backends private to this machine. Resources of roots, of operations in flight, and on shared " +
    "backends (maybe another machine's envs) are never deleted, only reported. Outside a terminal it only " +
    "reports unless --yes; on a terminal it asks first.",
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
    if (nothingToDo(result) && !result.foreign.length && !result.pending.length) {
      io.err("Nothing to collect.");
    }
    for (const env of result.expired) io.out(`${verb} expired env ${env}`);
    for (const o of result.orphans) io.out(`${verb} orphaned ${o.kind} (${o.provider}) of ${o.env}`);
    for (const s of result.skipped) io.err(`  Kept expired env ${s.env}: ${s.reason}.`);
    for (const o of result.foreign) {
      io.err(
        `  Not deleting ${o.kind} (${o.provider}) of "${o.env}": no env here owns it, but ${o.provider} is shared — it may be another machine's. Delete it in ${o.provider} if it is a leftover.`,
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
