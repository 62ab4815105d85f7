/** `forkstack list`: every env with parent, age, expiry, the status of each resource, and the current marker. */
import { formatAge } from "../../core/duration.js";
import { listEnvs, type EnvListing } from "../../core/listing.js";
import type { CommandDef } from "../command.js";
import { formatBytes, table } from "../output.js";
import type { ResourceState } from "../../core/listing.js";

/** How each resource was made, in words that cannot be read as its state ("empty" was). */
const MADE: Record<string, string> = {
  empty: "root",
  copy: "copied fork",
  reflink: "reflink fork",
  metadata: "metadata fork",
  native: "native fork",
};

function describeResource(r: ResourceState): string {
  if (r.status === "missing") return "MISSING";
  // Resources are joined with ", ": a message's own final period would read as `., `.
  if (r.status === "error") return `error: ${(r.detail ?? "unknown").replace(/\.$/, "")}`;
  if (r.status === "stopped") return "stopped (starts on next use)";
  const how = r.adopted ? "adopted" : r.method ? (MADE[r.method] ?? r.method) : undefined;
  return [r.bytes !== undefined ? formatBytes(r.bytes) : undefined, how].filter(Boolean).join(" ") || "ok";
}

const command: CommandDef<EnvListing[]> = {
  name: "list",
  summary: "List envs with parent, age and resource status",
  usage: "forkstack list [--json]",
  options: {},
  positionals: [],
  readOnly: true,
  async run(ctx) {
    return listEnvs(await ctx.project());
  },
  render(envs, io) {
    if (!envs.length) {
      io.err("No envs yet. Create one with `forkstack new <env>`.");
      return;
    }
    const rows = envs.map((e) => [
      `${e.current ? "*" : " "} ${e.name}`,
      e.parent ?? "-",
      e.ageMs === null ? "-" : formatAge(e.ageMs),
      e.expiresAt ? (e.expired ? "expired" : formatAge(Date.parse(e.expiresAt) - Date.now())) : "-",
      e.problem ? `${e.status} (${e.problem})` : e.status,
      Object.entries(e.resources)
        .map(([kind, r]) => `${kind} ${describeResource(r)}`)
        .join(", "),
    ]);
    io.out(table(["  ENV", "PARENT", "AGE", "EXPIRES", "STATUS", "RESOURCES"], rows));
  },
};

export default command;
