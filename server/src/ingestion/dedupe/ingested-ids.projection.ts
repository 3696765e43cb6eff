/**
 * The ids of tracking events in the log, for the messageId dedupe on logs that do not refuse a known
 * id by themselves (KurrentDB recognises a replayed id only in the same stream and only while it is
 * in the server's cache of recent ids). Kept for DEDUPE_RETENTION_MS after the event was received,
 * counted in the events' own receipt times, so a rebuild holds what the live projection held.
 */
import { TRACKING_EVENT_TYPES } from '@herald/projections';
import type { Statement } from 'better-sqlite3';
import type { RecordedEvent } from '../../event-store/event-store.port';
import type { HostedProjection } from '../../projection-runner/projection-runner';
import type { StateDb } from '../../state/state-db';

/** How long an ingested id is remembered: the tracking API promises at least 24 hours. */
export const DEDUPE_RETENTION_MS = 7 * 24 * 3_600_000;
/** Old ids are dropped when the receipt hour changes, at most once an hour. */
const PRUNE_EVERY_MS = 3_600_000;

export const INGESTED_IDS = 'ingested-ids';

interface Statements {
  insert: Statement<[id: string, receivedAt: number]>;
  prune: Statement<[before: number]>;
  /** The receipt hour last pruned for, per state database (pruning the same hour again is a no-op). */
  prunedHour: number;
}
const statements = new WeakMap<StateDb, Statements>();
function statementsOf(db: StateDb): Statements {
  let found = statements.get(db);
  if (!found) {
    found = {
      insert: db.prepare<[string, number]>('INSERT OR IGNORE INTO ingested_ids (id, received_at) VALUES (?, ?)'),
      prune: db.prepare<[number]>('DELETE FROM ingested_ids WHERE received_at < ?'),
      prunedHour: 0,
    };
    statements.set(db, found);
  }
  return found;
}

export const ingestedIdsProjection: HostedProjection = {
  name: INGESTED_IDS,
  filter: { eventTypes: [...TRACKING_EVENT_TYPES] },
  setup(db: StateDb) {
    db.exec(`CREATE TABLE IF NOT EXISTS ingested_ids (id TEXT PRIMARY KEY, received_at INTEGER NOT NULL) WITHOUT ROWID;
      CREATE INDEX IF NOT EXISTS ingested_ids_by_age ON ingested_ids (received_at);`);
  },
  apply(db: StateDb, event: RecordedEvent) {
    const receivedAt = Date.parse(event.metadata.receivedAt);
    const own = statementsOf(db);
    own.insert.run(event.id, receivedAt);
    const hour = Math.floor(receivedAt / PRUNE_EVERY_MS);
    if (hour > own.prunedHour) {
      own.prunedHour = hour;
      own.prune.run(hour * PRUNE_EVERY_MS - DEDUPE_RETENTION_MS);
    }
  },
  reset(db: StateDb) {
    db.exec('DROP TABLE IF EXISTS ingested_ids');
    statements.delete(db);
  },
};
