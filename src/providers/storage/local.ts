/**
 * @module providers/storage/local
 * The embedded object store: per env, a default bucket `{project}-bucket-{env}` and one bucket per named
 * key `{project}-{key}-{env}`, on the project's own S3-compatible server (started on demand).
 *
 * Everything goes through the Tigris fork API over HTTP (`_tigris-client.ts`): roots are created
 * snapshot-enabled, forks are CreateBucket + `X-Tigris-Fork-Source-Bucket`, which the server answers
 * with one metadata row (O(1) whatever the parent holds). A `tigris` provider is the same calls against
 * another endpoint. Unlike Tigris, the local store lets a parent with forks be deleted: a forced
 * DeleteBucket detaches it (its name is freed, its data stays for the forks until GC), so forks do not
 * pin their parent here.
 *
 * Each env gets a key of its own that reaches only its buckets (`_env-keys.ts`): its variables never
 * hold the project's key, which stays with the CLI.
 */
import { stat } from "node:fs/promises";
import { join } from "node:path";
import { failpoint } from "../../core/failpoints.js";
import { ServiceStoppedError, UserError } from "../../errors.js";
import type { ForkstackConfig } from "../../config/schema.js";
import { recordedStrings, type ProjectLayout } from "../../layout.js";
import type { Credentials } from "../../storage-server/auth/types.js";
import type {
  DoctorFinding,
  EnvRef,
  OpContext,
  ProviderFactory,
  ResourceInfo,
  StorageProvider,
} from "../types.js";
import { LocalServer } from "./_local-server.js";
import { bucketInfo, forkableBuckets, recordedBuckets, type FoundBuckets } from "./_buckets.js";
import { envKeys, isOutdated, recordedKey, withKey } from "./_env-keys.js";
import { providerApiError } from "./_tigris-client.js";
import type { TigrisClient } from "./_tigris-client.js";

export interface LocalStorageOptions {
  /**
   * Named buckets besides the default one, e.g. `["uploads", "assets"]`: env `alice` gets
   * `{project}-uploads-alice`, exposed as `BUCKET_NAME_UPLOADS`.
   * @default []
   */
  buckets?: string[];
  /**
   * Port of the project's storage server. Env variables record the endpoint, so it should not change.
   * @default a free port in 20000–29999 picked once and remembered in `.forkstack/storage/server.json`
   */
  port?: number;
  /** Interface the server binds. @default "127.0.0.1" (loopback only) */
  host?: string;
}

const PROVIDER_NAME = "local";

/** API failures as ProviderErrors, with the hints that fit the embedded server. */
function apiError(server: LocalServer, action: string, error: unknown): Error {
  return providerApiError(PROVIDER_NAME, action, error, {
    unreachable: "Start it with `forkstack up` (or see `forkstack doctor`).",
    auth: `The server rejected the keys in ${server.paths.credentials}; restart it with \`forkstack down && forkstack up\`.`,
  });
}

const provider: ProviderFactory<LocalStorageOptions, StorageProvider> = (options, context) => {
  const server = new LocalServer({ dataDir: context.dataDir, projectRoot: context.projectRoot, ...options });

  let ready: Promise<TigrisClient> | undefined;
  /** The API, with the server started first if it is not running (once per provider instance). */
  const api = () =>
    (ready ??= server
      .ensureRunning()
      .then(() => server.client())
      .catch((error: unknown) => {
        ready = undefined;
        throw error;
      }));

  /**
   * For read-only commands: the API if the server runs, else "stopped" (shown as the resource's status,
   * not as an error) instead of silently starting it after the user stopped it with `forkstack down`.
   */
  const readApi = async (op: OpContext): Promise<TigrisClient> => {
    if (!op.readOnly || ready) return api();
    if ((await server.status()).running) return api();
    throw new ServiceStoppedError(
      PROVIDER_NAME,
      "The storage server is stopped; it starts on next use (`new`, `run`, `reset`), or now with `forkstack up`.",
    );
  };

  const buckets = forkableBuckets({
    provider: PROVIDER_NAME,
    keys: options.buckets ?? [],
    api: readApi,
    apiError: (action, error) => apiError(server, action, error),
  });
  const keys = envKeys({
    api: async (op) => {
      await readApi(op); // the same gate: a read-only command never starts the server for a key
      return server.accessKeys();
    },
    apiError: (action, error) => apiError(server, action, error),
  });
  const namesOf = (env: EnvRef) => buckets.bucketsOf(env).map((b) => b.name);

  /** The env's record: its buckets, and its own key (absent only where none could be found). */
  const info = async (
    env: EnvRef,
    key: Credentials | undefined,
    extra: Partial<ResourceInfo> = {},
    found: FoundBuckets = { buckets: buckets.bucketsOf(env) },
  ): Promise<ResourceInfo> => {
    const { url } = await server.resolve();
    const made = bucketInfo(
      found.buckets,
      url,
      { vars: { AWS_ENDPOINT_URL_S3: url, AWS_REGION: "auto" }, ...extra },
      found.existing,
    );
    return key ? withKey(made, key) : made;
  };

  /**
   * The env's buckets were just made: give it its key (a new one, or the one a reset kept). If that
   * fails, the buckets go again, so a failed `create`/`fork` leaves nothing behind.
   */
  const keyFor = async (env: EnvRef, op: OpContext, previous?: ResourceInfo): Promise<Credentials> => {
    try {
      const key =
        (await keys.rescope(env, op, previous, namesOf(env))) ?? (await keys.mint(env, op, namesOf(env)));
      failpoint("local:after-key"); // a crash here leaves a key no record names yet (tests)
      return key;
    } catch (error) {
      // By what was just made (the target), as a rollback would.
      await buckets
        .remove(env, op, { location: "", vars: {}, data: buckets.target(env) })
        .catch(() => undefined);
      throw error;
    }
  };

  /** Size of the store's metadata files: a fork adds a row there and nothing anywhere else. */
  const metadataBytes = async () => {
    let total = 0;
    for (const file of ["meta.sqlite", "meta.sqlite-wal"]) {
      total += (await stat(join(server.paths.data, file)).catch(() => undefined))?.size ?? 0;
    }
    return total;
  };

  return {
    kind: "storage",
    name: PROVIDER_NAME,
    flags: { copyOnWrite: true, forksPinParent: false, private: true },

    checkName: buckets.checkName,

    async prepare() {
      await api();
    },

    async create(env, op) {
      await buckets.create(env, op);
      const key = await keyFor(env, op);
      op.log.debug(`[${PROVIDER_NAME}] created the buckets of ${env.name} and its key ${key.accessKeyId}`);
      return info(env, key, { method: "empty", bytesAdded: 0 });
    },

    // The project's own store, whatever port it is on now: bucket names are all a removal needs.
    target: buckets.target,

    async fork(parent, child, op, forkOptions) {
      const before = await metadataBytes();
      await buckets.fork(parent, child, op, { parent: forkOptions?.parent });
      const key = await keyFor(child, op, forkOptions?.previous);
      const bytesAdded = Math.max(0, (await metadataBytes()) - before);
      op.log.debug(
        `[${PROVIDER_NAME}] forked ${parent.name} -> ${child.name} (metadata, ${bytesAdded} bytes), key ${key.accessKeyId}`,
      );
      return info(child, key, { method: "metadata", bytesAdded });
    },

    async remove(env, op, recorded, removeOptions) {
      // The key first, so that it never outlives its buckets; a reset keeps it for the fork (_env-keys.ts).
      if (removeOptions?.reset) await keys.release(env, op, recorded);
      else await keys.revoke(env, op, recorded);
      // The recorded buckets, force-deleted: a bucket with forks is detached rather than refused here.
      await buckets.remove(env, op, recorded);
    },

    async describe(env, op, recorded) {
      const found = await buckets.find(env, op, recorded);
      if (!found) return null;
      const key = recordedKey(recorded) ?? (await keys.find(env, op, found.buckets[0]!.name));
      return info(env, key, {}, found);
    },

    // One ListBuckets for all of them instead of a HEAD per env: `list` of 20 envs is one round trip
    // (so the keys are the recorded ones, never looked up one by one).
    async describeMany(envs, op, recorded) {
      const found = await buckets.existMany(envs, op);
      return Promise.all(envs.map((env, i) => (found[i] ? info(env, recordedKey(recorded?.[i])) : null)));
    },

    // A root whose buckets exist without a record here (its manifest was deleted): adopted with its
    // key, found by name, or a new one. Its buckets are found by their names, never named in the config.
    async adopt(env, ref, op) {
      if (ref !== undefined) {
        throw new UserError(
          `\`roots.${env.name}.storage\` names an existing resource, but the ${PROVIDER_NAME} provider cannot adopt one: it finds a root's buckets by their names.`,
          "E_CONFIG_INVALID",
          { hint: `Remove \`roots.${env.name}.storage\` from the config.` },
        );
      }
      const found = await buckets.find(env, op);
      if (!found) return null;
      const key =
        (await keys.find(env, op, found.buckets[0]!.name)) ??
        (await keys.mint(env, op, found.existing ?? namesOf(env)));
      return info(env, key, {}, found);
    },

    outdated: isOutdated,

    // An env recorded with the project's key gets its own, reaching the recorded buckets that still
    // exist. One found by name is taken up (an earlier upgrade that died before the manifest was written).
    async upgrade(env, op, recorded) {
      const names =
        recordedStrings(recorded, "buckets") ?? recordedBuckets(recorded)?.map((b) => b.name) ?? namesOf(env);
      const client = await readApi(op);
      const heads = await Promise.all(names.map((name) => client.headBucket(name))).catch(
        (error: unknown) => {
          throw apiError(server, `read the buckets of "${env.name}"`, error);
        },
      );
      const existing = heads.flatMap((head) => (head ? [head.name] : []));
      const key = (await keys.find(env, op, names[0]!)) ?? (await keys.mint(env, op, existing));
      return withKey(recorded, key);
    },

    list: (op) => buckets.list(context.project, op),

    async doctor() {
      const findings: DoctorFinding[] = [];
      // Before anything reads the key file: reading it tightens a loose mode, which we want to report.
      const mode = (await stat(server.paths.credentials).catch(() => undefined))?.mode;
      const file = server.paths.credentials;
      findings.push(
        mode === undefined
          ? { level: "ok", message: "storage credentials are generated on the first start" }
          : mode & 0o077
            ? {
                level: "warn",
                message: `${file} was readable by others (mode ${(mode & 0o777).toString(8)}); it is 600 now`,
              }
            : { level: "ok", message: `${file} is private (mode 600)` },
      );
      const status = await server.status();
      if (status.running) {
        findings.push({
          level: "ok",
          message: status.pid
            ? `storage server running at ${status.url} (pid ${status.pid})`
            : `storage server answering at ${status.url} (not started by \`forkstack up\`)`,
        });
      } else if (status.blocked) {
        const { port } = await server.resolve();
        findings.push({
          level: "error",
          message: `${server.portInUse(port, status.blocked).message} The storage server cannot start.`,
        });
      } else {
        const stale = status.stale ? `; a stale pid file (pid ${status.stale.pid}) will be replaced` : "";
        findings.push({
          level: "ok",
          message: `storage server not running (starts on demand, or \`forkstack up\`; endpoint ${status.url})${stale}`,
        });
      }
      return findings;
    },
  };
};

export default provider;

/** The storage server of a project whose config uses this provider, for `up` and `storage serve`. */
export function requireLocalServer(config: ForkstackConfig, layout: ProjectLayout): LocalServer {
  const block = config.storage;
  if (!block || block.provider !== PROVIDER_NAME) {
    throw new UserError("This project does not use the embedded storage server.", "E_UNSUPPORTED", {
      hint: 'Set storage: { provider: "local" } in the config to use it.',
    });
  }
  const { provider: _provider, ...options } = block;
  return new LocalServer({
    dataDir: layout.dataDir,
    projectRoot: layout.root,
    // Already validated by loadConfig (providers/storage/local.options.ts); parsing again here would load zod.
    ...(options as LocalStorageOptions),
  });
}
