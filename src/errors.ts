/**
 * @module errors
 * One error hierarchy for the whole product. Every error a user can cause carries a stable code and an
 * exit code; the CLI maps them to output in exactly one place (`cli/main.ts`). Never match on message text.
 */

export type ErrorCode =
  | "E_USAGE"
  | "E_CONFIG_NOT_FOUND"
  | "E_CONFIG_INVALID"
  | "E_CONFIG_EXISTS"
  | "E_INVALID_ENV_NAME"
  | "E_ENV_NOT_FOUND"
  | "E_ENV_EXISTS"
  | "E_ENV_BUSY"
  | "E_ENV_PROTECTED"
  | "E_ENV_HAS_CHILDREN"
  | "E_ENV_BROKEN"
  | "E_CONFIRMATION_REQUIRED"
  | "E_STATE_CORRUPT"
  | "E_STATE_UNWRITABLE"
  | "E_PROVIDER"
  | "E_PROVIDER_AUTH"
  | "E_PROVIDER_API"
  | "E_PROVIDER_DEP_MISSING"
  | "E_SERVER"
  | "E_PORT_IN_USE"
  | "E_INTERRUPTED"
  | "E_COMMAND_NOT_FOUND"
  | "E_COMMAND_NOT_EXECUTABLE"
  | "E_INTERNAL";

export interface ForkstackErrorOptions extends ErrorOptions {
  /** One line telling the user what to do next. */
  hint?: string;
}

export class ForkstackError extends Error {
  readonly code: ErrorCode;
  readonly exitCode: number;
  readonly hint: string | undefined;

  constructor(message: string, code: ErrorCode, exitCode = 1, options: ForkstackErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.exitCode = exitCode;
    this.hint = options.hint;
  }
}

/** Bad flags or arguments: exit 2. */
export class UsageError extends ForkstackError {
  constructor(message: string, options?: ForkstackErrorOptions) {
    super(message, "E_USAGE", 2, options);
  }
}

/** Something the user can fix: bad config, unknown env, protected env. Exit 1, no stack trace. */
export class UserError extends ForkstackError {
  constructor(message: string, code: ErrorCode, options?: ForkstackErrorOptions) {
    super(message, code, 1, options);
  }
}

/** A provider's backend failed. The message names the provider; the cause is kept for `--verbose`. */
export class ProviderError extends ForkstackError {
  readonly provider: string;
  constructor(
    provider: string,
    message: string,
    code: ErrorCode = "E_PROVIDER",
    options?: ForkstackErrorOptions,
  ) {
    super(`[${provider}] ${message}`, code, 1, options);
    this.provider = provider;
  }
}

/**
 * `forkstack run` could not start its command: exit 127 (not found) or 126 (not executable), the codes
 * a shell uses, so scripts that check them keep working.
 */
export class CommandStartError extends ForkstackError {
  constructor(message: string, notFound: boolean, options?: ForkstackErrorOptions) {
    super(
      message,
      notFound ? "E_COMMAND_NOT_FOUND" : "E_COMMAND_NOT_EXECUTABLE",
      notFound ? 127 : 126,
      options,
    );
  }
}

/** The operation was interrupted (SIGINT): exit 130. */
export class InterruptedError extends ForkstackError {
  constructor(message = "Interrupted.") {
    super(message, "E_INTERRUPTED", 130);
  }
}

/** A bug. Printed with a "please report" line and the stack under --verbose. */
export class InternalError extends ForkstackError {
  constructor(message: string, options?: ForkstackErrorOptions) {
    super(message, "E_INTERNAL", 1, options);
  }
}

export function isForkstackError(error: unknown): error is ForkstackError {
  return error instanceof ForkstackError;
}

/** Node system errors carry a string `code` (ENOENT, EACCES, ENOSPC, …). */
export function errnoCode(error: unknown): string | undefined {
  if (error && typeof error === "object" && "code" in error && typeof error.code === "string") {
    return error.code;
  }
  return undefined;
}

/**
 * OS and SQLite errors that reach the top turned into something the user can act on; anything else
 * is returned unchanged (and reported as a bug).
 */
export function friendlySystemError(error: unknown): unknown {
  if (isForkstackError(error)) return error;
  const code = errnoCode(error) ?? "";
  const detail = (error as Error)?.message ?? String(error);
  if (
    code === "ENOSPC" ||
    code === "EDQUOT" ||
    code === "SQLITE_FULL" ||
    /disk is full|disk I\/O error/i.test(detail)
  ) {
    return new UserError(`The disk is full or failed while writing (${detail}).`, "E_STATE_UNWRITABLE", {
      cause: error,
      hint: "Free some space (`forkstack gc` deletes expired envs), then run the command again.",
    });
  }
  if (code === "EACCES" || code === "EPERM" || code === "EROFS" || code.startsWith("SQLITE_READONLY")) {
    return new UserError(`Permission denied or read-only filesystem (${detail}).`, "E_STATE_UNWRITABLE", {
      cause: error,
      hint: "Make the project's .forkstack/ directory writable, then run the command again.",
    });
  }
  return error;
}
