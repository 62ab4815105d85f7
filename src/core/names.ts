/**
 * @module core/names
 * The one place env names are checked. A name must work for every resource it becomes on every
 * backend (bucket names are 3–63 chars of a-z0-9-; database branch names have their own limits), so a
 * name that works locally also works on Tigris, S3 and R2. Providers add their rules via `checkName`.
 */
import { UserError } from "../errors.js";
import type { EnvRef, Provider } from "../providers/types.js";
import { ENV_NAME_PATTERN, ENV_NAME_RULE, MAX_ENV_NAME } from "../layout.js";

export { MAX_ENV_NAME };

export function checkEnvName(name: string, project: string, providers: readonly Provider[] = []): EnvRef {
  const fail = (problem: string): never => {
    throw new UserError(`Invalid env name ${JSON.stringify(name)}: ${problem}.`, "E_INVALID_ENV_NAME", {
      hint: `Env names are ${ENV_NAME_RULE}, at most ${MAX_ENV_NAME} characters.`,
    });
  };
  if (name.length === 0) fail("it is empty");
  if (name.length > MAX_ENV_NAME) fail(`it is ${name.length} characters long, the limit is ${MAX_ENV_NAME}`);
  if (!ENV_NAME_PATTERN.test(name)) {
    const bad = [...new Set(name.replace(/[a-z0-9-]/g, ""))].map((c) => JSON.stringify(c)).join(", ");
    if (bad) fail(`it contains ${bad}`);
    fail("hyphens may only separate letters and digits (no leading, trailing or double hyphen)");
  }
  const env: EnvRef = { name, project };
  const problems = providers.flatMap((provider) => provider.checkName?.(env) ?? []);
  if (problems.length) fail(problems.join("; "));
  return env;
}
