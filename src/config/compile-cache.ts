/**
 * @module config/compile-cache
 * `forkstack.config.ts` (or `.mjs`, `.js`) bundled by esbuild into an ES module Node can import, cached
 * in `.forkstack/cache/` so that every later command pays no TypeScript loader and no esbuild start.
 *
 * Why it looks like this:
 * - Many commands start at once (CI shards, test workers, `list` in a loop), so nothing a process may
 *   be importing is ever removed or half-written: each bundle is named by the hash of its own content
 *   (`config-<hash>.mjs`), published by an atomic rename, and only bundles that are neither the one
 *   this process uses nor recently written are swept. Two processes that compile at once write the
 *   same name with the same bytes.
 * - The bundle includes every local module the config imports, so the cache is keyed on all of them:
 *   an index (`index-<hash>.json`) records the content hash of every input esbuild read (from the build's
 *   own loads, so the hashes are of exactly the bytes that were compiled) and is checked on each run.
 *   Content hashes, not mtimes: an edit within the filesystem's mtime granularity still counts.
 * - The index is per config file and per copy of forkstack (the bundle points the config's
 *   `import "forkstack"` at this very copy), so `npx forkstack` and a local install do not evict
 *   each other.
 */
import { createHash } from "node:crypto";
import { readFile, readdir, rm, stat } from "node:fs/promises";
import { mkdirPrivate } from "../durable-fs.js";
import { dirname, extname, isAbsolute, join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { errnoCode } from "../errors.js";
import { writeFileAtomic } from "../core/fs-atomic.js";

const INDEX_VERSION = 1;
/** Bundles and temp files older than this, and not in use by this process, are swept after a build. */
const SWEEP_AGE_MS = 60_000;
const BUNDLE_NAME = /^config-[0-9a-f]{16}\.mjs$/;
const INDEX_NAME = /^index-[0-9a-f]{16}\.json$/;
/** An index not rewritten for this long is dropped with its bundle (a copy of forkstack long gone). */
const INDEX_MAX_AGE_MS = 30 * 24 * 3600_000;
/** Leftovers of an interrupted atomic write (see durable-fs `tempPath`). */
const TEMP_NAME = /^\.(?:config|index)-[0-9a-f]{16}\.(?:mjs|json)\.[0-9a-f]+\.tmp$/;

/** Loaders for what esbuild reads itself by default; the config's imports can only be these. */
const LOADERS: Record<string, "ts" | "tsx" | "js" | "jsx" | "json"> = {
  ".ts": "ts",
  ".mts": "ts",
  ".cts": "ts",
  ".tsx": "tsx",
  ".js": "js",
  ".mjs": "js",
  ".cjs": "js",
  ".jsx": "jsx",
  ".json": "json",
};

interface CacheIndex {
  readonly version: number;
  readonly entry: string;
  readonly self: string;
  /** File name of the bundle in the cache directory. */
  readonly bundle: string;
  /** Absolute path of every input esbuild bundled → sha256 of its content. */
  readonly inputs: Readonly<Record<string, string>>;
}

function sha256(data: string | Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

export interface CompileOptions {
  /** The entry file (the config). */
  readonly file: string;
  /** `.forkstack/cache/` */
  readonly cacheDir: string;
  /** This package's runtime entry: the config's `import "forkstack"` is pointed at it. */
  readonly self: string;
  /** Skip the index and build again (after the bundle we were given vanished under us). */
  readonly rebuild?: boolean;
}

/** The absolute path of an importable bundle of `file`, built now if the cache is missing or stale. */
export async function compiledConfig(options: CompileOptions): Promise<string> {
  const { file, cacheDir, self } = options;
  const indexPath = join(cacheDir, `index-${sha256(`${file}\0${self}`).slice(0, 16)}.json`);
  if (!options.rebuild) {
    const cached = await freshBundle(indexPath, file, self, cacheDir);
    if (cached) return cached;
  }
  const { code, inputs } = await bundle(file, self);
  const bundleName = `config-${sha256(code).slice(0, 16)}.mjs`;
  const bundlePath = join(cacheDir, bundleName);
  await mkdirPrivate(cacheDir);
  // Always (re)written, even when a twin process wrote the same bytes: the fresh mtime keeps it out of
  // any sweep for a while, and the rename replaces it atomically for anyone reading it.
  await writeFileAtomic(bundlePath, code, 0o600);
  const index: CacheIndex = { version: INDEX_VERSION, entry: file, self, bundle: bundleName, inputs };
  await writeFileAtomic(indexPath, `${JSON.stringify(index, null, 2)}\n`, 0o600);
  await sweep(cacheDir, bundleName);
  return bundlePath;
}

/** The bundle the index names, if the index is for this entry and copy and every input is unchanged. */
async function freshBundle(
  indexPath: string,
  file: string,
  self: string,
  cacheDir: string,
): Promise<string | undefined> {
  let index: CacheIndex;
  try {
    index = JSON.parse(await readFile(indexPath, "utf8")) as CacheIndex;
  } catch {
    return undefined; // missing, or torn by something other than us: rebuild
  }
  if (
    index?.version !== INDEX_VERSION ||
    index.entry !== file ||
    index.self !== self ||
    typeof index.bundle !== "string" ||
    !BUNDLE_NAME.test(index.bundle) ||
    typeof index.inputs !== "object" ||
    index.inputs === null ||
    Object.keys(index.inputs).length === 0
  ) {
    return undefined;
  }
  const checks = Object.entries(index.inputs).map(async ([path, hash]) => {
    try {
      return sha256(await readFile(path)) === hash;
    } catch {
      return false;
    }
  });
  if (!(await Promise.all(checks)).every(Boolean)) return undefined;
  const bundlePath = join(cacheDir, index.bundle);
  try {
    await stat(bundlePath);
  } catch (error) {
    if (errnoCode(error) === "ENOENT") return undefined;
    throw error;
  }
  return bundlePath;
}

/** Bundle the config with esbuild (loaded only here), hashing every file as esbuild reads it. */
async function bundle(
  file: string,
  self: string,
): Promise<{ code: Uint8Array; inputs: Record<string, string> }> {
  const { build } = await import("esbuild");
  const inputs: Record<string, string> = {};
  const result = await build({
    entryPoints: [file],
    absWorkingDir: dirname(file),
    bundle: true,
    format: "esm",
    platform: "node",
    target: "node20",
    packages: "external",
    write: false,
    metafile: true,
    logLevel: "silent",
    plugins: [
      {
        name: "forkstack-self",
        setup(b) {
          // The config may import `forkstack` where the package is not resolvable from the project
          // (npx, a global install): point that import at the copy that is running.
          b.onResolve({ filter: /^forkstack$/ }, () => ({ path: pathToFileURL(self).href, external: true }));
        },
      },
      {
        name: "forkstack-input-hashes",
        setup(b) {
          // Read each input ourselves and hand esbuild the same bytes, so the recorded hash is of
          // exactly what was compiled even if the file is edited during the build.
          b.onLoad({ filter: /.*/, namespace: "file" }, async (args) => {
            const loader = LOADERS[extname(args.path).toLowerCase()];
            if (!loader) return undefined;
            const contents = await readFile(args.path);
            inputs[args.path] = sha256(contents);
            return { contents, loader };
          });
        },
      },
    ],
  });
  // Anything esbuild read that our loader did not (none expected today) is hashed after the fact.
  for (const input of Object.keys(result.metafile.inputs)) {
    const path = isAbsolute(input) ? input : resolve(dirname(file), input);
    if (!(path in inputs)) {
      try {
        inputs[path] = sha256(await readFile(path));
      } catch {
        // not a file on disk (a virtual module): nothing to watch
      }
    }
  }
  return { code: result.outputFiles[0]!.contents, inputs };
}

/**
 * Remove bundles of earlier config versions and leftover temp files. Only old ones: a process that read
 * an index a moment ago may be about to import the bundle it named (and if it loses that race anyway,
 * `loadConfig` builds again rather than fail). A bundle some index still names (another copy of
 * forkstack, e.g. `npx` next to a local install) is kept, unless that index is a month old.
 */
async function sweep(cacheDir: string, keep: string): Promise<void> {
  let names: string[];
  try {
    names = await readdir(cacheDir);
  } catch {
    return;
  }
  const now = Date.now();
  const ageOf = async (name: string) => now - (await stat(join(cacheDir, name))).mtimeMs;
  const named = new Set([keep]);
  await Promise.all(
    names
      .filter((name) => INDEX_NAME.test(name))
      .map(async (name) => {
        try {
          if ((await ageOf(name)) > INDEX_MAX_AGE_MS) {
            await rm(join(cacheDir, name), { force: true });
            return;
          }
          const index = JSON.parse(await readFile(join(cacheDir, name), "utf8")) as Partial<CacheIndex>;
          if (typeof index.bundle === "string") named.add(index.bundle);
        } catch {
          // unreadable or already gone: it protects nothing
        }
      }),
  );
  await Promise.all(
    names
      .filter((name) => !named.has(name) && (BUNDLE_NAME.test(name) || TEMP_NAME.test(name)))
      .map(async (name) => {
        try {
          if ((await ageOf(name)) > SWEEP_AGE_MS) await rm(join(cacheDir, name), { force: true });
        } catch {
          // already gone, or not ours to judge: the sweep is best effort
        }
      }),
  );
}
