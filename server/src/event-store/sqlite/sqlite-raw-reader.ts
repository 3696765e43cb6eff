/**
 * Reads the SQLite log in global order without decoding the events: data and metadata stay the JSON
 * text the log stores, for readers that copy them elsewhere as text (the analytics sink's thread,
 * which has its own read-only connection to the file and decodes only the fields it maps).
 */
import type Database from 'better-sqlite3';
import { hexToUuid } from '../../shared/ids';

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

/** A row of `SqliteRawReader`'s page query, as an array (better-sqlite3's raw mode: no object per row). */
type PageRow = [position: number, streamId: number, revision: number, eventIdHex: string, type: string, data: string, metadata: string, recordedAt: number];

export class SqliteRawReader {
  private readonly page;
  private readonly streamName;
  private readonly head;
  /** Stream names by id (a name never changes): the page query then needs no join. */
  private readonly names = new Map<number, string>();

  constructor(db: Database.Database) {
    this.page = db
      .prepare<[number, number], PageRow>(
        // The id as hex text: a blob would be a Buffer per row (measured 0.8 µs of a 2 µs row fetch).
        `SELECT position, stream_id, revision, lower(hex(event_id)), type, data, metadata, recorded_at
         FROM events WHERE position >= ? ORDER BY position LIMIT ?`,
      )
      .raw(true);
    this.streamName = db.prepare<[number], { name: string }>('SELECT name FROM streams WHERE stream_id = ?');
    this.head = db.prepare<[], { head: number | null }>('SELECT MAX(position) AS head FROM events');
  }

  /** Up to `maxCount` events from `fromPosition` (inclusive), in log order. */
  readPage(fromPosition: number, maxCount: number): RawRecordedEvent[] {
    const rows = this.page.all(fromPosition, maxCount) as unknown as PageRow[];
    const events = new Array<RawRecordedEvent>(rows.length);
    for (let i = 0; i < rows.length; i++) {
      const [position, streamId, revision, eventIdHex, type, data, metadata, recordedAt] = rows[i];
      events[i] = { id: hexToUuid(eventIdHex), type, stream: this.nameOf(streamId), revision, position, recordedAtMs: recordedAt, data, metadata };
    }
    return events;
  }

  headPosition(): number {
    return this.head.get()?.head ?? 0;
  }

  private nameOf(streamId: number): string {
    let name = this.names.get(streamId);
    if (name === undefined) {
      name = this.streamName.get(streamId)?.name;
      if (name === undefined) throw new Error(`The log has an event of stream ${streamId}, which it does not name`);
      if (this.names.size >= 100_000) this.names.clear();
      this.names.set(streamId, name);
    }
    return name;
  }
}
