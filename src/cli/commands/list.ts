/** `forkstack list`: every env with parent, age, expiry, the status of each resource, and the current marker. */
import { formatAge } from "../../core/duration.js";
import { listEnvs, type EnvListing } from "../../core/listing.js";
import type { CommandDef } from "../command.js";
import { table } from "../output.js";

const command: CommandDef<EnvListing[]> = {
  name: "list",
  summary: "List envs with parent, age and resource status",
  usage: "forkstack list [--json]",
  options: {},
  positionals: [],
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
        .map(([kind, r]) => `${kind}:${r.status}${r.method ? `(${r.method})` : ""}`)
        .join(" "),
    ]);
    io.out(table(["  ENV", "PARENT", "AGE", "EXPIRES", "STATUS", "RESOURCES"], rows));
  },
};

export default command;
