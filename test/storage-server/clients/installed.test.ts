/**
 * The client tests skip a client that is not installed, so a developer without them can still run
 * `npm test`. In CI (where `.ci/run` installs them) a missing client must fail instead of skipping.
 */
import { describe, expect, it } from "vitest";
import { findAwsClis, findOnPath } from "./harness.js";

describe("clients: installed in CI", () => {
  it.runIf(!!process.env.CI)("aws, rclone and s3cmd are all available", () => {
    expect(findAwsClis().length).toBeGreaterThan(0);
    expect(findOnPath("rclone")).not.toEqual([]);
    expect(findOnPath("s3cmd")).not.toEqual([]);
  });
});
