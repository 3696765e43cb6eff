/**
 * Loads a person's scenario state: a fold of their stream, cached in memory and brought up to date
 * by reading only the events after the cached revision. The revision is what decisions are
 * appended against.
 */
import {
  type BranchCondition,
  type Condition,
  counterSpecsFor,
  type ScenarioDefinition,
  evolvePersonState,
  initialPersonState,
  type PersonState,
  type PersonStateOptions,
  personStream,
} from '@herald/projections';
import type { EventStore } from '../event-store/event-store.port';

interface Cached {
  state: PersonState;
  revision: number;
  signature: string;
}

const MAX_CACHED = 100_000;

export class PersonStates {
  private readonly cache = new Map<string, Cached>();

  constructor(private readonly store: EventStore) {}

  async load(workspace: string, person: string, options: PersonStateOptions): Promise<{ state: PersonState; revision: number }> {
    const key = `${workspace}|${person}`;
    const signature = JSON.stringify(options);
    let cached = this.cache.get(key);
    if (cached && cached.signature !== signature) cached = undefined;
    let state = cached?.state ?? initialPersonState(person);
    let revision = cached?.revision ?? -1;
    const events = await this.store.readStream(personStream(workspace, person), { fromRevision: revision + 1 });
    for (const event of events) {
      state = evolvePersonState(state, event, options);
      revision = event.revision;
    }
    if (this.cache.size >= MAX_CACHED && !this.cache.has(key)) this.cache.delete(this.cache.keys().next().value!);
    this.cache.delete(key);
    this.cache.set(key, { state, revision, signature });
    return { state, revision };
  }

  forget(workspace?: string): void {
    if (workspace === undefined) return this.cache.clear();
    for (const key of this.cache.keys()) if (key.startsWith(`${workspace}|`)) this.cache.delete(key);
  }
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
