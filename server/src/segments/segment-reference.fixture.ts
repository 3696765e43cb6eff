/**
 * A reference evaluator for differential tests: segment membership at a moment, computed the plain
 * way from what docs/segments.md says, over the raw history of what was sent (no profiles, no
 * counters, no timers). It shares no code with `@herald/projections`, so where the two disagree one
 * of them (or the docs) is wrong.
 */

export type RefCondition = Record<string, unknown>;
export interface RefDefinition {
  id: string;
  name: string;
  where: RefCondition;
}

/** What a person did, as the reference needs it. */
export interface RefHistory {
  /** Traits after every identify received by the moment, folded in arrival order. */
  traits: Record<string, unknown>;
  /** Channel -> false once unsubscribed (and back on when subscribed again). */
  subscriptions: Record<string, boolean>;
  /** Tracked, page and screen calls: name as `performed:` writes it, properties, event time. */
  events: Array<{ name: string; properties: Record<string, unknown>; at: number }>;
}

const UNITS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 7 * 86_400_000 };

export function refDuration(text: string): number {
  const match = /^([1-9][0-9]*)([smhdw])$/.exec(text);
  if (!match) throw new Error(`not a duration: ${text}`);
  return Number(match[1]) * UNITS[match[2]];
}

/** The zone's offset from UTC (ms) at an instant, read from Intl. */
function zoneOffset(instant: number, zone: string): number {
  const parts = new Intl.DateTimeFormat('en-US', {
    timeZone: zone,
    hourCycle: 'h23',
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
  }).formatToParts(new Date(instant));
  const field = (type: string) => Number(parts.find((p) => p.type === type)!.value);
  const wall = Date.UTC(field('year'), field('month') - 1, field('day'), field('hour'), field('minute'), field('second'));
  return wall - Math.floor(instant / 1000) * 1000;
}

export function refIsZone(zone: unknown): zone is string {
  if (typeof zone !== 'string' || zone === '') return false;
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

/** The wall-clock text of an instant in a zone, `YYYY-MM-DDTHH:MM`. */
export function refWallText(instant: number, zone: string): string {
  return new Date(instant + zoneOffset(instant, zone)).toISOString().slice(0, 16);
}

/** An ISO 8601 date or date-time (the forms docs/segments.md lists), in `zone` when it has no offset. */
export function refInstant(text: unknown, zone: string): number | undefined {
  if (typeof text !== 'string') return undefined;
  const match = /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,3}))?)?(Z|[+-]\d{2}(?::?\d{2})?)?)?$/.exec(text);
  if (!match) return undefined;
  const [, y, mo, d, h = '0', mi = '0', s = '0', ms = '0', offset] = match;
  const wall = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s), Number(ms.padEnd(3, '0')));
  if (new Date(wall).getUTCDate() !== Number(d)) return undefined;
  if (offset === 'Z') return wall;
  if (offset !== undefined) {
    const sign = offset[0] === '-' ? -1 : 1;
    const digits = offset.slice(1).replace(':', '');
    return wall - sign * (Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2) || '0')) * 60_000;
  }
  // Wall time: the instant whose local time in the zone reads `wall` (tests keep clear of DST gaps).
  const guess = wall - zoneOffset(wall, zone);
  return wall - zoneOffset(guess, zone);
}

const missing = (value: unknown) => value === undefined || value === null;

function refEquals(a: unknown, b: unknown, zone: string): boolean {
  if (typeof a === 'number' && Number.isNaN(a)) return false;
  if (a === b) return true;
  if (typeof a === 'string' && typeof b === 'string') {
    const x = refInstant(a, zone);
    return x !== undefined && x === refInstant(b, zone);
  }
  return false;
}

/** docs/segments.md, "Comparisons". */
export function refCompare(actual: unknown, op: string, expected: unknown, now: number, zone: string): boolean {
  if (op === 'exists') return expected === false ? missing(actual) : !missing(actual);
  if (missing(actual)) return op === 'neq';
  switch (op) {
    case 'eq':
      return refEquals(actual, expected, zone);
    case 'neq':
      return !refEquals(actual, expected, zone);
    case 'contains':
      if (Array.isArray(actual)) return actual.some((item) => refEquals(item, expected, zone));
      return typeof actual === 'string' && typeof expected === 'string' && actual.includes(expected);
    case 'in':
      return (Array.isArray(actual) ? actual : [actual]).some((item) => (expected as unknown[]).some((candidate) => refEquals(item, candidate, zone)));
    default: {
      let a: number | undefined;
      let b: number | undefined;
      if (typeof expected === 'number') {
        if (typeof actual !== 'number' || !Number.isFinite(actual)) return false;
        [a, b] = [actual, expected];
      } else {
        const relative = expected as { ago?: string; in?: string };
        b = typeof expected === 'object' && expected !== null ? (relative.ago !== undefined ? now - refDuration(relative.ago) : now + refDuration(relative.in!)) : refInstant(expected, zone);
        a = refInstant(actual, zone);
        if (a === undefined || b === undefined) return false;
      }
      return op === 'gt' ? a > b : op === 'gte' ? a >= b : op === 'lt' ? a < b : a <= b;
    }
  }
}

/** The value at a trait or property path: the key itself if present, else a dotted path. */
export function refPath(root: Record<string, unknown>, path: string): unknown {
  if (Object.hasOwn(root, path)) return root[path];
  let current: unknown = root;
  for (const key of path.split('.')) {
    if (typeof current !== 'object' || current === null || !Object.hasOwn(current, key)) return undefined;
    current = (current as Record<string, unknown>)[key];
  }
  return current;
}

/** The zone a person's wall-clock dates are read in: their timezone trait, else the workspace's, else UTC. */
export function refZone(traits: Record<string, unknown>, workspaceZone: string | undefined): string {
  if (refIsZone(traits.timezone)) return traits.timezone;
  return refIsZone(workspaceZone) ? workspaceZone : 'UTC';
}

/** The segments (by id) the person is in at `now`, given the definitions in force then; `zone` reads their dates. */
export function refMembership(definitions: RefDefinition[], history: RefHistory, now: number, zone: string): Set<string> {
  const byId = new Map(definitions.map((d) => [d.id, d]));
  const memo = new Map<string, boolean>();
  const member = (id: string): boolean => {
    if (!memo.has(id)) {
      const definition = byId.get(id);
      memo.set(id, definition !== undefined && test(definition.where));
    }
    return memo.get(id)!;
  };
  const test = (c: RefCondition): boolean => {
    if ('trait' in c) return refCompare(refPath(history.traits, c.trait as string), c.op as string, c.value, now, zone);
    if ('performed' in c) {
      const window = c.within === undefined ? undefined : refDuration(c.within as string);
      const filters = (c.where ?? []) as Array<{ property: string; op: string; value?: unknown }>;
      const n = history.events.filter(
        (e) =>
          e.name === c.performed &&
          e.at <= now &&
          (window === undefined || now - window < e.at) &&
          // A relative date in a filter is measured from the event's own time.
          filters.every((f) => refCompare(refPath(e.properties, f.property), f.op, f.value, e.at, zone)),
      ).length;
      const count = (c.count ?? { gte: 1 }) as { gte?: number; lte?: number; eq?: number };
      return count.gte !== undefined ? n >= count.gte : count.lte !== undefined ? n <= count.lte : n === count.eq;
    }
    if ('not' in c) return !test(c.not as RefCondition);
    if ('all' in c) return (c.all as RefCondition[]).every(test);
    if ('any' in c) return (c.any as RefCondition[]).some(test);
    if ('segment' in c) return member(c.segment as string);
    if ('subscribed' in c) return history.subscriptions[c.subscribed as string] !== false;
    throw new Error(`unknown condition ${JSON.stringify(c)}`);
  };
  return new Set(definitions.filter((d) => member(d.id)).map((d) => d.id));
}
