/**
 * @module config/load
 * Finds `forkstack.config.*` by walking up from the cwd, imports it, validates it, and keeps
 * `.forkstack/project.json` up to date so the runtime library and `forkstack current` never need a
 * TypeScript loader.
 *
 * Precedence is simple on purpose: the config file is the only source; the nearest one up the tree wins.
 */
import { statSync } from "node:fs";
import { createHash } from "node:crypto";
import { mkdir, readFile, readdir, rm, stat } from "node:fs/promises";
import { basename, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import type { z } from "zod";
import { UserError, errnoCode } from "../errors.js";
import { CONFIG_FILE_NAMES, projectLayout, type ProjectCache, type ProjectLayout } from "../layout.js";
import { builtinProviders, providerNames } from "../providers/registry.js";
import type { ResourceKind } from "../providers/types.js";
import { findProjectRoot } from "../runtime/resolve.js";
import { writeFileAtomic } from "../core/fs-atomic.js";
import { configSchema, type ForkstackConfig, type ProviderBlock } from "./schema.js";

export interface LoadedConfig {
  readonly file: string;
  readonly layout: ProjectLayout;
  readonly config: ForkstackConfig;
  /** Provider options per kind, validated by each provider's schema. */
  readonly providerOptions: Partial<Record<ResourceKind, { name: string; options: unknown }>>;
}

/** This package's runtime entry, found by self-reference so it is right both bundled and not. */
const SELF = fileURLToPath(import.meta.resolve("forkstack"));

export const RESOURCE_KINDS: readonly ResourceKind[] = ["database", "storage", "secrets", "local"];

export function configFileIn(root: string): string | undefined {
  return CONFIG_FILE_NAMES.map((name) => join(root, name)).find(
    (file) => statSync(file, { throwIfNoEntry: false })?.isFile() ?? false,
  );
}

export async function loadConfig(cwd: string = process.cwd()): Promise<LoadedConfig> {
  const root = findProjectRoot(cwd);
  const file = root ? configFileIn(root) : undefined;
  if (!root || !file) {
    throw new UserError(
      `No forkstack.config.* found in ${cwd} or any directory above it.`,
      "E_CONFIG_NOT_FOUND",
      {
        hint: "Run `npx forkstack init` at your project root.",
      },
    );
  }
  const layout = projectLayout(root);
  const raw = await importConfigFile(file, join(layout.dataDir, "cache"));
  const config = validate(file, raw);
  const providerOptions: LoadedConfig["providerOptions"] = {};
  for (const kind of RESOURCE_KINDS) {
    const block = config[kind];
    if (block === false) continue;
    providerOptions[kind] = await validateProviderBlock(file, kind, block as ProviderBlock);
  }
  return { file, layout, config, providerOptions };
}

async function importConfigFile(file: string, cacheDir: string): Promise<unknown> {
  try {
    if (file.endsWith(".json")) return JSON.parse(await readFile(file, "utf8")) as unknown;
    const compiled = await compiledConfig(file, cacheDir);
    const module = (await import(compiled)) as { default?: unknown };
    return module.default;
  } catch (error) {
    throw new UserError(`Could not load ${basename(file)}: ${(error as Error).message}`, "E_CONFIG_INVALID", {
      cause: error,
      hint: `Fix the error in ${file}.`,
    });
  }
}

/**
 * The config as an ES module Node can import. It is bundled once per change of the file (esbuild, only
 * loaded then) into `.forkstack/cache/`, and imported from there on every later run, so commands pay
 * no TypeScript loader. The config may import `forkstack` even where the package is not resolvable
 * from the project (npx, a global install): that import is pointed at this very copy.
 */
async function compiledConfig(file: string, cacheDir: string): Promise<string> {
  const { mtimeMs, size } = await stat(file);
  const key = createHash("sha256").update(`${file}\0${mtimeMs}\0${size}\0${SELF}`).digest("hex").slice(0, 16);
  const out = join(cacheDir, `config-${key}.mjs`);
  if (!statSync(out, { throwIfNoEntry: false })) {
    const { build } = await import("esbuild");
    const result = await build({
      entryPoints: [file],
      bundle: true,
      format: "esm",
      platform: "node",
      target: "node20",
      packages: "external",
      write: false,
      logLevel: "silent",
      plugins: [
        {
          name: "forkstack-self",
          setup(b) {
            b.onResolve({ filter: /^forkstack$/ }, () => ({
              path: pathToFileURL(SELF).href,
              external: true,
            }));
          },
        },
      ],
    });
    await mkdir(cacheDir, { recursive: true });
    for (const stale of (await readdir(cacheDir)).filter((f) => f.startsWith("config-"))) {
      await rm(join(cacheDir, stale), { force: true });
    }
    await writeFileAtomic(out, result.outputFiles[0]!.contents, 0o644);
  }
  return pathToFileURL(out).href;
}

function describeIssues(file: string, issues: readonly z.core.$ZodIssue[], prefix: string[] = []): string {
  return issues
    .map((issue) => {
      const key = [...prefix, ...issue.path.map(String)].join(".") || "(root)";
      if (issue.code === "unrecognized_keys") {
        const keys = issue.keys.map((k) => [...prefix, ...issue.path.map(String), k].join("."));
        return `unknown key ${keys.map((k) => `\`${k}\``).join(", ")}`;
      }
      return `\`${key}\` ${issue.message}`;
    })
    .map((line) => `${basename(file)}: ${line}`)
    .join("\n");
}

function validate(file: string, raw: unknown): ForkstackConfig {
  const result = configSchema.safeParse(raw);
  if (!result.success) {
    throw new UserError(describeIssues(file, result.error.issues), "E_CONFIG_INVALID", {
      hint: "See the configuration reference in forkstack's README.",
    });
  }
  return result.data;
}

async function validateProviderBlock(
  file: string,
  kind: ResourceKind,
  block: ProviderBlock,
): Promise<{ name: string; options: unknown }> {
  const { provider: name, ...options } = block;
  const load = builtinProviders[kind][name];
  if (!load) {
    const known = providerNames(kind);
    throw new UserError(
      `${basename(file)}: \`${kind}.provider\` is "${name}", which is not a ${kind} provider; expected one of: ${known.join(", ")}.`,
      "E_CONFIG_INVALID",
    );
  }
  const module = await load();
  const result = module.optionsSchema.safeParse(options);
  if (!result.success) {
    throw new UserError(describeIssues(file, result.error.issues, [kind]), "E_CONFIG_INVALID", {
      hint: `See the ${name} provider's options in forkstack's README.`,
    });
  }
  return { name, options: result.data };
}

/** Keep `.forkstack/project.json` in step with the config (read by `currentEnv()` and `current`). */
export async function writeProjectCache(loaded: LoadedConfig): Promise<void> {
  const { mtimeMs } = await stat(loaded.file);
  const cache: ProjectCache = {
    project: loaded.config.project,
    defaultEnv: loaded.config.defaultEnv,
    configMtimeMs: mtimeMs,
    configFile: loaded.file,
  };
  const text = `${JSON.stringify(cache, null, 2)}\n`;
  try {
    if ((await readFile(loaded.layout.projectCache, "utf8")) === text) return;
  } catch (error) {
    if (errnoCode(error) !== "ENOENT") throw error;
  }
  await writeFileAtomic(loaded.layout.projectCache, text, 0o644);
}
