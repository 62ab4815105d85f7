/**
 * Who posted what: an append-only event log in DuckDB, in the env's local state directory
 * (`localPath()`), so each env has its own and a fork starts with its parent's. The seed used KuzuDB
 * for this kind of local store; Kuzu was archived in 2025. DuckDB is maintained (DuckDB Labs and the
 * DuckDB Foundation, monthly releases, official Node bindings with prebuilt binaries on npm), is one
 * file with no server, and its SQL is made for this kind of question (counts per person, per kind,
 * over time). The app database stays the source of truth; this is the analytics side.
 *
 * A checkpoint after each write folds DuckDB's WAL into the main file, so a fork taken while the app
 * runs (`forkstack new bob` clones the directory) gets a complete database.
 */
import { mkdirSync } from "node:fs";
import { DuckDBInstance, type DuckDBConnection } from "@duckdb/node-api";
import { localPath } from "forkstack";

export type EventKind = "joined" | "photo" | "comment";

export interface PersonActivity {
  who: string;
  photos: number;
  comments: number;
  lastActive: string;
}

export class Activity {
  private constructor(
    private readonly instance: DuckDBInstance,
    private readonly connection: DuckDBConnection,
  ) {}

  static async open(): Promise<Activity> {
    mkdirSync(localPath(), { recursive: true });
    const instance = await DuckDBInstance.create(localPath("activity.duckdb"));
    const connection = await instance.connect();
    await connection.run(
      "create table if not exists events (happened_at timestamp not null, who varchar not null, kind varchar not null, photo_id varchar)",
    );
    return new Activity(instance, connection);
  }

  async record(who: string, kind: EventKind, photoId: string | null = null): Promise<void> {
    await this.connection.run("insert into events values (current_timestamp, $who, $kind, $photo)", {
      who,
      kind,
      photo: photoId,
    });
    await this.connection.run("checkpoint");
  }

  async byPerson(): Promise<PersonActivity[]> {
    const reader = await this.connection.runAndReadAll(
      `select who,
              count(*) filter (where kind = 'photo') as photos,
              count(*) filter (where kind = 'comment') as comments,
              strftime(max(happened_at), '%Y-%m-%dT%H:%M:%SZ') as last_active
         from events group by who order by photos desc, comments desc, who`,
    );
    return reader.getRowObjectsJS().map((r) => ({
      who: String(r.who),
      photos: Number(r.photos),
      comments: Number(r.comments),
      lastActive: String(r.last_active),
    }));
  }

  close(): void {
    this.connection.closeSync();
    this.instance.closeSync();
  }
}
