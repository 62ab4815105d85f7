/**
 * @module forkstack/testing
 * The conformance suites every forkstack provider passes, for third-party providers to run in their own
 * vitest tests. `vitest` is an optional peer dependency, loaded on demand, so this entry also imports
 * where it is not installed; `storageSuite` also needs `@aws-sdk/client-s3`. See docs/providers.md.
 *
 * @example
 * import { describe } from "vitest";
 * import { databaseSuite } from "forkstack/testing";
 * import myProvider from "./my-provider.js";
 *
 * describe("my provider", () => {
 *   databaseSuite({
 *     provider: (project) => myProvider({}, project.context),
 *     dialect: "sqlite",
 *     query: (url, authToken, sql) => runSql(url, authToken, sql),
 *   });
 * });
 */
export { databaseSuite, connectionOf } from "./suites/database.js";
export type { DatabaseSuiteContext, DatabaseSuiteOptions, QueryFn, Row } from "./suites/database.js";
export { storageSuite } from "./suites/storage.js";
export type { StorageSuiteContext, StorageSuiteOptions } from "./suites/storage.js";
export { secretsSuite, TRICKY_VALUES } from "./suites/secrets.js";
export type { SecretsSuiteContext, SecretsSuiteOptions } from "./suites/secrets.js";
export { localSuite } from "./suites/local.js";
export type { LocalSuiteContext, LocalSuiteOptions } from "./suites/local.js";
export { DEFAULT_TIMEOUT_MS, expectInfo, expectProviderError } from "./suites/harness.js";
export type {
  DataAccess,
  Occupy,
  SuiteContext,
  SuiteOptions,
  SuiteSkip,
  SuiteTest,
} from "./suites/harness.js";
export { appVars, envRef, tempProject, uniqueProjectName } from "./project.js";
export type { LogLine, TempProjectOptions, TestProject } from "./project.js";
export { coreDriver, throughJson } from "./core-driver.js";
export type { CoreDriver, ForkCallOptions } from "./core-driver.js";
export { DIALECTS, kvStatements, quoteIdentifier, quoteLiteral } from "./sql.js";
export type { Dialect, KvStatements } from "./sql.js";
export { createBucket, deleteBucket, putObject, readBucket } from "./s3.js";
export type * from "../providers/types.js";

// One env per test worker, for any runner (also `forkstack/testing/workers`, which loads no suite).
export {
  useWorkerEnv,
  workerEnvName,
  workerId,
  checkTemplateEnv,
  removeLeftoverWorkerEnvs,
  type WorkerEnv,
  type WorkerEnvOptions,
  type LeftoverPolicy,
  type LeftoverResult,
} from "./workers.js";
