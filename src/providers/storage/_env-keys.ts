/**
 * @module providers/storage/_env-keys
 * Each env's own key on the embedded server (docs/storage.md, "Keys"), the `local` provider's half of
 * it: minted by `create` and `fork` with the env's buckets as its scope and recorded in the resource's
 * `data.accessKeyId`; kept across a `reset` (emptied by the remove, given the re-forked buckets by the
 * fork), so the env's running apps keep working; revoked by `remove`, by the record alone. The
 * project's key (`credentials.json`) stays with the CLI and is never in an env's variables.
 */
import { holdsProjectStorageKey } from "../../layout.js";
import type { Credentials } from "../../storage-server/auth/types.js";
import type { EnvRef, OpContext, ResourceInfo } from "../types.js";
import type { AccessKeysApi } from "./_access-keys.js";

/** The env's key as its record holds it; undefined for a record without one (an older forkstack's). */
export function recordedKey(recorded: ResourceInfo | undefined): Credentials | undefined {
  const accessKeyId = recorded?.data?.accessKeyId;
  const secretAccessKey = recorded?.secretVars?.AWS_SECRET_ACCESS_KEY;
  if (typeof accessKeyId !== "string" || recorded?.vars.AWS_ACCESS_KEY_ID !== accessKeyId) return undefined;
  return typeof secretAccessKey === "string" ? { accessKeyId, secretAccessKey } : undefined;
}

/** The record carries the project's key (written before envs had their own): see layout.ts. */
export function isOutdated(recorded: ResourceInfo): boolean {
  return holdsProjectStorageKey({ provider: "local", ...(recorded.data ? { data: recorded.data } : {}) });
}

/** `vars`, `secretVars` and `data` of a record with `key` as the env's key. */
export function withKey(info: ResourceInfo, key: Credentials): ResourceInfo {
  return {
    ...info,
    vars: { ...info.vars, AWS_ACCESS_KEY_ID: key.accessKeyId },
    secretVars: { ...info.secretVars, AWS_SECRET_ACCESS_KEY: key.secretAccessKey },
    data: { ...info.data, accessKeyId: key.accessKeyId },
  };
}

export interface EnvKeysOptions {
  /** The admin API for this operation (read-only operations may refuse to start the server). */
  readonly api: (op: OpContext) => Promise<AccessKeysApi>;
  /** A failed call as the provider's error. */
  readonly apiError: (action: string, error: unknown) => Error;
}

export function envKeys({ api, apiError }: EnvKeysOptions) {
  const call = async <T>(op: OpContext, action: string, fn: (keys: AccessKeysApi) => Promise<T>) => {
    const keys = await api(op);
    return fn(keys).catch((error: unknown) => {
      throw apiError(action, error);
    });
  };

  return {
    /** A new key for `env`, reaching exactly `buckets`. */
    mint: (env: EnvRef, op: OpContext, buckets: readonly string[]) =>
      call(op, `make the access key of "${env.name}"`, (keys) => keys.create(env.name, buckets)),

    /**
     * The key a reset kept (`previous`), now reaching `buckets`; undefined when the record has none or
     * the key is gone (revoked meanwhile), so the caller mints one.
     */
    async rescope(
      env: EnvRef,
      op: OpContext,
      previous: ResourceInfo | undefined,
      buckets: readonly string[],
    ) {
      const key = recordedKey(previous);
      if (!key) return undefined;
      const kept = await call(op, `give "${env.name}" its access key back`, (keys) =>
        keys.setBuckets(key.accessKeyId, buckets),
      );
      return kept ? key : undefined;
    },

    /**
     * The first half of a reset: the key stays, reaching nothing until the fork gives it the new
     * buckets. Emptied on purpose before the buckets go, since a key that loses its last bucket to a
     * delete is deleted with it (storage-server/store/access-keys.ts).
     */
    async release(env: EnvRef, op: OpContext, recorded: ResourceInfo | undefined) {
      const key = recordedKey(recorded);
      if (key) {
        await call(op, `keep the access key of "${env.name}"`, (keys) =>
          keys.setBuckets(key.accessKeyId, []),
        );
      }
    },

    /** Revokes exactly the recorded key (an already revoked one is fine). */
    async revoke(env: EnvRef, op: OpContext, recorded: ResourceInfo | undefined) {
      const key = recordedKey(recorded);
      if (key)
        await call(op, `revoke the access key of "${env.name}"`, (keys) => keys.revoke(key.accessKeyId));
    },

    /**
     * The env's key found by name, for when there is no record to read it from (`describe` without
     * one, adopting a root, bringing an older record up to date): the newest key labelled with the
     * env's name that reaches its default bucket.
     */
    async find(env: EnvRef, op: OpContext, defaultBucket: string): Promise<Credentials | undefined> {
      return call(op, `find the access key of "${env.name}"`, async (keys) => {
        const found = (await keys.list(defaultBucket)).filter((k) => k.label === env.name).at(-1);
        return (found && (await keys.get(found.accessKeyId))) ?? undefined;
      });
    },
  };
}

export type EnvKeys = ReturnType<typeof envKeys>;
