/**
 * The segments projection's durable timers. A person whose membership could flip with no new event
 * ("no order for 30 days") has a due time in the projection's index; when the clock passes it, a
 * `TimerFired` is appended to the person's stream, and the projection re-decides at the due time.
 */
import type { EventStore } from '../event-store/event-store.port';
import type { Clock } from '../shared/clock';
import { DueTimers } from '../shared/due-timers';
import type { StateDb } from '../state/state-db';
import type { TimerFiredData } from './segment.events';

export class SegmentTimers extends DueTimers {
  constructor(db: StateDb, store: EventStore, clock: Clock) {
    const due = db.prepare<[number, number], { workspace: string; person: string; next_check_at: number }>(
      `SELECT workspace, person, next_check_at FROM segment_persons
       WHERE next_check_at IS NOT NULL AND next_check_at <= ? ORDER BY next_check_at LIMIT ?`,
    );
    const next = db.prepare<[], { due_at: number | null }>('SELECT MIN(next_check_at) AS due_at FROM segment_persons WHERE next_check_at IS NOT NULL');
    super(
      store,
      clock,
      'segments',
      (now, limit) =>
        due.all(now, limit).map((row) => ({
          key: `${row.workspace}|${row.person}|${row.next_check_at}`,
          workspace: row.workspace,
          person: row.person,
          dueAt: row.next_check_at,
        })),
      () => next.get()?.due_at ?? undefined,
      (timer) => ({ data: { person: timer.person } satisfies Omit<TimerFiredData, 'purpose' | 'dueAt'> }),
    );
  }

  /** While fired timers wait for the segments projection, looked at again every 250 ms. */
  override start(inFlightRetryMs = 250): void {
    super.start(inFlightRetryMs);
  }
}
