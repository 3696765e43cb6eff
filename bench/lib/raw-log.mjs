// The baseline: the same rows written straight into the same SQLite file with better-sqlite3, with
// nothing between the caller and the database but prepared statements and a transaction.
import { requireDist, serverRequire } from './common.mjs';

/**
 * Opens a raw writer on `path`. The schema and indexes are created by the adapter itself (its
 * constructor runs its CREATE statements and sets WAL), so baseline and subject share them exactly;
 * this connection then sets the same per-connection pragmas as the adapter.
 */
export async function openRawLog(path) {
  const { SqliteEventStore } = requireDist('event-store/sqlite/sqlite-event-store.js');
  await new SqliteEventStore({ path }).close();

  const Database = serverRequire('better-sqlite3');
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  db.pragma('cache_size = -65536');
  const upsertStream = db.prepare(
    `INSERT INTO streams (name, revision) VALUES (?, 0)
     ON CONFLICT (name) DO UPDATE SET revision = revision + 1
     RETURNING stream_id, revision`,
  );
  const insertEvent = db.prepare(
    `INSERT INTO events (stream_id, revision, event_id, type, data, metadata, recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
  );
  /** One transaction (one fsync): every row gets the next revision of its stream, as the adapter does. */
  const appendRows = db.transaction((rows) => {
    const recordedAt = Date.now();
    for (const { stream, event } of rows) {
      const { stream_id, revision } = upsertStream.get(stream);
      insertEvent.run(
        stream_id,
        revision,
        Buffer.from(event.id.replace(/-/g, ''), 'hex'),
        event.type,
        JSON.stringify(event.data ?? null),
        JSON.stringify(event.metadata),
        recordedAt,
      );
    }
  });
  return {
    db,
    appendRows,
    schema: () => db.prepare(`SELECT sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY name`).all().map((r) => r.sql),
    close: () => db.close(),
  };
}

/** Row count and average JSON sizes, to check that baseline and subject wrote the same rows. */
export function describeLog(path) {
  const Database = serverRequire('better-sqlite3');
  const db = new Database(path, { readonly: true });
  try {
    return db
      .prepare(
        `SELECT COUNT(*) AS rows, AVG(LENGTH(data)) AS dataBytes, AVG(LENGTH(metadata)) AS metadataBytes
         FROM events WHERE type = 'Tracked'`,
      )
      .get();
  } finally {
    db.close();
  }
}
