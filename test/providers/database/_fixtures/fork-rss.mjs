// Forks a database in a fresh process and reports peak RSS before and after, so the test measures this
// fork alone and not the test runner's heap.
// usage: node fork-rss.mjs <provider module (built)> <project root> <parent env> <warm-up env> <child env>
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const [module, root, parent, warm, child] = process.argv.slice(2);
const { default: sqlite } = await import(pathToFileURL(module).href);
const log = { debug() {}, info() {}, warn() {} };
const dataDir = join(root, ".forkstack");
const provider = sqlite(
  {},
  { project: "myapp", projectRoot: root, dataDir, envDir: (e) => join(dataDir, "envs", e), log },
);
const env = (name) => ({ name, project: "myapp" });
// Load libsql and warm every code path on a tiny database first.
await provider.create(env(warm), { log });
await provider.fork(env(warm), env(`${warm}-2`), { log });
const before = process.resourceUsage().maxRSS * 1024;
const info = await provider.fork(env(parent), env(child), { log });
const after = process.resourceUsage().maxRSS * 1024;
process.stdout.write(JSON.stringify({ before, after, method: info.method, bytes: info.bytes }) + "\n");
