/**
 * `npm run dev`: Vite serves the front end with hot reload and hands `/api/*` to this app (see
 * vite.config.ts). The services (database, bucket, local store) are opened once per Vite process;
 * the routes are rebuilt when Vite reloads this module after an edit.
 */
import { createApp } from "./app.js";
import type { Services } from "./app.js";
import { openServices } from "./services.js";

const shared = globalThis as { familyPhotosServices?: Promise<Services> };

export async function devApp() {
  shared.familyPhotosServices ??= openServices();
  return createApp(await shared.familyPhotosServices);
}
