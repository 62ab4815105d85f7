/**
 * The database: whatever `DATABASE_URL` the current env has (a SQLite file on the embedded default, a
 * Turso branch with its token on Turso), opened with `@libsql/client`. The schema is plain versioned
 * SQL files in `migrations/`, applied in name order on start, each in its own transaction and recorded
 * in `schema_migrations`, so a fork inherits its parent's schema and only runs what is new.
 */
import { createClient, type Client, type Row } from "@libsql/client";
import { databaseAuthToken, databaseUrl } from "forkstack";

/** `migrations/001_x.sql` → its text; bundled by Vite, so the built server needs no source tree. */
const MIGRATIONS = import.meta.glob<string>("./migrations/*.sql", {
  query: "?raw",
  import: "default",
  eager: true,
});

export async function openDatabase(): Promise<Client> {
  const db = createClient({ url: databaseUrl(), authToken: databaseAuthToken() });
  await db.execute("pragma foreign_keys = on");
  await migrate(db);
  return db;
}

/** Apply the migrations this database has not seen; returns their versions. */
export async function migrate(db: Client): Promise<string[]> {
  await db.execute(
    "create table if not exists schema_migrations (version text primary key, applied_at text not null)",
  );
  const done = new Set(
    (await db.execute("select version from schema_migrations")).rows.map((r) => r.version),
  );
  const applied: string[] = [];
  for (const [path, sql] of Object.entries(MIGRATIONS).sort(([a], [b]) => a.localeCompare(b))) {
    const version = path.slice(path.lastIndexOf("/") + 1, -".sql".length);
    if (done.has(version)) continue;
    const tx = await db.transaction("write");
    try {
      await tx.executeMultiple(sql);
      await tx.execute({
        sql: "insert into schema_migrations (version, applied_at) values (?, ?)",
        args: [version, new Date().toISOString()],
      });
      await tx.commit();
    } finally {
      tx.close();
    }
    applied.push(version);
  }
  return applied;
}

export interface Comment {
  id: number;
  author: string;
  body: string;
  createdAt: string;
}

export interface Photo {
  id: string;
  owner: string;
  caption: string;
  thumbKey: string;
  width: number;
  height: number;
  createdAt: string;
  comments: Comment[];
}

const now = () => new Date().toISOString();

export async function addPerson(db: Client, name: string): Promise<void> {
  await db.execute({
    sql: "insert into people (name, joined_at) values (?, ?) on conflict (name) do nothing",
    args: [name, now()],
  });
}

export async function addPhoto(
  db: Client,
  photo: Omit<Photo, "createdAt" | "comments"> & { originalKey: string },
): Promise<void> {
  await db.execute({
    sql: `insert into photos (id, owner, caption, original_key, thumb_key, width, height, created_at)
          values (?, ?, ?, ?, ?, ?, ?, ?)`,
    args: [
      photo.id,
      photo.owner,
      photo.caption,
      photo.originalKey,
      photo.thumbKey,
      photo.width,
      photo.height,
      now(),
    ],
  });
}

export async function addComment(
  db: Client,
  photoId: string,
  author: string,
  body: string,
): Promise<Comment> {
  const createdAt = now();
  const result = await db.execute({
    sql: "insert into comments (photo_id, author, body, created_at) values (?, ?, ?, ?)",
    args: [photoId, author, body, createdAt],
  });
  return { id: Number(result.lastInsertRowid), author, body, createdAt };
}

export async function photoExists(db: Client, id: string): Promise<boolean> {
  return (await db.execute({ sql: "select 1 from photos where id = ?", args: [id] })).rows.length > 0;
}

/** The feed, newest first, each photo with its comments in order. */
export async function listPhotos(db: Client): Promise<Photo[]> {
  const [photos, comments] = await db.batch(
    [
      "select id, owner, caption, thumb_key, width, height, created_at from photos order by created_at desc, id",
      "select id, photo_id, author, body, created_at from comments order by id",
    ],
    "read",
  );
  const byPhoto = new Map<string, Comment[]>();
  for (const c of comments!.rows) {
    const list = byPhoto.get(String(c.photo_id)) ?? [];
    list.push({
      id: Number(c.id),
      author: str(c, "author"),
      body: str(c, "body"),
      createdAt: str(c, "created_at"),
    });
    byPhoto.set(String(c.photo_id), list);
  }
  return photos!.rows.map((p) => ({
    id: str(p, "id"),
    owner: str(p, "owner"),
    caption: str(p, "caption"),
    thumbKey: str(p, "thumb_key"),
    width: Number(p.width),
    height: Number(p.height),
    createdAt: str(p, "created_at"),
    comments: byPhoto.get(str(p, "id")) ?? [],
  }));
}

function str(row: Row, column: string): string {
  return String(row[column]);
}
