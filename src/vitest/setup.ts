/**
 * @module forkstack/vitest/setup
 * A vitest setup file (`test.setupFiles: ["forkstack/vitest/setup"]`): forks this worker's env from
 * the template named by `test.provide.forkstack.from` before the test file is imported, and deletes it
 * after the file's tests. Top-level await, so the test file's own imports already see the worker's env.
 */
import { forkstackWorker } from "../vitest.js";

await forkstackWorker();
