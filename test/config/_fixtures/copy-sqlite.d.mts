// Types for the example provider (a plain .mjs, as docs/providers.md shows it), for the tests that import it.
import type { z } from "zod";
import type { DatabaseProvider, ProviderFactory } from "../../../src/providers/types.js";

export declare const optionsSchema: z.ZodType<
  { dir: string; trace?: string },
  { dir?: string; trace?: string }
>;
declare const copySqlite: ProviderFactory<{ dir: string; trace?: string }, DatabaseProvider>;
export default copySqlite;
