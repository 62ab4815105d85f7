/**
 * @module providers/storage/_keys
 * The project's storage key for a cloud storage provider, read from environment variables whose names
 * the config may change. Read on first use (a factory does no checks), and a missing one is an error
 * that names the variable, never the value. Every env of the project shares this key: the app gets it
 * as `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` (docs/storage.md, "Credentials").
 */
import { ProviderError } from "../../errors.js";

export interface KeyVariables {
  readonly accessKeyIdEnv: string;
  readonly secretAccessKeyEnv: string;
  /** Temporary credentials (STS) also need a session token. */
  readonly sessionTokenEnv?: string | undefined;
}

export interface StorageKeys {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken?: string;
}

export function readKeys(
  provider: string,
  names: KeyVariables,
  env: Readonly<Record<string, string | undefined>> = process.env,
): StorageKeys {
  const missing = [names.accessKeyIdEnv, names.secretAccessKeyEnv].filter((name) => !env[name]?.trim());
  if (missing.length) {
    throw new ProviderError(
      provider,
      `${missing.join(" and ")} ${missing.length > 1 ? "are" : "is"} not set.`,
      "E_PROVIDER_AUTH",
      {
        hint: `Set ${missing.join(" and ")} to the project's ${provider} access key (in your shell or CI secrets), or name other variables in the storage config (\`accessKeyId: env("…")\`, \`secretAccessKey: env("…")\`).`,
      },
    );
  }
  const sessionToken = names.sessionTokenEnv ? env[names.sessionTokenEnv]?.trim() : undefined;
  return {
    accessKeyId: env[names.accessKeyIdEnv]!.trim(),
    secretAccessKey: env[names.secretAccessKeyEnv]!.trim(),
    ...(sessionToken ? { sessionToken } : {}),
  };
}
