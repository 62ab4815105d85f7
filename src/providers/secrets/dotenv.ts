/**
 * @module providers/secrets/dotenv
 * The embedded secrets store: one dotenv file per env at `.forkstack/envs/<env>/secrets.env`, mode 0600.
 *
 * Files are parsed with Node's own `util.parseEnv`, so what a user writes by hand reads the way Node's
 * `--env-file` would read it. How values are written (`quoteValue`) is shared with every dotenv file
 * forkstack writes (`.env.local`'s block, `forkstack env`): see docs/secrets.md, "How values are written".
 */
import { chmod, readFile, readdir, rm, stat } from "node:fs/promises";
import { dirname, join } from "node:path";
import { parseEnv } from "node:util";
import { ProviderError, errnoCode } from "../../errors.js";
import type {
  DoctorFinding,
  EnvRef,
  OpContext,
  ProviderFactory,
  ResourceInfo,
  SecretsProvider,
} from "../types.js";
import {
  ensurePrivateDir,
  fsError,
  listEnvsWith,
  recordedOwnFile,
  writeFileDurable,
} from "../_internal/files.js";

export interface DotenvOptions {
  /**
   * What to do with a secrets file that others may read (mode wider than 0600, e.g. after a `chmod` or a
   * copy by hand). `false`: tighten it to 0600 and log a warning, so work goes on and the file is safe
   * from then on. `true`: refuse to read it until the user fixes it, for shared machines where the
   * exposure itself must be looked at.
   * @default false
   */
  strictPermissions?: boolean;
}

const PROVIDER_NAME = "dotenv";
const SECRETS_FILE = "secrets.env";
const FILE_MODE = 0o600;
/** What `process.env` and shells accept as a variable name. */
const KEY_PATTERN = /^[A-Za-z_][A-Za-z0-9_]*$/;
export const isVariableName = (key: string) => KEY_PATTERN.test(key) && key !== "__proto__";

/**
 * A line that a reader going line by line (`docker --env-file`, a shell loop, grep) would take for a
 * variable of its own, or one of forkstack's block markers (core/env-local.ts): such a line must never
 * be a line of a multi-line value.
 */
const ASSIGNMENT_LINE = /^\s*(?:export\s+)?[\w.-]+\s*=/;
const MARKER_LINE = /^\s*#\s*(?:>>>|<<<)\s*forkstack\b/;

/**
 * Inside double quotes both parsers turn the two characters `\n` into a newline (and the `dotenv`
 * package `\r` into a carriage return) and neither knows an escaped quote, so a value fits there only
 * without a double quote or such a pair of its own.
 */
const fitsDoubleQuotes = (value: string) => !value.includes('"') && !/\\[nr]/.test(value);

/** A one-line value: the first quote style it does not contain, else bare if nothing is lost so. */
function quoteOneLine(value: string): string | undefined {
  if (!value.includes("'")) return `'${value}'`;
  if (!value.includes("`")) return `\`${value}\``;
  if (fitsDoubleQuotes(value)) return `"${value}"`;
  // All three quote characters: bare, which parsers read to the end of the line, trimmed, cut at `#`.
  if (/^[^\s'"`#][^#]*$/.test(value) && !/\s$/.test(value)) return value;
  return undefined;
}

/**
 * Quote one value so that Node's `util.parseEnv` and the `dotenv` package both give it back unchanged
 * and no line of the file reads as another variable or as a block marker; or say why that is impossible.
 * A multi-line value goes on one line with its newlines as `\n` inside double quotes (the `dotenv`
 * package's own way); one that cannot (it holds a double quote or a `\n` of its own) spans lines inside
 * single quotes or backticks, if none of its lines could be taken for a variable or a marker.
 */
export function quoteValue(value: string): string | { problem: string } {
  // `dotenv` reads every carriage return as a line end and Node drops them; nobody keeps a NUL.
  if (/[\r\0]/.test(value)) return { problem: "contains a carriage return or NUL character" };
  if (!value.includes("\n")) {
    return (
      quoteOneLine(value) ?? {
        problem:
          "contains single quotes, backticks and double quotes (or `\\n`) at once, and a `#` or spaces at an end",
      }
    );
  }
  if (fitsDoubleQuotes(value)) return `"${value.replaceAll("\n", "\\n")}"`;
  const later = value.split("\n").slice(1);
  if (later.some((line) => ASSIGNMENT_LINE.test(line) || MARKER_LINE.test(line))) {
    return {
      problem:
        "spans lines, one of which reads as a variable or a forkstack marker of its own, and holds a double quote or a `\\n`, so it cannot be written on one line",
    };
  }
  if (!value.includes("'")) return `'${value}'`;
  if (!value.includes("`")) return `\`${value}\``;
  return { problem: "spans lines and contains single quotes, backticks and double quotes at once" };
}

/** What to do about a value no dotenv quoting can carry. */
export const UNWRITABLE_HINT =
  "Store it encoded (base64, or JSON on one line), or drop the character the message names; docs/secrets.md says what each dotenv parser can read.";

/** Serialise secrets in dotenv format; throws a ProviderError naming the first key that cannot be stored. */
export function formatDotenv(values: Record<string, string>): string {
  let text = "";
  for (const [key, value] of Object.entries(values)) {
    if (!isVariableName(key)) {
      throw new ProviderError(
        PROVIDER_NAME,
        `Secret name "${key}" is not a valid variable name.`,
        "E_USAGE",
        {
          hint: "Use letters, digits and underscores, not starting with a digit.",
        },
      );
    }
    if (typeof value !== "string") {
      throw new ProviderError(PROVIDER_NAME, `Secret ${key} is not a string.`, "E_USAGE");
    }
    const quoted = quoteValue(value);
    if (typeof quoted !== "string") {
      throw new ProviderError(
        PROVIDER_NAME,
        `The value of secret ${key} cannot be stored: it ${quoted.problem}.`,
        "E_USAGE",
        { hint: UNWRITABLE_HINT },
      );
    }
    text += `${key}=${quoted}\n`;
  }
  return text;
}

const provider: ProviderFactory<DotenvOptions, SecretsProvider> = (options, context) => {
  const filePath = (env: EnvRef | string) =>
    join(context.envDir(typeof env === "string" ? env : env.name), SECRETS_FILE);

  const notFound = (env: EnvRef, path: string) =>
    new ProviderError(
      PROVIDER_NAME,
      `Env "${env.name}" has no secrets file (no ${path}).`,
      "E_ENV_NOT_FOUND",
    );

  const exists = (env: EnvRef, path: string) =>
    new ProviderError(
      PROVIDER_NAME,
      `Secrets for env "${env.name}" already exist at ${path}.`,
      "E_ENV_EXISTS",
    );

  /** Read a secrets file, enforcing 0600 per `strictPermissions`. Returns null if it does not exist. */
  const readChecked = async (env: EnvRef, op: OpContext): Promise<string | null> => {
    const path = filePath(env);
    try {
      const mode = (await stat(path)).mode & 0o777;
      if (mode & ~FILE_MODE) {
        const octal = mode.toString(8).padStart(4, "0");
        if (options.strictPermissions) {
          throw new ProviderError(
            PROVIDER_NAME,
            `${path} has mode ${octal}: others may have read these secrets.`,
            "E_PROVIDER",
            {
              hint: `Check who could read it, rotate what leaked, then \`chmod 600 ${path}\`.`,
            },
          );
        }
        await chmod(path, FILE_MODE);
        op.log.warn(`[${PROVIDER_NAME}] ${path} had mode ${octal}; set it to 0600. Others may have read it.`);
      }
      return await readFile(path, "utf8");
    } catch (error) {
      if (errnoCode(error) === "ENOENT") return null;
      throw fsError(PROVIDER_NAME, `read the secrets of "${env.name}"`, path, error);
    }
  };

  /** Publish a new secrets file that must not exist yet (create, fork). */
  const writeNew = async (env: EnvRef, text: string) => {
    const path = filePath(env);
    try {
      await ensurePrivateDir(dirname(path));
      await writeFileDurable(path, text, { mode: FILE_MODE, replace: false });
    } catch (error) {
      if (errnoCode(error) === "EEXIST") throw exists(env, path);
      throw fsError(PROVIDER_NAME, `write the secrets of "${env.name}"`, path, error);
    }
  };

  const info = async (env: EnvRef, extra: Partial<ResourceInfo> = {}): Promise<ResourceInfo | null> => {
    const path = filePath(env);
    try {
      const { size } = await stat(path);
      // Secrets go to the app through `read`, never through `vars` (which `forkstack env` shows unmasked).
      // `data.file` lets the runtime library's `secret()` read the file without loading this provider.
      return { location: path, bytes: size, vars: {}, data: { file: path }, ...extra };
    } catch (error) {
      if (errnoCode(error) === "ENOENT") return null;
      throw fsError(PROVIDER_NAME, `read the secrets of "${env.name}"`, path, error);
    }
  };

  return {
    kind: "secrets",
    name: PROVIDER_NAME,
    // Secrets files are a few hundred bytes: a copy is as cheap as any clone.
    flags: { copyOnWrite: false, private: true },

    async create(env, op) {
      op.signal?.throwIfAborted();
      await writeNew(env, "");
      return (await info(env, { method: "empty", bytesAdded: 0 }))!;
    },

    async fork(parent, child, op) {
      op.signal?.throwIfAborted();
      const text = await readChecked(parent, op);
      if (text === null) throw notFound(parent, filePath(parent));
      // A byte copy keeps the user's comments and layout; the file is small, so reading it is fine.
      await writeNew(child, text);
      const made = (await info(child, { method: "copy" }))!;
      return { ...made, bytesAdded: made.bytes };
    },

    async read(env, op) {
      const text = await readChecked(env, op);
      if (text === null) throw notFound(env, filePath(env));
      return { ...parseEnv(text) } as Record<string, string>;
    },

    async write(env, values, op) {
      op.signal?.throwIfAborted();
      const path = filePath(env);
      const text = formatDotenv(values);
      try {
        await stat(path);
        await writeFileDurable(path, text, { mode: FILE_MODE, replace: true });
      } catch (error) {
        if (errnoCode(error) === "ENOENT") throw notFound(env, path);
        throw fsError(PROVIDER_NAME, `write the secrets of "${env.name}"`, path, error);
      }
      op.log.debug(`[${PROVIDER_NAME}] wrote ${Object.keys(values).length} secrets to ${path}`);
    },

    target: (env) => ({ file: filePath(env) }),

    async remove(env, _op, recorded) {
      const path = recordedOwnFile(PROVIDER_NAME, env, recorded, filePath(env), "secrets file");
      const dir = dirname(path);
      try {
        await rm(path, { force: true });
        // Temp files of a write that crashed midway hold secrets too.
        for (const name of await readdir(dir).catch(() => [] as string[])) {
          if (name.startsWith(`.${SECRETS_FILE}.`)) await rm(join(dir, name), { force: true });
        }
      } catch (error) {
        throw fsError(PROVIDER_NAME, `remove the secrets of "${env.name}"`, path, error);
      }
    },

    describe: (env) => info(env),

    list: () => listEnvsWith(context, SECRETS_FILE),

    async doctor() {
      const findings: DoctorFinding[] = [];
      for (const name of await listEnvsWith(context, SECRETS_FILE)) {
        const path = filePath(name);
        const mode = (await stat(path)).mode & 0o777;
        if (mode & ~FILE_MODE) {
          findings.push({ level: "warn", message: `${path} has mode ${mode.toString(8)}; it should be 600` });
        }
      }
      if (findings.length === 0) findings.push({ level: "ok", message: "secrets files are private (0600)" });
      return findings;
    },
  };
};

export default provider;
