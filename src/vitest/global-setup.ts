/**
 * @module forkstack/vitest/global-setup
 * A vitest global setup file (`test.globalSetup: ["forkstack/vitest/global-setup"]`): checks the
 * template env once and deletes worker envs an interrupted run left; after the run, deletes those its
 * own workers could not. Options come from `test.provide.forkstack`.
 */
import { forkstackGlobalSetup } from "../vitest.js";

export default forkstackGlobalSetup();
