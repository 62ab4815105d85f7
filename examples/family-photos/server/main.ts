/**
 * The built app: the API and the front end (dist/client) on one port. `npm start` runs it under
 * `forkstack run`, so it serves the current env; `PORT` picks the port (default 3000).
 */
import type { Server } from "node:http";
import { fileURLToPath } from "node:url";
import { serve } from "@hono/node-server";
import { serveStatic } from "@hono/node-server/serve-static";
import { createApp } from "./app.js";
import { SetupError, closeServices, openServices } from "./services.js";

const port = Number(process.env.PORT ?? 3000);
const host = process.env.HOST ?? "127.0.0.1";
// dist/server/main.js → dist/client
const clientDir = fileURLToPath(new URL("../client", import.meta.url));

let services;
try {
  services = await openServices();
} catch (error) {
  if (!(error instanceof SetupError)) throw error;
  console.error(`family-photos: ${error.message}`);
  process.exit(1);
}
const app = createApp(services);
app.use("/*", serveStatic({ root: clientDir }));

const server = serve({ fetch: app.fetch, port, hostname: host }, (info) => {
  console.log(`family-photos: env "${services.env}" on http://${host}:${info.port}`);
});

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => {
    server.close(() => {
      closeServices(services);
      process.exit(0);
    });
    // Browsers keep connections open; do not wait for them.
    (server as Server).closeAllConnections();
  });
}
