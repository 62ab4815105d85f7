/**
 * `forkstack init`: write `forkstack.config.ts` with the embedded defaults (SQLite, the local object
 * store, dotenv secrets, a local state directory), add forkstack's files to `.gitignore`, and create
 * the default env so `forkstack new` works right away.
 */
import { readFile, writeFile } from "node:fs/promises";
import { basename, join } from "node:path";
import { UserError, errnoCode } from "../../errors.js";
import { ENV_NAME_PATTERN } from "../../layout.js";
import { configFileIn } from "../../config/load.js";
import { builtinProviders } from "../../providers/registry.js";
import { flag, stringValue, type CommandDef } from "../command.js";
import { createRootEnv, type EnvSummary } from "../../core/lifecycle.js";
import { switchEnv } from "../../core/switch.js";

interface InitResult {
  readonly configFile: string;
  readonly project: string;
  readonly gitignoreAdded: string[];
  readonly env: EnvSummary;
  /** The embedded storage server init started in the background, if the config uses it. */
  readonly storageServer: boolean;
  /** How the user runs forkstack: `npx forkstack` when started through npm (npx, a script). */
  readonly invokedAs: string;
}

/** A project name from package.json or the directory, made to fit the env-name rule. */
async function defaultProjectName(cwd: string): Promise<string> {
  let name = basename(cwd);
  try {
    const pkg = JSON.parse(await readFile(join(cwd, "package.json"), "utf8")) as { name?: string };
    if (pkg.name) name = pkg.name.replace(/^@[^/]+\//, "");
  } catch {
    // no package.json: the directory name will do
  }
  const cleaned = name
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-+|-+$/g, "")
    .slice(0, 40)
    .replace(/-+$/, "");
  return cleaned || "app";
}

export function configSource(project: string): string {
  const storage = builtinProviders.storage.local ? `  storage: { provider: "local" },\n` : "";
  return `import { defineConfig } from "forkstack";

export default defineConfig({
  project: ${JSON.stringify(project)},
  database: { provider: "sqlite" },
${storage}  secrets: { provider: "dotenv" },
  local: { provider: "directory", path: "{project}.{env}.db" },
});
`;
}

async function updateGitignore(root: string, project: string): Promise<string[]> {
  const file = join(root, ".gitignore");
  let text = "";
  try {
    text = await readFile(file, "utf8");
  } catch (error) {
    if (errnoCode(error) !== "ENOENT") throw error;
  }
  const present = new Set(text.split(/\r?\n/).map((l) => l.trim()));
  const wanted = [".forkstack/", ".current-env", ".env.local", `/${project}.*.db/`];
  const added = wanted.filter((line) => !present.has(line));
  if (added.length) {
    const prefix = text && !text.endsWith("\n") ? "\n" : "";
    await writeFile(file, `${text}${prefix}# forkstack\n${added.join("\n")}\n`);
  }
  return added;
}

const command: CommandDef<InitResult> = {
  name: "init",
  summary: "Create forkstack.config.ts and the dev env",
  usage: "forkstack init [--yes] [--project <name>] [--json]",
  options: {
    yes: { type: "boolean", short: "y", description: "Accept the defaults without asking" },
    project: { type: "string", value: "<name>", description: "Project name used in resource names" },
  },
  positionals: [],
  async run(ctx, args) {
    const existing = configFileIn(ctx.cwd);
    if (existing) {
      throw new UserError(`${existing} already exists.`, "E_CONFIG_EXISTS", {
        hint: "This project is initialized; `forkstack new <env>` creates an env.",
      });
    }
    let project = stringValue(args, "project") ?? (await defaultProjectName(ctx.cwd));
    if (!flag(args, "yes") && ctx.interactive && !stringValue(args, "project")) {
      const prompts = await import("@clack/prompts");
      const answer = await prompts.text({
        message: "Project name (used in database, bucket and directory names)",
        initialValue: project,
        validate: (v) =>
          v && ENV_NAME_PATTERN.test(v) ? undefined : "lowercase letters, digits and hyphens",
      });
      if (prompts.isCancel(answer)) throw new UserError("Cancelled.", "E_INTERRUPTED");
      project = answer;
    }
    if (!ENV_NAME_PATTERN.test(project) || project.length > 40) {
      throw new UserError(`Invalid project name ${JSON.stringify(project)}.`, "E_CONFIG_INVALID", {
        hint: "Use lowercase letters, digits and single hyphens, at most 40 characters (--project <name>).",
      });
    }
    const configFile = join(ctx.cwd, "forkstack.config.ts");
    await writeFile(configFile, configSource(project), { flag: "wx" });
    const gitignoreAdded = await updateGitignore(ctx.cwd, project);
    const opened = await ctx.project();
    const env = await createRootEnv(opened, opened.config.defaultEnv);
    await switchEnv(opened, env.name);
    const storageServer = opened.providers.some((p) => p.kind === "storage" && p.name === "local");
    // npm sets npm_command for `npx` (exec) and scripts (run-script): the user's shell then has no
    // `forkstack` on its PATH, so the hints say what they will actually type.
    const invokedAs = process.env.npm_command ? "npx forkstack" : "forkstack";
    return { configFile, project, gitignoreAdded, env, storageServer, invokedAs };
  },
  render(result, io) {
    io.err(`${io.paint("green", "✓")} Wrote ${result.configFile}`);
    if (result.gitignoreAdded.length)
      io.err(`${io.paint("green", "✓")} Added to .gitignore: ${result.gitignoreAdded.join(" ")}`);
    io.err(`${io.paint("green", "✓")} Created the ${result.env.name} env.`);
    if (result.storageServer) {
      io.err(
        `${io.paint("green", "✓")} Started the storage server in the background; it keeps running for your app (stop it with \`${result.invokedAs} down\`).`,
      );
    }
    io.err(`  Next: \`${result.invokedAs} new <your-name>\`.`);
  },
};

export default command;
