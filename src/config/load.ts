/**
 * @module config/load
 * Finds `forkstack.config.*` by walking up from the cwd, imports it, validates it, and keeps
 * `.forkstack/project.json` up to date so the runtime library and `forkstack current` never need a
 * TypeScript loader.
 *
 * Precedence is simple on purpose: the config file is the only source; the nearest one up the tree wins.
 *
 * A `.ts`/`.mjs`/`.js` config is bundled once per change of it or of any local module it imports
 * (`compile-cache.ts`) and imported from the cache; its top level gets `FORKSTACK_CONFIG_TIMEOUT_MS`
 * (10 s) to settle, so a config that waits forever fails with a word instead of hanging every command.
 */
import { statSync } from "node:fs";
import { readFile, stat } from "node:fs/promises";
import { basename, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import type { z } from "zod";
import { UsageError, UserError, errnoCode, isForkstackError } from "../errors.js";
import { CONFIG_FILE_NAMES, projectLayout, type ProjectCache, type ProjectLayout } from "../layout.js";
import type { ResourceKind } from "../providers/types.js";
import { findProjectRoot } from "../runtime/resolve.js";
import { writeFileAtomic } from "../core/fs-atomic.js";
import { compiledConfig } from "./compile-cache.js";
import { loadProviderModule, type LoadedProviderModule } from "./provider-module.js";
import { configSchema, type ForkstackConfig, type ProviderBlock } from "./schema.js";

export interface LoadedConfig {
  readonly file: string;
  readonly layout: ProjectLayout;
  readonly config: ForkstackConfig;
  /** Provider per kind: its module (built-in or custom) and options validated by its schema. */
  readonly providerOptions: Partial<
    Record<ResourceKind, { name: string; options: unknown } & LoadedProviderModule>
  >;
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
    providerOptions[kind] = await validateProviderBlock(file, layout, kind, block as ProviderBlock);
  }
  return { file, layout, config, providerOptions };
}

async function importConfigFile(file: string, cacheDir: string): Promise<unknown> {
  try {
    if (file.endsWith(".json")) return JSON.parse(await readFile(file, "utf8")) as unknown;
    const timeoutMs = configTimeoutMs();
    let bundle = await compiledConfig({ file, cacheDir, self: SELF });
    let module: { default?: unknown };
    try {
      module = await evaluate(pathToFileURL(bundle).href, file, timeoutMs);
    } catch (error) {
      // Another process swept the bundle between our reading the index and importing it (only
      // possible when the config changed meanwhile): build it again, under a URL this process has
      // not tried, since Node remembers a failed import.
      if (isForkstackError(error) || statSync(bundle, { throwIfNoEntry: false })) throw error;
      bundle = await compiledConfig({ file, cacheDir, self: SELF, rebuild: true });
      module = await evaluate(`${pathToFileURL(bundle).href}?retry=1`, file, timeoutMs);
    }
    return module.default;
  } catch (error) {
    if (isForkstackError(error)) throw error;
    throw new UserError(`Could not load ${basename(file)}: ${(error as Error).message}`, "E_CONFIG_INVALID", {
      cause: error,
      hint: `Fix the error in ${file}.`,
    });
  }
}

const DEFAULT_TIMEOUT_MS = 10_000;

/** How long the config's top level may take: `FORKSTACK_CONFIG_TIMEOUT_MS`, else 10 s. */
function configTimeoutMs(): number {
  const raw = process.env.FORKSTACK_CONFIG_TIMEOUT_MS;
  if (raw === undefined || raw.trim() === "") return DEFAULT_TIMEOUT_MS;
  const ms = Number(raw);
  if (!Number.isSafeInteger(ms) || ms <= 0) {
    throw new UsageError(
      `FORKSTACK_CONFIG_TIMEOUT_MS is ${JSON.stringify(raw)}; expected a whole number of milliseconds above 0.`,
      { hint: `Unset it to use the default of ${DEFAULT_TIMEOUT_MS} ms.` },
    );
  }
  // setTimeout takes at most 2^31-1 ms and turns anything longer into 1 ms: "forever" must not mean "now".
  return Math.min(ms, 2 ** 31 - 1);
}

/**
 * Set on `globalThis` (under `Symbol.for`, so the CLI's launcher can see it without importing this
 * module) once a config import has been given up on. Such a module stays pending forever and may hold
 * timers or sockets open; the launcher then exits once its error is printed instead of waiting on them.
 * A library caller gets the same error and decides for itself.
 */
export const ABANDONED_CONFIG = Symbol.for("forkstack.abandonedConfigImport");

/**
 * Import the bundled config, but give up if its top level has not settled in `timeoutMs`. An ES
 * module whose top-level await never settles makes `import()` pend forever, and Node offers no way to
 * cancel it, so we race it: the timer is what lets the command fail with a word instead of hanging.
 */
async function evaluate(url: string, file: string, timeoutMs: number): Promise<{ default?: unknown }> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      (globalThis as Record<symbol, unknown>)[ABANDONED_CONFIG] = file;
      reject(
        new UserError(
          `${file} did not finish loading within ${timeoutMs} ms: its top level never settled ` +
            "(an awaited promise that never resolves, or a server or timer it starts and waits on).",
          "E_CONFIG_INVALID",
          {
            hint:
              "Make the config's top level finish: export the config object and start nothing in it. " +
              "If it is merely slow, raise FORKSTACK_CONFIG_TIMEOUT_MS (milliseconds).",
          },
        ),
      );
    }, timeoutMs);
  });
  try {
    return await Promise.race([import(url) as Promise<{ default?: unknown }>, timeout]);
  } finally {
    clearTimeout(timer);
  }
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
  layout: ProjectLayout,
  kind: ResourceKind,
  block: ProviderBlock,
): Promise<{ name: string; options: unknown } & LoadedProviderModule> {
  const { provider: name, ...options } = block;
  // A built-in name, or a custom module by path or package (rules in provider-module.ts).
  const loaded = await loadProviderModule({
    configFile: file,
    kind,
    value: name,
    cacheDir: join(layout.dataDir, "cache"),
    self: SELF,
  });
  const schema = loaded.module.optionsSchema;
  if (!schema) return { name, options, ...loaded };
  const result = schema.safeParse(options);
  if (!result.success) {
    throw new UserError(describeIssues(file, result.error.issues, [kind]), "E_CONFIG_INVALID", {
      hint: loaded.custom
        ? `See the options of the provider module ${name}.`
        : `See the ${name} provider's options in forkstack's README.`,
    });
  }
  return { name, options: result.data, ...loaded };
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
  await writeFileAtomic(loaded.layout.projectCache, text);
}
