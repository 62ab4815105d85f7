/**
 * The `turso` provider against the real Turso Platform API, when TURSO_API_TOKEN and TURSO_ORG are set
 * (a token with read, db:create, db:delete and db:mint-token on a group; TURSO_GROUP picks the group,
 * `default` otherwise). The database suite runs unchanged, its data checks through `@libsql/client`
 * on the real `libsql://` URLs. Every test's project has a unique name and the suite removes every
 * database it lists for it afterwards, passed or failed, so a run leaves nothing in the organization.
 * Skipped, with the reason in its title, without credentials.
 */
import { expect, it } from "vitest";
import provider from "../../../src/providers/database/turso.js";
import { optionsSchema } from "../../../src/providers/database/turso.options.js";
import { databaseSuite, envRef, tempProject } from "../../../src/testing/index.js";
import { DB_URL_VARIABLE } from "../../../src/providers/database/_turso.js";
import { describeLive, liveGuard } from "../../helpers/live.js";
import { libsqlQuery } from "./_turso.js";

// A live run must reach Turso, not an emulator a shell left configured (its database URL too).
const guard = liveGuard({
  vendor: "Turso",
  provider: "turso",
  credentials: ["TURSO_API_TOKEN", "TURSO_ORG"],
  overrides: [DB_URL_VARIABLE],
});
const options = () => optionsSchema.parse({ group: process.env.TURSO_GROUP ?? "default" });

describeLive(
  guard,
  "turso provider, live (needs TURSO_API_TOKEN and TURSO_ORG, and no FORKSTACK_TURSO_* overrides)",
  () => {
    databaseSuite({
      provider: (project) => provider(options(), project.context),
      dialect: "sqlite",
      // Turso answers within seconds; a new database may take a moment before its first query.
      query: (url, token, sql) => withRetry(() => libsqlQuery(url, token, sql)),
      timeout: 180_000,
    });

    it("doctor accepts the token and names the organization", async () => {
      const project = await tempProject();
      try {
        const findings = await provider(options(), project.context).doctor!(project.op);
        expect(findings[0]).toMatchObject({ level: "ok" });
        expect(findings[0]!.message).toContain(`organization ${process.env.TURSO_ORG}`);
        expect(await provider(options(), project.context).list(project.op)).toEqual([]);
        expect(
          await provider(options(), project.context).describe(envRef(project, "dev"), project.op),
        ).toBeNull();
      } finally {
        await project.cleanup();
      }
    });
  },
);

async function withRetry<T>(fn: () => Promise<T>, attempts = 5): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await fn();
    } catch (error) {
      if (i >= attempts) throw error;
      await new Promise((r) => setTimeout(r, 1000 * i));
    }
  }
}
