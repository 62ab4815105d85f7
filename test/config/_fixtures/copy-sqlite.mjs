// A custom database provider, the example of docs/providers.md: one SQLite file per env, forked by a
// plain file copy. An empty file is a valid empty SQLite database, so it needs no SQLite library.
// `data` records the file's path; `fork`, `describe` and `remove` use it when the core passes it back,
// since `dir` in the config may have changed since the env was made.
import { appendFile, copyFile, constants, mkdir, readdir, rm, stat, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { ProviderError } from "forkstack";
import { z } from "zod";

export const optionsSchema = z.strictObject({
  /** Where the database files go, relative to the project root. */
  dir: z.string().default(".forkstack/copy-sqlite"),
  /** Append each call and the recorded info it was given to this file (for tests). */
  trace: z.string().optional(),
});

/** @type {import("forkstack").ProviderFactory<z.output<typeof optionsSchema>, import("forkstack").DatabaseProvider>} */
export default function copySqlite(options, context) {
  const name = "copy-sqlite";
  const dir = resolve(context.projectRoot, options.dir);
  const newFile = (env) => join(dir, `${env.name}.sqlite`);
  const fileOf = (env, recorded) => recorded?.data?.file ?? newFile(env);
  const trace = (call) =>
    options.trace
      ? appendFile(resolve(context.projectRoot, options.trace), `${JSON.stringify(call)}\n`)
      : undefined;

  /** @returns {Promise<import("forkstack").ResourceInfo | null>} */
  const describe = async (env, recorded, extra = {}) => {
    const path = fileOf(env, recorded);
    const found = await stat(path).catch(() => null);
    if (!found) return null;
    const url = `file:${pathToFileURL(path).pathname}`;
    return {
      location: path,
      bytes: found.size,
      vars: { DATABASE_URL: url },
      data: { file: path },
      ...extra,
    };
  };
  const exists = (env) =>
    new ProviderError(name, `A database for "${env.name}" already exists in ${dir}.`, "E_ENV_EXISTS");

  return {
    kind: "database",
    name,
    flags: { copyOnWrite: false, private: true },
    async create(env) {
      await mkdir(dir, { recursive: true, mode: 0o700 });
      await writeFile(fileOf(env), "", { flag: "wx", mode: 0o600 }).catch((error) => {
        throw error.code === "EEXIST" ? exists(env) : error;
      });
      await trace({ op: "create", env: env.name });
      return describe(env, undefined, { method: "empty", bytesAdded: 0 });
    },
    async fork(parent, child, _op, forkOptions) {
      await trace({ op: "fork", env: child.name, parent: forkOptions?.parent ?? null });
      const from = fileOf(parent, forkOptions?.parent);
      if (!(await stat(from).catch(() => null))) {
        throw new ProviderError(name, `"${parent.name}" has no database to fork.`, "E_ENV_NOT_FOUND");
      }
      await copyFile(from, fileOf(child), constants.COPYFILE_EXCL).catch((error) => {
        throw error.code === "EEXIST" ? exists(child) : error;
      });
      return describe(child, undefined, { method: "copy" });
    },
    // What `create`/`fork` is about to make, recorded by the core first: a crash before they return
    // is rolled back by `remove` with this as `data`.
    target: (env) => ({ file: newFile(env) }),
    async remove(env, _op, recorded) {
      await trace({ op: "remove", env: env.name, recorded: recorded ?? null });
      // Only the file the record names, never the one today's `dir` would name.
      const file = recorded?.data?.file;
      if (typeof file !== "string") {
        throw new ProviderError(name, `No record names the file of "${env.name}".`, "E_NO_RECORD");
      }
      await rm(file, { force: true });
    },
    describe: (env, _op, recorded) => describe(env, recorded),
    async list() {
      const names = await readdir(dir).catch(() => []);
      return names
        .filter((n) => n.endsWith(".sqlite"))
        .map((n) => n.slice(0, -".sqlite".length))
        .sort();
    },
  };
}
