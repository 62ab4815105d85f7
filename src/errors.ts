/**
 * @module errors
 * One error hierarchy for the whole product. Every error a user can cause carries a stable code and an
 * exit code; the CLI maps them to output in exactly one place (`cli/main.ts`). Never match on message text.
 */

/**
 * Every error code, its exit code, when it happens and what to do about it: the one table that the
 * CLI's exit codes come from and that `docs/errors.md` and `docs/troubleshooting.md` document (tests
 * keep them equal).
 */
export const ERROR_CODES = {
  E_USAGE: {
    exit: 2,
    when: "Bad flags, arguments or values (an unknown option, an invalid duration).",
    fix: "Read the hint, or `forkstack <command> --help` for the command's flags.",
  },
  E_CONFIG_NOT_FOUND: {
    exit: 1,
    when: "No `forkstack.config.*` in this directory or any above it.",
    fix: "Run `forkstack init` at the project root, or run the command from inside the project.",
  },
  E_CONFIG_INVALID: {
    exit: 1,
    when: "The config is not valid; the message names the key.",
    fix: "Fix the key the message names in `forkstack.config.*` (the hint says what is expected).",
  },
  E_CONFIG_EXISTS: {
    exit: 1,
    when: "`init` found a config already.",
    fix: "Nothing to do: the project is set up. `forkstack new <env>` makes an env; `init --make` / `--agents` add those alone.",
  },
  E_FILE_CONFLICT: {
    exit: 1,
    when: "`init --make`/`--agents` would clash with a file of yours (a same-named make target, an edited `Makefile.envs`, broken markers); nothing was written.",
    fix: "Rename or remove your clashing target, move your edited `Makefile.envs` away, or fix the markers; then run `init` again.",
  },
  E_INVALID_ENV_NAME: {
    exit: 1,
    when: "An env name (argument, `--env`, FORKSTACK_ENV, ENV, `.current-env`) breaks the naming rule.",
    fix: "Use lowercase letters, digits and single hyphens, short enough for every derived name (buckets: 63 characters).",
  },
  E_ENV_NOT_FOUND: {
    exit: 1,
    when: "No env by that name (or a fork's parent is gone).",
    fix: "`forkstack list` shows the envs; `forkstack new <env>` makes one.",
  },
  E_ENV_EXISTS: {
    exit: 1,
    when: "The env exists, or a backend already has a resource by its name that forkstack did not make.",
    fix: "Pick another name, or `forkstack delete` the old env first; a backend resource forkstack did not make is never taken over.",
  },
  E_ENV_BUSY: {
    exit: 1,
    when: "Another forkstack process is changing the env, a process holds its data open, or an earlier operation on it is unfinished.",
    fix: "Stop the process the message names (or wait for the other command), then retry; `--force` overrides a holder where offered.",
  },
  E_ENV_PROTECTED: {
    exit: 1,
    when: "`delete`/`reset` of a protected env without `--force`.",
    fix: "Add `--force` if you really mean to change `dev` or `prod`.",
  },
  E_ENV_HAS_CHILDREN: {
    exit: 1,
    when: "The env has forks that read through it (Tigris-like backends).",
    fix: "Delete the env's forks first (`forkstack list` shows them).",
  },
  E_ENV_BROKEN: {
    exit: 1,
    when: "The env is not ready (being made, interrupted, or broken).",
    fix: "Run `forkstack doctor`; `forkstack gc --yes` finishes or rolls back what was interrupted, or delete and re-make the env.",
  },
  E_CONFIRMATION_REQUIRED: {
    exit: 1,
    when: "A question needed an answer: pass `--yes` outside a terminal.",
    fix: "Pass `--yes` (scripts, CI) or run the command in a terminal to answer.",
  },
  E_UNSUPPORTED: {
    exit: 1,
    when: "The configured provider cannot do this (e.g. `--at` without history).",
    fix: "Use a provider that supports it, or do it in the backend's own tools.",
  },
  E_STATE_CORRUPT: {
    exit: 1,
    when: "A manifest or `.current-env` holds something forkstack did not write.",
    fix: "Restore or remove the file the message names (forkstack leaves it as it is); `forkstack doctor` checks the rest.",
  },
  E_NO_RECORD: {
    exit: 1,
    when: "A resource's record does not say what to remove (none was given, or it was edited or damaged); nothing was removed, since forkstack never works it out from today's config.",
    fix: "Restore the env's manifest (`.forkstack/envs/<env>/manifest.json`) if you have it; otherwise remove the resource the message names in its backend by hand.",
  },
  E_STATE_UNWRITABLE: {
    exit: 1,
    when: "`.forkstack/` is read-only or the disk is full.",
    fix: "Free disk space or make `.forkstack/` writable, then retry.",
  },
  E_PROVIDER: {
    exit: 1,
    when: "A backend failed; the message names the provider.",
    fix: "Read the provider's message; `forkstack doctor` checks each provider.",
  },
  E_PROVIDER_AUTH: {
    exit: 1,
    when: "A backend refused the credentials; the message names the variable.",
    fix: "Set or renew the credential in the variable the message names.",
  },
  E_PROVIDER_API: {
    exit: 1,
    when: "A backend's API answered an error; its message is included.",
    fix: "Read the backend's message (a quota, a name it refuses); retry later if it was overloaded.",
  },
  E_PROVIDER_DEP_MISSING: {
    exit: 1,
    when: "A provider needs a package that is not installed.",
    fix: "Install the package the message names in your project (`npm install <package>`).",
  },
  E_SERVER: {
    exit: 1,
    when: "The storage server or a backend cannot be reached, or timed out.",
    fix: "`forkstack up` starts the embedded storage server; check the network to a backend; `forkstack doctor` says which.",
  },
  E_PORT_IN_USE: {
    exit: 1,
    when: "The storage server's port is taken by another program.",
    fix: "Stop the program on that port, or set `storage.port` in the config to a free one.",
  },
  E_COMMAND_NOT_EXECUTABLE: {
    exit: 126,
    when: "`run`: the command is not executable.",
    fix: "`chmod +x` the script, or run it through its interpreter (`forkstack run -- node app.js`).",
  },
  E_COMMAND_NOT_FOUND: {
    exit: 127,
    when: "`run`: the command is not found.",
    fix: "Check the command's name and your `PATH` (`forkstack run -- npx <tool>` for a package's binary).",
  },
  E_INTERRUPTED: {
    exit: 130,
    when: "Interrupted (Ctrl-C); what was half made is rolled back.",
    fix: "Nothing: what was half made was rolled back. Run the command again.",
  },
  E_INTERNAL: {
    exit: 1,
    when: "A bug in forkstack: printed with a request to report it.",
    fix: "Report it with the output of `--verbose`.",
  },
} as const satisfies Record<string, { exit: number; when: string; fix: string }>;

export type ErrorCode = keyof typeof ERROR_CODES;

export interface ForkstackErrorOptions extends ErrorOptions {
  /** One line telling the user what to do next. */
  hint?: string;
}

/**
 * The brand every `ForkstackError` carries, under a registry symbol: an error from another copy of this
 * module (the CLI's bundle, the library's, a custom provider's own dependency) is recognised by it, so
 * error handling never depends on which copy of the class made the error.
 */
const BRAND: unique symbol = Symbol.for("forkstack.error") as never;

export class ForkstackError extends Error {
  declare readonly [BRAND]: true;
  readonly code: ErrorCode;
  readonly exitCode: number;
  readonly hint: string | undefined;

  constructor(message: string, code: ErrorCode, options: ForkstackErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.exitCode = ERROR_CODES[code].exit;
    this.hint = options.hint;
    Object.defineProperty(this, BRAND, { value: true });
  }

  /**
   * `error instanceof ForkstackError` holds for an error of any copy of forkstack (by the brand);
   * subclasses keep the ordinary prototype check.
   */
  static override [Symbol.hasInstance](value: unknown): boolean {
    if (this === ForkstackError) return isForkstackError(value);
    return Function.prototype[Symbol.hasInstance].call(this, value);
  }
}

/** Bad flags or arguments: exit 2. */
export class UsageError extends ForkstackError {
  constructor(message: string, options?: ForkstackErrorOptions) {
    super(message, "E_USAGE", options);
  }
}

/** Something the user can fix: bad config, unknown env, protected env. Exit 1, no stack trace. */
export class UserError extends ForkstackError {
  constructor(message: string, code: ErrorCode, options?: ForkstackErrorOptions) {
    super(message, code, options);
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
    super(`[${provider}] ${message}`, code, options);
    this.provider = provider;
  }
}

/**
 * A provider's `remove` was given no record, or one that does not say which resource it is: nothing is
 * removed, since forkstack never works out what to remove from today's config (docs/providers.md,
 * "Removing by the record").
 */
export function noRecordError(provider: string, env: string, what: string): ProviderError {
  return new ProviderError(
    provider,
    `No record says which ${what} "${env}" has: nothing was removed (forkstack removes only what its record names, never what today's config would name).`,
    "E_NO_RECORD",
    {
      hint: `Restore .forkstack/envs/${env}/manifest.json if you have it; otherwise remove the ${what} in the backend by hand.`,
    },
  );
}

/**
 * The record says the resource was made elsewhere than where today's config points (another endpoint,
 * server, organization, project): removing the same name here could remove someone else's. `key` is
 * the config key to point back.
 */
export function madeElsewhereError(
  provider: string,
  env: string,
  what: string,
  where: { recorded: string; now: string; key: string },
): ProviderError {
  return new ProviderError(
    provider,
    `The record of "${env}"'s ${what} says it was made at ${where.recorded}, but the config now points at ${where.now}: nothing was removed (forkstack removes a resource only where it made it).`,
    "E_CONFIG_INVALID",
    { hint: `Point \`${where.key}\` back at ${where.recorded} to remove it, or remove it there by hand.` },
  );
}

/**
 * An embedded service (the local storage server) is stopped — `forkstack down`, or never started — and
 * starts by itself on next use: what a read-only look (`list`, `doctor`) finds then is not a failure, and
 * is shown as "stopped", not as an error. Recognised by `isServiceStopped`, by a property rather than
 * the class, like every forkstack error (two builds hold two copies of this module).
 */
export class ServiceStoppedError extends ProviderError {
  readonly serviceStopped = true;
  constructor(provider: string, message: string, options?: ForkstackErrorOptions) {
    super(provider, message, "E_SERVER", options);
  }
}

export function isServiceStopped(error: unknown): error is ServiceStoppedError {
  return isForkstackError(error) && (error as { serviceStopped?: unknown }).serviceStopped === true;
}

/**
 * `forkstack run` could not start its command: exit 127 (not found) or 126 (not executable), the codes
 * a shell uses, so scripts that check them keep working.
 */
export class CommandStartError extends ForkstackError {
  constructor(message: string, notFound: boolean, options?: ForkstackErrorOptions) {
    super(message, notFound ? "E_COMMAND_NOT_FOUND" : "E_COMMAND_NOT_EXECUTABLE", options);
  }
}

/** The operation was interrupted (SIGINT): exit 130. */
export class InterruptedError extends ForkstackError {
  constructor(message = "Interrupted.") {
    super(message, "E_INTERRUPTED");
  }
}

/** A bug. Printed with a "please report" line and the stack under --verbose. */
export class InternalError extends ForkstackError {
  constructor(message: string, options?: ForkstackErrorOptions) {
    super(message, "E_INTERNAL", options);
  }
}

/** Any copy's `ForkstackError`: checked by its brand, not by class identity. */
export function isForkstackError(error: unknown): error is ForkstackError {
  return typeof error === "object" && error !== null && (error as { [BRAND]?: unknown })[BRAND] === true;
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
      hint: "Free some space (`forkstack gc --yes` deletes expired envs), then run the command again.",
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
