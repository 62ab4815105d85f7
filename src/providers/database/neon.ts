/**
 * @module providers/database/neon
 * A Neon branch per env (API v2, docs/databases.md, `neon`). A fork is a new branch of the parent's
 * (copy-on-write in Neon's storage: O(1) in data size, method `native`) with its own read-write
 * endpoint; `--at` becomes `parent_timestamp`, `--ttl` becomes `expires_at`. Every mutation returns
 * operations, which are polled until they finish before the branch is used or reported.
 *
 * Names: env `alice` of project `shop` is branch `<branchPrefix>shop/alice`; `list` reads env names
 * back from that prefix, so it sees only this project's branches.
 *
 * Roots: a root named in `roots.<env>.database` (`{ branch: "main" }`, a name or a `br-` id) is
 * adopted, never created nor deleted (`remove` only ever deletes a branch bearing the env's own name,
 * and never the project's default branch). A root without one gets a branch of its own made from the
 * default branch with `init_source: schema-only`: the default branch's schema and no rows, so an
 * "empty" root, deleted with the env like any fork.
 *
 * Neon refuses to delete a branch that has children, so the provider declares `forksPinParent` and
 * the core refuses `delete`/`reset` of such an env before any API call. DATABASE_URL is the connection
 * URI from the API, with the role's password: a secret var.
 */
import { ProviderError, madeElsewhereError, noRecordError } from "../../errors.js";
import { recordedString } from "../../layout.js";
import { bearerAuth, createApiClient, isApiError, type ApiClient } from "../_http.js";
import type { DatabaseProvider, EnvRef, OpContext, ProviderFactory, ResourceInfo } from "../types.js";
import { neonApi, PROVIDER_NAME, type Branch, type CreatedBranch } from "./_neon-api.js";
import type { NeonOptions } from "./neon.options.js";

const DEFAULT_BASE_URL = "https://console.neon.tech/api/v2";
/** Neon's `BranchCreateRequest.name` maxLength. */
const MAX_BRANCH_NAME = 256;
/** Neon accepts `expires_at` at most 30 days ahead (branch-expiration docs). */
const MAX_EXPIRY_MS = 30 * 24 * 3600 * 1000;

/** RFC 3339 with second precision, as Neon wants `expires_at` and accepts `parent_timestamp`. */
const seconds = (date: Date) => date.toISOString().replace(/\.\d{3}Z$/, "Z");

const provider: ProviderFactory<NeonOptions, DatabaseProvider> = (options, context) => {
  const keyVariable = options.apiKey.env;
  let client: ApiClient | undefined;
  // Made on first use: the factory does no checks (a bad baseUrl is an error of the first command).
  const api = () =>
    (client ??= createApiClient({
      provider: PROVIDER_NAME,
      baseUrl: options.baseUrl,
      defaultBaseUrl: DEFAULT_BASE_URL,
      auth: bearerAuth(keyVariable),
      log: context.log,
      clock: context.clock,
    }));
  const projectId = () => {
    const id = options.projectId ?? process.env.NEON_PROJECT_ID;
    if (!id) {
      throw new ProviderError(
        PROVIDER_NAME,
        "No Neon project: `database.projectId` is not in the config and NEON_PROJECT_ID is not set.",
        "E_CONFIG_INVALID",
        { hint: "Set NEON_PROJECT_ID to the project's id (Settings in the Neon console), or add projectId." },
      );
    }
    return id;
  };
  const neon = neonApi(api, projectId);

  const branchName = (env: EnvRef) => `${options.branchPrefix}${env.project}/${env.name}`;
  const recordedId = (info?: ResourceInfo) =>
    typeof info?.data?.branchId === "string" ? info.data.branchId : undefined;

  /** What the core records: ids and names, never the password (that is in secretVars only). */
  const info = async (
    branch: Branch,
    op: OpContext,
    extra: Partial<ResourceInfo> = {},
    created?: CreatedBranch,
  ): Promise<ResourceInfo> => {
    const target = await neon.target(branch.id, op, options, created?.databases);
    // The create answer carries the URI already (one request fewer); else the API builds it.
    const url =
      created?.connection_uris?.find(
        (c) =>
          c.connection_parameters?.database === target.databaseName &&
          c.connection_parameters.role === target.roleName,
      )?.connection_uri ?? (await neon.connectionUri(branch.id, target, op));
    return {
      location: `neon branch ${branch.name} (${branch.id}) of project ${projectId()}`,
      ...(branch.logical_size === undefined ? {} : { bytes: branch.logical_size }),
      vars: {},
      secretVars: { DATABASE_URL: url },
      data: {
        branchId: branch.id,
        branch: branch.name,
        project: projectId(),
        ...target,
        ...(branch.expires_at ? { expiresAt: branch.expires_at } : {}),
      },
      ...extra,
    };
  };

  /** The env's branch: the recorded id if it still exists, else the branch with the env's name. */
  const find = async (env: EnvRef, op: OpContext, recorded?: ResourceInfo): Promise<Branch | null> => {
    const id = recordedId(recorded);
    if (id) return neon.byId(id, op);
    return (await neon.byName(branchName(env), op)) ?? null;
  };

  const exists = (env: EnvRef, branch: Branch) =>
    new ProviderError(
      PROVIDER_NAME,
      `Env "${env.name}" already has a Neon branch: ${branch.name} (${branch.id}).`,
      "E_ENV_EXISTS",
    );

  /**
   * POST a branch, wait for its operations, report it. A name Neon already has is E_ENV_EXISTS;
   * `lookup` is that check when the caller started it already, alongside its own requests.
   */
  const make = async (
    env: EnvRef,
    body: Record<string, unknown>,
    op: OpContext,
    method: "empty" | "native",
    lookup?: Promise<Branch | undefined>,
  ) => {
    const name = branchName(env);
    const taken = await (lookup ?? neon.byName(name, op));
    if (taken) throw exists(env, taken);
    const created = await neon.create(
      {
        ...body,
        branch: { name, ...(body.branch as object) },
        endpoints: [{ type: "read_write" }],
        annotation_value: { "forkstack-project": env.project, "forkstack-env": env.name },
      },
      op,
      `create branch ${name}`,
    );
    await neon.waitFor(created.operations, op, `branch ${name}`);
    // Reported as made; its size is what it reads through, not what it added.
    return info(created.branch, op, { method }, created);
  };

  return {
    kind: "database",
    name: PROVIDER_NAME,
    flags: { copyOnWrite: true, pointInTime: true, forksPinParent: true, private: false },

    checkName(env) {
      const name = branchName(env);
      return name.length > MAX_BRANCH_NAME
        ? [
            `the Neon branch name "${name.slice(0, 40)}…" would be ${name.length} characters; Neon allows ${MAX_BRANCH_NAME} (shorten the env name or database.branchPrefix)`,
          ]
        : [];
    },

    async create(env, op) {
      const source = await neon.defaultBranch(op);
      return make(env, { branch: { parent_id: source.id, init_source: "schema-only" } }, op, "empty");
    },

    async adopt(env, ref, op) {
      if (ref === undefined) {
        // A root another machine made (its own name) is taken over, never made twice.
        const own = await neon.byName(branchName(env), op);
        return own ? info(own, op) : null;
      }
      const named = ref.branch;
      if (typeof named !== "string" || named === "" || Object.keys(ref).length !== 1) {
        throw new ProviderError(
          PROVIDER_NAME,
          `\`roots.${env.name}.database\` must be { branch: "<name or br- id>" }, e.g. { branch: "main" }.`,
          "E_CONFIG_INVALID",
        );
      }
      const branch = /^br-[a-z0-9-]+$/.test(named)
        ? await neon.byId(named, op)
        : ((await neon.byName(named, op)) ?? null);
      return branch ? info(branch, op) : null;
    },

    async fork(parent, child, op, forkOptions = {}) {
      // The child's name is checked while the parent is read: two independent round trips at once.
      const lookup = neon.byName(branchName(child), op);
      lookup.catch(() => undefined); // awaited in make(); not an unhandled rejection if we stop first
      const source = await find(parent, op, forkOptions.parent);
      if (!source) {
        throw new ProviderError(
          PROVIDER_NAME,
          `Env "${parent.name}" has no Neon branch (${recordedId(forkOptions.parent) ?? branchName(parent)} does not exist).`,
          "E_ENV_NOT_FOUND",
          { hint: `Check the parent's name, or recreate "${parent.name}".` },
        );
      }
      if (source.expires_at) {
        throw new ProviderError(
          PROVIDER_NAME,
          `Env "${parent.name}" expires (its branch has expires_at ${source.expires_at}), and Neon does not branch from an expiring branch.`,
          "E_UNSUPPORTED",
          { hint: `Fork from an env without --ttl, e.g. the one "${parent.name}" came from.` },
        );
      }
      const branch: Record<string, unknown> = { parent_id: source.id };
      if (forkOptions.at) branch.parent_timestamp = seconds(forkOptions.at);
      const expiresAt = forkOptions.expiresAt;
      if (expiresAt && expiresAt.getTime() - Date.now() <= MAX_EXPIRY_MS) {
        branch.expires_at = seconds(expiresAt);
      } else if (expiresAt) {
        op.log.warn(
          `[${PROVIDER_NAME}] Neon expires a branch at most 30 days ahead: "${child.name}" gets no expires_at, and forkstack's gc deletes it at ${expiresAt.toISOString()}.`,
        );
      }
      try {
        return await make(child, { branch }, op, "native", lookup);
      } catch (error) {
        if (
          isApiError(error) &&
          error.status === 400 &&
          forkOptions.at &&
          /time|lsn|history/i.test(error.vendorMessage ?? "")
        ) {
          throw new ProviderError(PROVIDER_NAME, error.message.replace(/^\[neon\] /, ""), "E_UNSUPPORTED", {
            hint: "Pick a time inside the project's history window (`forkstack doctor` shows it).",
            cause: error,
          });
        }
        throw error;
      }
    },

    target: (env) => ({ branch: branchName(env), project: projectId() }),

    // The recorded branch (by its id where the record has one), in the project it was made in, and
    // only one named for this env (whatever branchPrefix was then): an adopted root names another
    // branch, never deleted here, and so is the project's default branch.
    async remove(env, op, recorded) {
      const named = recordedString(recorded, "branch");
      const id = recordedId(recorded);
      const madeIn =
        recordedString(recorded, "project") ?? / of project (\S+)$/.exec(recorded?.location ?? "")?.[1];
      if (!named || !madeIn) throw noRecordError(PROVIDER_NAME, env.name, "branch");
      if (!named.endsWith(`${env.project}/${env.name}`)) return;
      if (madeIn !== projectId()) {
        const now = projectId();
        throw madeElsewhereError(PROVIDER_NAME, env.name, "branch", {
          recorded: madeIn,
          now,
          key: "database.projectId",
        });
      }
      const branch = id ? await neon.byId(id, op) : ((await neon.byName(named, op)) ?? null);
      if (!branch || branch.name !== named || branch.default) return;
      const operations = await neon.remove(branch.id, op, `delete branch ${named}`);
      if (operations) await neon.waitFor(operations, op, `deleting branch ${named}`);
      op.log.debug(`[${PROVIDER_NAME}] deleted branch ${named} (${branch.id})`);
    },

    async describe(env, op, recorded) {
      const branch = await find(env, op, recorded);
      return branch ? info(branch, op) : null;
    },

    async list(op) {
      const prefix = `${options.branchPrefix}${context.project}/`;
      return (await neon.branchesNamed(prefix, op))
        .map((b) => b.name.slice(prefix.length))
        .filter((name) => /^[a-z0-9]+(?:-[a-z0-9]+)*$/.test(name))
        .sort();
    },

    async doctor(op) {
      try {
        const { project } = await neon.project(op);
        const hours = Math.round(project.history_retention_seconds / 360) / 10;
        return [
          {
            level: "ok",
            message: `Neon project "${project.name}" (${project.id}) answers with the key in ${keyVariable}`,
          },
          {
            level: "ok",
            message: `forks are copy-on-write branches; --at reaches back ${hours} h (the project's history window)`,
          },
        ];
      } catch (error) {
        if (isApiError(error, "not_found")) {
          return [
            {
              level: "error",
              message: `[${PROVIDER_NAME}] Project ${projectId()} was not found with the key in ${keyVariable}: check the id, and that the key can see it (a project-scoped key sees only its own project; an organization's key only that organization's)${error.requestId ? ` (request id ${error.requestId})` : ""}.`,
            },
          ];
        }
        return [{ level: "error", message: (error as Error).message }];
      }
    },
  };
};

export default provider;
