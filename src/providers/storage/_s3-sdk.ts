/**
 * @module providers/storage/_s3-sdk
 * `@aws-sdk/client-s3` for the copy-fork providers (`s3`, `r2`), loaded on first use inside their
 * functions and never at import: it takes 0.4–0.7 s to load, and `forkstack current`, `--help` and the
 * runtime library must not pay for it (test/cli/fast-start.test.ts). It is an optional peer dependency,
 * so a project that names one of these providers installs it; a missing one is an error saying so.
 */
import type * as S3Sdk from "@aws-sdk/client-s3";
import { ProviderError } from "../../errors.js";
import type { StorageKeys } from "./_keys.js";

export type S3Module = typeof S3Sdk;

let loading: Promise<S3Module> | undefined;

export function loadS3Sdk(provider: string): Promise<S3Module> {
  // The SDK's notice about Node 20 support in 2027 is not the user's business on every command.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
  return (loading ??= import("@aws-sdk/client-s3").catch((error: unknown) => {
    loading = undefined;
    throw new ProviderError(
      provider,
      "The storage provider needs @aws-sdk/client-s3, which is not installed.",
      "E_PROVIDER_DEP_MISSING",
      { hint: "npm install @aws-sdk/client-s3", cause: error },
    );
  }));
}

export interface S3ClientSettings {
  readonly endpoint: string;
  readonly region: string;
  readonly forcePathStyle: boolean;
  readonly keys: StorageKeys;
  /** Sockets per host: as many as requests the copy keeps in flight. */
  readonly maxSockets: number;
}

export async function createS3Client(
  provider: string,
  settings: S3ClientSettings,
): Promise<{ sdk: S3Module; s3: S3Sdk.S3Client }> {
  const sdk = await loadS3Sdk(provider);
  const agent = { keepAlive: true, maxSockets: settings.maxSockets };
  const s3 = new sdk.S3Client({
    endpoint: settings.endpoint,
    region: settings.region,
    forcePathStyle: settings.forcePathStyle,
    credentials: settings.keys,
    // Server-side copies and deletes carry no payload worth a checksum; sending none keeps every
    // S3-compatible server (R2 in early 2025: docs/storage.md) happy.
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
    maxAttempts: 5,
    requestHandler: {
      httpAgent: agent,
      httpsAgent: agent,
      connectionTimeout: 10_000,
      requestTimeout: 120_000,
    },
  });
  return { sdk, s3 };
}

/** The S3 error code of a failed call (`NoSuchBucket`, …), or undefined when nothing answered. */
export function s3Code(error: unknown): string | undefined {
  if (!(error instanceof Error)) return undefined;
  // Network failures carry `$metadata` too, but no status: those are not answers from S3.
  if (s3Status(error) === undefined) return undefined;
  return (error as { Code?: string }).Code ?? error.name;
}

export function s3Status(error: unknown): number | undefined {
  return (error as { $metadata?: { httpStatusCode?: number } })?.$metadata?.httpStatusCode;
}
