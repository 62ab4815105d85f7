/**
 * @module providers/database/_root-ref
 * The `roots.<env>.database` entry of the config for providers whose roots adopt a database by name
 * (`{ database: "shop_prod" }`), checked the same way everywhere.
 */
import { ProviderError } from "../../errors.js";
import type { EnvRef, RootRef } from "../types.js";

/** The database `ref` names, or undefined without a ref; a malformed ref is a config error. */
export function adoptedDatabaseName(
  provider: string,
  env: EnvRef,
  ref: RootRef | undefined,
): string | undefined {
  if (ref === undefined) return undefined;
  const named = ref.database;
  if (typeof named !== "string" || Object.keys(ref).length !== 1) {
    throw new ProviderError(
      provider,
      `\`roots.${env.name}.database\` must be { database: "<name>" }.`,
      "E_CONFIG_INVALID",
    );
  }
  return named;
}
