/**
 * Everything the app needs from the current env, asked of forkstack once at start: the database, the
 * bucket, the local store, the session secret. Under `forkstack run` (or `npm run dev` / `npm start`)
 * the current env decides all of it; deployed, the platform's variables do.
 */
import { currentEnv, databaseUrl, secret } from "forkstack";
import { Activity } from "./activity.js";
import type { Services } from "./app.js";
import { openDatabase } from "./db.js";
import { PhotoStore } from "./storage.js";

export class SetupError extends Error {}

export async function openServices(): Promise<Services> {
  const env = currentEnv();
  const sessionSecret = secret("SESSION_SECRET");
  if (!sessionSecret) {
    throw new SetupError(
      `The env "${env}" has no SESSION_SECRET. Run \`npm run setup\` (it sets one on dev, which new ` +
        `forks inherit), or: npx forkstack secrets set SESSION_SECRET=$(openssl rand -hex 32) --env ${env}`,
    );
  }
  const db = await openDatabase();
  const activity = await Activity.open();
  return {
    env,
    production: env === "prod",
    database: databaseUrl().slice(0, databaseUrl().indexOf(":")),
    db,
    photos: new PhotoStore(),
    activity,
    sessionSecret,
  };
}

export function closeServices(s: Services): void {
  s.photos.close();
  s.activity.close();
  s.db.close();
}
