/**
 * @module core/secrets
 * Changing an env's secrets through its secrets provider (`forkstack secrets set|unset`).
 *
 * Not journaled, because a crash cannot leave it half done: the change is one write, which the
 * embedded `dotenv` provider makes atomically (a temp file renamed over the old one; see
 * providers/secrets/dotenv.ts), so a kill leaves the old secrets or the new ones, never part of each.
 * The runtime library's copy of a non-file provider's values (core/variables.ts) is refreshed after
 * the write; a crash between leaves that copy as it was until the next command that reads the env's
 * secrets (`run`, `env`, `switch`), as after a change made in the provider's own dashboard.
 */
import { UserError } from "../errors.js";
import type { SecretsProvider } from "../providers/types.js";
import { failpoint } from "./failpoints.js";
import { ensureDefaultEnv } from "./lifecycle.js";
import { requireManifest } from "./manifests.js";
import { checkEnvName } from "./names.js";
import { providerOf, type Project } from "./project.js";
import { cacheSecrets } from "./variables.js";

/**
 * Read env `env`'s secrets, let `edit` change them in place (it may refuse by throwing: nothing is
 * written then), and write them back.
 */
export async function changeSecrets(
  project: Project,
  env: string,
  edit: (values: Record<string, string>) => Promise<void>,
): Promise<void> {
  checkEnvName(env, project.config.project);
  await ensureDefaultEnv(project, env);
  const manifest = await requireManifest(project.layout, env);
  const provider = providerOf(project, "secrets") as SecretsProvider | undefined;
  if (!provider?.write) {
    throw new UserError(
      `The ${provider?.name ?? "configured"} secrets provider cannot be written by forkstack.`,
      "E_UNSUPPORTED",
      {
        hint: provider
          ? `Change secrets in ${provider.name} itself.`
          : "Configure `secrets` in forkstack.config.ts.",
      },
    );
  }
  const ref = { name: env, project: project.config.project };
  const values = await provider.read(ref, project.op());
  await edit(values);
  failpoint("secrets:before-write");
  await provider.write(ref, values, project.op());
  failpoint("secrets:after-write");
  // The runtime library's copy of a cloud provider's values (core/variables.ts) follows the change.
  await cacheSecrets(project, env, values, manifest.resources.secrets?.provider);
}
