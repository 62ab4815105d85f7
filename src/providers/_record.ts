/**
 * @module providers/_record
 * Reading back what a provider recorded for a resource, so that `remove` acts on the record and never
 * on today's config (docs/providers.md, "Removing by the record"). A record is what `create`/`fork`
 * returned (the manifest's copy), or, for a step that a crash interrupted while making, what `target`
 * said it was about to make: then only `data` is there. Records written by older versions may lack
 * `data` fields; each provider falls back to what such a record does hold (`location`, `vars`), and
 * refuses when that is not enough, rather than guess from today's config.
 */
import { ProviderError } from "../errors.js";
import type { EnvRef, ResourceInfo } from "./types.js";

/** A step's target as the `recorded` argument of `remove`: the data alone, nothing for people or the app. */
export function targetInfo(data: Readonly<Record<string, unknown>>): ResourceInfo {
  return { location: "(the target of an interrupted step)", vars: {}, data };
}

/** A string the record's `data` holds under `key`, if it does. */
export function recordedString(recorded: ResourceInfo | undefined, key: string): string | undefined {
  const value = recorded?.data?.[key];
  return typeof value === "string" && value !== "" ? value : undefined;
}

/** A list of strings the record's `data` holds under `key`, if it does. */
export function recordedStrings(recorded: ResourceInfo | undefined, key: string): string[] | undefined {
  const value = recorded?.data?.[key];
  return Array.isArray(value) && value.every((v) => typeof v === "string" && v !== "")
    ? (value as string[])
    : undefined;
}

/** `remove` was given no record, or one that does not say which resource it is: nothing is removed. */
export function noRecord(provider: string, env: EnvRef, what: string): ProviderError {
  return new ProviderError(
    provider,
    `No record says which ${what} "${env.name}" has: nothing was removed (forkstack removes only what its record names, never what today's config would name).`,
    "E_NO_RECORD",
    {
      hint: `Restore .forkstack/envs/${env.name}/manifest.json if you have it; otherwise remove the ${what} in the backend by hand.`,
    },
  );
}

/**
 * The record says the resource was made elsewhere than where today's config points (another endpoint,
 * server, organization, project): removing the same name here could remove someone else's.
 */
export function madeElsewhere(
  provider: string,
  env: EnvRef,
  what: string,
  where: { recorded: string; now: string; key: string },
): ProviderError {
  return new ProviderError(
    provider,
    `The record of "${env.name}"'s ${what} says it was made at ${where.recorded}, but the config now points at ${where.now}: nothing was removed (forkstack removes a resource only where it made it).`,
    "E_CONFIG_INVALID",
    {
      hint: `Point \`${where.key}\` back at ${where.recorded} to remove it, or remove it there by hand.`,
    },
  );
}
