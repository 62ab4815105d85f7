create table people (
  name text primary key,
  joined_at text not null
);

create table photos (
  id text primary key,
  owner text not null references people (name),
  caption text not null default '',
  original_key text not null,
  thumb_key text not null,
  width integer not null,
  height integer not null,
  created_at text not null
);
