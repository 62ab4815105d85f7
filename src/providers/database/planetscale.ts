/**
 * @module providers/database/planetscale
 * An env's database is a branch of one PlanetScale database (API v1, Vitess or Postgres), named
 * `<project>-<env>`, with a credential of its own: a password (Vitess) or a role (Postgres) that
 * expires with the env (`new --ttl`) and is deleted with it. `DATABASE_URL` holds it, so it is secret.
 *
 * A fork is `create_branch` from the parent's branch, then waiting for `ready`. What it copies depends
 * on the plan (`data` option): with Data Branching® it is seeded from the parent's last successful
 * backup (data as of that backup); with `data: "backup"` a backup of the parent is taken now and
 * restored into the child (data as of the fork, at the price of a restored branch); otherwise a Vitess
 * child gets the schema only and a Postgres child nothing, and `new` says so (a warning, and
 * `data.copied` in the manifest). None of it is O(1): `copyOnWrite` is false.
 *
 * Roots adopt existing branches (`roots.dev.database: { branch: "main" }`): forkstack makes a
 * credential on them and never deletes them (only `<project>-<env>` branches are ever deleted). A root
 * without one gets a new development branch off the database's default branch.
 *
 * Every request goes through `_http.ts` (retries on 429, the vendor's message and request id, the
 * token never logged); `FORKSTACK_PLANETSCALE_API_URL` or `baseUrl` point it at a mock.
 */
import { ProviderError, madeElsewhereError, noRecordError } from "../../errors.js";
import { ENV_NAME_PATTERN, recordedString } from "../../layout.js";
import type { DatabaseProvider, DoctorFinding, EnvRef, ProviderFactory, ResourceInfo } from "../types.js";
import type { PlanetScaleOptions } from "./planetscale.options.js";
import { PROVIDER, branchNameProblems, kindOf } from "./_planetscale-api.js";
import type { Branch, CredentialRef } from "./_planetscale-api.js";
import { planetscaleClient } from "./_planetscale-client.js";

const provider: ProviderFactory<PlanetScaleOptions, DatabaseProvider> = (options, context) => {
  const ps = planetscaleClient(options, context);
  const { where, store } = ps;
  const dataMode = options.data ?? "auto";
  const branchName = (env: EnvRef) => `${env.project}-${env.name}`;

  const info = (
    branch: Branch,
    url: string | undefined,
    data: Record<string, unknown>,
    extra: Partial<ResourceInfo> = {},
  ): ResourceInfo => ({
    location: `planetscale:${where()}/${branch.name}`,
    vars: {},
    secretVars: url ? { DATABASE_URL: url } : {},
    data: { branch: branch.name, branchId: branch.id, kind: kindOf(branch.kind), where: where(), ...data },
    ...extra,
  });

  const recordedBranch = (recorded?: ResourceInfo) =>
    typeof recorded?.data?.branch === "string" ? recorded.data.branch : undefined;
  const recordedCredential = (recorded?: ResourceInfo) =>
    recorded?.data?.credential as CredentialRef | undefined;

  return {
    kind: "database",
    name: PROVIDER,
    flags: { copyOnWrite: false, private: false },

    checkName: (env) => branchNameProblems(branchName(env)),

    async create(env, op) {
      const name = branchName(env);
      if (await ps.getBranch(name, op)) throw ps.exists(env, name);
      if (options.kind) ps.checkKind((await ps.getDatabase(op)).kind);
      // No parent_branch: PlanetScale branches off the database's default branch, data never included.
      const branch = await ps.createBranch(env, { name }, op);
      const { credential, url } = await ps.makeCredential(env, branch, op);
      const copied = kindOf(branch.kind) === "vitess" ? "schema" : "nothing";
      // A Vitess branch always starts with its parent's schema: "empty" means no rows, said once here.
      if (copied === "schema") {
        op.log.info(
          `[${PROVIDER}] "${env.name}" is a new branch of ${branch.parent_branch ?? "the default branch"}: its schema, none of its rows.`,
        );
      }
      return info(branch, url, { credential, copied, from: branch.parent_branch }, { method: "empty" });
    },

    async adopt(env, ref, op) {
      const named = ref?.branch;
      if (ref !== undefined && (typeof named !== "string" || Object.keys(ref).length !== 1)) {
        throw new ProviderError(
          PROVIDER,
          `\`roots.${env.name}.database\` must be { branch: "<name>" }.`,
          "E_CONFIG_INVALID",
        );
      }
      const branch = await ps.getBranch(typeof named === "string" ? named : branchName(env), op);
      if (!branch) return null;
      ps.checkKind(branch.kind);
      // A credential made here before for this very branch is reused; otherwise one more is made (the
      // branch is shared: other machines' credentials on it are theirs, so none is ever replaced).
      const stored = await store.read(env.name);
      if (stored?.branchId === branch.id) {
        if (await ps.credentialAlive(branch.name, stored.credential, op))
          return info(branch, stored.url, { credential: stored.credential, adopted: true });
      }
      const { credential, url } = await ps.makeCredential(env, branch, op);
      return info(branch, url, { credential, adopted: true });
    },

    async fork(parent, child, op, forkOptions) {
      const from = recordedBranch(forkOptions?.parent) ?? branchName(parent);
      const name = branchName(child);
      // Three independent reads at once: the database (Data Branching® decides what `auto` copies),
      // the parent's branch, and the child's name, which must be free.
      const [db, source, taken] = await Promise.all([
        dataMode === "auto" ? ps.getDatabase(op) : undefined,
        ps.getBranch(from, op),
        ps.getBranch(name, op),
      ]);
      if (!source) {
        throw new ProviderError(
          PROVIDER,
          `Env "${parent.name}" has no branch: ${where()}/${from} does not exist.`,
          "E_ENV_NOT_FOUND",
          {
            hint: `Check the parent's name, or recreate "${parent.name}".`,
          },
        );
      }
      ps.checkKind(source.kind);
      if (taken) throw ps.exists(child, name);
      const kind = kindOf(source.kind);
      const copy = dataMode === "auto" ? (db?.allow_data_branching ? "seed" : "schema") : dataMode;

      let branch: Branch;
      let asOf: string | undefined;
      if (copy === "backup") {
        const backup = await ps.backupNow(from, child.name, op);
        asOf = backup.completed_at ?? new Date().toISOString();
        try {
          // No parent_branch with a backup_id: the pscale CLI refuses `--from` with `--restore`.
          branch = await ps.createBranch(
            child,
            { name, backup_id: backup.id, cluster_size: options.clusterSize ?? "PS_10" },
            op,
          );
        } finally {
          // The restore is done (or failed): the backup has served. Its retention covers a failure here.
          await ps.deleteBackup(from, backup.id, op);
        }
      } else if (copy === "seed") {
        asOf = await ps.lastBackup(from, op);
        branch = await ps.createBranch(
          child,
          { name, parent_branch: from, seed_data: "last_successful_backup" },
          op,
        );
      } else {
        branch = await ps.createBranch(child, { name, parent_branch: from }, op);
      }
      const { credential, url } = await ps.makeCredential(child, branch, op, forkOptions?.expiresAt);

      const copied = copy === "schema" ? (kind === "vitess" ? "schema" : "nothing") : "data";
      const say = (message: string) => (dataMode === "auto" ? op.log.warn(message) : op.log.info(message));
      if (copied === "schema") {
        say(
          `[${PROVIDER}] "${child.name}" has the schema of "${parent.name}" but none of its data: ${dataMode === "auto" ? `Data Branching® is off for ${where()}` : `\`data: "schema"\``} (\`data: "backup"\` restores a fresh backup instead).`,
        );
      } else if (copied === "nothing") {
        say(
          `[${PROVIDER}] "${child.name}" is an empty Postgres branch: PlanetScale copies neither schema nor data into one without a backup (\`data: "backup"\` restores a fresh backup of "${parent.name}").`,
        );
      } else if (copy === "seed") {
        say(
          `[${PROVIDER}] "${child.name}" has the data of "${parent.name}" as of its last backup${asOf ? ` (${asOf})` : ""}, not as of now (Data Branching®).`,
        );
      }
      return info(
        branch,
        url,
        { credential, copied, via: copy, from, ...(asOf ? { asOf } : {}) },
        { method: "native" },
      );
    },

    target: (env) => ({ branch: branchName(env), where: where() }),

    // The recorded branch, in the database it was made in; only ever the env's own branch is deleted,
    // an adopted one never (only the credential made on it goes).
    async remove(env, op, recorded) {
      const own = branchName(env);
      const stored = await store.read(env.name);
      const named = recordedBranch(recorded);
      const madeIn =
        recordedString(recorded, "where") ?? /^planetscale:(.+)\/[^/]+$/.exec(recorded?.location ?? "")?.[1];
      if (!named || !madeIn) throw noRecordError(PROVIDER, env.name, "branch");
      if (madeIn !== where()) {
        const now = where();
        throw madeElsewhereError(PROVIDER, env.name, "branch", {
          recorded: madeIn,
          now,
          key: "database.database",
        });
      }
      const credential =
        recordedCredential(recorded) ?? (stored?.branch === named ? stored.credential : undefined);
      if (credential) {
        try {
          await ps.deleteCredential(named, credential, op);
        } catch (error) {
          // Deleting the branch deletes its credentials too; only an adopted branch's must go here.
          if (named !== own) throw error;
          op.log.debug(`[${PROVIDER}] ${(error as Error).message}`);
        }
      }
      // Only ever the env's own branch: an adopted one (main) is never deleted. With the recorded id,
      // only that very branch: one made again under the name since is not ours.
      if (named === own) {
        const id = recordedString(recorded, "branchId");
        const live = id ? await ps.getBranch(own, op) : undefined;
        if (!id || live?.id === id) await ps.deleteBranch(own, op);
        else if (live)
          op.log.warn(
            `[${PROVIDER}] left branch ${own} in place: it is not the one "${env.name}" recorded making (id ${id})`,
          );
      }
      await store.remove(env.name);
    },

    // Without the record (the core's `list`, its check before making one) the branch is the one this
    // machine's credential names (an adopted root: main), else the env's own.
    async describe(env, op, recorded) {
      const stored = await store.read(env.name);
      const branch = await ps.getBranch(recordedBranch(recorded) ?? stored?.branch ?? branchName(env), op);
      if (!branch) return null;
      const mine = stored?.branchId === branch.id ? stored : undefined;
      const url = recorded?.secretVars?.DATABASE_URL ?? mine?.url;
      const credential = recordedCredential(recorded) ?? mine?.credential;
      return info(branch, url, { ...recorded?.data, ...(credential ? { credential } : {}) });
    },

    async list(op) {
      const prefix = `${context.project}-`;
      return (await ps.branchNames(op))
        .filter((n) => n.startsWith(prefix))
        .map((n) => n.slice(prefix.length))
        .filter((n) => ENV_NAME_PATTERN.test(n))
        .sort();
    },

    async doctor(op) {
      try {
        ps.forgetDatabase();
        const db = await ps.getDatabase(op);
        const kind = kindOf(db.kind);
        const findings: DoctorFinding[] = [
          {
            level: "ok",
            message: `${where()}: a ${kind} database, readable with the service token in ${ps.idEnv} + ${ps.tokenEnv} (${ps.baseUrl()})`,
          },
        ];
        if (options.kind && options.kind !== kind) {
          findings.push({
            level: "error",
            message: `\`kind\` is "${options.kind}" but ${where()} is a ${kind} database`,
          });
        }
        if (dataMode === "backup") {
          findings.push({
            level: "ok",
            message: `forks restore a fresh backup of their parent (cluster ${options.clusterSize ?? "PS_10"}): data as of the fork`,
          });
        } else if (db.allow_data_branching && dataMode !== "schema") {
          findings.push({
            level: "ok",
            message: "forks are seeded from their parent's last backup (Data Branching®)",
          });
        } else {
          findings.push({
            level: dataMode === "schema" ? "ok" : "warn",
            message: `forks get ${kind === "vitess" ? "the schema only" : "neither schema nor data"}${db.allow_data_branching ? "" : " (Data Branching® is off)"}: set \`data: "backup"\` for data as of the fork`,
          });
        }
        return findings;
      } catch (error) {
        return [{ level: "error", message: (error as Error).message }];
      }
    },
  };
};

export default provider;
