// A stand-in for a user's app: opens the env's database the way an app does (WAL, one write), says
// "ready" and keeps the connection open until it is killed.
// usage: node app.mjs <db path>
import Database from "libsql";

const db = new Database(process.argv[2], { timeout: 10_000 });
db.exec("CREATE TABLE IF NOT EXISTS visits (at TEXT NOT NULL); INSERT INTO visits VALUES (datetime('now'))");
process.stdout.write("ready\n");
setInterval(() => {}, 60_000);
