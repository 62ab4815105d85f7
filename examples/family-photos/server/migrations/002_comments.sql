create table comments (
  id integer primary key autoincrement,
  photo_id text not null references photos (id) on delete cascade,
  author text not null references people (name),
  body text not null,
  created_at text not null
);

create index comments_by_photo on comments (photo_id, id);
