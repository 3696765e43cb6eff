/**
 * How a trait or an event property compares with a value in a definition. One set of rules for
 * both, documented in docs/segments.md ("Comparisons").
 */
import { parseDuration } from '../time/durations';
import { parseInstant } from '../time/instants';
import { isRelativeDate, type CompareOp } from './segment-definition';

/**
 * The value at `path` in `root`: the key itself if `root` has it (a trait literally named
 * `address.city`), else the dotted path, with digits indexing arrays (`items.0.sku`). Only own
 * properties are read, so `constructor` or `__proto__` find nothing.
 */
export function valueAtPath(root: unknown, path: string): unknown {
  if (!isObjectLike(root)) return undefined;
  if (Object.hasOwn(root, path)) return (root as Record<string, unknown>)[path];
  if (!path.includes('.')) return undefined;
  let current: unknown = root;
  for (const segment of path.split('.')) {
    if (Array.isArray(current)) {
      if (!/^(0|[1-9][0-9]*)$/.test(segment)) return undefined;
      current = current[Number(segment)];
    } else if (isObjectLike(current) && Object.hasOwn(current, segment)) {
      current = (current as Record<string, unknown>)[segment];
    } else {
      return undefined;
    }
  }
  return current;
}

const isObjectLike = (value: unknown): value is object => typeof value === 'object' && value !== null;

const isMissing = (value: unknown) => value === undefined || value === null;

/** The instant a comparison value stands for, if it is a date (ISO text or relative date). */
export function comparedInstant(expected: unknown, now: number, timeZone?: string): number | undefined {
  if (typeof expected === 'string') return parseInstant(expected, timeZone);
  if (isRelativeDate(expected)) return 'ago' in expected ? now - parseDuration(expected.ago) : now + parseDuration(expected.in);
  return undefined;
}

function equals(actual: unknown, expected: unknown, timeZone?: string): boolean {
  if (actual === expected) return typeof actual !== 'number' || !Number.isNaN(actual);
  if (typeof actual === 'string' && typeof expected === 'string') {
    const a = parseInstant(actual, timeZone);
    return a !== undefined && a === parseInstant(expected, timeZone);
  }
  return false;
}

/** Whether `actual` (a trait or property, undefined when absent) satisfies `op value`. */
export function compareValue(actual: unknown, op: CompareOp, expected: unknown, now: number, timeZone?: string): boolean {
  if (op === 'exists') return expected === false ? isMissing(actual) : !isMissing(actual);
  if (isMissing(actual)) return op === 'neq';
  switch (op) {
    case 'eq':
      return equals(actual, expected, timeZone);
    case 'neq':
      return !equals(actual, expected, timeZone);
    case 'contains':
      if (Array.isArray(actual)) return actual.some((item) => equals(item, expected, timeZone));
      return typeof actual === 'string' && typeof expected === 'string' && actual.includes(expected);
    case 'in': {
      if (!Array.isArray(expected)) return false;
      const isIn = (item: unknown) => expected.some((candidate) => equals(item, candidate, timeZone));
      return Array.isArray(actual) ? actual.some(isIn) : isIn(actual);
    }
    case 'gt':
    case 'gte':
    case 'lt':
    case 'lte': {
      const pair = orderedPair(actual, expected, now, timeZone);
      return pair !== undefined && order(op, pair[0], pair[1]);
    }
    default: {
      const unhandled: never = op;
      throw new Error(`unhandled operator ${String(unhandled)}`);
    }
  }
}

/** Numbers with numbers, dates with dates; anything else does not compare. */
function orderedPair(actual: unknown, expected: unknown, now: number, timeZone?: string): [number, number] | undefined {
  if (typeof expected === 'number') return typeof actual === 'number' && Number.isFinite(actual) ? [actual, expected] : undefined;
  const threshold = comparedInstant(expected, now, timeZone);
  if (threshold === undefined || typeof actual !== 'string') return undefined;
  const instant = parseInstant(actual, timeZone);
  return instant === undefined ? undefined : [instant, threshold];
}

function order(op: 'gt' | 'gte' | 'lt' | 'lte', a: number, b: number): boolean {
  switch (op) {
    case 'gt':
      return a > b;
    case 'gte':
      return a >= b;
    case 'lt':
      return a < b;
    case 'lte':
      return a <= b;
  }
}

/**
 * For a date compared with a relative date, the first moment after `now` at which the comparison
 * changes its answer. The threshold moves with time (now ± d), the date does not, so it changes at
 * most once. Times are whole milliseconds: `date < now - d` first holds at date + d + 1.
 */
export function relativeDateChangeAt(actual: unknown, op: CompareOp, expected: unknown, now: number, timeZone?: string): number | undefined {
  if (!isRelativeDate(expected) || typeof actual !== 'string') return undefined;
  if (op !== 'gt' && op !== 'gte' && op !== 'lt' && op !== 'lte') return undefined;
  const date = parseInstant(actual, timeZone);
  if (date === undefined) return undefined;
  const shift = 'ago' in expected ? -parseDuration(expected.ago) : parseDuration(expected.in);
  // threshold(t) = t + shift equals the date at t = boundary.
  const boundary = date - shift;
  const at = op === 'lt' || op === 'gte' ? boundary + 1 : boundary;
  return at > now ? at : undefined;
}
