import { defineConfig } from "forkstack";

// The embedded default: a SQLite file, the local object store, dotenv secrets and a local state
// directory per env. Swap a provider here (e.g. `database: { provider: "turso", … }`) and the app
// code stays the same: it only asks forkstack where things are.
export default defineConfig({
  project: "photos",
  database: { provider: "sqlite" },
  storage: { provider: "local" },
  secrets: { provider: "dotenv" },
  local: { provider: "directory", path: "{project}.{env}.db" },
});
