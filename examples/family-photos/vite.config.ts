import { getRequestListener } from "@hono/node-server";
import preact from "@preact/preset-vite";
import { defineConfig, type Plugin, type ViteDevServer } from "vite";
import type * as DevModule from "./server/dev.js";

/** In `vite` (dev), the API runs inside Vite's server: one process, one port, the current env's data. */
function api(): Plugin {
  return {
    name: "family-photos-api",
    configureServer(server: ViteDevServer) {
      server.middlewares.use((req, res, next) => {
        if (!req.url?.startsWith("/api/")) return next();
        server
          .ssrLoadModule("/server/dev.ts")
          .then(async (mod) => getRequestListener((await (mod as typeof DevModule).devApp()).fetch)(req, res))
          .catch(next);
      });
    },
  };
}

export default defineConfig(({ isSsrBuild }) => ({
  plugins: [preact(), api()],
  // `vite build` makes the front end; `vite build --ssr server/main.ts` the server beside it.
  build: { outDir: isSsrBuild ? "dist/server" : "dist/client", emptyOutDir: true },
  // Pre-bundled at start, so the first page load is not reloaded while Vite discovers them.
  optimizeDeps: { include: ["preact", "preact/hooks", "preact/jsx-runtime", "preact/jsx-dev-runtime"] },
  // forkstack is linked (file:../..): Vite would bundle a linked package into the server; load it instead.
  ssr: { external: ["forkstack"] },
}));
