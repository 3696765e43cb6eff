/**
 * Reads the SQLite log in global order without decoding the events: data and metadata stay the JSON
 * text the log stores, for readers that copy them elsewhere as text (the analytics sink's thread,
 * which has its own read-only connection to the file and decodes only the fields it maps).
 */
import type Database from 'better-sqlite3';
import { bytesToUuid } from '../../shared/ids';

/** An event as the SQLite log holds it. */
export interface RawRecordedEvent {
  id: string;
  type: string;
  stream: string;
  revision: number;
  position: number;
  /** When the store committed it, in milliseconds since 1970. */
  recordedAtMs: number;
  /** JSON text, as appended. */
  data: string;
  /** JSON text, as appended. */
  metadata: string;
}

/** A row of the log's events joined to its stream, as both the store and this reader select it. */
export interface EventRow {
  position: number;
  name: string;
  revision: number;
  event_id: Buffer;
  type: string;
  data: string;
  metadata: string;
  recorded_at: number;
}

export class SqliteRawReader {
  private readonly page;
  private readonly head;

  constructor(db: Database.Database) {
    this.page = db.prepare<[number, number], EventRow>(
      `SELECT e.position, s.name, e.revision, e.event_id, e.type, e.data, e.metadata, e.recorded_at
       FROM events e JOIN streams s ON s.stream_id = e.stream_id WHERE e.position >= ? ORDER BY e.position LIMIT ?`,
    );
    this.head = db.prepare<[], { head: number | null }>('SELECT MAX(position) AS head FROM events');
  }

  /** Up to `maxCount` events from `fromPosition` (inclusive), in log order. */
  readPage(fromPosition: number, maxCount: number): RawRecordedEvent[] {
    return this.page.all(fromPosition, maxCount).map((row) => ({
      id: bytesToUuid(row.event_id),
      type: row.type,
      stream: row.name,
      revision: row.revision,
      position: row.position,
      recordedAtMs: row.recorded_at,
      data: row.data,
      metadata: row.metadata,
    }));
  }

  headPosition(): number {
    return this.head.get()?.head ?? 0;
  }
}
