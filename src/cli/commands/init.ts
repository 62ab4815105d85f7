/**
 * `forkstack init`: write `forkstack.config.ts` for a stack (the embedded default: SQLite, the local
 * object store, dotenv secrets, a local state directory), add forkstack's files to `.gitignore`, and
 * create the default env so `forkstack new` works right away (on a cloud stack, once its credentials
 * are set). `--make` and `--agents` add make targets and agent notes, merged into the user's files;
 * in an initialized project they run alone.
 */
import { readFile, writeFile } from "node:fs/promises";
import { basename, join } from "node:path";
import { UserError, errnoCode } from "../../errors.js";
import { ENV_NAME_PATTERN } from "../../layout.js";
import { configFileIn } from "../../config/load.js";
import { availableStacks, type StackVariable } from "../../init/stacks.js";
import { flag, stringValue, type CommandContext, type CommandDef, type ParsedArgs } from "../command.js";
import { createRootEnv, type EnvSummary } from "../../core/lifecycle.js";
import { switchEnv } from "../../core/switch.js";

interface InitResult {
  /** Undefined when the project was initialized before (`--make`/`--agents` alone). */
  readonly configFile?: string;
  readonly stack?: string;
  readonly project?: string;
  readonly gitignoreAdded: string[];
  /** The default env, unless the stack's credentials are not set yet. */
  readonly env?: EnvSummary;
  /** The stack's variables that were not set (so the default env was not made), and what goes in each. */
  readonly unsetVariables: StackVariable[];
  /** Files `--make` and `--agents` created or changed (or found up to date). */
  readonly files: { path: string; action: "create" | "update" | "unchanged" }[];
  /** The embedded storage server init started in the background, if the config uses it. */
  readonly storageServer?: boolean;
  /** How the user runs forkstack: `npx forkstack` when started through npm (npx, a script). */
  readonly invokedAs?: string;
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

const STACK_NAMES = availableStacks().map((s) => s.name);

/** Project name: `--project`, else asked on a terminal, else from package.json or the directory. */
async function projectName(ctx: CommandContext, args: ParsedArgs): Promise<string> {
  let project = stringValue(args, "project") ?? (await defaultProjectName(ctx.cwd));
  if (!flag(args, "yes") && ctx.interactive && !stringValue(args, "project")) {
    const prompts = await import("@clack/prompts");
    const answer = await prompts.text({
      message: "Project name (used in database, bucket and directory names)",
      initialValue: project,
      validate: (v) => (v && ENV_NAME_PATTERN.test(v) ? undefined : "lowercase letters, digits and hyphens"),
    });
    if (prompts.isCancel(answer)) throw new UserError("Cancelled.", "E_INTERRUPTED");
    project = answer;
  }
  if (!ENV_NAME_PATTERN.test(project) || project.length > 40) {
    throw new UserError(`Invalid project name ${JSON.stringify(project)}.`, "E_CONFIG_INVALID", {
      hint: "Use lowercase letters, digits and single hyphens, at most 40 characters (--project <name>).",
    });
  }
  return project;
}

const command: CommandDef<InitResult> = {
  name: "init",
  summary: "Create forkstack.config.ts and the dev env",
  usage: "forkstack init [--stack <name>] [--make] [--agents] [--yes] [--project <name>] [--json]",
  description:
    `Stacks: ${STACK_NAMES.join(", ")} (default: ${STACK_NAMES[0]}). --make writes Makefile.envs and ` +
    "includes it from your Makefile; --agents adds a block to AGENTS.md (and CLAUDE.md if you have one). " +
    "Your files are merged into (a marked block), never overwritten; a clash is refused and nothing is written. " +
    "In an initialized project, --make and --agents run alone.",
  options: {
    yes: { type: "boolean", short: "y", description: "Accept the defaults without asking" },
    project: { type: "string", value: "<name>", description: "Project name used in resource names" },
    stack: {
      type: "string",
      value: "<name>",
      description: `Providers to configure: ${STACK_NAMES.join(", ")}`,
    },
    make: { type: "boolean", description: "Add make targets (Makefile.envs, included from your Makefile)" },
    agents: { type: "boolean", description: "Add coding-agent instructions to AGENTS.md / CLAUDE.md" },
  },
  positionals: [],
  examples: [
    "forkstack init",
    "forkstack init --stack postgres-local --make --agents",
    "forkstack init --make",
  ],
  async run(ctx, args) {
    const existing = configFileIn(ctx.cwd);
    const extrasOnly = (flag(args, "make") || flag(args, "agents")) && !stringValue(args, "stack");
    if (existing && !extrasOnly) {
      throw new UserError(`${existing} already exists.`, "E_CONFIG_EXISTS", {
        hint: "This project is initialized; `forkstack new <env>` creates an env (`init --make` / `--agents` add those alone).",
      });
    }
    const init = await import("../../init/index.js");
    const stack = init.resolveStack(stringValue(args, "stack") ?? STACK_NAMES[0]!);
    // Every file is planned before any is written: a refusal leaves the project as it was.
    const changes = [
      ...(flag(args, "make") ? await init.planMake(ctx.cwd) : []),
      ...(flag(args, "agents") ? await init.planAgents(ctx.cwd) : []),
    ];
    const files = changes.map(({ path, action }) => ({ path, action }));
    if (existing) {
      await init.applyChanges(changes);
      return { gitignoreAdded: [], unsetVariables: [], files };
    }
    const project = await projectName(ctx, args);
    const configFile = join(ctx.cwd, "forkstack.config.ts");
    await writeFile(configFile, init.configSource(stack, project), { flag: "wx" });
    const gitignoreAdded = await updateGitignore(ctx.cwd, project);
    await init.applyChanges(changes);
    const unsetVariables = init.unsetVariables(stack);
    // npm sets npm_command for `npx` (exec) and scripts (run-script): the user's shell then has no
    // `forkstack` on its PATH, so the hints say what they will actually type.
    const invokedAs = process.env.npm_command ? "npx forkstack" : "forkstack";
    const base = { configFile, stack: stack.name, project, gitignoreAdded, unsetVariables, files, invokedAs };
    if (unsetVariables.length) return base;
    const opened = await ctx.project();
    const env = await createRootEnv(opened, opened.config.defaultEnv);
    await switchEnv(opened, env.name);
    const storageServer = opened.providers.some((p) => p.kind === "storage" && p.name === "local");
    return { ...base, env, storageServer };
  },
  render(result, io) {
    const done = (line: string) => io.err(`${io.paint("green", "✓")} ${line}`);
    if (result.configFile) done(`Wrote ${result.configFile} (stack: ${result.stack})`);
    if (result.gitignoreAdded.length) done(`Added to .gitignore: ${result.gitignoreAdded.join(" ")}`);
    for (const file of result.files) {
      done(
        file.action === "create"
          ? `Wrote ${file.path}`
          : file.action === "update"
            ? `Added forkstack's block to ${file.path} (your lines are kept)`
            : `${file.path} is up to date`,
      );
    }
    const invokedAs = result.invokedAs ?? "forkstack";
    if (result.unsetVariables.length) {
      // As the user types them (in a shell, .envrc or CI secrets), each with what goes in it.
      const width = Math.max(...result.unsetVariables.map(({ name }) => name.length));
      io.err(
        `  Not created the dev env yet. Set these (in your shell, .envrc or CI secrets; never in the config), ` +
          `then \`${invokedAs} new <your-name>\` makes dev (adopting what the backend has) and your env:`,
      );
      for (const { name, what } of result.unsetVariables) {
        io.err(`    export ${`${name}=`.padEnd(width + 1)}   # ${what}`);
      }
      return;
    }
    if (!result.env) return;
    done(`Created the ${result.env.name} env.`);
    if (result.storageServer) {
      done(
        `Started the storage server in the background; it keeps running for your app (stop it with \`${invokedAs} down\`).`,
      );
    }
    io.err(`  Next: \`${invokedAs} new <your-name>\`.`);
  },
};

export default command;
