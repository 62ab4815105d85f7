/**
 * `forkstack doctor`: config, state directory, fork method per provider, services, and drift between
 * manifests and what the backends hold. Exits 1 when any check is an error.
 */
import { access, constants, statfs } from "node:fs/promises";
import { isRoot } from "../../core/guards.js";
import { isServiceStopped } from "../../errors.js";
import { listEnvs } from "../../core/listing.js";
import type { DoctorFinding } from "../../providers/types.js";
import type { CommandDef } from "../command.js";

interface Check extends DoctorFinding {
  readonly area: string;
}

const command: CommandDef<{ checks: Check[] }> = {
  name: "doctor",
  summary: "Check config, state, services and drift",
  usage: "forkstack doctor [--json]",
  options: {},
  positionals: [],
  readOnly: true,
  async run(ctx) {
    const checks: Check[] = [];
    const project = await ctx.project();
    checks.push({
      area: "config",
      level: "ok",
      message: `${project.configFile} is valid (project ${project.config.project})`,
    });
    try {
      await access(project.layout.dataDir, constants.W_OK);
      checks.push({ area: "state", level: "ok", message: `${project.layout.dataDir} is writable` });
    } catch {
      checks.push({ area: "state", level: "error", message: `${project.layout.dataDir} is not writable` });
    }
    try {
      const fs = await statfs(project.layout.dataDir);
      const free = fs.bavail * fs.bsize;
      if (free < 16 * 1024 * 1024) {
        checks.push({
          area: "state",
          level: free < 1024 * 1024 ? "error" : "warn",
          message: `the disk holding ${project.layout.dataDir} is ${free < 1024 * 1024 ? "full" : "nearly full"} (${Math.round(free / 1024)} KB free): \`new\` will fail; \`forkstack gc --yes\` or \`delete\` free space`,
        });
      }
    } catch {
      // statfs is informational; the writability check above already covers a missing directory
    }
    for (const provider of project.providers) {
      const area = `${provider.kind} (${provider.name})`;
      try {
        for (const finding of (await provider.doctor?.(project.op())) ?? [])
          checks.push({ area, ...finding });
      } catch (error) {
        checks.push({ area, level: "error", message: (error as Error).message });
      }
    }
    // Every check runs even when one fails (a taken port, a backend down): doctor reports them all.
    let envs: Awaited<ReturnType<typeof listEnvs>> = [];
    try {
      envs = await listEnvs(project);
    } catch (error) {
      checks.push({ area: "envs", level: "error", message: `cannot list envs: ${(error as Error).message}` });
    }
    for (const env of envs) {
      if (env.status === "ready") continue;
      const missing = Object.entries(env.resources)
        .filter(([, r]) => r.status !== "ok")
        .map(([kind, r]) => `${kind} ${r.status}`);
      checks.push({
        area: `env ${env.name}`,
        level: env.status === "creating" || env.status === "resetting" ? "warn" : "error",
        message: [env.status, env.problem, ...missing].filter(Boolean).join(", "),
      });
    }
    for (const env of envs) {
      if (env.parent && !envs.some((p) => p.name === env.parent)) {
        checks.push({
          area: `env ${env.name}`,
          level: "warn",
          message: `its parent "${env.parent}" no longer exists: it cannot be reset (delete it, or keep it as it is)`,
        });
      }
    }
    const known = new Set(envs.map((e) => e.name));
    const recorded = new Set(project.state.recorded().map((r) => `${r.kind}:${r.env}`));
    for (const provider of project.providers) {
      let names: string[];
      try {
        names = await provider.list(project.op(undefined, { readOnly: true }));
      } catch (error) {
        const area = `${provider.kind} (${provider.name})`;
        checks.push(
          isServiceStopped(error)
            ? {
                area,
                level: "ok",
                message:
                  "resources not compared with the envs: the server is stopped (`forkstack up` to check them)",
              }
            : { area, level: "error", message: `cannot list resources: ${(error as Error).message}` },
        );
        continue;
      }
      const orphans = names.filter((name) => !known.has(name));
      // `gc` removes only what the record shows this project made; the rest is for a person to judge.
      const roots = orphans.filter((name) => isRoot(project, name));
      const ours = orphans.filter(
        (name) => !roots.includes(name) && recorded.has(`${provider.kind}:${name}`),
      );
      const others = orphans.filter((name) => !roots.includes(name) && !ours.includes(name));
      const area = `${provider.kind} (${provider.name})`;
      if (roots.length) {
        const message = `a root's resources with no manifest here: ${roots.join(", ")} (\`forkstack new <root>\` adopts them; \`forkstack gc\` never removes them)`;
        checks.push({ area, level: "warn", message });
      }
      if (ours.length) {
        const message = `resources without an env: ${ours.join(", ")} (\`forkstack gc\` removes them: this project made them)`;
        checks.push({ area, level: "warn", message });
      }
      if (others.length) {
        const message = `resources of no env here that this project has no record of making: ${others.join(", ")} (\`forkstack gc\` only reports them; delete them yourself if they are leftovers)`;
        checks.push({ area, level: "warn", message });
      }
    }
    if (envs.length && envs.every((e) => e.status === "ready")) {
      checks.push({ area: "envs", level: "ok", message: `${envs.length} env(s), all ready` });
    }
    return { checks };
  },
  render(result, io) {
    for (const c of result.checks) {
      const icon =
        c.level === "ok"
          ? io.paint("green", "✓")
          : c.level === "warn"
            ? io.paint("yellow", "!")
            : io.paint("red", "✗");
      io.out(`${icon} ${c.area}: ${c.message}`);
    }
  },
  exitCode: (result) => (result.checks.some((c) => c.level === "error") ? 1 : 0),
};

export default command;
