/**
 * @module providers/database/_neon-api
 * The calls of Neon API v2 the `neon` provider makes (docs/databases.md, `neon`), on the shared HTTP
 * client: the shapes it reads, branch lookups by name, waiting for operations, connection URIs.
 * Nothing here logs a response body or a URI: connection URIs carry the role's password.
 */
import { ProviderError } from "../../errors.js";
import type { ApiClient } from "../_http.js";
import type { OpContext } from "../types.js";

export const PROVIDER_NAME = "neon";

export interface Branch {
  readonly id: string;
  readonly name: string;
  readonly parent_id?: string;
  readonly default: boolean;
  readonly current_state: string;
  readonly logical_size?: number;
  readonly expires_at?: string;
}

export interface Operation {
  readonly id: string;
  readonly action: string;
  readonly status: string;
  readonly error?: string;
}

interface Database {
  readonly name: string;
  readonly owner_name: string;
}

export interface CreatedBranch {
  readonly branch: Branch;
  readonly operations: readonly Operation[];
  readonly endpoints?: readonly { readonly id: string; readonly type: string }[];
  readonly databases?: readonly Database[];
  readonly connection_uris?: readonly {
    readonly connection_uri: string;
    readonly connection_parameters?: { readonly database?: string; readonly role?: string };
  }[];
}

interface BranchList {
  readonly branches: readonly Branch[];
  readonly pagination?: { readonly next?: string };
}

/** Operation states that end a wait well, and badly (spec `OperationStatus`). */
const DONE = new Set(["finished", "skipped"]);
const FAILED = new Set(["failed", "error", "cancelling", "cancelled"]);

/** The first polls come quickly (an emulator finishes in ~100 ms), then once a second like Neon's SDK. */
const pollInterval = (attempt: number) => Math.min(1000, 100 * 2 ** (attempt - 1));

const MAX_PAGES = 50;

export function neonApi(api: () => ApiClient, projectId: () => string) {
  const base = () => `projects/${encodeURIComponent(projectId())}`;
  const common = (op: OpContext, action: string) => ({ signal: op.signal, log: op.log, action });

  /** Every branch whose name starts with `search` (Neon's search is a substring match: filtered here). */
  async function branchesNamed(search: string, op: OpContext): Promise<Branch[]> {
    const found: Branch[] = [];
    let cursor: string | undefined;
    for (let page = 0; page < MAX_PAGES; page++) {
      const { branches, pagination } = await api().request<BranchList>("GET", `${base()}/branches`, {
        ...common(op, "list branches"),
        query: { search: search || undefined, cursor, limit: 1000, sort_by: "name", sort_order: "asc" },
      });
      found.push(...branches.filter((b) => b.name.startsWith(search)));
      cursor = pagination?.next;
      if (!cursor || branches.length === 0) break;
    }
    return found;
  }

  return {
    branchesNamed,

    async byName(name: string, op: OpContext): Promise<Branch | undefined> {
      return (await branchesNamed(name, op)).find((b) => b.name === name);
    },

    async byId(id: string, op: OpContext): Promise<Branch | null> {
      const found = await api().request<{ branch: Branch }>(
        "GET",
        `${base()}/branches/${encodeURIComponent(id)}`,
        { ...common(op, `read branch ${id}`), nullIfNotFound: true },
      );
      return found?.branch ?? null;
    },

    async defaultBranch(op: OpContext): Promise<Branch> {
      const found = (await branchesNamed("", op)).find((b) => b.default);
      if (!found) {
        throw new ProviderError(
          PROVIDER_NAME,
          `Project ${projectId()} has no default branch.`,
          "E_PROVIDER_API",
        );
      }
      return found;
    },

    create: (body: unknown, op: OpContext, action: string) =>
      api().request<CreatedBranch>("POST", `${base()}/branches`, { ...common(op, action), body }),

    /** DELETE; `null` when the branch was already gone (Neon's 204, or a 404). */
    async remove(id: string, op: OpContext, action: string): Promise<readonly Operation[] | null> {
      const response = await api().send<{ operations?: Operation[] } | null>(
        "DELETE",
        `${base()}/branches/${encodeURIComponent(id)}`,
        { ...common(op, action), nullIfNotFound: true },
      );
      return response.data?.operations ?? null;
    },

    /** Wait for each operation a mutation started to finish; a failed one is an error naming its action. */
    async waitFor(operations: readonly Operation[], op: OpContext, what: string): Promise<void> {
      for (const operation of operations) {
        if (DONE.has(operation.status)) continue;
        await api().poll(
          async () => {
            const { operation: now } = await api().request<{ operation: Operation }>(
              "GET",
              `${base()}/operations/${encodeURIComponent(operation.id)}`,
              common(op, `read operation ${operation.action}`),
            );
            if (FAILED.has(now.status)) {
              throw new ProviderError(
                PROVIDER_NAME,
                `Neon's ${now.action} operation for ${what} ended ${now.status}${now.error ? `: ${now.error}` : ""}.`,
                "E_PROVIDER_API",
                {
                  hint: `Operation id ${now.id}: see the project's Monitoring > Operations in the Neon console.`,
                },
              );
            }
            return now;
          },
          {
            until: (now) => DONE.has(now.status),
            intervalMs: pollInterval,
            signal: op.signal,
            what: `Neon's ${operation.action} operation for ${what}`,
            describe: (now) => `status ${now.status}`,
          },
        );
      }
    },

    /** Which database and role DATABASE_URL names: the options, else the branch's first database and its owner. */
    async target(
      branchId: string,
      op: OpContext,
      wanted: { databaseName?: string | undefined; roleName?: string | undefined },
      known?: readonly Database[],
    ): Promise<{ databaseName: string; roleName: string }> {
      const databases =
        known && known.length > 0
          ? known
          : (
              await api().request<{ databases: Database[] }>(
                "GET",
                `${base()}/branches/${encodeURIComponent(branchId)}/databases`,
                common(op, `list the databases of branch ${branchId}`),
              )
            ).databases;
      const database = wanted.databaseName
        ? databases.find((d) => d.name === wanted.databaseName)
        : databases[0];
      if (!database) {
        throw new ProviderError(
          PROVIDER_NAME,
          wanted.databaseName
            ? `Branch ${branchId} has no database "${wanted.databaseName}" (it has ${databases.map((d) => `"${d.name}"`).join(", ") || "none"}).`
            : `Branch ${branchId} has no database.`,
          "E_CONFIG_INVALID",
          { hint: "Set `database.databaseName` to one of the branch's databases." },
        );
      }
      return { databaseName: database.name, roleName: wanted.roleName ?? database.owner_name };
    },

    async connectionUri(
      branchId: string,
      target: { databaseName: string; roleName: string },
      op: OpContext,
    ): Promise<string> {
      const { uri } = await api().request<{ uri: string }>("GET", `${base()}/connection_uri`, {
        ...common(op, `read the connection URI of branch ${branchId}`),
        query: { branch_id: branchId, database_name: target.databaseName, role_name: target.roleName },
      });
      return uri;
    },

    project: (op: OpContext) =>
      api().request<{ project: { id: string; name: string; history_retention_seconds: number } }>(
        "GET",
        base(),
        common(op, `read project ${projectId()}`),
      ),
  };
}

export type NeonApi = ReturnType<typeof neonApi>;
