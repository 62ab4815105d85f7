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
 */
import { stat } from "node:fs/promises";
import { join } from "node:path";
import { ServiceStoppedError, UserError } from "../../errors.js";
import type { ForkstackConfig } from "../../config/schema.js";
import type { ProjectLayout } from "../../layout.js";
import type {
  DoctorFinding,
  EnvRef,
  OpContext,
  ProviderFactory,
  ResourceInfo,
  StorageProvider,
} from "../types.js";
import { LocalServer } from "./_local-server.js";
import { bucketInfo, forkableBuckets } from "./_buckets.js";
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

  const info = async (env: EnvRef, extra: Partial<ResourceInfo> = {}): Promise<ResourceInfo> => {
    const [{ url }, creds] = await Promise.all([server.resolve(), server.credentials()]);
    return bucketInfo(buckets.bucketsOf(env), url, {
      vars: { AWS_ENDPOINT_URL_S3: url, AWS_REGION: "auto", AWS_ACCESS_KEY_ID: creds.accessKeyId },
      secretVars: { AWS_SECRET_ACCESS_KEY: creds.secretAccessKey },
      ...extra,
    });
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
      op.log.debug(`[${PROVIDER_NAME}] created the buckets of ${env.name}`);
      return info(env, { method: "empty", bytesAdded: 0 });
    },

    async fork(parent, child, op) {
      const before = await metadataBytes();
      await buckets.fork(parent, child, op);
      const bytesAdded = Math.max(0, (await metadataBytes()) - before);
      op.log.debug(
        `[${PROVIDER_NAME}] forked ${parent.name} -> ${child.name} (metadata, ${bytesAdded} bytes)`,
      );
      return info(child, { method: "metadata", bytesAdded });
    },

    async remove(env, op) {
      // Force: no need to empty the buckets, and a bucket with forks is detached rather than refused.
      await buckets.remove(env, op);
      op.log.debug(`[${PROVIDER_NAME}] removed the buckets of ${env.name}`);
    },

    async describe(env, op) {
      return (await buckets.exists(env, op)) ? info(env) : null;
    },

    // One ListBuckets for all of them instead of a HEAD per env: `list` of 20 envs is one round trip.
    async describeMany(envs, op) {
      const found = await buckets.existMany(envs, op);
      return Promise.all(envs.map((env, i) => (found[i] ? info(env) : null)));
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
