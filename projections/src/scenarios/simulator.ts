/**
 * Runs scenarios over a sequence of events entirely in memory: the same `decide` and fold as the
 * server, with timers fired in time order as the simulated clock passes them. Used by tests (30
 * days in milliseconds) and by `herald simulate` (a draft scenario over recorded history, with
 * nothing sent and nothing appended).
 */
import type { DomainEvent } from '../events';
import { IDENTITY_LINKED, type IdentityLink } from '../identity/identity';
import type { MessagingSettings } from '../messaging';
import { decide, type DecideCause, decisionMoment, type ScenarioCatalogView } from './decide';
import { decideMergeFrom, decideMergeInto, linkedPersons } from './merge';
import { evolvePersonState, initialPersonState, type PersonState, type PersonStateOptions } from './person-state';
import type { Decision, ScenarioTimerFired, TimerScheduled } from './scenario-events';

export interface SimulatedTimer {
  person: string;
  workspace: string;
  dueAt: number;
  data: ScenarioTimerFired;
}

export class ScenarioSimulator {
  readonly persons = new Map<string, PersonState>();
  /** Every event the simulation appended (decisions and fired timers), in order. */
  readonly log: Array<DomainEvent & { person: string }> = [];
  private timers: SimulatedTimer[] = [];
  private sequence = 0;

  constructor(
    private readonly scenarios: ScenarioCatalogView,
    private readonly settings: MessagingSettings,
    private readonly options: PersonStateOptions = {},
  ) {}

  /** Folds a recorded event of `person` and lets the engine decide on it at `now` (default: when the server would, `decisionMoment`). */
  handle(person: string, event: DomainEvent, now = decisionMoment(event)): Decision[] {
    this.fold(person, event);
    if (event.type === IDENTITY_LINKED) return this.link(event, now);
    return this.decideOn(person, { kind: 'event', event }, now, event.metadata.workspace);
  }

  /**
   * An identity link, as the server's engine handles it (no other decision): the linked identity's
   * active enrolments move to the user, then end where they were.
   */
  private link(event: DomainEvent, now: number): Decision[] {
    const persons = linkedPersons(event.data as IdentityLink);
    if (!persons) return [];
    const { from, into } = persons;
    const { workspace } = event.metadata;
    // Only enrolments of the scenarios simulated here: others' (folded from a recorded log) are moved
    // by the engine's own recorded decisions, and their timers are not this simulator's to fire.
    const ours = (decision: Decision) => {
      const scenarioId = (decision.data as { scenarioId?: string }).scenarioId;
      return scenarioId === undefined || this.scenarios.latest(scenarioId) !== undefined;
    };
    const moved = decideMergeInto(this.stateOf(into), this.stateOf(from), event.id, this.scenarios).filter(ours);
    this.recordDecisions(into, event.id, moved, now, workspace);
    const ended = decideMergeFrom(this.stateOf(from), this.stateOf(into), event.id).filter(ours);
    this.recordDecisions(from, event.id, ended, now, workspace);
    return [...moved, ...ended];
  }

  /** An API trigger (transactional messages). */
  trigger(person: string, workspace: string, id: string, scenarioId: string, properties: Record<string, unknown>, now: number): Decision[] {
    return this.decideOn(person, { kind: 'api', id, scenarioId, properties }, now, workspace);
  }

  /** Fires, in time order, every timer due up to `until`. */
  advanceTo(until: number): void {
    for (;;) {
      this.timers.sort((a, b) => a.dueAt - b.dueAt);
      const timer = this.timers[0];
      if (!timer || timer.dueAt > until) return;
      this.timers.shift();
      const iso = new Date(timer.dueAt).toISOString();
      const fired: DomainEvent = {
        id: `timer-${timer.data.timerId}`,
        type: 'TimerFired',
        data: timer.data,
        metadata: { workspace: timer.workspace, occurredAt: iso, receivedAt: iso, schemaVersion: 1 },
      };
      this.record(timer.person, fired);
      this.decideOn(timer.person, { kind: 'event', event: fired }, timer.dueAt, timer.workspace);
    }
  }

  stateOf(person: string): PersonState {
    return this.persons.get(person) ?? initialPersonState(person);
  }

  private decideOn(person: string, cause: DecideCause, now: number, workspace: string): Decision[] {
    const decisions = decide(this.stateOf(person), { cause, now, scenarios: this.scenarios, settings: this.settings, options: this.options });
    this.recordDecisions(person, cause.kind === 'event' ? cause.event.id : cause.id, decisions, now, workspace);
    return decisions;
  }

  private recordDecisions(person: string, causeId: string, decisions: Decision[], now: number, workspace: string): void {
    const iso = new Date(now).toISOString();
    for (const decision of decisions) {
      this.record(person, {
        id: `${causeId}|${decision.key}|${this.sequence++}`,
        type: decision.type,
        data: decision.data,
        metadata: { workspace, causationId: causeId, occurredAt: iso, receivedAt: iso, schemaVersion: 1 },
      });
      if (decision.type === 'TimerScheduled') this.addTimer(person, workspace, decision.data);
    }
  }

  private addTimer(person: string, workspace: string, scheduled: TimerScheduled): void {
    this.timers.push({
      person,
      workspace,
      dueAt: Date.parse(scheduled.dueAt),
      data: { purpose: 'scenario', timerId: scheduled.timerId, enrollmentId: scheduled.enrollmentId, dueAt: scheduled.dueAt },
    });
  }

  private record(person: string, event: DomainEvent): void {
    this.log.push({ ...event, person });
    this.fold(person, event);
  }

  private fold(person: string, event: DomainEvent): void {
    this.persons.set(person, evolvePersonState(this.stateOf(person), event, this.options));
  }
}

/** A catalog from a fixed list of definitions (all active, version 1 unless given). */
export function staticCatalog(
  entries: Array<{ definition: import('./scenario-definition').ScenarioDefinition; version?: number; status?: 'active' | 'paused' | 'archived' }>,
): ScenarioCatalogView {
  const list = entries.map((entry) => ({ definition: entry.definition, version: entry.version ?? 1, status: entry.status ?? ('active' as const) }));
  return {
    current: () => list.filter((entry) => entry.status !== 'archived'),
    version: (id, version) => list.find((entry) => entry.definition.id === id && entry.version === version)?.definition,
    latest: (id) => list.filter((entry) => entry.definition.id === id).sort((a, b) => b.version - a.version)[0],
  };
}
