/**
 * @module init
 * What `forkstack init` writes besides the env: the config of a stack, make targets, agent notes.
 * Loaded by `init` only (its own chunk), so no other command carries these templates.
 */
import { UsageError } from "../errors.js";
import { STACKS, availableStacks, missingProviders, type Stack, type StackVariable } from "./stacks.js";

export { configSource, availableStacks, type Stack, type StackVariable } from "./stacks.js";
export { planMake } from "./make.js";
export { planAgents } from "./agents.js";
export { applyChanges, type FileChange } from "./files.js";

/** The stack called `name`, or a usage error naming the ones that work here. */
export function resolveStack(name: string): Stack {
  const stack = STACKS.find((s) => s.name === name);
  const names = availableStacks().map((s) => s.name);
  if (!stack) {
    throw new UsageError(`Unknown stack ${JSON.stringify(name)}.`, { hint: `Stacks: ${names.join(", ")}.` });
  }
  const missing = missingProviders(stack);
  if (missing.length) {
    throw new UsageError(
      `The stack "${name}" needs the ${missing.join(", ")}, which this forkstack does not have.`,
      {
        hint: `Stacks that work here: ${names.join(", ")}.`,
      },
    );
  }
  return stack;
}

/** The stack's variables that are not set in `env` (empty counts as unset), with what goes in each. */
export function unsetVariables(stack: Stack, env: NodeJS.ProcessEnv = process.env): StackVariable[] {
  return stack.variables.filter(({ name }) => !env[name]?.trim());
}
