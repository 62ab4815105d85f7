// Starts a big transaction in rollback-journal mode, makes SQLite spill changed pages into the db file
// (tiny cache), then dies with SIGKILL before committing: the classic hot journal.
// usage: node crash-mid-transaction.mjs <db path>
import Database from "libsql";

const [path] = process.argv.slice(2);
const db = new Database(path, { timeout: 10_000 });
db.exec("PRAGMA journal_mode=DELETE; PRAGMA cache_size=2; PRAGMA cache_spill=1");
db.exec("BEGIN IMMEDIATE; UPDATE t SET pad = randomblob(3000), n = n + 1000000");
process.stdout.write("spilled\n");
// Stay alive, holding the transaction open, until the test kills us.
globalThis.setInterval(() => {}, 1000);
