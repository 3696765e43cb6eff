/**
 * Fires the scenario engine's durable timers: when the clock passes a waiting enrolment's due time,
 * a `TimerFired` is appended to the person's stream (its id derived from the timer id, so it fires
 * once however often this runs), and the scenarios projection resumes the enrolment when it reads
 * it. Only due rows of the timer index are read.
 */
import { personStream, type ScenarioTimerFired } from '@herald/projections';
import type { EventStore, NewEvent } from '../event-store/event-store.port';
import type { Clock } from '../shared/clock';
import { uuidv5 } from '../shared/ids';
import type { StateDb } from '../state/state-db';
import { SCENARIO_TIMER_TABLE } from './scenarios.projection';

export class ScenarioTimers {
  private readonly due;
  private readonly inFlight = new Set<string>();
  private timer?: NodeJS.Timeout;
  private running?: Promise<number>;

  constructor(
    db: StateDb,
    private readonly store: EventStore,
    private readonly clock: Clock,
  ) {
    db.exec(SCENARIO_TIMER_TABLE);
    this.due = db.prepare<[number, number], { workspace: string; enrollment_id: string; person: string; timer_id: string; due_at: number }>(
      'SELECT workspace, enrollment_id, person, timer_id, due_at FROM scenario_timers WHERE due_at <= ? ORDER BY due_at LIMIT ?',
    );
  }

  start(intervalMs = 50): void {
    this.timer = setInterval(() => void this.fireDue().catch(() => undefined), intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.running;
  }

  /** Appends `TimerFired` for every timer due at the clock's now; returns how many. */
  fireDue(): Promise<number> {
    this.running ??= this.fire().finally(() => (this.running = undefined));
    return this.running;
  }

  private async fire(): Promise<number> {
    let fired = 0;
    const now = this.clock.now().getTime();
    for (;;) {
      const rows = this.due.all(now, 1000).filter((row) => !this.inFlight.has(row.timer_id));
      if (rows.length === 0) return fired;
      await Promise.all(
        rows.map(async (row) => {
          this.inFlight.add(row.timer_id);
          const dueAt = new Date(row.due_at).toISOString();
          const data: ScenarioTimerFired = { purpose: 'scenario', timerId: row.timer_id, enrollmentId: row.enrollment_id, dueAt };
          const event: NewEvent = {
            id: uuidv5(`timer|scenario|${row.timer_id}`),
            type: 'TimerFired',
            data,
            metadata: { workspace: row.workspace, occurredAt: dueAt, receivedAt: new Date(now).toISOString(), schemaVersion: 1 },
          };
          try {
            await this.store.append(personStream(row.workspace, row.person), [event]);
            fired += 1;
          } finally {
            setTimeout(() => this.inFlight.delete(row.timer_id), 60_000).unref();
          }
        }),
      );
    }
  }
}
