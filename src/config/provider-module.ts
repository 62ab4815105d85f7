/**
 * @module config/provider-module
 * The module behind a config's `<kind>.provider`: a built-in provider, or a custom one by module path.
 *
 * The rule, chosen so a value can be read one way only:
 * - starts with `.` or is absolute (`./providers/db.ts`, `/opt/x.mjs`): a file, resolved from the
 *   config's directory and bundled like the config (so it may be TypeScript, and its `import
 *   "forkstack"` is the copy that is running, whose error classes the core recognises);
 * - `npm:<name>` (any package), or starts with `@` or contains `/` (`@acme/forkstack-neon`,
 *   `acme-providers/db`): a package, resolved from the config's directory as Node resolves an import;
 * - anything else (`sqlite`): a built-in provider name.
 *
 * A custom module default-exports a `ProviderFactory` and may export `optionsSchema` (a zod schema) for
 * the rest of the block; without one its options reach the factory as written.
 */
import { statSync } from "node:fs";
import { basename, dirname, isAbsolute, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import type { z } from "zod";
import { ProviderError, UserError, isForkstackError, type ErrorCode } from "../errors.js";
import { builtinProviders, providerNames } from "../providers/registry.js";
import type { Provider, ProviderContext, ProviderFactory, ResourceKind } from "../providers/types.js";
import { compiledConfig } from "./compile-cache.js";

export type ProviderSpec =
  | { readonly type: "builtin"; readonly name: string }
  | { readonly type: "file"; readonly path: string }
  | { readonly type: "package"; readonly name: string };

export interface ProviderModuleLike {
  default: ProviderFactory<never, Provider>;
  /** Validates the rest of the provider's block; its errors name the offending key. */
  optionsSchema?: z.ZodType;
}

export interface LoadedProviderModule {
  readonly module: ProviderModuleLike;
  /** Not one of ours: its output is checked before the core relies on it. */
  readonly custom: boolean;
}

export function parseProviderSpec(value: string, configDir: string): ProviderSpec {
  if (value.startsWith(".") || isAbsolute(value)) return { type: "file", path: resolve(configDir, value) };
  if (value.startsWith("npm:")) return { type: "package", name: value.slice("npm:".length) };
  if (value.startsWith("@") || value.includes("/")) return { type: "package", name: value };
  return { type: "builtin", name: value };
}

interface LoadOptions {
  /** The config file: relative paths and packages resolve from its directory; errors name it. */
  readonly configFile: string;
  readonly kind: ResourceKind;
  /** The `provider` value as written. */
  readonly value: string;
  /** `.forkstack/cache/`, where a file module's bundle is kept. */
  readonly cacheDir: string;
  /** This package's runtime entry, for the bundle's `import "forkstack"`. */
  readonly self: string;
}

function configError(o: LoadOptions, message: string, hint?: string): UserError {
  return new UserError(
    `${basename(o.configFile)}: \`${o.kind}.provider\` is "${o.value}": ${message}`,
    "E_CONFIG_INVALID",
    hint ? { hint } : {},
  );
}

export async function loadProviderModule(o: LoadOptions): Promise<LoadedProviderModule> {
  const spec = parseProviderSpec(o.value, dirname(o.configFile));
  if (spec.type === "builtin") {
    const load = builtinProviders[o.kind][spec.name];
    if (!load) {
      throw configError(
        o,
        `not a ${o.kind} provider; expected one of: ${providerNames(o.kind).join(", ")}, ` +
          `or a module: a path starting with "./" or "/", or a package as "npm:<name>" or "@scope/name".`,
      );
    }
    return { module: await load(), custom: false };
  }
  const url = spec.type === "file" ? await bundleFile(o, spec.path) : await resolvePackage(o, spec.name);
  let module: unknown;
  try {
    module = await import(url);
  } catch (error) {
    // As for the config (load.ts): another process may have swept the bundle after the module changed.
    // Build it again and import it under a URL this process has not tried (Node remembers failures).
    const swept = spec.type === "file" && !statSync(fileURLToPath(url), { throwIfNoEntry: false });
    if (!swept) throw importError(o, error);
    const again = `${await bundleFile(o, spec.path, true)}?retry=1`;
    module = await import(again).catch((retryError: unknown) => Promise.reject(importError(o, retryError)));
  }
  return checkModule(o, module as Partial<ProviderModuleLike>);
}

function importError(o: LoadOptions, error: unknown): unknown {
  if (isForkstackError(error)) return error;
  return configError(o, `loading it failed: ${(error as Error).message}`, "Fix the error in that module.");
}

function checkModule(o: LoadOptions, module: Partial<ProviderModuleLike>): LoadedProviderModule {
  if (typeof module.default !== "function") {
    throw configError(
      o,
      "the module has no default export that is a function.",
      "A provider module default-exports its factory, `(options, context) => provider`; see docs/providers.md.",
    );
  }
  if (module.optionsSchema !== undefined && typeof module.optionsSchema?.safeParse !== "function") {
    throw configError(o, "the module's `optionsSchema` export is not a zod schema.");
  }
  return { module: module as ProviderModuleLike, custom: true };
}

/** A file module bundled like the config (cached until it or a module it imports changes). */
async function bundleFile(o: LoadOptions, path: string, rebuild = false): Promise<string> {
  if (!statSync(path, { throwIfNoEntry: false })?.isFile()) {
    throw configError(o, `${path} does not exist.`, "A path is resolved from the config file's directory.");
  }
  try {
    return pathToFileURL(await compiledConfig({ file: path, cacheDir: o.cacheDir, self: o.self, rebuild }))
      .href;
  } catch (error) {
    if (isForkstackError(error)) throw error;
    throw configError(o, `it does not compile: ${(error as Error).message}`, "Fix the error in that module.");
  }
}

/**
 * Resolve a package as an `import` in the config's directory would. Node 20 has no way to resolve
 * from another directory (`import.meta.resolve`'s parent argument is behind a flag, and
 * `require.resolve` misses import-only `exports`), so esbuild's resolver does it, with Node's
 * conditions (`import`, `node`, `default`) and `main` only.
 */
async function resolvePackage(o: LoadOptions, name: string): Promise<string> {
  const { build } = await import("esbuild");
  const dir = dirname(o.configFile);
  let resolved: { path?: string; errors: string[] } = { errors: [] };
  await build({
    stdin: { contents: "", resolveDir: dir },
    write: false,
    logLevel: "silent",
    platform: "node",
    format: "esm",
    conditions: [],
    mainFields: ["main"],
    plugins: [
      {
        name: "forkstack-resolve-provider",
        setup(b) {
          b.onStart(async () => {
            const r = await b.resolve(name, { kind: "import-statement", resolveDir: dir });
            resolved = { path: r.path, errors: r.errors.map((e) => e.text) };
          });
        },
      },
    ],
  });
  if (!resolved.path || resolved.errors.length > 0) {
    throw configError(
      o,
      `the package "${name}" is not installed where ${basename(o.configFile)} is (${resolved.errors[0] ?? "not found"}).`,
      `Install it in the project (npm install -D ${packageOf(name)}), or fix the name.`,
    );
  }
  return pathToFileURL(resolved.path).href;
}

/** The package of an import specifier: `@scope/name/sub` → `@scope/name`, `name/sub` → `name`. */
function packageOf(specifier: string): string {
  const parts = specifier.split("/");
  return parts.slice(0, specifier.startsWith("@") ? 2 : 1).join("/");
}

const REQUIRED_METHODS = ["create", "fork", "remove", "describe", "list"] as const;

/**
 * Call a provider's factory; for a custom one, check what it made before the core relies on it: a
 * provider of the configured kind, with a name and the lifecycle methods.
 */
export function createProvider(
  configFile: string,
  kind: ResourceKind,
  chosen: { name: string; options: unknown } & LoadedProviderModule,
  context: ProviderContext,
): Provider {
  if (!chosen.custom) return chosen.module.default(chosen.options as never, context);
  const fail = (message: string, hint?: string) =>
    new UserError(
      `${basename(configFile)}: \`${kind}.provider\` is "${chosen.name}": ${message}`,
      "E_CONFIG_INVALID",
      hint ? { hint } : {},
    );
  let provider: Partial<Provider> | undefined;
  try {
    provider = chosen.module.default(chosen.options as never, context) as Partial<Provider> | undefined;
  } catch (error) {
    if (isForkstackError(error)) throw error;
    throw fail(`its factory threw: ${(error as Error).message}`);
  }
  if (!provider || typeof provider !== "object") throw fail("its factory did not return a provider object.");
  if (provider.kind !== kind) {
    throw fail(
      `it makes a provider of kind ${JSON.stringify(provider.kind)}, but \`${kind}\` needs kind "${kind}".`,
      `Name it under the \`${String(provider.kind)}\` key instead, or fix the provider's \`kind\`.`,
    );
  }
  const missing = REQUIRED_METHODS.filter((m) => typeof provider[m] !== "function");
  if (typeof provider.name !== "string" || provider.name === "") missing.unshift("name" as never);
  if (typeof provider.flags !== "object" || provider.flags === null) missing.push("flags" as never);
  if (missing.length > 0) {
    throw fail(
      `its provider lacks ${missing.join(", ")}.`,
      "See the provider contract in docs/providers.md.",
    );
  }
  return withOurErrors(provider as Provider);
}

/**
 * A custom provider whose failures come out as this copy's `ProviderError`s. Its module may import
 * another copy of forkstack (a package with its own dependency), whose error classes the core's
 * `instanceof` checks would not recognise — an `E_ENV_EXISTS` would then not be seen as "not ours" —
 * and a plain `Error` from it would be reported as a bug in forkstack rather than in the provider.
 * Codes are kept; aborts pass through.
 */
function withOurErrors(provider: Provider): Provider {
  const ours = (error: unknown): unknown => {
    if (isForkstackError(error) || (error instanceof Error && error.name === "AbortError")) return error;
    const { code, hint } = (error ?? {}) as { code?: unknown; hint?: unknown };
    const message = (error instanceof Error ? error.message : String(error)).replace(
      `[${provider.name}] `,
      "",
    );
    return new ProviderError(
      provider.name,
      message,
      typeof code === "string" && /^E_[A-Z_]+$/.test(code) ? (code as ErrorCode) : "E_PROVIDER",
      { cause: error, ...(typeof hint === "string" ? { hint } : {}) },
    );
  };
  return new Proxy(provider, {
    get(target, key, receiver) {
      const value: unknown = Reflect.get(target, key, receiver);
      if (typeof value !== "function") return value;
      return (...args: unknown[]) => {
        try {
          const result: unknown = value.apply(target, args);
          return result instanceof Promise
            ? result.catch((error: unknown) => Promise.reject(ours(error)))
            : result;
        } catch (error) {
          throw ours(error);
        }
      };
    },
  });
}
