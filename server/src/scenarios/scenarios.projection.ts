/**
 * Drives scenarios from the log: every user action, segment change and fired timer of a person is
 * handed to the engine, in log order, and the engine appends its decisions to the person's stream.
 * The projection's own state is the due-timer index (one timer at most per waiting enrolment),
 * maintained from the `TimerScheduled` / `StepCompleted` / `EnrollmentExited` / `TimerFired` events
 * it reads back, so it is rebuilt from the log like any projection.
 */
import { type DecideCause, decisionMoment, type DomainEvent, type IdentityLink, personKeyOfStream, TRACKING_EVENT_TYPES, userAction } from '@herald/projections';
import type { RecordedEvent } from '../event-store/event-store.port';
import { IDENTITY_LINKED } from '../identity/identity.projection';
import type { HostedProjection, PlannedAppend } from '../projection-runner/projection-runner';
import { MESSAGING_SETTINGS_UPDATED } from '../settings/messaging-settings.service';
import { prepared } from '../state/prepared';
import type { StateDb } from '../state/state-db';
import { SCENARIO_LIFECYCLE_TYPES } from './scenario.events';
import { asOfPosition } from './scenario-catalog';
import type { ScenarioEngine } from './scenario-engine';

export const SCENARIOS_PROJECTION = 'scenarios';

export const SCENARIO_TIMER_TABLE = `CREATE TABLE IF NOT EXISTS scenario_timers (
  workspace TEXT NOT NULL, enrollment_id TEXT NOT NULL, person TEXT NOT NULL, timer_id TEXT NOT NULL, due_at INTEGER NOT NULL,
  PRIMARY KEY (workspace, enrollment_id)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS scenario_timers_due ON scenario_timers (due_at);`;

const SET_TIMER = 'INSERT OR REPLACE INTO scenario_timers (workspace, enrollment_id, person, timer_id, due_at) VALUES (?, ?, ?, ?, ?)';
// Cleared by enrolment and person: an enrolment an identity link moved to the user has its timer
// there under the same enrolment id, which the old person's exit (or a late timer of theirs) must leave.
const CLEAR_TIMER = 'DELETE FROM scenario_timers WHERE workspace = ? AND enrollment_id = ? AND person = ? AND timer_id = ?';
const CLEAR_ENROLLMENT = 'DELETE FROM scenario_timers WHERE workspace = ? AND enrollment_id = ? AND person = ?';

/**
 * What `handle` acts on: lifecycle and settings changes, user actions (`userAction`), segment changes,
 * fired timers, identity links (which move enrolments to the user), and the events that move the timer index; and the other tracking calls, which begin
 * most people's streams (an `identify`), for the engine to follow new people (`ScenarioEngine.observe`).
 * The rest (what the engine itself appends besides those, sends and their outcomes: most of the log)
 * only moves its checkpoint.
 */
export const SCENARIOS_PROJECTION_TYPES = [
  ...SCENARIO_LIFECYCLE_TYPES,
  MESSAGING_SETTINGS_UPDATED,
  ...TRACKING_EVENT_TYPES,
  'SegmentEntered',
  'SegmentExited',
  'TimerFired',
  'TimerScheduled',
  'StepCompleted',
  'EnrollmentExited',
  IDENTITY_LINKED,
];

export class ScenariosProjection implements HostedProjection {
  readonly name = SCENARIOS_PROJECTION;
  readonly filter = { eventTypes: SCENARIOS_PROJECTION_TYPES };
  /**
   * Decides the next batch while the previous one's decisions are being made durable: a trigger
   * that arrives meanwhile no longer waits for the whole batch before it. Its state (the timer
   * index) is written by `apply` from each batch's own events, as pipelining needs.
   */
  readonly pipelined = true;

  constructor(
    private readonly engine: ScenarioEngine,
    /** False while rebuilding: the index is rebuilt, nothing is decided again. */
    private readonly decides = true,
  ) {}

  setup(db: StateDb): void {
    db.exec(SCENARIO_TIMER_TABLE);
  }

  reset(db: StateDb): void {
    db.exec('DROP TABLE IF EXISTS scenario_timers');
  }

  async handle(event: RecordedEvent): Promise<PlannedAppend[]> {
    const workspace = event.metadata.workspace;
    if (SCENARIO_LIFECYCLE_TYPES.includes(event.type)) {
      this.engine.invalidate(workspace, 'catalog');
      return [];
    }
    if (event.type === MESSAGING_SETTINGS_UPDATED) {
      this.engine.invalidate(workspace, 'settings');
      return [];
    }
    const person = personKeyOfStream(event.stream);
    if (!person) return [];
    if (!this.decides) return [];
    if (event.type === IDENTITY_LINKED) {
      const catalog = await this.engine.catalogOf(workspace);
      await this.engine.mergeLinked(workspace, event.data as IdentityLink, event, asOfPosition(catalog, event.position));
      // Not followed as a newcomer's event (`observe`): the merge's events may land in the user's
      // stream after later ones (an order sent right after sign-in), and a state folded from the link
      // on would decide that order without the moved enrolment; a load reads them.
      return [];
    }
    if (!(await this.concerns(workspace, event))) {
      await this.engine.observe(workspace, person, event);
      return [];
    }
    const now = decisionMoment(event as DomainEvent);
    const cause: DecideCause = { kind: 'event', event: event as DomainEvent };
    const catalog = await this.engine.catalogOf(workspace);
    await this.engine.decideAndAppend(workspace, person, cause, now, {
      id: event.id,
      receivedAt: event.metadata.receivedAt,
      correlationId: event.metadata.correlationId,
    }, asOfPosition(catalog, event.position), event);
    return [];
  }

  /**
   * One person's events are decided in order; different people's concurrently. Lifecycle events
   * wait for all, and so do identity links: a link moves the linked identity's enrolments, which
   * are on another stream, so it is handled once every earlier event (of that stream too) has been
   * decided on, and before any later one.
   */
  partitionOf(event: RecordedEvent): string | undefined {
    if (event.type === IDENTITY_LINKED) return undefined;
    return personKeyOfStream(event.stream) === undefined ? undefined : event.stream;
  }

  /** Moves the due-timer index, in the transaction that commits the event's batch. */
  apply(db: StateDb, event: RecordedEvent): void {
    const person = personKeyOfStream(event.stream);
    if (!person) return;
    const workspace = event.metadata.workspace;
    const data = event.data as { enrollmentId?: string; timerId?: string; dueAt?: string; purpose?: string };
    switch (event.type) {
      case 'TimerScheduled':
        prepared<[string, string, string, string, number]>(db, SET_TIMER).run(workspace, data.enrollmentId!, person, data.timerId!, Date.parse(data.dueAt!));
        return;
      case 'TimerFired':
        if (data.purpose !== 'scenario') return;
        if (data.timerId) prepared<[string, string, string, string]>(db, CLEAR_TIMER).run(workspace, data.enrollmentId!, person, data.timerId);
        else prepared<[string, string, string]>(db, CLEAR_ENROLLMENT).run(workspace, data.enrollmentId!, person);
        return;
      case 'StepCompleted':
      case 'EnrollmentExited':
        prepared<[string, string, string]>(db, CLEAR_ENROLLMENT).run(workspace, data.enrollmentId!, person);
        return;
    }
  }

  discard(): void {
    this.engine.persons.forget();
  }

  /** Its own timers, and the user actions and segment changes some scenario of the workspace names. */
  private async concerns(workspace: string, event: RecordedEvent): Promise<boolean> {
    if (event.type === 'TimerFired') return (event.data as { purpose?: string }).purpose === 'scenario';
    if (event.type === 'SegmentEntered' || event.type === 'SegmentExited') {
      return this.engine.mayReact(workspace, 'segment', (event.data as { segmentId: string }).segmentId);
    }
    const action = userAction(event as DomainEvent);
    return action !== undefined && this.engine.mayReact(workspace, 'action', action.name);
  }
}
