/**
 * @module init/make
 * `forkstack init --make`: the pattern's make targets (`make envs-new NAME=alice`, `make up`, …) in a
 * `Makefile.envs` of forkstack's, each a thin call of the CLI, and an `include` of it in a marked block
 * of the user's Makefile. A target of theirs with the same name is a conflict: refused, naming it
 * (make would otherwise silently run one recipe of the two).
 */
import { join } from "node:path";
import { findBlock } from "../core/marked-block.js";
import { conflict, ownFile, readIfExists, setBlock, type FileChange } from "./files.js";

export const MAKE_MARKERS = {
  begin: "# >>> forkstack (managed: forkstack init --make rewrites this block) >>>",
  end: "# <<< forkstack <<<",
};

const RERUN = "forkstack init --make";

/** The targets Makefile.envs defines, with what each runs (its help line). */
export const MAKE_TARGETS: Readonly<Record<string, { call: string; what: string; recipe: string[] }>> = {
  "envs-new": {
    call: "make envs-new NAME=alice [FROM=dev] [TTL=4h]",
    what: "fork an env and switch to it",
    recipe: [
      "$(call need-name,envs-new)",
      "$(FORKSTACK) new $(NAME)$(if $(FROM), --from $(FROM))$(if $(TTL), --ttl $(TTL))",
    ],
  },
  "envs-switch": {
    call: "make envs-switch NAME=alice",
    what: "make an env current (restart your app)",
    recipe: ["$(call need-name,envs-switch)", "$(FORKSTACK) switch $(NAME)"],
  },
  "envs-list": {
    call: "make envs-list",
    what: "every env, its parent and status",
    recipe: ["$(FORKSTACK) list"],
  },
  "envs-current": { call: "make envs-current", what: "the current env", recipe: ["$(FORKSTACK) current"] },
  "envs-reset": {
    call: "make envs-reset NAME=alice",
    what: "throw an env's changes away (re-fork it)",
    recipe: ["$(call need-name,envs-reset)", "$(FORKSTACK) reset $(NAME)"],
  },
  "envs-delete": {
    call: "make envs-delete NAME=alice [YES=1]",
    what: "delete an env (asks first unless YES=1)",
    recipe: ["$(call need-name,envs-delete)", "$(FORKSTACK) delete $(NAME)$(if $(YES), --yes)"],
  },
  up: { call: "make up", what: "start the embedded storage server", recipe: ["$(FORKSTACK) up"] },
  down: { call: "make down", what: "stop it", recipe: ["$(FORKSTACK) down"] },
};

export function makefileEnvs(): string {
  const width = Math.max(...Object.values(MAKE_TARGETS).map((t) => t.call.length));
  const usage = Object.values(MAKE_TARGETS).map((t) => `#   ${t.call.padEnd(width)}  ${t.what}`);
  const targets = Object.entries(MAKE_TARGETS).map(
    ([name, t]) => `${name}:\n${t.recipe.map((line) => `\t${line}`).join("\n")}`,
  );
  return `# Env targets for forkstack, each one CLI command. Written by \`forkstack init --make\`, included
# from your Makefile. Usage:
${usage.join("\n")}

# The project's own forkstack when installed (fast), else npx. Override: make FORKSTACK=… <target>
FORKSTACK ?= $(if $(wildcard node_modules/.bin/forkstack),node_modules/.bin/forkstack,npx forkstack)
need-name = @test -n "$(NAME)" || { echo "usage: make $(1) NAME=<env>" >&2; exit 2; }

.PHONY: ${Object.keys(MAKE_TARGETS).join(" ")}

${targets.join("\n\n")}
`;
}

/** Target names a Makefile defines (`a b: deps`, `a:: deps`), not counting `VAR := value`. */
export function targetsIn(text: string): Set<string> {
  const found = new Set<string>();
  for (const line of text.split(/\r?\n/)) {
    const rule = /^([^\t#=:][^#=:]*?)\s*::?(?!=)/.exec(line);
    if (rule) for (const name of rule[1]!.trim().split(/\s+/)) found.add(name);
  }
  return found;
}

/** The changes `--make` makes in `dir`: Makefile.envs, and the include block in the Makefile. */
export async function planMake(dir: string): Promise<FileChange[]> {
  const envsPath = join(dir, "Makefile.envs");
  const makefilePath = join(dir, "Makefile");
  const envs = ownFile(await readIfExists(envsPath), makefileEnvs(), envsPath, RERUN);
  const makefile = await readIfExists(makefilePath);
  const search = makefile === undefined ? undefined : findBlock(makefile, MAKE_MARKERS);
  const outside =
    search && "found" in search && search.found ? search.before + search.after : (makefile ?? "");
  const clashes = [...targetsIn(outside)].filter((name) => Object.hasOwn(MAKE_TARGETS, name));
  if (clashes.length) {
    throw conflict(
      `${makefilePath} already has target(s) ${clashes.join(", ")}, which Makefile.envs defines too; ` +
        "make would run only one of the two recipes. Nothing was written.",
      `Rename or remove yours, then run \`${RERUN}\` again (or include Makefile.envs yourself and skip --make).`,
    );
  }
  return [envs, setBlock(makefile, MAKE_MARKERS, "include Makefile.envs\n", makefilePath, RERUN)];
}
