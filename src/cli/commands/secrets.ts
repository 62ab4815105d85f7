/**
 * `forkstack secrets set|unset`: change an env's secrets through its secrets provider, so nobody has
 * to know where the embedded provider keeps its file. A value can come from stdin (`set KEY` with no
 * `=`) to keep it out of shell history. Reading secrets is `forkstack env --reveal`.
 */
import { text } from "node:stream/consumers";
import { UsageError } from "../../errors.js";
import { changeSecrets } from "../../core/secrets.js";
import { currentEnvOf } from "../../core/switch.js";
import { UNWRITABLE_HINT, isVariableName, quoteValue } from "../../providers/secrets/dotenv.js";
import { flag, stringValue, type CommandDef } from "../command.js";

interface SecretsResult {
  readonly env: string;
  readonly action: "set" | "unset";
  readonly keys: string[];
}

async function readStdin(stdin: NodeJS.ReadableStream): Promise<string> {
  return (await text(stdin)).replace(/\r?\n$/, "");
}

/**
 * Every secret ends up in dotenv files (`.env.local`'s block, the dotenv provider's file, the runtime's
 * cache of a cloud provider's values): a name or value no dotenv file can hold is refused before
 * anything is written, whatever the provider, rather than break a later `switch`.
 */
function refuseUnwritable(key: string, value: string): void {
  if (!isVariableName(key)) {
    throw new UsageError(`Secret name ${JSON.stringify(key)} is not a valid variable name.`, {
      hint: "Use letters, digits and underscores, not starting with a digit.",
    });
  }
  const quoted = quoteValue(value);
  if (typeof quoted !== "string") {
    throw new UsageError(
      `The value of ${key} cannot be stored: it ${quoted.problem}, which no dotenv file can hold.`,
      {
        hint: UNWRITABLE_HINT,
      },
    );
  }
}

const command: CommandDef<SecretsResult> = {
  name: "secrets",
  summary: "Set or unset an env's secrets",
  usage: "forkstack secrets set|unset <KEY[=VALUE]>... [--env <env>]",
  description:
    "`set KEY=VALUE` stores a secret; `set KEY` reads the value from stdin. `unset KEY` removes it. " +
    "Values are never printed; `forkstack env --reveal` shows them.",
  options: {
    env: { type: "string", value: "<env>", description: "Env to change (default: the current env)" },
    "allow-empty": { type: "boolean", description: "Accept an empty value from stdin" },
  },
  positionals: ["action", "keys..."],
  examples: [
    "forkstack secrets set STRIPE_KEY=sk_test_123",
    "pbpaste | forkstack secrets set STRIPE_KEY --env alice",
  ],
  async run(ctx, args) {
    const [action, ...items] = args.positionals as [string, ...string[]];
    if (action !== "set" && action !== "unset") {
      throw new UsageError(`Unknown action ${JSON.stringify(action)}.`, {
        hint: "Use `secrets set` or `secrets unset`.",
      });
    }
    const project = await ctx.project();
    const env = currentEnvOf(project, stringValue(args, "env"));
    const keys: string[] = [];
    await changeSecrets(project, env, async (values) => {
      for (const item of items) {
        const eq = item.indexOf("=");
        const key = eq < 0 ? item : item.slice(0, eq);
        if (action === "unset") delete values[key];
        else if (eq >= 0) values[key] = item.slice(eq + 1);
        else if (items.length === 1) {
          const value = await readStdin(ctx.stdin);
          // An empty stdin is far more often a mistake (nothing piped, a failed command before the
          // pipe) than a wish to store '': refuse unless asked.
          if (value === "" && !flag(args, "allow-empty")) {
            throw new UsageError(`No value for ${key} on stdin.`, {
              hint: `Pipe the value in (\`printf %s "$VALUE" | forkstack secrets set ${key}\`), or pass --allow-empty to store an empty one.`,
            });
          }
          values[key] = value;
        } else
          throw new UsageError(`No value for ${key}.`, {
            hint: "Use KEY=VALUE, or one KEY with the value on stdin.",
          });
        if (action === "set") refuseUnwritable(key, values[key]!);
        keys.push(key);
      }
    });
    return { env, action, keys };
  },
  render(result, io) {
    const verb = result.action === "set" ? "Set" : "Unset";
    io.err(`${io.paint("green", "✓")} ${verb} ${result.keys.join(", ")} in ${result.env}.`);
  },
};

export default command;
