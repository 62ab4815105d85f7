/**
 * @module init/stacks
 * The stacks `forkstack init --stack <name>` can write a config for: one provider per resource kind,
 * the variables their credentials come from, and the config's source text. A stack is offered only
 * when every provider it names is built into this forkstack, so the list in `init --help` is the list
 * that works.
 */
import { builtinProviders } from "../providers/registry.js";
import type { ResourceKind } from "../providers/types.js";

interface Block {
  readonly provider: string;
  readonly options?: string;
  readonly note?: string;
}

export interface Stack {
  readonly name: string;
  readonly summary: string;
  /** Each kind's provider, its options (source text), and a comment (where its credentials come from). */
  readonly blocks: Readonly<Record<ResourceKind, Block>>;
  /** Variables the providers read credentials (or a server's URL) from; init needs them to make dev. */
  readonly variables: readonly string[];
}

const LOCAL: Block = { provider: "directory", options: `path: "{project}.{env}.db"` };

/** Every stack forkstack knows, in the order `--help` lists them; the first is the default. */
export const STACKS: readonly Stack[] = [
  {
    name: "embedded",
    summary: "SQLite files, the embedded object store, dotenv secrets: offline, nothing to sign up for",
    blocks: {
      database: { provider: "sqlite" },
      storage: { provider: "local" },
      secrets: { provider: "dotenv" },
      local: LOCAL,
    },
    variables: [],
  },
  {
    name: "postgres-local",
    summary: "a database per env on a PostgreSQL server you run (CREATE DATABASE … TEMPLATE)",
    blocks: {
      database: { provider: "postgres", note: "the server: FORKSTACK_POSTGRES_URL (never DATABASE_URL)" },
      storage: { provider: "local" },
      secrets: { provider: "dotenv" },
      local: LOCAL,
    },
    variables: ["FORKSTACK_POSTGRES_URL"],
  },
  {
    name: "turso-tigris-doppler",
    summary: "the pattern's recommended cloud stack: Turso branches, Tigris bucket forks, Doppler configs",
    blocks: {
      database: { provider: "turso", note: "organization: TURSO_ORG, token: TURSO_API_TOKEN" },
      storage: {
        provider: "tigris",
        note: "keys: TIGRIS_STORAGE_ACCESS_KEY_ID, TIGRIS_STORAGE_SECRET_ACCESS_KEY",
      },
      secrets: { provider: "doppler", note: "token: DOPPLER_TOKEN; Doppler project: this project's name" },
      local: LOCAL,
    },
    variables: [
      "TURSO_API_TOKEN",
      "TURSO_ORG",
      "TIGRIS_STORAGE_ACCESS_KEY_ID",
      "TIGRIS_STORAGE_SECRET_ACCESS_KEY",
      "DOPPLER_TOKEN",
    ],
  },
  {
    name: "neon-s3",
    summary: "Neon Postgres branches and a bucket per env on AWS S3",
    blocks: {
      database: { provider: "neon", note: "project: NEON_PROJECT_ID, key: NEON_API_KEY" },
      storage: { provider: "s3", note: "keys: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY; region: AWS_REGION" },
      secrets: { provider: "dotenv" },
      local: LOCAL,
    },
    variables: ["NEON_API_KEY", "NEON_PROJECT_ID", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"],
  },
  {
    name: "planetscale-r2",
    summary: "PlanetScale branches and a bucket per env on Cloudflare R2",
    blocks: {
      database: {
        provider: "planetscale",
        options: `organization: "your-org", database: "your-database"`,
        note: "token: PLANETSCALE_SERVICE_TOKEN_ID, PLANETSCALE_SERVICE_TOKEN",
      },
      storage: {
        provider: "r2",
        note: "account: CLOUDFLARE_ACCOUNT_ID; keys: R2_ACCESS_KEY_ID, R2_SECRET_ACCESS_KEY",
      },
      secrets: { provider: "dotenv" },
      local: LOCAL,
    },
    variables: [
      "PLANETSCALE_SERVICE_TOKEN_ID",
      "PLANETSCALE_SERVICE_TOKEN",
      "CLOUDFLARE_ACCOUNT_ID",
      "R2_ACCESS_KEY_ID",
      "R2_SECRET_ACCESS_KEY",
    ],
  },
];

const KINDS = ["database", "storage", "secrets", "local"] as const satisfies readonly ResourceKind[];

/** The providers of `stack` this forkstack does not have (empty: the stack works). */
export function missingProviders(stack: Stack): string[] {
  return KINDS.map((kind) => [kind, stack.blocks[kind].provider] as const)
    .filter(([kind, name]) => !builtinProviders[kind][name])
    .map(([kind, name]) => `${kind} provider "${name}"`);
}

/** The stacks that work with this forkstack, default first. */
export function availableStacks(): Stack[] {
  return STACKS.filter((stack) => missingProviders(stack).length === 0);
}

export function configSource(stack: Stack, project: string): string {
  const credentials = stack.variables.length
    ? `// Credentials come from the environment, never from this file: ${stack.variables.join(", ")}.\n`
    : "";
  const lines = KINDS.map((kind) => {
    const { provider, options, note } = stack.blocks[kind];
    return `  ${kind}: { provider: "${provider}"${options ? `, ${options}` : ""} },${note ? ` // ${note}` : ""}`;
  });
  return `import { defineConfig } from "forkstack";

// forkstack init --stack ${stack.name}: ${stack.summary}.
${credentials}export default defineConfig({
  project: ${JSON.stringify(project)},
${lines.join("\n")}
});
`;
}
