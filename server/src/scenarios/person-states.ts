/**
 * Loads a person's scenario state: a fold of their stream, cached in memory and brought up to date
 * by reading only the events after the cached revision. The revision is what decisions are
 * appended against, so a state that misses the newest events is never acted on: the append fails
 * on the revision and the decision is made again on a fresh read.
 *
 * That is why the cache may skip the read when it already holds the event being decided on (or is
 * one event short of it, the event itself then being folded in): at worst a newer event makes the
 * append fail and the engine reads again. And the engine's own appended decisions are folded in
 * as they were written, instead of being read back from the log for the person's next event.
 */
import {
  type BranchCondition,
  type Condition,
  counterSpecsFor,
  type DomainEvent,
  type ScenarioDefinition,
  evolvePersonState,
  initialPersonState,
  type PersonState,
  type PersonStateOptions,
  personStream,
} from '@herald/projections';
import type { EventStore, NewEvent, RecordedEvent } from '../event-store/event-store.port';
import { GenerationalMap } from '../shared/generational-map';

interface Cached {
  state: PersonState;
  revision: number;
  signature: string;
  /**
   * The engine's own appended decisions, not folded into `state` yet (`revision` counts them): many
   * people are decided on once and never again, and folding costs as much as the decision.
   */
  unfolded?: NewEvent[];
}

export interface LoadedPersonState {
  state: PersonState;
  revision: number;
  /** The options' cache signature, to hand back to `appended`. */
  signature: string;
}

const MAX_CACHED = 100_000;
/**
 * New people followed before their first decision, per generation (two are kept): a stream's first
 * events take ≈ 1 KB each, and a trigger usually comes soon after the `identify`.
 */
const NEWCOMERS_PER_GENERATION = 10_000;

/** A cached state is reused only under equal options; the engine passes the same object until they change. */
const signatures = new WeakMap<PersonStateOptions, string>();

function signatureOf(options: PersonStateOptions): string {
  let signature = signatures.get(options);
  if (signature === undefined) signatures.set(options, (signature = JSON.stringify(options)));
  return signature;
}

export class PersonStates {
  private readonly cache = new Map<string, Cached>();
  /** People seen from the first event of their stream on, not decided on yet (see `observe`). */
  private readonly newcomers = new GenerationalMap<string, Cached>(NEWCOMERS_PER_GENERATION);

  constructor(private readonly store: EventStore) {}

  /**
   * The person's state; `known` is an event of their stream already read (the one being decided on),
   * which spares the read when the cache is at most one event behind it.
   */
  async load(workspace: string, person: string, options: PersonStateOptions, known?: RecordedEvent): Promise<LoadedPersonState> {
    const key = `${workspace}|${person}`;
    const signature = signatureOf(options);
    let cached = this.cache.get(key) ?? this.newcomers.get(key);
    if (cached && cached.signature !== signature) cached = undefined;
    if (cached?.unfolded) cached = { state: foldIn(cached.state, cached.unfolded, options), revision: cached.revision, signature };
    let state = cached?.state ?? initialPersonState(person);
    let revision = cached?.revision ?? -1;
    const stream = personStream(workspace, person);
    if (known && known.stream === stream && known.revision <= revision + 1) {
      if (known.revision === revision + 1) {
        state = evolvePersonState(state, known as DomainEvent, options);
        revision = known.revision;
      }
    } else {
      for (const event of await this.store.readStream(stream, { fromRevision: revision + 1 })) {
        state = evolvePersonState(state, event as DomainEvent, options);
        revision = event.revision;
      }
    }
    this.keep(key, { state, revision, signature });
    return { state, revision, signature };
  }

  /** Whether `observe` would fold in the person's event at `revision` (the caller may skip the options otherwise). */
  follows(workspace: string, person: string, revision: number): boolean {
    const key = `${workspace}|${person}`;
    if (this.cache.has(key)) return false;
    return revision === 0 || this.newcomers.get(key)?.revision === revision - 1;
  }

  /**
   * An event of the person's stream that the engine does not decide on. Folded in only when it
   * begins the stream or continues a newcomer's state exactly; any other event is left for `load`
   * to read, after the revision the state has.
   */
  observe(workspace: string, person: string, options: PersonStateOptions, event: RecordedEvent): void {
    if (!this.follows(workspace, person, event.revision) || event.stream !== personStream(workspace, person)) return;
    const key = `${workspace}|${person}`;
    const signature = signatureOf(options);
    const from = event.revision === 0 ? undefined : this.newcomers.get(key);
    if (from && from.signature !== signature) return;
    const state = evolvePersonState(from?.state ?? initialPersonState(person), event as DomainEvent, options);
    this.newcomers.set(key, { state, revision: event.revision, signature });
  }

  /**
   * Caches `from` (the state the engine decided on) with the events it has just appended, at
   * `revision`; they are folded in when the person's state is next needed.
   */
  appended(workspace: string, person: string, from: LoadedPersonState, events: NewEvent[], revision: number): void {
    const key = `${workspace}|${person}`;
    const current = this.cache.get(key);
    // Another decision for this person got further meanwhile: keep the newer state.
    if (current && current.signature === from.signature && current.revision >= revision) return;
    this.keep(key, { state: from.state, revision, signature: from.signature, unfolded: events });
  }

  forget(workspace?: string, person?: string): void {
    if (workspace === undefined) {
      this.cache.clear();
      this.newcomers.clear();
      return;
    }
    if (person !== undefined) {
      this.cache.delete(`${workspace}|${person}`);
      this.newcomers.delete(`${workspace}|${person}`);
      return;
    }
    for (const key of this.cache.keys()) if (key.startsWith(`${workspace}|`)) this.cache.delete(key);
    this.newcomers.deleteWhere((key) => key.startsWith(`${workspace}|`));
  }

  private keep(key: string, entry: Cached): void {
    if (this.cache.size >= MAX_CACHED && !this.cache.has(key)) this.cache.delete(this.cache.keys().next().value!);
    this.cache.delete(key);
    this.cache.set(key, entry);
    this.newcomers.delete(key);
  }
}

/** Folds appended events in as a read of the log would return them. */
function foldIn(state: PersonState, events: NewEvent[], options: PersonStateOptions): PersonState {
  for (const event of events) state = evolvePersonState(state, asStored(event), options);
  return state;
}

/** An event as a read of the log returns its data and metadata: through JSON. */
function asStored(event: NewEvent): DomainEvent {
  return {
    id: event.id,
    type: event.type,
    data: JSON.parse(JSON.stringify(event.data ?? null)),
    metadata: JSON.parse(JSON.stringify(event.metadata)),
  };
}

/** Counters a person's profile must keep for the `performed` conditions in scenario branches. */
export function branchCounterSpecs(definitions: ScenarioDefinition[]) {
  const conditions: Condition[] = [];
  for (const definition of definitions) {
    for (const step of definition.steps) {
      if (!('branch' in step)) continue;
      for (const branchCase of step.branch) {
        const userPart = withoutTriggerConditions(branchCase.when);
        if (userPart) conditions.push(userPart);
      }
    }
  }
  return counterSpecsFor(conditions.map((where, i) => ({ id: `branch-${i}`, name: 'branch', where })));
}

/** The part of a branch condition about the user (conditions on the trigger event need no counters). */
function withoutTriggerConditions(condition: BranchCondition): Condition | undefined {
  if ('trigger' in condition) return undefined;
  if ('not' in condition) {
    const inner = withoutTriggerConditions(condition.not as BranchCondition);
    return inner && { not: inner };
  }
  if ('all' in condition) {
    const parts = keep((condition.all as BranchCondition[]).map(withoutTriggerConditions));
    return parts.length > 0 ? { all: parts } : undefined;
  }
  if ('any' in condition) {
    // Only the counters matter here: every user condition that may be evaluated needs its counters.
    const parts = keep((condition.any as BranchCondition[]).map(withoutTriggerConditions));
    return parts.length > 0 ? { any: parts } : undefined;
  }
  return condition as Condition;
}

function keep(parts: Array<Condition | undefined>): Condition[] {
  return parts.filter((part): part is Condition => part !== undefined);
}
