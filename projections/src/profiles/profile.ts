/**
 * The profile of a person: traits, groups, first and last seen, subscriptions, and the event
 * counters segments need. `evolveProfile` is the fold over the person's events; it never mutates
 * its input, so a caller can keep the previous profile (to compare memberships, or to roll back).
 */
import type { DomainEvent } from '../events';
import { compareValue, valueAtPath } from '../segments/compare';
import { CHANNELS, isPlainObject, type Channel, type PropertyFilter } from '../segments/segment-definition';
import { isTimeZone, parseInstant } from '../time/instants';

export interface CounterSpec {
  key: string;
  /** Event name as `performed:` writes it (`Page Viewed` / `Screen Viewed` for page and screen calls). */
  event: string;
  where?: PropertyFilter[];
  /** Keep occurrence times for this long; undefined = only the ever-count is needed. */
  windowMs?: number;
}

export interface Counter {
  /** Occurrences ever. */
  count: number;
  /** Occurrence times (epoch ms) still inside the spec's window, ascending. */
  times: number[];
}

export interface Profile {
  /** The person key: the canonical user id, or `anon:<id>` for an anonymous visitor. */
  userId: string;
  traits: Record<string, unknown>;
  /** groupId -> group traits. */
  groups: Record<string, Record<string, unknown>>;
  /** Epoch ms of the person's first and last tracking event (occurrence time). */
  firstSeen: number;
  lastSeen: number;
  /** CounterSpec.key -> counter. */
  counters: Record<string, Counter>;
  /** Absent = subscribed (everyone is until they unsubscribe); false after Unsubscribed. */
  subscriptions: Partial<Record<Channel, boolean>>;
}

export interface ProfileOptions {
  /** The workspace time zone, for dates without an offset when the user has no valid `timezone` trait. */
  timezone?: string;
}

/** Page and screen calls are counted as these event names, so segments can use them in `performed:`. */
export const PAGE_VIEWED_EVENT = 'Page Viewed';
export const SCREEN_VIEWED_EVENT = 'Screen Viewed';

/** Events the person does themselves: they move first and last seen. */
export const TRACKING_EVENT_TYPES = ['Tracked', 'Identified', 'PageViewed', 'ScreenViewed', 'Grouped', 'Aliased'] as const;
/** Every event type `evolveProfile` reads. `IdentityLinked` is not one: joining two profiles needs both, see `mergeProfiles`. */
export const PROFILE_EVENT_TYPES = [...TRACKING_EVENT_TYPES, 'Subscribed', 'Unsubscribed'] as const;
export type ProfileEventType = (typeof PROFILE_EVENT_TYPES)[number];

export function canHandleProfileEvent(type: string): type is ProfileEventType {
  return (PROFILE_EVENT_TYPES as readonly string[]).includes(type);
}

export function newProfile(userId: string, at: number): Profile {
  return { userId, traits: {}, groups: {}, firstSeen: at, lastSeen: at, counters: {}, subscriptions: {} };
}

/** The time zone for a person's wall-clock dates: their `timezone` trait if valid, else the fallback, else UTC. */
export function profileTimeZone(profile: Profile, fallback?: string): string {
  const own = profile.traits.timezone;
  if (isTimeZone(own)) return own;
  return fallback !== undefined && isTimeZone(fallback) ? fallback : 'UTC';
}

/**
 * When the event happened: `occurredAt`, but never later than `receivedAt` (a device clock ahead
 * of ours cannot put an event in the future). Undefined when neither is a valid ISO time.
 */
export function occurrenceTime(event: DomainEvent): number | undefined {
  const occurred = typeof event.metadata.occurredAt === 'string' ? parseInstant(event.metadata.occurredAt) : undefined;
  const received = typeof event.metadata.receivedAt === 'string' ? parseInstant(event.metadata.receivedAt) : undefined;
  if (occurred === undefined) return received;
  return received === undefined ? occurred : Math.min(occurred, received);
}

/**
 * Applies one event. `now` is the moment of applying it (the event's time in the runner) and trims
 * occurrence times that have left their window; `specs` are the counters segments need
 * (`counterSpecsFor`). Returns the same object when the event changes nothing.
 */
export function evolveProfile(profile: Profile, event: DomainEvent, specs: CounterSpec[], now: number, options: ProfileOptions = {}): Profile {
  if (!canHandleProfileEvent(event.type)) return profile;
  const type = event.type;
  const data = isPlainObject(event.data) ? event.data : {};
  const at = occurrenceTime(event) ?? now;

  switch (type) {
    case 'Tracked':
      return seen(profile, at, typeof data.event === 'string' ? count(profile, data.event, data, trackProperties, at, specs, now, options) : undefined);
    case 'PageViewed':
      return seen(profile, at, count(profile, PAGE_VIEWED_EVENT, data, viewProperties, at, specs, now, options));
    case 'ScreenViewed':
      return seen(profile, at, count(profile, SCREEN_VIEWED_EVENT, data, viewProperties, at, specs, now, options));
    case 'Identified': {
      const traits = isPlainObject(data.traits) ? mergeTraits(profile.traits, data.traits) : profile.traits;
      return seen(profile, at, traits === profile.traits ? undefined : { traits });
    }
    case 'Grouped': {
      if (typeof data.groupId !== 'string' || data.groupId === '') return seen(profile, at);
      const known = Object.hasOwn(profile.groups, data.groupId);
      const before = known ? profile.groups[data.groupId] : {};
      const after = isPlainObject(data.traits) ? mergeTraits(before, data.traits) : before;
      return seen(profile, at, after === before && known ? undefined : { groups: withEntry(profile.groups, data.groupId, after) });
    }
    case 'Aliased':
      return seen(profile, at);
    case 'Subscribed':
    case 'Unsubscribed': {
      const channel = data.channel;
      if (!(CHANNELS as readonly unknown[]).includes(channel)) return profile;
      // A topic (e.g. only the newsletter) does not switch the whole channel; the dispatcher checks topics.
      if (data.topic !== undefined && data.topic !== null) return profile;
      const subscribed = type === 'Subscribed';
      if (profile.subscriptions[channel as Channel] === subscribed) return profile;
      return { ...profile, subscriptions: { ...profile.subscriptions, [channel as Channel]: subscribed } };
    }
    default: {
      const unhandled: never = type;
      throw new Error(`unhandled profile event ${String(unhandled)}`);
    }
  }
}

/** The profile after a tracking event at `at`: first and last seen widened, and `changes` applied, in one copy. */
function seen(profile: Profile, at: number, changes?: Partial<Profile>): Profile {
  const widens = at < profile.firstSeen || at > profile.lastSeen;
  if (!widens && changes === undefined) return profile;
  return {
    ...profile,
    ...changes,
    firstSeen: Math.min(profile.firstSeen, at),
    lastSeen: Math.max(profile.lastSeen, at),
  };
}

/** A track call's properties. */
function trackProperties(data: Record<string, unknown>): Record<string, unknown> {
  return isPlainObject(data.properties) ? data.properties : {};
}

/** A page or screen call's properties, with its `name` and `category` when the properties lack them. */
function viewProperties(data: Record<string, unknown>): Record<string, unknown> {
  const properties = isPlainObject(data.properties) ? data.properties : {};
  const extra: Record<string, unknown> = {};
  if (data.name !== undefined && data.name !== null) extra.name = data.name;
  if (data.category !== undefined && data.category !== null) extra.category = data.category;
  return Object.keys(extra).length === 0 ? properties : { ...extra, ...properties };
}

/** Shallow merge; a null value removes the key. Returns `before` when nothing changes. */
function mergeTraits(before: Record<string, unknown>, changes: Record<string, unknown>): Record<string, unknown> {
  let after: Record<string, unknown> | undefined;
  for (const [key, value] of Object.entries(changes)) {
    if (value === undefined) continue;
    if (value === null) {
      if (!Object.hasOwn(after ?? before, key)) continue;
      after ??= { ...before };
      delete after[key];
    } else if ((after ?? before)[key] !== value || !Object.hasOwn(after ?? before, key)) {
      after ??= { ...before };
      defineEntry(after, key, value);
    }
  }
  return after ?? before;
}

/** Sets an own property even for keys like `__proto__`, which plain assignment would not. */
export function defineEntry(target: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

function withEntry<V>(record: Record<string, V>, key: string, value: V): Record<string, V> {
  const copy = { ...record };
  defineEntry(copy, key, value);
  return copy;
}

const specIndex = new WeakMap<CounterSpec[], Map<string, CounterSpec[]>>();

function specsForEvent(specs: CounterSpec[], event: string): CounterSpec[] | undefined {
  let index = specIndex.get(specs);
  if (index === undefined) {
    index = new Map();
    for (const spec of specs) index.set(spec.event, [...(index.get(spec.event) ?? []), spec]);
    specIndex.set(specs, index);
  }
  return index.get(event);
}

/**
 * The counters after an occurrence of `event`, or undefined when no spec counts it. The event's
 * properties are taken from `data` only when a spec filters on them (most events are counted by no
 * spec, or by one without filters).
 */
function count(
  profile: Profile,
  event: string,
  data: Record<string, unknown>,
  propertiesOf: (data: Record<string, unknown>) => Record<string, unknown>,
  at: number,
  specs: CounterSpec[],
  now: number,
  options: ProfileOptions,
): Pick<Profile, 'counters'> | undefined {
  const candidates = specsForEvent(specs, event);
  if (candidates === undefined) return undefined;
  let counters: Record<string, Counter> | undefined;
  let timeZone: string | undefined;
  let properties: Record<string, unknown> | undefined;
  for (const spec of candidates) {
    if (spec.where !== undefined && spec.where.length > 0) {
      timeZone ??= profileTimeZone(profile, options.timezone);
      properties ??= propertiesOf(data);
      if (!matches(spec.where, properties, at, timeZone)) continue;
    }
    counters ??= { ...profile.counters };
    counters[spec.key] = addOccurrence(counters[spec.key], at, spec.windowMs, now);
  }
  return counters === undefined ? undefined : { counters };
}

/** Relative dates in property filters are relative to the event's own time. */
function matches(where: PropertyFilter[], properties: Record<string, unknown>, at: number, timeZone: string): boolean {
  for (const filter of where) if (!compareValue(valueAtPath(properties, filter.property), filter.op, filter.value, at, timeZone)) return false;
  return true;
}

function addOccurrence(counter: Counter | undefined, at: number, windowMs: number | undefined, now: number): Counter {
  const previous = counter ?? { count: 0, times: [] };
  if (windowMs === undefined) return { count: previous.count + 1, times: previous.times.length === 0 ? previous.times : [] };
  const horizon = now - windowMs;
  const start = firstAfter(previous.times, horizon);
  const times = previous.times.slice(start);
  if (at > horizon) times.splice(firstAfter(times, at), 0, at);
  return { count: previous.count + 1, times };
}

/** Index of the first time > `t` in ascending `times`. */
export function firstAfter(times: readonly number[], t: number): number {
  let lo = 0;
  let hi = times.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (times[mid] <= t) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * Joins the profile of an identity linked to a person (`IdentityLinked`: typically an anonymous
 * visitor's) into the person's. The person's traits win on conflict, counters add up, first seen
 * is the earlier and last seen the later. An unsubscribe on either side is kept: consent given up
 * under one identity is not restored by the other.
 */
export function mergeProfiles(into: Profile, from: Profile, specs: CounterSpec[]): Profile {
  const windows = new Map(specs.map((spec) => [spec.key, spec.windowMs]));
  const counters: Record<string, Counter> = { ...into.counters };
  for (const [key, theirs] of Object.entries(from.counters)) {
    const ours = Object.hasOwn(counters, key) ? counters[key] : undefined;
    const keepTimes = !windows.has(key) || windows.get(key) !== undefined;
    const times = keepTimes ? mergeSorted(ours?.times ?? [], theirs.times) : [];
    defineEntry(counters, key, { count: (ours?.count ?? 0) + theirs.count, times });
  }

  const groups: Record<string, Record<string, unknown>> = { ...from.groups };
  for (const [groupId, traits] of Object.entries(into.groups)) {
    defineEntry(groups, groupId, Object.hasOwn(from.groups, groupId) ? { ...from.groups[groupId], ...traits } : traits);
  }

  const subscriptions: Partial<Record<Channel, boolean>> = {};
  for (const channel of CHANNELS) {
    const a = into.subscriptions[channel];
    const b = from.subscriptions[channel];
    if (a === false || b === false) subscriptions[channel] = false;
    else if (a === true || b === true) subscriptions[channel] = true;
  }

  return {
    userId: into.userId,
    traits: { ...from.traits, ...into.traits },
    groups,
    firstSeen: Math.min(into.firstSeen, from.firstSeen),
    lastSeen: Math.max(into.lastSeen, from.lastSeen),
    counters,
    subscriptions,
  };
}

function mergeSorted(a: readonly number[], b: readonly number[]): number[] {
  const out: number[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) out.push(a[i] <= b[j] ? a[i++] : b[j++]);
  while (i < a.length) out.push(a[i++]);
  while (j < b.length) out.push(b[j++]);
  return out;
}
