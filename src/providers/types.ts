/**
 * @module providers/types
 * The contract between the lifecycle core and the backends. The core validates names, orders work,
 * journals it and rolls it back; a provider only knows how to make, fork, describe and remove one kind
 * of resource for one env. A provider never prints: it logs at debug level through `ctx.log`.
 */

export type ResourceKind = "database" | "storage" | "secrets" | "local";

/** An env as a provider sees it: already validated by `core/names.ts`. */
export interface EnvRef {
  /** Env name, e.g. `alice`: lowercase `a-z0-9-`. */
  readonly name: string;
  /** Project name from the config, e.g. `myapp`. */
  readonly project: string;
}

export interface Logger {
  debug(message: string): void;
  info(message: string): void;
  warn(message: string): void;
}

/** Given once to a provider factory: where the project lives and where embedded data may go. */
export interface ProviderContext {
  /** Project name from the config. */
  readonly project: string;
  /** Absolute path of the directory holding `forkstack.config.*`. */
  readonly projectRoot: string;
  /** Absolute path of `.forkstack/`. */
  readonly dataDir: string;
  /** `.forkstack/envs/<env>`: a per-env directory the core creates before fork and removes after remove. */
  envDir(env: string): string;
  readonly log: Logger;
  /**
   * What polls and retry backoffs wait on. Absent in production, which waits on the wall clock; tests
   * pass one whose `sleep` returns at once and moves `now` on, so that a wait is counted, not waited.
   */
  readonly clock?: Clock;
}

/** Time for waiting: `now()` in epoch milliseconds, and an abortable `sleep`. */
export interface Clock {
  now(): number;
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

/** Passed to each operation. */
export interface OpContext {
  readonly signal?: AbortSignal;
  readonly log: Logger;
  /**
   * The command only reads (`list`, `doctor`, a dry-run `gc`): a provider must not start services
   * for it (the embedded storage server), and reports them as down instead, with how to start them.
   */
  readonly readOnly?: boolean;
  /**
   * Progress of a long step (a fork that copies every object), for the CLI to show as it goes; absent
   * when nobody listens. Call it a few times a second at most. Providers still never print.
   */
  readonly progress?: (progress: CopyProgress) => void;
}

/** How far a copy has come. The totals grow while the source is still being listed. */
export interface CopyProgress {
  readonly objects: number;
  readonly bytes: number;
  readonly totalObjects: number;
  readonly totalBytes: number;
  /** The totals are final (the whole source has been listed). */
  readonly listed: boolean;
  /** Since the copy started, for a rate and an ETA. */
  readonly elapsedMs?: number;
}

/**
 * How a resource was forked, reported by `new` and `doctor` so users know what they paid:
 * - `reflink`: copy-on-write clone of files (XFS, btrfs, APFS, ZFS ≥ 2.2), O(1) in data size
 * - `copy`: a full copy (the fastest the filesystem offers), O(data)
 * - `metadata`: a metadata-only fork (the embedded object store), O(1)
 * - `native`: the backend's own branching API (Turso, Neon, Tigris, Doppler, …)
 * - `empty`: created empty (root envs)
 */
export type ForkMethod = "reflink" | "copy" | "metadata" | "native" | "empty";

/** What a provider knows about one env's resource. Stored in the env's manifest (a 0600 file). */
export interface ResourceInfo {
  /** Where the resource lives, for people: a path, a bucket list, a branch id. Never a secret. */
  readonly location: string;
  /** How it was made. Absent when describing a resource found in the backend. */
  readonly method?: ForkMethod;
  /** New disk the fork consumed, where it can be measured. */
  readonly bytesAdded?: number;
  /** Size of the resource's data, where cheap to know. */
  readonly bytes?: number;
  /** Variables the app sees (docs/architecture.md) that are not secret: DATABASE_URL, BUCKET_NAME, … */
  readonly vars: Readonly<Record<string, string>>;
  /** Variables that are secret (tokens, keys): masked by `forkstack env` unless `--reveal`. */
  readonly secretVars?: Readonly<Record<string, string>>;
  /** Provider-specific, JSON-serialisable data the provider wants back later (ids, versions). */
  readonly data?: Readonly<Record<string, unknown>>;
}

export interface ProviderFlags {
  /** Forks cost O(1) in data size on this backend (or on this filesystem, for file providers). */
  readonly copyOnWrite: boolean;
  /**
   * A fork keeps reading through its parent (Tigris buckets), so the parent's resource cannot be
   * removed or replaced while forks exist. The core then refuses `delete`/`reset` of an env with
   * children before touching anything. File copies (SQLite, dotenv, directories) are independent.
   */
  readonly forksPinParent?: boolean;
  /**
   * `fork` accepts `at` (a point in time of the parent: Neon's parent_timestamp, Turso's
   * seed.timestamp). Without it, `new --at` is refused before anything is made.
   */
  readonly pointInTime?: boolean;
  /**
   * The backend is private to this machine (files under `.forkstack/`, the embedded store), not shared
   * with other machines (Neon, Turso, Doppler, Tigris). Descriptive: `gc` removes only what this
   * project's record shows it made, on any backend, and only reports the rest, on private ones too (a
   * file or bucket there may have existed before `new` refused it).
   */
  readonly private?: boolean;
}

/** What the core passes to `fork` besides the two envs. */
export interface ForkOptions {
  /** What the parent's resource recorded in its manifest (its `data`: branch ids, versions). */
  readonly parent?: ResourceInfo;
  /** Fork the parent as it was at this moment (only where `flags.pointInTime`). */
  readonly at?: Date;
  /**
   * When the env expires (`new --ttl`). `gc` deletes it then; a backend that can expire a resource
   * itself (Neon's `expires_at`, PlanetScale password `ttl`) may set it too, so that an env whose
   * machine is gone does not cost money forever.
   */
  readonly expiresAt?: Date;
  /**
   * Set when the fork is the second half of a `reset`: the env's record from before the reset, which
   * `remove` was given with `RemoveOptions.reset`. A provider that kept something for it there (the
   * `local` storage provider keeps the env's own key) takes it up again, so the env's variables stay
   * the same and its running apps keep working. Providers that kept nothing ignore it.
   */
  readonly previous?: ResourceInfo;
}

/** What the core passes to `remove` besides the env and its record. */
export interface RemoveOptions {
  /**
   * The remove is the first half of a `reset`: the core forks the env again right after and hands that
   * fork the same record as `ForkOptions.previous`. The data goes as in any remove, but what the env's
   * running apps hold (their credentials) may be kept for the fork to take up. If the reset fails
   * instead, the core calls `remove` once more with the same record and no `reset`, which releases
   * whatever was kept (for everything else that is a remove of a missing resource: a no-op).
   */
  readonly reset?: boolean;
}

/**
 * How a root env names an existing backend resource to adopt, from the config's
 * `roots.<env>.<kind>` (e.g. `{ branch: "main" }` for Neon's dev). Provider-specific.
 */
export type RootRef = Readonly<Record<string, unknown>>;

export interface Provider<K extends ResourceKind = ResourceKind> {
  readonly kind: K;
  /** Registry name, e.g. `sqlite`; used in errors, `list` and `doctor`. */
  readonly name: string;
  readonly flags: ProviderFlags;
  /**
   * Problems with the backend names an env would get (e.g. a bucket name over 63 chars), described as
   * rules the user can act on. The core calls this before creating anything. Empty = fine.
   */
  checkName?(env: EnvRef): string[];
  /** Make the resource of a root env (dev, prod), empty. Refuses if it already exists. */
  create(env: EnvRef, ctx: OpContext): Promise<ResourceInfo>;
  /**
   * A root env's existing backend resource, to adopt instead of creating one (a fresh clone of a
   * project whose `dev` lives on Neon): `ref` comes from the config's `roots.<env>.<kind>`. Null when
   * there is nothing to adopt. Absent: the core adopts what `describe` finds. Adopted resources are
   * never removed by forkstack.
   */
  adopt?(env: EnvRef, ref: RootRef | undefined, ctx: OpContext): Promise<ResourceInfo | null>;
  /**
   * Fork `parent` into `child` at one moment: the child sees the parent's data as of the call (or as
   * of `options.at`) and neither sees the other's later writes. Refuses (ProviderError with code
   * E_ENV_EXISTS) if the child already exists: the core then knows the resource is not its own.
   */
  fork(parent: EnvRef, child: EnvRef, ctx: OpContext, options?: ForkOptions): Promise<ResourceInfo>;
  /**
   * What `create` (no `parent`) or `fork` (`parent`: the parent's record) is about to make for `env`:
   * the `data` that `remove` needs to remove exactly that (bucket names, a file path, a database and
   * the server it is on). The core stores it with the step before calling the provider, so a step a
   * crash interrupted while making is rolled back by `remove(env, ctx, { location, vars: {}, data })`
   * (`data` alone). Pure and cheap: no I/O. Optional for providers loaded from a module path; without
   * it such a step is rolled back by `remove` with no record, as before.
   */
  target?(env: EnvRef, parent?: ResourceInfo): Readonly<Record<string, unknown>>;
  /**
   * Remove an env's resource: exactly what `recorded` names — what its manifest (or the operation's
   * journal, or the step's `target`) holds — never what today's config would name, which may have
   * changed since (another bucket list, path template, endpoint). Removing a recorded resource that is
   * missing is a no-op (so rollback can always call it). Without a record, or with one that does not
   * say what to remove (written by hand, or by an older version lacking the field), remove nothing
   * and throw a ProviderError with code E_NO_RECORD naming the resource. `options.reset`: see
   * `RemoveOptions`.
   */
  remove(env: EnvRef, ctx: OpContext, recorded?: ResourceInfo, options?: RemoveOptions): Promise<void>;
  /** The env's resource as the backend has it now, or null if it does not exist. */
  describe(env: EnvRef, ctx: OpContext, recorded?: ResourceInfo): Promise<ResourceInfo | null>;
  /**
   * `describe` of many envs at once, in their order, for a backend that answers that in fewer calls than
   * one per env (one ListBuckets for every env's bucket). `list` uses it when present. Optional.
   */
  describeMany?(
    envs: readonly EnvRef[],
    ctx: OpContext,
    recorded?: readonly (ResourceInfo | undefined)[],
  ): Promise<(ResourceInfo | null)[]>;
  /**
   * A record an older forkstack wrote that this version must bring up to date before it is used: the
   * `local` storage provider's records from before envs had keys of their own carry the project's key.
   * A cheap test without I/O: the core asks it of every env's record on each command that loads the
   * project (core/upgrade.ts). Optional, with `upgrade`.
   */
  outdated?(recorded: ResourceInfo): boolean;
  /**
   * The up-to-date record for an outdated one (`outdated`); the core writes it to the env's manifest
   * under the env's lock. A read-only `ctx` must not start services: the core then tries again on a
   * later command.
   */
  upgrade?(env: EnvRef, ctx: OpContext, recorded: ResourceInfo): Promise<ResourceInfo>;
  /** Names of every env this backend holds a resource for (drift checks and orphan collection). */
  list(ctx: OpContext): Promise<string[]>;
  /**
   * Make the backend reachable before the env is used (e.g. start the embedded storage server).
   * Called by `new`, `reset` and `run`; must be cheap when already done.
   */
  prepare?(ctx: OpContext): Promise<void>;
  /**
   * Local processes that have this env's resource open: an app holding the database file, a shell whose
   * working directory is the env's state directory. `reset` and `delete` refuse while there are any
   * (unless `--force`): the files they remove would live on in those processes, which would keep writing
   * to data nobody can see again. Best effort and cheap: never throws for a process it cannot inspect,
   * and returns [] where the platform gives no way to know. Backends that are not local files omit it.
   */
  holders?(env: EnvRef, ctx: OpContext): Promise<Holder[]>;
  /** Health for `doctor`: one line per finding. */
  doctor?(ctx: OpContext): Promise<DoctorFinding[]>;
  dispose?(): Promise<void>;
}

/** A local process holding an env's resource open (see `Provider.holders`). */
export interface Holder {
  readonly pid: number;
  /** Its command line, shortened for a message: `node server.js`. */
  readonly command: string;
  /** What it holds open, when known (an absolute path), so the user knows why it was named. */
  readonly path?: string;
}

export interface DoctorFinding {
  readonly level: "ok" | "warn" | "error";
  readonly message: string;
}

export type DatabaseProvider = Provider<"database">;
export type StorageProvider = Provider<"storage">;
export type LocalStateProvider = Provider<"local">;

export interface SecretsProvider extends Provider<"secrets"> {
  /** The env's secrets. */
  read(env: EnvRef, ctx: OpContext): Promise<Record<string, string>>;
  /** Replace the env's secrets. Absent on read-only backends. */
  write?(env: EnvRef, values: Record<string, string>, ctx: OpContext): Promise<void>;
}

/**
 * The `recorded` a rollback hands `remove` for a step that a crash interrupted while making: what the
 * provider's `target` said it was about to make, alone (see `Provider.target`).
 */
export function targetInfo(data: Readonly<Record<string, unknown>>): ResourceInfo {
  return { location: "(the target of an interrupted step)", vars: {}, data };
}

/**
 * Every provider module default-exports a factory. `options` has been validated by the module's own
 * `optionsSchema` (a zod schema) before the factory is called, so the factory does no I/O and no checks.
 */
export type ProviderFactory<Options, P extends Provider = Provider> = (
  options: Options,
  context: ProviderContext,
) => P;
