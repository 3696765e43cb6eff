/**
 * The scenario engine's durable timers: when the clock passes a waiting enrolment's due time, a
 * `TimerFired` is appended to the person's stream (its id derived from the timer id, so it fires
 * once), and the scenarios projection resumes the enrolment when it reads it.
 */
import type { ScenarioTimerFired } from '@herald/projections';
import type { EventStore } from '../event-store/event-store.port';
import type { Clock } from '../shared/clock';
import { type DueTimer, DueTimers } from '../shared/due-timers';
import type { StateDb } from '../state/state-db';
import { SCENARIO_TIMER_TABLE } from './scenarios.projection';

export class ScenarioTimers extends DueTimers<DueTimer & { enrollmentId: string }> {
  constructor(db: StateDb, store: EventStore, clock: Clock) {
    db.exec(SCENARIO_TIMER_TABLE);
    const due = db.prepare<[number, number], { workspace: string; enrollment_id: string; person: string; timer_id: string; due_at: number }>(
      'SELECT workspace, enrollment_id, person, timer_id, due_at FROM scenario_timers WHERE due_at <= ? ORDER BY due_at LIMIT ?',
    );
    const next = db.prepare<[], { due_at: number | null }>('SELECT MIN(due_at) AS due_at FROM scenario_timers');
    super(
      store,
      clock,
      'scenario',
      (now, limit) =>
        due.all(now, limit).map((row) => ({
          key: row.timer_id,
          workspace: row.workspace,
          person: row.person,
          dueAt: row.due_at,
          enrollmentId: row.enrollment_id,
        })),
      () => next.get()?.due_at ?? undefined,
      (timer) => ({ data: { timerId: timer.key, enrollmentId: timer.enrollmentId } satisfies Omit<ScenarioTimerFired, 'purpose' | 'dueAt'> }),
    );
  }

  /**
   * Fired at their due time; while fired timers wait for the scenarios projection, looked at again
   * every 10 ms (the goal for scenario waits is 100 ms at p99, bench:scenarios).
   */
  override start(inFlightRetryMs = 10): void {
    super.start(inFlightRetryMs);
  }
}
