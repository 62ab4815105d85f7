/**
 * Error identity does not depend on one copy of the error classes: the CLI and the runtime library are
 * separate bundles, and a custom provider may bring its own copy of forkstack.
 */
import { describe, expect, it } from "vitest";
import * as ours from "../../src/errors.js";

describe("errors: identity across copies", () => {
  it("an error made by another copy of errors.ts is a ForkstackError here, with its code", async () => {
    // A query string makes the module loader evaluate a second, independent copy of the module.
    const specifier = "../../src/errors.js?copy";
    const other = (await import(/* @vite-ignore */ specifier)) as typeof ours;
    expect(other.ForkstackError).not.toBe(ours.ForkstackError);
    const error = new other.UserError("no such env", "E_ENV_NOT_FOUND", { hint: "list them" });
    expect(ours.isForkstackError(error)).toBe(true);
    expect(error instanceof ours.ForkstackError).toBe(true);
    expect(ours.friendlySystemError(error)).toBe(error);
    expect(error).toMatchObject({ code: "E_ENV_NOT_FOUND", exitCode: 1, hint: "list them" });
  });

  it("subclasses keep the ordinary instanceof; plain errors are not ForkstackErrors", () => {
    const usage = new ours.UsageError("bad flag");
    expect(usage instanceof ours.ForkstackError).toBe(true);
    expect(usage instanceof ours.UsageError).toBe(true);
    expect(usage instanceof ours.UserError).toBe(false);
    expect(ours.isForkstackError(new Error("x"))).toBe(false);
    expect(ours.isForkstackError({ code: "E_USAGE" })).toBe(false);
    expect(ours.isForkstackError(null)).toBe(false);
    expect(new Error("x") instanceof ours.ForkstackError).toBe(false);
  });
});
