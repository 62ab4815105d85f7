/**
 * @module testing/project
 * A throwaway project for provider tests: a temp directory, the `ProviderContext` a factory gets, and a
 * logger that keeps every line so tests can assert warnings and that nothing secret was logged.
 *
 * The project name is unique per call (`fs-<random>`): a suite run against a shared cloud backend (a
 * Neon project, a Turso org, a Tigris account used by CI and developers at once) then never sees, lists
 * or deletes another run's resources, and `list()` of a fresh project is empty by construction.
 */
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { EnvRef, Logger, OpContext, ProviderContext, ResourceInfo } from "../providers/types.js";

export interface LogLine {
  readonly level: "debug" | "info" | "warn";
  readonly message: string;
}

export interface TestProject {
  /** The project directory (its name has a space and a `#`, to catch unescaped paths and URLs). */
  readonly root: string;
  /** What a provider factory gets: project name, root, `.forkstack/`, env dirs, the logger. */
  readonly context: ProviderContext;
  /** What each provider operation gets. */
  readonly op: OpContext;
  /** Everything providers logged. */
  readonly logs: LogLine[];
  /** Remove the directory (the suites remove the project's envs through the provider first). */
  cleanup(): Promise<void>;
}

export interface TempProjectOptions {
  /** @default a fresh `fs-<random>` name */
  readonly project?: string;
  /** Parent directory of the project directory. @default os.tmpdir() */
  readonly base?: string;
}

const ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789";

/**
 * `fs-` and 8 random characters of `a-z0-9` (41 bits): a valid project name (lowercase, short enough
 * for bucket names), unlikely to collide between concurrent runs sharing one backend.
 */
export function uniqueProjectName(): string {
  return `fs-${[...randomBytes(8)].map((b) => ALPHABET[b % ALPHABET.length]).join("")}`;
}

export async function tempProject(options: TempProjectOptions = {}): Promise<TestProject> {
  const project = options.project ?? uniqueProjectName();
  const root = await mkdtemp(join(options.base ?? tmpdir(), "forkstack test #"));
  const logs: LogLine[] = [];
  const log: Logger = {
    debug: (message) => void logs.push({ level: "debug", message }),
    info: (message) => void logs.push({ level: "info", message }),
    warn: (message) => void logs.push({ level: "warn", message }),
  };
  const dataDir = join(root, ".forkstack");
  const context: ProviderContext = {
    project,
    projectRoot: root,
    dataDir,
    envDir: (env) => join(dataDir, "envs", env),
    log,
  };
  return { root, context, op: { log }, logs, cleanup: () => rm(root, { recursive: true, force: true }) };
}

export function envRef(project: TestProject, name: string): EnvRef {
  return { name, project: project.context.project };
}

/**
 * Every variable the app would get from one resource: `vars` and `secretVars` together. A provider may
 * put any variable in either (a Neon or PlanetScale DATABASE_URL holds a password, so it is secret),
 * and code that reads a resource the way an app does must not care which.
 */
export function appVars(info: ResourceInfo): Record<string, string> {
  return { ...info.vars, ...info.secretVars };
}
