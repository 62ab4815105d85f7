/**
 * @module providers/_options
 * Option schema pieces the API providers share (zod; imported only by `*.options.ts`, which load lazily).
 */
import { z } from "zod";

const VARIABLE = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * A credential option: never a value in the config (which is committed), always the environment
 * variable that holds it — `env("NEON_API_KEY")` in a TypeScript config, `{ "env": "NEON_API_KEY" }` in
 * JSON. Absent: `fallback`, the vendor's usual variable. A string is refused with a message saying why
 * (it would be the credential itself).
 */
export const fromEnv = (fallback: string) =>
  z
    .unknown()
    .optional()
    .transform((value, ctx): { env: string } => {
      if (value === undefined) return { env: fallback };
      const named = value && typeof value === "object" ? (value as Record<string, unknown>).env : undefined;
      if (typeof named === "string" && VARIABLE.test(named) && Object.keys(value as object).length === 1) {
        return { env: named };
      }
      ctx.addIssue({
        code: "custom",
        message:
          typeof value === "string"
            ? `must name the environment variable holding the credential, not hold it: env("${fallback}") (in JSON { "env": "${fallback}" })`
            : `must be env("NAME") (in JSON { "env": "NAME" }), naming an environment variable`,
      });
      return z.NEVER;
    });
