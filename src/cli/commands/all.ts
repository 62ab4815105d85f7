/**
 * @module cli/commands/all
 * Every command but `current`, with the core and the embedded providers they reach, in one module: the
 * build turns it into one chunk, so `new`, `list`, `env` or `run` load a few files instead of dozens of
 * small ones. `--help` and `current` never load it (`cli/main` imports it on demand).
 */
import type { CommandDef } from "../command.js";
import deleteCommand from "./delete.js";
import doctor from "./doctor.js";
import down from "./down.js";
import env from "./env.js";
import gc from "./gc.js";
import init from "./init.js";
import list from "./list.js";
import newCommand from "./new.js";
import reset from "./reset.js";
import run from "./run.js";
import secrets from "./secrets.js";
import storage from "./storage.js";
import switchCommand from "./switch.js";
import up from "./up.js";

export { openProject } from "../../core/project.js";
export { upgradeRecords } from "../../core/upgrade.js";

export const commands: Record<string, CommandDef> = {
  init,
  new: newCommand,
  switch: switchCommand,
  list,
  delete: deleteCommand,
  reset,
  env,
  run,
  secrets,
  gc,
  doctor,
  up,
  down,
  storage,
};
