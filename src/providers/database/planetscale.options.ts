/**
 * @module providers/database/planetscale.options
 * The `planetscale` provider's `options` schema, apart from the provider so that creating it loads no
 * zod (see `sqlite.options.ts`). Credentials are never values in the config: `serviceTokenId` and
 * `serviceToken` name the environment variables that hold them (`env("PLANETSCALE_SERVICE_TOKEN")`).
 */
import { z } from "zod";
import { fromEnv } from "../_options.js";
import { DATABASE_NAME, ORGANIZATION_NAME } from "./_planetscale-api.js";

export const optionsSchema = z.strictObject({
  /** The organization's name (its slug in `app.planetscale.com/<organization>`). @default the variable PLANETSCALE_ORG */
  organization: z.string().regex(ORGANIZATION_NAME, "must be a PlanetScale organization name").optional(),
  /** The database whose branches the envs are. @default the variable PLANETSCALE_DATABASE */
  database: z.string().regex(DATABASE_NAME, "must be a PlanetScale database name").optional(),
  /** Where the service token's id is read. @default env("PLANETSCALE_SERVICE_TOKEN_ID") */
  serviceTokenId: fromEnv("PLANETSCALE_SERVICE_TOKEN_ID"),
  /** Where the service token itself is read. @default env("PLANETSCALE_SERVICE_TOKEN") */
  serviceToken: fromEnv("PLANETSCALE_SERVICE_TOKEN"),
  /** The API's root; `FORKSTACK_PLANETSCALE_API_URL` otherwise, else https://api.planetscale.com/v1. */
  baseUrl: z.url({ protocol: /^https?$/, error: "must be an http(s) URL" }).optional(),
  /** `vitess` (MySQL) or `postgres`; read from the database's `kind` when left out. */
  kind: z.enum(["vitess", "postgres"]).optional(),
  /**
   * What a fork copies: `auto` seeds from the parent's last backup where the database has Data
   * Branching® and copies the schema only (Vitess; nothing on Postgres) otherwise; `seed` insists on
   * seeding; `backup` takes a fresh backup of the parent and restores it (data as of the fork, a
   * restored branch of `clusterSize`); `schema` never copies data. @default "auto"
   */
  data: z.enum(["auto", "seed", "backup", "schema"]).default("auto"),
  /** Cluster size of a branch restored from a backup (`data: "backup"`). @default "PS_10" */
  clusterSize: z
    .string()
    .regex(/^[A-Za-z0-9_-]+$/, "must be a cluster size such as PS_10")
    .default("PS_10"),
  /** Vitess: the role of each env's password. `admin` can change the schema (migrations). @default "admin" */
  passwordRole: z.enum(["reader", "writer", "readwriter", "admin"]).default("admin"),
  /** Postgres: the roles each env's role inherits. @default ["postgres"] */
  inheritedRoles: z
    .array(
      z.enum([
        "pg_checkpoint",
        "pg_create_subscription",
        "pg_maintain",
        "pg_monitor",
        "pg_read_all_data",
        "pg_read_all_settings",
        "pg_read_all_stats",
        "pg_signal_backend",
        "pg_stat_scan_tables",
        "pg_use_reserved_connections",
        "pg_write_all_data",
        "postgres",
      ]),
    )
    .min(1)
    .default(["postgres"]),
  /**
   * The query string of each `DATABASE_URL`, without `?`. @default `ssl={"rejectUnauthorized":true}`
   * (Vitess, as PlanetScale's Node.js guide writes it) or `sslmode=verify-full` (Postgres); "" for none.
   */
  urlQuery: z.string().optional(),
  /** How long `new` waits for a branch (and a backup) to be ready. @default 600000 (the pscale CLI's 10 min) */
  readyTimeoutMs: z.number().int().min(1_000).max(3_600_000).default(600_000),
  /** Time between readiness checks. @default 1 s, growing to 10 s */
  pollIntervalMs: z.number().int().min(10).max(60_000).optional(),
});

export type PlanetScaleOptions = z.output<typeof optionsSchema>;
