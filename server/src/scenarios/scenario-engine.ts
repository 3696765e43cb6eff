/**
 * Makes and records the scenario engine's decisions for one person: load their state, `decide`,
 * append the decisions against the revision the state was read at. If another writer got there
 * first (another trigger, the API, another node), the append fails on the revision and the decision
 * is made again on the new state: that is what keeps a frequency cap of 1 at one message when 64
 * triggers race. Decision ids are derived from the cause, and a cause already decided on is
 * recognised in the state, so re-running a decision appends nothing.
 */
import {
  type Decision,
  type DecideCause,
  decide,
  decideMergeFrom,
  decideMergeInto,
  type IdentityLink,
  linkedPersons,
  type MessagingSettings,
  maxCapWindowMs,
  type PersonState,
  type PersonStateOptions,
  personStream,
  type ScenarioCatalogView,
} from '@herald/projections';
import { WrongExpectedRevisionError } from '../event-store/errors';
import type { EventStore, NewEvent, RecordedEvent } from '../event-store/event-store.port';
import { uuidv5 } from '../shared/ids';
import { cachedPromise } from '../shared/promise-cache';
import type { MessagingSettingsService } from '../settings/messaging-settings.service';
import { branchCounterSpecs, PersonStates } from './person-states';
import { type ScenarioCatalog, type ScenarioCatalogSnapshot } from './scenario-catalog';

const MAX_ATTEMPTS = 100;

export interface CauseMetadata {
  id: string;
  receivedAt: string;
  correlationId?: string;
}

export class ScenarioEngine {
  readonly persons: PersonStates;
  private readonly catalogs = new Map<string, Promise<ScenarioCatalogSnapshot>>();
  private readonly settings = new Map<string, Promise<MessagingSettings>>();
  private readonly interests = new Map<string, { events: Set<string>; segments: Set<string> }>();

  constructor(
    private readonly store: EventStore,
    private readonly catalog: ScenarioCatalog,
    private readonly messagingSettings: MessagingSettingsService,
  ) {
    this.persons = new PersonStates(store);
  }

  catalogOf(workspace: string): Promise<ScenarioCatalogSnapshot> {
    return cachedPromise(this.catalogs, workspace, () => this.catalog.read(workspace));
  }

  settingsOf(workspace: string): Promise<MessagingSettings> {
    return cachedPromise(this.settings, workspace, () => this.messagingSettings.current(workspace).then((current) => current.settings));
  }

  /** Scenarios or settings changed: read them again on next use. */
  invalidate(workspace: string, what: 'catalog' | 'settings'): void {
    (what === 'catalog' ? this.catalogs : this.settings).delete(workspace);
    if (what === 'catalog') this.interests.delete(workspace);
  }

  /**
   * Whether any scenario of the workspace could react to this user action or segment change: its
   * name is a trigger, exit, goal or awaited event of some version, or the segment triggers one.
   * Most events are not, and skipping them saves loading the person's state.
   */
  async mayReact(workspace: string, kind: 'action' | 'segment', name: string): Promise<boolean> {
    let interest = this.interests.get(workspace);
    if (!interest) {
      interest = interestsOf((await this.catalogOf(workspace)).entries);
      this.interests.set(workspace, interest);
    }
    return (kind === 'action' ? interest.events : interest.segments).has(name);
  }

  /**
   * An event of the person's stream that no scenario reacts to: followed while the person is new
   * (`PersonStates.observe`), so their first decision needs no read of the log.
   */
  async observe(workspace: string, person: string, event: RecordedEvent): Promise<void> {
    if (!this.persons.follows(workspace, person, event.revision)) return;
    const options = personStateOptions(await this.catalogOf(workspace), await this.settingsOf(workspace));
    this.persons.observe(workspace, person, options, event);
  }

  /** Decides on `cause` for `person` and appends the decisions; returns them (empty if none, or already decided). */
  async decideAndAppend(
    workspace: string,
    person: string,
    cause: DecideCause,
    now: number,
    meta: CauseMetadata,
    scenarios?: ScenarioCatalogView,
    /** The cause as read from the person's stream, when it is an event there (spares a read). */
    known?: RecordedEvent,
  ): Promise<Decision[]> {
    const catalog = await this.catalogOf(workspace);
    const settings = await this.settingsOf(workspace);
    const view = scenarios ?? catalog;
    const options = personStateOptions(catalog, settings);
    return this.appendDecided(workspace, person, options, (state) => decide(state, { cause, now, scenarios: view, settings, options }), now, meta, known);
  }

  /**
   * An identity link (`IdentityLinked`, on the user's stream): what the engine knew of the linked
   * identity joins the user's state (`PersonMerged`: traits, counters, the messages its caps count)
   * and its active enrolments move to the user (see `decideMergeInto`). The user's side is appended
   * first, so that until it is durable the enrolments are still active where they were and a re-run
   * after a crash moves them; then they end on the identity's stream. Both are caused by the link:
   * their ids derive from it, and a re-run appends nothing twice. The caller handles the link after
   * every earlier event of both streams (the projection makes it a barrier). The merged counters are
   * those the scenarios counted then: a counter a later scenario version adds starts from the user's
   * own history.
   */
  async mergeLinked(workspace: string, link: IdentityLink, linkEvent: RecordedEvent, scenarios?: ScenarioCatalogView): Promise<void> {
    const persons = linkedPersons(link);
    if (!persons) return;
    const { from, into } = persons;
    const catalog = await this.catalogOf(workspace);
    const settings = await this.settingsOf(workspace);
    const view = scenarios ?? catalog;
    const options = personStateOptions(catalog, settings);
    const now = Date.parse(linkEvent.metadata.receivedAt);
    const meta: CauseMetadata = { id: linkEvent.id, receivedAt: linkEvent.metadata.receivedAt, correlationId: linkEvent.metadata.correlationId };
    const linked = await this.persons.load(workspace, from, options);
    // An id with no stream (an alias of an id never seen): nothing to join.
    if (linked.revision < 0) return;
    const fromState = linked.state;
    await this.appendDecided(workspace, into, options, (state) => decideMergeInto(state, fromState, linkEvent.id, view), now, meta, linkEvent);
    if (!Object.values(fromState.enrollments).some((e) => e.status === 'active')) return;
    const intoState = (await this.persons.load(workspace, into, options)).state;
    await this.appendDecided(workspace, from, options, (state) => decideMergeFrom(state, intoState, linkEvent.id), now, meta);
  }

  /**
   * Loads the person's state, decides on it and appends the decisions against the revision it was
   * read at; on a conflict, reads and decides again.
   */
  private async appendDecided(
    workspace: string,
    person: string,
    options: PersonStateOptions,
    decideOn: (state: PersonState) => Decision[],
    now: number,
    meta: CauseMetadata,
    known?: RecordedEvent,
  ): Promise<Decision[]> {
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      // The cause event spares reading the stream on the first attempt only: after a conflict, read.
      const loaded = await this.persons.load(workspace, person, options, attempt === 0 ? known : undefined);
      const { revision } = loaded;
      const decisions = decideOn(loaded.state);
      if (decisions.length === 0) return [];
      const events = decisions.map((decision) => toEvent(workspace, decision, now, meta));
      try {
        const result = await this.store.append(personStream(workspace, person), events, { expectedRevision: revision < 0 ? 'no_stream' : revision });
        if (result.appended === events.length) this.persons.appended(workspace, person, loaded, events, result.nextExpectedRevision);
        else this.persons.forget(workspace, person);
        return decisions;
      } catch (error) {
        if (!(error instanceof WrongExpectedRevisionError)) throw error;
        // Someone else appended to this person meanwhile: decide again on what is there now.
      }
    }
    throw new Error(`Could not record decisions for ${person} after ${MAX_ATTEMPTS} attempts (too much contention)`);
  }
}

/** Options per (catalog, settings) pair, both cached snapshots: built once, not per decision. */
const optionsCache = new WeakMap<ScenarioCatalogSnapshot, WeakMap<MessagingSettings, PersonStateOptions>>();

function personStateOptions(catalog: ScenarioCatalogSnapshot, settings: MessagingSettings): PersonStateOptions {
  let bySettings = optionsCache.get(catalog);
  if (!bySettings) optionsCache.set(catalog, (bySettings = new WeakMap()));
  let options = bySettings.get(settings);
  if (!options) {
    options = {
      specs: branchCounterSpecs([...catalog.entries.values()].flatMap((entry) => entry.versions.map((v) => v.definition))),
      capWindowMs: Math.max(maxCapWindowMs(settings), 86_400_000),
      timezone: settings.timezone,
    };
    bySettings.set(settings, options);
  }
  return options;
}

export function decisionEventId(causeId: string, key: string): string {
  return uuidv5(`scenario|${causeId}|${key}`);
}

function toEvent(workspace: string, decision: Decision, now: number, meta: CauseMetadata): NewEvent {
  return {
    id: decisionEventId(meta.id, decision.key),
    type: decision.type,
    data: decision.data,
    metadata: {
      workspace,
      causationId: meta.id,
      correlationId: meta.correlationId ?? meta.id,
      occurredAt: new Date(now).toISOString(),
      receivedAt: meta.receivedAt,
      schemaVersion: 1,
    },
  };
}

function interestsOf(entries: ScenarioCatalogSnapshot['entries']): { events: Set<string>; segments: Set<string> } {
  const events = new Set<string>();
  const segments = new Set<string>();
  for (const entry of entries.values()) {
    for (const { definition } of entry.versions) {
      const trigger = definition.trigger;
      if ('event' in trigger) events.add(trigger.event);
      if ('segment' in trigger) segments.add('entered' in trigger.segment ? trigger.segment.entered : trigger.segment.exited);
      for (const rule of definition.exitOn ?? []) events.add(rule.event);
      if (definition.goal) events.add(definition.goal.event);
      for (const step of definition.steps) if ('waitFor' in step) events.add(step.waitFor.event);
    }
  }
  return { events, segments };
}
