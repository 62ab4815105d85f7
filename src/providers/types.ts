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
  /** Variables the app sees (DESIGN.md §3) that are not secret: DATABASE_URL, BUCKET_NAME, … */
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
   * The backend is private to this machine (files under `.forkstack/`, the embedded store): every
   * resource in it for this project was made by forkstack here, so `gc` may collect one that no env
   * owns. On a shared backend (Neon, Turso, Doppler, Tigris) another machine's env looks exactly like
   * an orphan, so `gc` only collects what this machine's own records prove it made.
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
   * Remove an env's resource; `recorded` is what its manifest (or the operation's journal) holds.
   * Removing a missing resource is a no-op (so rollback can always call it).
   */
  remove(env: EnvRef, ctx: OpContext, recorded?: ResourceInfo): Promise<void>;
  /** The env's resource as the backend has it now, or null if it does not exist. */
  describe(env: EnvRef, ctx: OpContext, recorded?: ResourceInfo): Promise<ResourceInfo | null>;
  /**
   * `describe` of many envs at once, in their order, for a backend that answers that in fewer calls than
   * one per env (one ListBuckets for every env's bucket). `list` uses it when present. Optional.
   */
  describeMany?(envs: readonly EnvRef[], ctx: OpContext): Promise<(ResourceInfo | null)[]>;
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
 * Every provider module default-exports a factory. `options` has been validated by the module's own
 * `optionsSchema` (a zod schema) before the factory is called, so the factory does no I/O and no checks.
 */
export type ProviderFactory<Options, P extends Provider = Provider> = (
  options: Options,
  context: ProviderContext,
) => P;
