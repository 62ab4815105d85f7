// Preloaded with `--import`: records every module URL the process resolves, printed at exit to stderr
// as one JSON line, so tests can check what a command or the runtime library loads.
import { createRequire, register } from "node:module";
import { pathToFileURL } from "node:url";
import { MessageChannel } from "node:worker_threads";

const { port1, port2 } = new MessageChannel();
const seen = [];
port1.on("message", (url) => seen.push(url));
port1.unref();
register(
  "data:text/javascript," +
    encodeURIComponent(
      "let port; export function initialize(d) { port = d.port; }" +
        "export async function resolve(s, c, next) { const r = await next(s, c); port.postMessage(r.url); return r; }",
    ),
  { data: { port: port2 }, transferList: [port2] },
);
// CommonJS modules loaded with `require` (libsql is) never pass the ESM hook: add them from the cache.
const cjs = () => Object.keys(createRequire(import.meta.url).cache).map((file) => pathToFileURL(file).href);
process.on("exit", () => process.stderr.write(`\nLOADED ${JSON.stringify([...seen, ...cjs()])}\n`));
