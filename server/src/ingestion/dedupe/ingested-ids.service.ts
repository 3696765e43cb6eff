/**
 * Answers "is this tracking event already in the log?" for ingestion on a log that does not refuse
 * a known event id by itself (KurrentDB, see docs/events.md). The durable answer is the ingested-ids
 * projection; what it has not reached yet is covered twice over:
 * - ids this process is appending, or has appended since, are kept with their append until the
 *   projection commits them, so a duplicate sent meanwhile (even concurrently) waits for the first
 *   append's outcome instead of writing again;
 * - at start, the ids between the projection's checkpoint and the head of the log are read once
 *   (`startCatchUp`), and ingestion waits for that (`ready`) before its first lookup.
 */
import { TRACKING_EVENT_TYPES } from '@herald/projections';
import type { Statement } from 'better-sqlite3';
import type { EventStore } from '../../event-store/event-store.port';
import type { StateDb } from '../../state/state-db';
import { DEDUPE_RETENTION_MS, ingestedIdsProjection } from './ingested-ids.projection';

/** An id ingestion has seen: stored for sure, or carried by an append whose outcome may still come. */
export type KnownId = 'stored' | Promise<unknown>;

const CATCH_UP_PAGE = 5_000;
const DONE = Promise.resolve();

export class IngestedIds {
  private readonly pending = new Map<string, Promise<unknown>>();
  /** Ids found in the log past the projection's checkpoint at start. */
  private readonly sinceCheckpoint = new Set<string>();
  private readonly stored: Statement<[string], unknown>;
  private catchUpFrom?: { store: EventStore; checkpoint: number; now: () => Date };
  private catchingUp?: Promise<void>;

  constructor(db: StateDb) {
    ingestedIdsProjection.setup(db);
    this.stored = db.prepare<[string], unknown>('SELECT 1 FROM ingested_ids WHERE id = ?');
  }

  /**
   * Starts reading the tracking event ids after the projection's `checkpoint` up to the head of the
   * log (those received within the retention, as of `now`). `ready` waits for it; if the log cannot
   * be read, `ready` rejects with that error and the next call tries again.
   */
  startCatchUp(store: EventStore, checkpoint: number, now: () => Date): void {
    this.catchUpFrom = { store, checkpoint, now };
    this.ready().catch(() => undefined);
  }

  /** Resolves once lookups see the whole log as it was when the catch-up started. */
  ready(): Promise<void> {
    const from = this.catchUpFrom;
    if (!from) return DONE;
    if (!this.catchingUp) {
      const attempt = this.readSince(from.store, from.checkpoint, from.now().getTime() - DEDUPE_RETENTION_MS);
      this.catchingUp = attempt;
      attempt.then(
        () => (this.catchUpFrom = undefined),
        () => (this.catchingUp = undefined),
      );
    }
    return this.catchingUp;
  }

  private async readSince(store: EventStore, checkpoint: number, oldest: number): Promise<void> {
    const head = await store.headPosition();
    let from = checkpoint + 1;
    while (from <= head) {
      const page = await store.readAll({ fromPosition: from, maxCount: CATCH_UP_PAGE, filter: { eventTypes: [...TRACKING_EVENT_TYPES] } });
      for (const event of page) if (Date.parse(event.metadata.receivedAt) >= oldest) this.sinceCheckpoint.add(event.id);
      if (page.length < CATCH_UP_PAGE) break;
      from = page[page.length - 1].position + 1;
    }
  }

  /** What is known of an id, or undefined when it is new. Synchronous, so a lookup and `reserve` can form one step. */
  lookup(id: string): KnownId | undefined {
    const appending = this.pending.get(id);
    if (appending) return appending;
    return this.sinceCheckpoint.has(id) || this.stored.get(id) !== undefined ? 'stored' : undefined;
  }

  /** Records that `append` carries `id`; forgotten again if it fails, or once the projection has it. */
  reserve(id: string, append: Promise<unknown>): void {
    this.pending.set(id, append);
    append.catch(() => {
      if (this.pending.get(id) === append) this.pending.delete(id);
    });
  }

  /** Called by the runner once the projection has committed the event with this id. */
  settled(id: string): void {
    this.pending.delete(id);
  }
}
