/**
 * @module core/project
 * An open project: its config, its providers (loaded lazily, only the kinds the config names) and its
 * state store. Every lifecycle operation takes one; `openProject` is the only place they are built.
 */
import { loadConfig, RESOURCE_KINDS, writeProjectCache, type LoadedConfig } from "../config/load.js";
import type { ForkstackConfig } from "../config/schema.js";
import { ensurePrivateDir, mkdirPrivate } from "../durable-fs.js";
import type { ProjectLayout } from "../layout.js";
import { createProvider } from "../config/provider-module.js";
import type { Logger, OpContext, Provider, ProviderContext, ResourceKind } from "../providers/types.js";
import { stateWriteError } from "./fs-atomic.js";
import { StateStore } from "./state.js";

export const silentLogger: Logger = { debug() {}, info() {}, warn() {} };

export interface Project {
  readonly config: ForkstackConfig;
  readonly configFile: string;
  readonly layout: ProjectLayout;
  /** Providers of the kinds the config uses, in a fixed order (database, storage, secrets, local). */
  readonly providers: readonly Provider[];
  readonly state: StateStore;
  readonly log: Logger;
  op(signal?: AbortSignal, options?: { readOnly?: boolean }): OpContext;
  close(): Promise<void>;
}

export interface OpenOptions {
  cwd?: string;
  log?: Logger;
}

async function createProviders(loaded: LoadedConfig, log: Logger): Promise<Provider[]> {
  const { layout, config } = loaded;
  const context: ProviderContext = {
    project: config.project,
    projectRoot: layout.root,
    dataDir: layout.dataDir,
    envDir: layout.envDir,
    log,
  };
  const providers: Provider[] = [];
  for (const kind of RESOURCE_KINDS) {
    const chosen = loaded.providerOptions[kind];
    if (!chosen) continue;
    providers.push(createProvider(loaded.file, kind, chosen, context));
  }
  return providers;
}

export async function openProject(options: OpenOptions = {}): Promise<Project> {
  const log = options.log ?? silentLogger;
  const loaded = await loadConfig(options.cwd);
  try {
    // 0700: the data of every env is in here. Tightens a `.forkstack/` made by an older version.
    await ensurePrivateDir(loaded.layout.dataDir);
    await mkdirPrivate(loaded.layout.envsDir);
    await writeProjectCache(loaded);
  } catch (error) {
    throw stateWriteError(loaded.layout.dataDir, error);
  }
  const state = await StateStore.open(loaded.layout);
  const providers = await createProviders(loaded, log);
  return {
    config: loaded.config,
    configFile: loaded.file,
    layout: loaded.layout,
    providers,
    state,
    log,
    op: (signal, options) => ({
      log,
      ...(signal ? { signal } : {}),
      ...(options?.readOnly ? { readOnly: true } : {}),
    }),
    async close() {
      await Promise.all(providers.map((p) => p.dispose?.()));
      state.close();
    },
  };
}

/** The provider of a kind, if the project uses that kind. */
export function providerOf(project: Project, kind: ResourceKind): Provider | undefined {
  return project.providers.find((p) => p.kind === kind);
}

/**
 * The envs the config makes roots, which have no parent: the default env, every env marked
 * `production`, and every env `roots` names. `new <root>` makes one empty (adopting what its backends
 * already have) unless `--from` asks for a fork.
 */
export function isRootEnv(project: Project, name: string): boolean {
  const { defaultEnv, production, roots } = project.config;
  return name === defaultEnv || production.includes(name) || Object.hasOwn(roots, name);
}
