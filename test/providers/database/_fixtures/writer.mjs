// Keeps committing numbered transactions into a database until killed, printing each committed number.
// Each transaction inserts row n (with a few KB of padding, so it spans pages) and records n in `meta`:
// a snapshot that caught half a transaction would show `meta.last` != max(n) or a gap.
// usage: node writer.mjs <db path> <journal mode: wal|delete>
import Database from "libsql";

const [path, mode] = process.argv.slice(2);
const db = new Database(path, { timeout: 10_000 });
db.exec(`PRAGMA journal_mode=${mode}`);
// Fast commits, and in WAL mode frequent checkpoints, so forks race with checkpoints too.
db.exec("PRAGMA synchronous=OFF; PRAGMA wal_autocheckpoint=16");
db.exec("CREATE TABLE IF NOT EXISTS t (n INTEGER PRIMARY KEY, pad BLOB NOT NULL)");
db.exec("CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v INTEGER NOT NULL)");
db.exec("INSERT OR IGNORE INTO meta VALUES ('last', 0)");
process.stdout.write("ready\n");

let stop = false;
process.on("SIGTERM", () => (stop = true));
for (let n = 1; !stop; n++) {
  db.exec(
    `BEGIN IMMEDIATE; INSERT INTO t VALUES (${n}, randomblob(3000)); UPDATE meta SET v = ${n} WHERE k = 'last'; COMMIT`,
  );
  process.stdout.write(`${n}\n`);
  // Leave the lock free now and then, as a real app does between requests.
  await new Promise((resolve) => setTimeout(resolve, 1));
}
db.close();
