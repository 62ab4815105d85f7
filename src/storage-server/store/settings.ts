/**
 * @module storage-server/store/settings
 * Small per-bucket settings (tag set, public access block, owning access key), one row per bucket and
 * setting name, so a new setting needs no schema change. Rows go with their bucket (metadata.ts drops
 * them in dropLayer: bucket ids can be reused once the highest one is deleted).
 */
import type { Metadata } from "./metadata.js";

export const SETTINGS_SCHEMA = `
CREATE TABLE IF NOT EXISTS bucket_settings (
  bucket_id INTEGER NOT NULL,
  name TEXT NOT NULL,
  value TEXT NOT NULL,
  PRIMARY KEY (bucket_id, name)
) WITHOUT ROWID;
`;

export type SettingName = "owner" | "tagging" | "public-access-block";

export function getSetting(meta: Metadata, bucketId: number, name: SettingName): string | undefined {
  const r = meta
    .prep("SELECT value FROM bucket_settings WHERE bucket_id = ? AND name = ?")
    .get(bucketId, name) as { value: string } | undefined;
  return r?.value;
}

/** Sets (or with `undefined`, removes) one setting. */
export function setSetting(
  meta: Metadata,
  bucketId: number,
  name: SettingName,
  value: string | undefined,
): void {
  if (value === undefined) {
    meta.prep("DELETE FROM bucket_settings WHERE bucket_id = ? AND name = ?").run(bucketId, name);
  } else {
    meta
      .prep("INSERT OR REPLACE INTO bucket_settings (bucket_id, name, value) VALUES (?, ?, ?)")
      .run(bucketId, name, value);
  }
}

export function dropSettings(meta: Metadata, bucketId: number): void {
  meta.prep("DELETE FROM bucket_settings WHERE bucket_id = ?").run(bucketId);
}
