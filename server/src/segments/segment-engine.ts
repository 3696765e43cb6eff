/**
 * The segments reactor: a fold over the whole log that keeps each person's profile and decides
 * segment membership. Decisions are appended to the person's stream as `SegmentEntered` /
 * `SegmentExited` with ids derived from their cause, so handling an event twice (after a crash,
 * before its checkpoint was written) appends nothing new.
 *
 * Time: a decision made on an event is made at that event's `receivedAt`; one made on a timer at
 * the timer's due time. Both come from the log, so replaying the log reproduces every decision.
 */
import {
  type CounterSpec,
  counterSpecsFor,
  type DomainEvent,
  evaluateSegments,
  evolveCapState,
  evolveProfile,
  initialCapState,
  maxCapWindowMs,
  mergeProfiles,
  newProfile,
  occurrenceTime,
  personKeyOfStream,
  personStream,
  type Profile,
  type SegmentDefinition,
} from '@herald/projections';
import type { EventStore, NewEvent, RecordedEvent } from '../event-store/event-store.port';
import { derivedEventId } from '../shared/ids';
import {
  SEGMENT_DEFINED,
  SEGMENT_DELETED,
  SEGMENT_ENTERED,
  SEGMENT_EXITED,
  type SegmentDefinedData,
  type SegmentDeletedData,
  type SegmentExitedData,
  type SegmentMembershipData,
  TIMER_FIRED,
  type TimerFiredData,
} from './segment.events';
import type { PersonRecord, SegmentState } from './segment-state';
import { MESSAGING_SETTINGS_UPDATED, type MessagingSettingsUpdatedData } from '../settings/messaging-settings.service';

/** Event types that change a profile. */
// Aliased moves only first and last seen (the identity merge itself comes as IdentityLinked).
const PROFILE_EVENTS = new Set(['Tracked', 'Identified', 'PageViewed', 'ScreenViewed', 'Grouped', 'Aliased', 'Subscribed', 'Unsubscribed']);

export interface PlannedAppend {
  stream: string;
  events: NewEvent[];
}

/** What a person's next check is computed from, when a rebuild computes it at the commit. */
interface PendingCheck {
  now: number;
  definitions: SegmentDefinition[];
  timezone: string | undefined;
}

export class SegmentEngine {
  private readonly specsCache = new Map<string, CounterSpec[]>();
  private readonly definitionsCache = new Map<string, SegmentDefinition[]>();
  /**
   * Rebuild only: workspace -> person -> their last decision's inputs. The next check time only
   * matters as stored, so it is computed once per commit (`settleNextChecks`) instead of per event.
   */
  private pendingChecks = new Map<string, Map<string, PendingCheck>>();

  constructor(
    private readonly state: SegmentState,
    /** Read access to the log, for computing a new condition's counters over history. */
    private readonly store: Pick<EventStore, 'readAll'>,
    /** False while rebuilding: membership changes are recorded, but no events are built for them. */
    private readonly decides = true,
  ) {}

  /** Applies one event to the state (unflushed) and returns the decisions to append. */
  async handle(event: RecordedEvent): Promise<PlannedAppend[]> {
    const workspace = event.metadata.workspace;
    switch (event.type) {
      case SEGMENT_DEFINED:
        return this.onDefined(event, event.data as SegmentDefinedData);
      case SEGMENT_DELETED:
        return this.onDeleted(event, event.data as SegmentDeletedData);
      case 'IdentityLinked':
        return this.onLinked(event, event.data as { key: string; userId: string });
      case MESSAGING_SETTINGS_UPDATED: {
        const { settings } = event.data as MessagingSettingsUpdatedData;
        const before = this.state.workspaceSettings(workspace).timezone;
        this.state.putWorkspaceSettings(workspace, { capWindowMs: maxCapWindowMs(settings), timezone: settings.timezone });
        // Wall-clock dates of persons without a timezone trait are read in the workspace's zone: a
        // new zone moves them, so membership and next checks can change at this moment.
        return (settings.timezone ?? undefined) === (before ?? undefined) ? [] : this.decideAll(event, workspace, Date.parse(event.metadata.receivedAt));
      }
      case 'MessageQueued': {
        // Frequency caps count queued messages per person (see projections/messaging).
        const streamPerson = personKeyOfStream(event.stream);
        if (!streamPerson) return [];
        const person = this.resolve(workspace, streamPerson);
        const record = this.state.getPerson(workspace, person);
        if (!record) return [];
        const caps = evolveCapState(record.caps ?? initialCapState(), event as DomainEvent, this.state.workspaceSettings(workspace).capWindowMs);
        this.state.putPerson(workspace, person, { ...record, caps });
        return [];
      }
      case TIMER_FIRED: {
        const data = event.data as TimerFiredData;
        if (data.purpose !== 'segments') return [];
        const person = this.resolve(workspace, data.person);
        const record = this.state.getPerson(workspace, person);
        if (!record) return [];
        return this.decide(event, workspace, person, record, record.profile, Date.parse(data.dueAt));
      }
      default: {
        if (!PROFILE_EVENTS.has(event.type)) return [];
        const streamPerson = personKeyOfStream(event.stream);
        if (!streamPerson) return [];
        const person = this.resolve(workspace, streamPerson);
        const now = Date.parse(event.metadata.receivedAt);
        const existing = this.state.getPerson(workspace, person);
        // A new person starts at the event's own time, not at its arrival: a late event must not make last seen its arrival.
        const profile = evolveProfile(existing?.profile ?? newProfile(person, occurrenceTime(event as DomainEvent) ?? now), event as DomainEvent, this.specs(workspace), now, {
          timezone: this.state.workspaceSettings(workspace).timezone,
        });
        return this.decide(event, workspace, person, existing, profile, now);
      }
    }
  }

  /**
   * Reads into the state's cache the records and links `handle` will read for these events, so a
   * caller can do all the reads of a batch in one read transaction. Changes nothing.
   */
  preload(events: RecordedEvent[]): void {
    // Records first, in key order: consecutive look-ups then walk nearby pages of the B-tree (with
    // a million persons, a batch's reads cost about a fifth less than in arrival order).
    const keys: Array<[string, string]> = [];
    for (const event of events) for (const key of personKeysOf(event)) keys.push([event.metadata.workspace, key]);
    keys.sort(([w1, k1], [w2, k2]) => (w1 < w2 ? -1 : w1 > w2 ? 1 : k1 < k2 ? -1 : k1 > k2 ? 1 : 0));
    for (const [workspace, key] of keys) this.state.getPerson(workspace, key);
    // Then what links lead to (a key without a record of its own).
    for (const [workspace, key] of keys) this.state.getPerson(workspace, this.resolve(workspace, key));
  }

  specs(workspace: string): CounterSpec[] {
    let specs = this.specsCache.get(workspace);
    if (!specs) {
      specs = counterSpecsFor(this.definitionList(workspace));
      this.specsCache.set(workspace, specs);
    }
    return specs;
  }

  /** The workspace's definitions as one stable array (evaluation caches its work per array and definition). */
  definitionList(workspace: string): SegmentDefinition[] {
    let definitions = this.definitionsCache.get(workspace);
    if (!definitions) {
      definitions = [...this.state.definitions(workspace).values()].map((stored) => stored.definition);
      this.definitionsCache.set(workspace, definitions);
    }
    return definitions;
  }

  /**
   * Gives every person decided since the last commit, in a rebuild, the next check time of their
   * last decision, exactly as a live decision would have stored it. Call before `state.flush()`.
   */
  settleNextChecks(): void {
    for (const [workspace, persons] of this.pendingChecks) {
      for (const [person, check] of persons) {
        const record = this.state.getPerson(workspace, person);
        // Every change of a profile goes through `decide` (which records a pending check), so the
        // profile is the one that was decided; caps may have changed since, which segments ignore.
        if (!record) continue;
        const { nextCheckAt } = evaluateSegments(check.definitions, record.profile, check.now, { timezone: check.timezone });
        this.state.putPerson(workspace, person, { ...record, nextCheckAt });
      }
    }
    this.pendingChecks = new Map();
  }

  /** Drops cached derived data (after `state.discard()`). */
  reset(): void {
    this.specsCache.clear();
    this.definitionsCache.clear();
    this.pendingChecks = new Map();
  }

  private definitionsChanged(workspace: string): void {
    this.specsCache.delete(workspace);
    this.definitionsCache.delete(workspace);
  }

  private resolve(workspace: string, key: string): string {
    // A key that has a record is nobody else's: linking a key into another person deletes the
    // key's record, and events of a linked key go to the person it resolves to. So a person seen
    // before (most events) needs no link look-up.
    if (this.state.getPerson(workspace, key)) return key;
    let person = key;
    for (let i = 0; i < 32; i++) {
      const next = this.state.getLink(workspace, person);
      if (next === undefined || next === person) return person;
      person = next;
    }
    return person;
  }

  private async onDefined(event: RecordedEvent, data: SegmentDefinedData): Promise<PlannedAppend[]> {
    const workspace = event.metadata.workspace;
    const before = new Map(this.specs(workspace).map((spec) => [spec.key, spec.windowMs]));
    this.state.putDefinition(workspace, { definition: data.definition, version: data.version });
    this.definitionsChanged(workspace);
    // A condition not tracked before (or with a longer window) needs its counters computed over history.
    const missing = this.specs(workspace).filter((spec) => !before.has(spec.key) || (before.get(spec.key) ?? 0) < (spec.windowMs ?? 0));
    if (missing.length > 0) await this.backfill(workspace, missing, event.position);
    return this.decideAll(event, workspace, Date.parse(event.metadata.receivedAt));
  }

  private async onDeleted(event: RecordedEvent, data: SegmentDeletedData): Promise<PlannedAppend[]> {
    const workspace = event.metadata.workspace;
    this.state.deleteDefinition(workspace, data.segmentId);
    this.definitionsChanged(workspace);
    return this.decideAll(event, workspace, Date.parse(event.metadata.receivedAt), 'segment_deleted');
  }

  private async onLinked(event: RecordedEvent, link: { key: string; userId: string }): Promise<PlannedAppend[]> {
    const workspace = event.metadata.workspace;
    const from = this.resolve(workspace, link.key);
    const into = this.resolve(workspace, `user:${link.userId}`);
    if (from === into) return [];
    this.state.putLink(workspace, link.key, into);
    const now = Date.parse(event.metadata.receivedAt);
    const source = this.state.getPerson(workspace, from);
    if (!source) return [];
    // The earlier identity's profile joins the user's; its memberships end, the user's are re-decided.
    const target = this.state.getPerson(workspace, into);
    const specs = this.specs(workspace);
    const profile = target ? mergeProfiles(target.profile, source.profile, specs) : { ...source.profile, userId: into };
    const appends = this.membershipChanges(event, workspace, from, source.members, [], now, 'merged_into_user');
    // What the earlier identity was last seen at beyond its record goes with it.
    const sourceSeen = this.state.lastSeenOf(workspace, from);
    if (sourceSeen !== undefined) this.state.noteSeen(workspace, into, sourceSeen);
    this.state.deletePerson(workspace, from);
    const decided = this.decide(event, workspace, into, target, profile, now);
    return [...appends, ...decided];
  }

  /** Recomputes the missing counters of every person of the workspace from the log before `position`. */
  private async backfill(workspace: string, specs: CounterSpec[], position: number): Promise<void> {
    const scratch = new Map<string, Profile>();
    const pageSize = 5000;
    let from = 1;
    while (from < position) {
      const page = await this.store.readAll({ fromPosition: from, maxCount: pageSize });
      if (page.length === 0) break;
      for (const event of page) {
        if (event.position >= position) break;
        if (event.metadata.workspace !== workspace || !PROFILE_EVENTS.has(event.type)) continue;
        const streamPerson = personKeyOfStream(event.stream);
        if (!streamPerson) continue;
        const person = this.resolve(workspace, streamPerson);
        const now = Date.parse(event.metadata.receivedAt);
        const options = { timezone: this.state.workspaceSettings(workspace).timezone };
        scratch.set(person, evolveProfile(scratch.get(person) ?? newProfile(person, now), event as DomainEvent, specs, now, options));
      }
      from = page[page.length - 1].position + 1;
    }
    for (const [person, record] of [...this.state.personsOf(workspace)]) {
      const counters = { ...record.profile.counters };
      for (const spec of specs) {
        const computed = scratch.get(person)?.counters[spec.key];
        if (computed) counters[spec.key] = computed;
        else delete counters[spec.key];
      }
      this.state.putPerson(workspace, person, { ...record, profile: { ...record.profile, counters } });
    }
  }

  private decideAll(event: RecordedEvent, workspace: string, now: number, exitReason?: SegmentExitedData['reason']): PlannedAppend[] {
    const appends: PlannedAppend[] = [];
    for (const [person, record] of [...this.state.personsOf(workspace)]) {
      appends.push(...this.decide(event, workspace, person, record, record.profile, now, exitReason));
    }
    return appends;
  }

  /** Decides `person`'s membership with `profile` (their record's, or its new version) and stores both. */
  private decide(
    cause: RecordedEvent,
    workspace: string,
    person: string,
    record: PersonRecord | undefined,
    profile: Profile,
    now: number,
    exitReason: SegmentExitedData['reason'] = 'conditions',
  ): PlannedAppend[] {
    const definitions = this.definitionList(workspace);
    const timezone = this.state.workspaceSettings(workspace).timezone;
    // A rebuild computes the next check at its commit (settleNextChecks), from these same inputs.
    const { members, nextCheckAt } = evaluateSegments(definitions, profile, now, { timezone, nextCheck: this.decides });
    if (!this.decides) {
      let pending = this.pendingChecks.get(workspace);
      if (!pending) this.pendingChecks.set(workspace, (pending = new Map()));
      pending.set(person, { now, definitions, timezone });
    }
    const before = record?.members ?? [];
    // Unchanged membership (most events) keeps its array: nothing to sort or copy.
    const next = isSameSet(before, members) ? before : [...members].sort();
    const appends = next === before ? [] : this.membershipChanges(cause, workspace, person, before, next, now, exitReason);
    // An event that moved only last seen keeps the record's profile; its time is noted apart (see
    // SegmentState). The same in a rebuild, so the records do not depend on where commits fall.
    let stored = profile;
    if (record && next === before && movedOnlyLastSeen(record.profile, profile)) {
      this.state.noteSeen(workspace, person, profile.lastSeen);
      stored = record.profile;
    }
    // A record the event did not change is not written again (with a million persons, each write
    // is a page of a large B-tree).
    if (record && stored === record.profile && next === before && nextCheckAt === record.nextCheckAt) return appends;
    this.state.putPerson(workspace, person, { ...record, profile: stored, members: next, nextCheckAt });
    return appends;
  }

  private membershipChanges(
    cause: RecordedEvent,
    workspace: string,
    person: string,
    before: string[],
    after: string[],
    now: number,
    exitReason: SegmentExitedData['reason'],
  ): PlannedAppend[] {
    // Most events change no membership: nothing to build then.
    if (sameMembers(before, after)) return [];
    if (!this.decides) {
      for (const segmentId of after) if (!before.includes(segmentId)) this.state.recordMembership(workspace, segmentId, person, now);
      for (const segmentId of before) if (!after.includes(segmentId)) this.state.recordMembership(workspace, segmentId, person, undefined);
      return [];
    }
    const events: NewEvent[] = [];
    const definitions = this.state.definitions(workspace);
    const metadata = {
      workspace,
      causationId: cause.id,
      correlationId: cause.metadata.correlationId ?? cause.id,
      occurredAt: new Date(now).toISOString(),
      receivedAt: cause.metadata.receivedAt,
      schemaVersion: 1,
    };
    for (const segmentId of after) {
      if (before.includes(segmentId)) continue;
      const data: SegmentMembershipData = { segmentId, version: definitions.get(segmentId)?.version ?? 0, person };
      events.push({ id: derivedEventId(cause.id, 'segments', `${person}|${segmentId}|entered`), type: SEGMENT_ENTERED, data, metadata });
      this.state.recordMembership(workspace, segmentId, person, now);
    }
    for (const segmentId of before) {
      if (after.includes(segmentId)) continue;
      const data: SegmentExitedData = { segmentId, version: definitions.get(segmentId)?.version ?? 0, person, reason: exitReason };
      events.push({ id: derivedEventId(cause.id, 'segments', `${person}|${segmentId}|exited`), type: SEGMENT_EXITED, data, metadata });
      this.state.recordMembership(workspace, segmentId, person, undefined);
    }
    return events.length > 0 ? [{ stream: personStream(workspace, person), events }] : [];
  }
}

/** `members` holds exactly the ids of `list` (which has no duplicates). */
function isSameSet(list: string[], members: ReadonlySet<string>): boolean {
  if (list.length !== members.size) return false;
  for (const id of list) if (!members.has(id)) return false;
  return true;
}

/** `after` is `before` with a later last seen and nothing else changed (evolveProfile keeps what it does not change). */
function movedOnlyLastSeen(before: Profile, after: Profile): boolean {
  return (
    after !== before &&
    after.lastSeen > before.lastSeen &&
    after.firstSeen === before.firstSeen &&
    after.userId === before.userId &&
    after.traits === before.traits &&
    after.groups === before.groups &&
    after.counters === before.counters &&
    after.subscriptions === before.subscriptions
  );
}

/** Both sorted. */
function sameMembers(before: string[], after: string[]): boolean {
  if (before.length !== after.length) return false;
  for (let i = 0; i < before.length; i++) if (before[i] !== after[i]) return false;
  return true;
}

/** The person keys `handle` resolves for an event (see its cases). */
function personKeysOf(event: RecordedEvent): string[] {
  switch (event.type) {
    case 'IdentityLinked': {
      const link = event.data as { key: string; userId: string };
      return [link.key, `user:${link.userId}`];
    }
    case TIMER_FIRED: {
      const data = event.data as TimerFiredData;
      return data.purpose === 'segments' ? [data.person] : [];
    }
    default: {
      if (event.type !== 'MessageQueued' && !PROFILE_EVENTS.has(event.type)) return [];
      const streamPerson = personKeyOfStream(event.stream);
      return streamPerson ? [streamPerson] : [];
    }
  }
}
