/**
 * Fires the segments projection's durable timers. A person whose membership could flip with no new
 * event ("no order for 30 days") has a due time in the projection's index; when the clock passes
 * it, a `TimerFired` event is appended to the person's stream, and the projection re-decides when it
 * reaches that event, at the due time. The timer's id is derived from person and due time, so
 * firing it twice appends it once. Only due rows are read (an index range), never all users.
 */
import { personStream } from '@herald/projections';
import type { EventStore, NewEvent } from '../event-store/event-store.port';
import type { Clock } from '../shared/clock';
import { uuidv5 } from '../shared/ids';
import type { StateDb } from '../state/state-db';
import { TIMER_FIRED, type TimerFiredData } from './segment.events';

export class SegmentTimers {
  private readonly due;
  private readonly inFlight = new Set<string>();
  private timer?: NodeJS.Timeout;
  private running?: Promise<number>;

  constructor(
    db: StateDb,
    private readonly store: EventStore,
    private readonly clock: Clock,
  ) {
    this.due = db.prepare<[number, number], { workspace: string; person: string; next_check_at: number }>(
      `SELECT workspace, person, next_check_at FROM segment_persons
       WHERE next_check_at IS NOT NULL AND next_check_at <= ? ORDER BY next_check_at LIMIT ?`,
    );
  }

  /** Checks for due timers every `intervalMs` of real time. */
  start(intervalMs = 250): void {
    this.timer = setInterval(() => void this.fireDue().catch(() => undefined), intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.running;
  }

  /** Appends a `TimerFired` for every timer due at the clock's now; returns how many. */
  fireDue(): Promise<number> {
    this.running ??= this.fire().finally(() => (this.running = undefined));
    return this.running;
  }

  private async fire(): Promise<number> {
    let fired = 0;
    const now = this.clock.now().getTime();
    for (;;) {
      const rows = this.due.all(now, 500).filter((row) => !this.inFlight.has(timerKey(row.workspace, row.person, row.next_check_at)));
      if (rows.length === 0) return fired;
      await Promise.all(
        rows.map(async (row) => {
          const key = timerKey(row.workspace, row.person, row.next_check_at);
          this.inFlight.add(key);
          const dueAt = new Date(row.next_check_at).toISOString();
          const data: TimerFiredData = { purpose: 'segments', person: row.person, dueAt };
          const event: NewEvent = {
            id: uuidv5(`timer|segments|${key}`),
            type: TIMER_FIRED,
            data,
            metadata: { workspace: row.workspace, occurredAt: dueAt, receivedAt: new Date(now).toISOString(), schemaVersion: 1 },
          };
          try {
            await this.store.append(personStream(row.workspace, row.person), [event]);
            fired += 1;
          } finally {
            // Forget it after a while: by then the projection has moved the person's due time.
            setTimeout(() => this.inFlight.delete(key), 60_000).unref();
          }
        }),
      );
    }
  }
}

function timerKey(workspace: string, person: string, dueAt: number): string {
  return `${workspace}|${person}|${dueAt}`;
}
