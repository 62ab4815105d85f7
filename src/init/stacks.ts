/**
 * @module init/stacks
 * The stacks `forkstack init --stack <name>` can write a config for: one provider per resource kind,
 * the variables their credentials come from, and the config's source text. A stack is offered only
 * when every provider it names is built into this forkstack, so the list in `init --help` is the list
 * that works.
 */
import { randomBytes } from "node:crypto";
import { builtinProviders } from "../providers/registry.js";
import type { ResourceKind } from "../providers/types.js";

/** What the config is written for: its project, and a bucket suffix made up once (see `bucketSuffix`). */
export interface TemplateContext {
  readonly project: string;
  readonly bucketSuffix: string;
}

/** One option: its key, its TypeScript source, and why it is there (a comment above it). */
type Option = readonly [key: string, source: string, why?: string];

interface Block {
  readonly provider: string;
  readonly options?: readonly Option[] | ((context: TemplateContext) => readonly Option[]);
  /** Where the provider reads what the config leaves out (a comment beside the block). */
  readonly note?: string;
}

/** A variable the user sets before the default env can be made, and what goes in it. */
export interface StackVariable {
  readonly name: string;
  readonly what: string;
}

export interface Stack {
  readonly name: string;
  readonly summary: string;
  readonly blocks: Readonly<Record<ResourceKind, Block>>;
  /** Variables the providers read credentials (or where things are) from; init needs them to make dev. */
  readonly variables: readonly StackVariable[];
}

const LOCAL: Block = { provider: "directory", options: [["path", `"{project}.{env}.db"`]] };

const credential = (key: string, variable: string): Option => [key, `env(${JSON.stringify(variable)})`];

/**
 * Tigris and S3 bucket names are global across every account, so `shop-bucket-dev` is likely someone
 * else's. The suffix is made up once and committed with the config: every machine of the team then
 * names (and adopts) the same buckets.
 */
const bucketSuffix = (context: TemplateContext): Option => [
  "bucketSuffix",
  JSON.stringify(context.bucketSuffix),
  "Bucket names are global: this suffix (made up by init, the same on every machine) keeps them this project's.",
];

const v = (name: string, what: string): StackVariable => ({ name, what });

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
    variables: [
      v(
        "FORKSTACK_POSTGRES_URL",
        "a role on your server that may create databases: postgres://user:password@localhost:5432/postgres",
      ),
    ],
  },
  {
    name: "turso-tigris-doppler",
    summary: "the pattern's recommended cloud stack: Turso branches, Tigris bucket forks, Doppler configs",
    blocks: {
      database: {
        provider: "turso",
        options: [credential("apiToken", "TURSO_API_TOKEN")],
        note: "the organization: TURSO_ORG",
      },
      storage: {
        provider: "tigris",
        options: (context) => [
          bucketSuffix(context),
          credential("accessKeyId", "TIGRIS_STORAGE_ACCESS_KEY_ID"),
          credential("secretAccessKey", "TIGRIS_STORAGE_SECRET_ACCESS_KEY"),
        ],
        note: "the endpoint: TIGRIS_STORAGE_ENDPOINT, else https://t3.storage.dev",
      },
      secrets: {
        provider: "doppler",
        options: (context) => [
          [
            "project",
            JSON.stringify(context.project),
            "The Doppler project: dev adopts its root config `dev`; each fork is a branch config of it.",
          ],
          credential("token", "DOPPLER_TOKEN"),
        ],
      },
      local: LOCAL,
    },
    variables: [
      v("TURSO_API_TOKEN", "a Turso platform API token: turso auth api-tokens mint forkstack"),
      v("TURSO_ORG", "your Turso organization's slug: turso org list"),
      v("TIGRIS_STORAGE_ACCESS_KEY_ID", "a Tigris access key that may create and delete buckets"),
      v("TIGRIS_STORAGE_SECRET_ACCESS_KEY", "that key's secret"),
      v("DOPPLER_TOKEN", "a Doppler personal or service account token that may create configs"),
    ],
  },
  {
    name: "neon-s3",
    summary: "Neon Postgres branches and a bucket per env on AWS S3",
    blocks: {
      database: {
        provider: "neon",
        options: [credential("apiKey", "NEON_API_KEY")],
        note: "the Neon project: NEON_PROJECT_ID; dev is a new branch of its default branch (schema, no rows)",
      },
      storage: {
        provider: "s3",
        options: (context) => [
          bucketSuffix(context),
          credential("accessKeyId", "AWS_ACCESS_KEY_ID"),
          credential("secretAccessKey", "AWS_SECRET_ACCESS_KEY"),
        ],
        note: "the region: AWS_REGION, else us-east-1; another S3-compatible server: AWS_ENDPOINT_URL_S3",
      },
      secrets: { provider: "dotenv" },
      local: LOCAL,
    },
    variables: [
      v("NEON_API_KEY", "a Neon API key (Account settings > API keys, or the project's own)"),
      v("NEON_PROJECT_ID", "the Neon project's id, e.g. shiny-wind-028834 (project settings)"),
      v("AWS_ACCESS_KEY_ID", "an AWS access key that may create, fill and delete the project's buckets"),
      v("AWS_SECRET_ACCESS_KEY", "that key's secret"),
    ],
  },
  {
    name: "planetscale-r2",
    summary: "PlanetScale branches and a bucket per env on Cloudflare R2",
    blocks: {
      database: {
        provider: "planetscale",
        options: [
          credential("serviceTokenId", "PLANETSCALE_SERVICE_TOKEN_ID"),
          credential("serviceToken", "PLANETSCALE_SERVICE_TOKEN"),
        ],
        note: "the organization and database: PLANETSCALE_ORG, PLANETSCALE_DATABASE (or write them here)",
      },
      storage: {
        provider: "r2",
        options: [
          credential("accessKeyId", "R2_ACCESS_KEY_ID"),
          credential("secretAccessKey", "R2_SECRET_ACCESS_KEY"),
        ],
        note: "the account: CLOUDFLARE_ACCOUNT_ID",
      },
      secrets: { provider: "dotenv" },
      local: LOCAL,
    },
    variables: [
      v(
        "PLANETSCALE_SERVICE_TOKEN_ID",
        "a PlanetScale service token's id (organization settings > Service tokens)",
      ),
      v("PLANETSCALE_SERVICE_TOKEN", "that token, with access to the database's branches and passwords"),
      v("PLANETSCALE_ORG", "your PlanetScale organization's name (app.planetscale.com/<organization>)"),
      v("PLANETSCALE_DATABASE", "the PlanetScale database whose branches the envs are"),
      v("CLOUDFLARE_ACCOUNT_ID", "your Cloudflare account id (32 hex digits)"),
      v("R2_ACCESS_KEY_ID", "an R2 API token's access key id (R2 > Manage API tokens)"),
      v("R2_SECRET_ACCESS_KEY", "that token's secret access key"),
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

/** Four of a-z0-9: enough that two projects of the same name rarely meet. */
export function newBucketSuffix(): string {
  const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789";
  return [...randomBytes(4)].map((byte) => alphabet[byte % alphabet.length]).join("");
}

/** Lines a block is written in: one when it fits, else one per option with each option's reason. */
function blockLines(kind: ResourceKind, block: Block, context: TemplateContext): string[] {
  const options = typeof block.options === "function" ? block.options(context) : (block.options ?? []);
  const fields = [`provider: ${JSON.stringify(block.provider)}`, ...options.map(([k, s]) => `${k}: ${s}`)];
  const above = block.note ? [`  // ${block.note}`] : [];
  const oneLine = `  ${kind}: { ${fields.join(", ")} },`;
  if (oneLine.length <= 100 && options.every(([, , why]) => !why)) {
    const beside = `${oneLine} // ${block.note}`;
    return !block.note ? [oneLine] : beside.length <= 110 ? [beside] : [...above, oneLine];
  }
  return [
    ...above,
    `  ${kind}: {`,
    `    provider: ${JSON.stringify(block.provider)},`,
    ...options.flatMap(([key, source, why]) => [...(why ? [`    // ${why}`] : []), `    ${key}: ${source},`]),
    "  },",
  ];
}

export function configSource(
  stack: Stack,
  project: string,
  bucketSuffix: string = newBucketSuffix(),
): string {
  const context: TemplateContext = { project, bucketSuffix };
  const width = Math.max(0, ...stack.variables.map((variable) => variable.name.length));
  const credentials = stack.variables.length
    ? [
        "// Credentials come from the environment, never from this file. Set:",
        ...stack.variables.map(({ name, what }) => `//   ${name.padEnd(width)}  ${what}`),
      ].join("\n") + "\n"
    : "";
  const lines = KINDS.flatMap((kind) => blockLines(kind, stack.blocks[kind], context));
  const source = lines.join("\n");
  const imports = source.includes("env(") ? "defineConfig, env" : "defineConfig";
  return `import { ${imports} } from "forkstack";

// forkstack init --stack ${stack.name}: ${stack.summary}.
${credentials}export default defineConfig({
  project: ${JSON.stringify(project)},
${source}
});
`;
}
