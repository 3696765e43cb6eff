/**
 * Segment membership of one profile at one moment, and the next moment it could change without a
 * new event, so the runner can set a durable timer for exactly then instead of polling.
 */
import { parseDuration } from '../time/durations';
import { firstAfter, profileTimeZone, type Counter, type Profile } from '../profiles/profile';
import { compareValue, relativeDateChangeAt, valueAtPath } from './compare';
import { counterKeyOf } from './counter-specs';
import {
  conditionKind,
  DEFAULT_COUNT,
  isRelativeDate,
  ORDERING_OPS,
  segmentReferences,
  type AllCondition,
  type AnyCondition,
  type Condition,
  type CountRange,
  type NotCondition,
  type PerformedCondition,
  type SegmentCondition,
  type SegmentDefinition,
  type SubscribedCondition,
  type TraitCondition,
} from './segment-definition';

export interface EvaluationContext {
  profile: Profile;
  now: number;
  /** Membership of another segment at the same moment. */
  isMember(segmentId: string): boolean;
  /** Zone for dates without an offset; UTC when absent. */
  timezone?: string;
}

/**
 * A condition prepared once: its dispatch, counter key, window and default count resolved, so
 * evaluating it per event does no parsing. Cached per condition object (definitions are parsed
 * once and kept), so pass the same definition objects each time.
 */
interface CompiledCondition {
  test(ctx: EvaluationContext): boolean;
  /** The earliest moment after ctx.now at which some time-dependent leaf changes its answer. */
  leafChange(ctx: EvaluationContext): number | undefined;
}

const compiled = new WeakMap<Condition, CompiledCondition>();
const never = (): undefined => undefined;

function compile(condition: Condition): CompiledCondition {
  let result = compiled.get(condition);
  if (result === undefined) {
    result = build(condition);
    compiled.set(condition, result);
  }
  return result;
}

function build(condition: Condition): CompiledCondition {
  const kind = conditionKind(condition);
  switch (kind) {
    case 'trait': {
      const { trait, op, value } = condition as TraitCondition;
      const moves = isRelativeDate(value) && ORDERING_OPS.includes(op);
      return {
        test: (ctx) => compareValue(valueAtPath(ctx.profile.traits, trait), op, value, ctx.now, ctx.timezone),
        leafChange: moves ? (ctx) => relativeDateChangeAt(valueAtPath(ctx.profile.traits, trait), op, value, ctx.now, ctx.timezone) : never,
      };
    }
    case 'performed': {
      const c = condition as PerformedCondition;
      const key = counterKeyOf(c);
      const window = c.within === undefined ? undefined : parseDuration(c.within);
      const count = c.count ?? DEFAULT_COUNT;
      const counterIn = (profile: Profile) => (Object.hasOwn(profile.counters, key) ? profile.counters[key] : undefined);
      return {
        test: (ctx) => inRange(occurrences(counterIn(ctx.profile), window, ctx.now), count),
        leafChange:
          window === undefined
            ? never
            : (ctx) => {
                const counter = counterIn(ctx.profile);
                return counter === undefined ? undefined : windowedCountChangeAt(counter.times, window, count, ctx.now);
              },
      };
    }
    case 'not': {
      const inner = compile((condition as NotCondition).not);
      return { test: (ctx) => !inner.test(ctx), leafChange: inner.leafChange };
    }
    case 'all':
    case 'any': {
      const items = (kind === 'all' ? (condition as AllCondition).all : (condition as AnyCondition).any).map(compile);
      const wanted = kind === 'any';
      return {
        // all: false as soon as one is false; any: true as soon as one is true.
        test: (ctx) => {
          for (const item of items) if (item.test(ctx) === wanted) return wanted;
          return !wanted;
        },
        leafChange: (ctx) => {
          let min: number | undefined;
          for (const item of items) {
            const moment = item.leafChange(ctx);
            if (moment !== undefined && (min === undefined || moment < min)) min = moment;
          }
          return min;
        },
      };
    }
    case 'segment': {
      const { segment } = condition as SegmentCondition;
      return { test: (ctx) => ctx.isMember(segment), leafChange: never };
    }
    case 'subscribed': {
      const { subscribed } = condition as SubscribedCondition;
      return { test: (ctx) => ctx.profile.subscriptions[subscribed] !== false, leafChange: never };
    }
    default: {
      const unhandled: never = kind;
      throw new Error(`unhandled condition kind ${String(unhandled)}`);
    }
  }
}

export function evaluateCondition(condition: Condition, ctx: EvaluationContext): boolean {
  return compile(condition).test(ctx);
}

function inRange(n: number, count: CountRange): boolean {
  if (count.gte !== undefined) return n >= count.gte;
  if (count.lte !== undefined) return n <= count.lte;
  if (count.eq !== undefined) return n === count.eq;
  return n >= 1;
}

/** Matching occurrences that count at `now`: ever, or those with now - window < t <= now. */
function occurrences(counter: Counter | undefined, window: number | undefined, now: number): number {
  if (counter === undefined) return 0;
  if (window === undefined) return counter.count;
  return firstAfter(counter.times, now) - firstAfter(counter.times, now - window);
}

/** Beyond this many steps `nextChangeAt` returns the moment it reached: an early re-check is harmless. */
const MAX_STEPS = 1_000;

/**
 * The earliest moment after `ctx.now` at which the condition's answer changes with no new event:
 * a windowed occurrence leaving its window (at t + within), or a relative date passing a trait's
 * date. Undefined if it never does. Exact, with other segments' membership held as it is now
 * (`evaluateSegments` takes those segments' own changes into account).
 */
export function nextChangeAt(condition: Condition, ctx: EvaluationContext): number | undefined {
  const compiledCondition = compile(condition);
  return nextChangeOf(compiledCondition, ctx, compiledCondition.test(ctx));
}

/** `nextChangeAt` for a condition whose answer at `ctx.now` is already known. */
function nextChangeOf(compiledCondition: CompiledCondition, ctx: EvaluationContext, current: boolean): number | undefined {
  let at = ctx.now;
  for (let step = 0; step < MAX_STEPS; step++) {
    const next = compiledCondition.leafChange(at === ctx.now ? ctx : { ...ctx, now: at });
    if (next === undefined) return undefined;
    if (compiledCondition.test({ ...ctx, now: next }) !== current) return next;
    at = next;
  }
  return at > ctx.now ? at : undefined;
}

/**
 * When a windowed count next crosses its bound. Occurrences in the window leave at t + window;
 * occurrences later than `now` (when evaluating an earlier moment) enter at t.
 */
function windowedCountChangeAt(times: readonly number[], window: number, count: CountRange, now: number): number | undefined {
  const first = firstAfter(times, now - window);
  const firstFuture = firstAfter(times, now);
  if (firstFuture === times.length) return shrinkingCountChangeAt(times, first, window, count);

  // General case: two ascending streams, exits at t + window and entries at t.
  let n = firstFuture - first;
  const current = inRange(n, count);
  let i = first;
  let j = firstFuture;
  while (i < times.length || j < times.length) {
    const moment = Math.min(i < times.length ? times[i] + window : Infinity, j < times.length ? times[j] : Infinity);
    for (; i < times.length && times[i] + window === moment; i++) n--;
    for (; j < times.length && times[j] === moment; j++) n++;
    if (inRange(n, count) !== current) return moment;
  }
  return undefined;
}

/**
 * The common case, every occurrence at or before now: the count only falls, one exit at a time
 * (several at once for equal times), so the crossing is found by index instead of by a walk.
 * `times[first..]` are the n occurrences in the window; after the exit of `times[first + k]` at
 * most n - k - 1 remain.
 */
function shrinkingCountChangeAt(times: readonly number[], first: number, window: number, count: CountRange): number | undefined {
  const n = times.length - first;
  const exitOf = (k: number) => times[first + k] + window;
  const countAt = (moment: number) => times.length - firstAfter(times, moment - window);
  if (count.gte !== undefined) return n >= count.gte && count.gte > 0 ? exitOf(n - count.gte) : undefined;
  if (count.lte !== undefined) return n > count.lte ? exitOf(n - count.lte - 1) : undefined;
  if (count.eq !== undefined) {
    if (n === count.eq) return n > 0 ? exitOf(0) : undefined;
    if (n < count.eq) return undefined;
    // The count reaches eq, unless equal times make it jump past it.
    const moment = exitOf(n - count.eq - 1);
    return countAt(moment) === count.eq ? moment : undefined;
  }
  return n >= 1 ? exitOf(n - 1) : undefined;
}

// ---------------------------------------------------------------------------------------------

const orderCache = new WeakMap<SegmentDefinition[], SegmentDefinition[]>();

/**
 * The definitions with every segment after the segments it refers to. Unknown references and
 * cycles (which `validateSegmentGraph` rejects) are skipped rather than looped on.
 */
export function dependencyOrder(definitions: SegmentDefinition[]): SegmentDefinition[] {
  const cached = orderCache.get(definitions);
  if (cached !== undefined) return cached;
  const byId = new Map(definitions.map((definition) => [definition.id, definition]));
  const ordered: SegmentDefinition[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (definition: SegmentDefinition) => {
    if (state.has(definition.id)) return;
    state.set(definition.id, 'visiting');
    for (const ref of segmentReferences(definition.where)) {
      const dependency = byId.get(ref.segment);
      if (dependency !== undefined) visit(dependency);
    }
    state.set(definition.id, 'done');
    ordered.push(definition);
  };
  definitions.forEach(visit);
  orderCache.set(definitions, ordered);
  return ordered;
}

export interface EvaluateOptions {
  /** The workspace time zone, used when the user has no valid `timezone` trait. */
  timezone?: string;
  /** False: membership only, without `nextCheckAt` (for a caller that needs it later, if at all). */
  nextCheck?: boolean;
}

export interface SegmentEvaluation {
  members: Set<string>;
  /** The next moment any membership changes with no new event: set a timer for it. */
  nextCheckAt?: number;
}

/**
 * Which segments the profile is in at `now`. Segments are evaluated after the segments they refer
 * to, so `segment:` sees the same moment's answer. Pass the same array object each time to reuse
 * its evaluation order.
 */
export function evaluateSegments(
  definitions: SegmentDefinition[],
  profile: Profile,
  now: number,
  options: EvaluateOptions = {},
): SegmentEvaluation {
  const members = new Set<string>();
  const ctx: EvaluationContext = {
    profile,
    now,
    timezone: profileTimeZone(profile, options.timezone),
    isMember: (segmentId) => members.has(segmentId),
  };
  const ordered = dependencyOrder(definitions);
  for (const definition of ordered) if (evaluateCondition(definition.where, ctx)) members.add(definition.id);
  if (options.nextCheck === false) return { members };
  let nextCheckAt: number | undefined;
  for (const definition of ordered) {
    // Its answer now is its membership, just computed.
    const moment = nextChangeOf(compile(definition.where), ctx, members.has(definition.id));
    if (moment !== undefined && (nextCheckAt === undefined || moment < nextCheckAt)) nextCheckAt = moment;
  }
  return nextCheckAt === undefined ? { members } : { members, nextCheckAt };
}

/** Segments entered and exited between two evaluations, each sorted. */
export function diffMembership(before: ReadonlySet<string>, after: ReadonlySet<string>): { entered: string[]; exited: string[] } {
  return {
    entered: [...after].filter((id) => !before.has(id)).sort(),
    exited: [...before].filter((id) => !after.has(id)).sort(),
  };
}
