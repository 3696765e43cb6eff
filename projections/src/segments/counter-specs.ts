/**
 * The per-event counters a set of segments needs from profiles. A counter is identified by what it
 * counts (event name and property filters), not by the segment that asked for it, so segments
 * counting the same thing share one, and its key is the same in every process and release.
 */
import { parseDuration } from '../time/durations';
import type { CounterSpec } from '../profiles/profile';
import { conditionKind, type Condition, type PerformedCondition, type PropertyFilter, type SegmentDefinition } from './segment-definition';

/** JSON with object keys sorted, so equal values always give the same text. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map((item) => canonicalJson(item === undefined ? null : item)).join(',')}]`;
  if (typeof value === 'object' && value !== null) {
    const entries = Object.entries(value)
      .filter(([, item]) => item !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([key, item]) => `${JSON.stringify(key)}:${canonicalJson(item)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

const utf8 = new TextEncoder();

/**
 * 64-bit FNV-1a of the UTF-8 bytes of `text`, as 16 hex digits. Computed in four 16-bit limbs
 * (no BigInt): the prime is 2^40 + 0x1b3, so a multiply is a small product plus a shift.
 */
export function fnv1a64(text: string): string {
  // Offset basis 0xcbf29ce484222325, least significant limb first.
  let h0 = 0x2325;
  let h1 = 0x8422;
  let h2 = 0x9ce4;
  let h3 = 0xcbf2;
  for (const byte of utf8.encode(text)) {
    h0 ^= byte;
    const t0 = h0 * 0x1b3;
    const t1 = h1 * 0x1b3 + (t0 >>> 16);
    const t2 = h2 * 0x1b3 + (h0 << 8) + (t1 >>> 16);
    const t3 = h3 * 0x1b3 + (h1 << 8) + (t2 >>> 16);
    h0 = t0 & 0xffff;
    h1 = t1 & 0xffff;
    h2 = t2 & 0xffff;
    h3 = t3 & 0xffff;
  }
  const hex = (limb: number) => limb.toString(16).padStart(4, '0');
  return hex(h3) + hex(h2) + hex(h1) + hex(h0);
}

/** Filters in a canonical order without duplicates (they are a conjunction); undefined when none. */
export function canonicalFilters(where: PropertyFilter[] | undefined): PropertyFilter[] | undefined {
  if (where === undefined || where.length === 0) return undefined;
  const byText = new Map<string, PropertyFilter>();
  for (const filter of where) {
    const normal: PropertyFilter = 'value' in filter && filter.value !== undefined ? { property: filter.property, op: filter.op, value: filter.value } : { property: filter.property, op: filter.op };
    byText.set(canonicalJson(normal), normal);
  }
  return [...byText.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, filter]) => filter);
}

/** `ctr:` and the FNV-1a of the canonical JSON of `{ event, where }`. */
export function counterKey(event: string, where?: PropertyFilter[]): string {
  return `ctr:${fnv1a64(canonicalJson({ event, where: canonicalFilters(where) ?? [] }))}`;
}

const keyCache = new WeakMap<PerformedCondition, string>();

/** The key of the counter a performed condition reads (cached per condition object). */
export function counterKeyOf(condition: PerformedCondition): string {
  let key = keyCache.get(condition);
  if (key === undefined) {
    key = counterKey(condition.performed, condition.where);
    keyCache.set(condition, key);
  }
  return key;
}

/** Every performed condition inside `condition`. */
export function performedConditions(condition: Condition): PerformedCondition[] {
  const found: PerformedCondition[] = [];
  const visit = (c: Condition) => {
    const kind = conditionKind(c);
    switch (kind) {
      case 'performed':
        found.push(c as PerformedCondition);
        return;
      case 'not':
        visit((c as { not: Condition }).not);
        return;
      case 'all':
        (c as { all: Condition[] }).all.forEach(visit);
        return;
      case 'any':
        (c as { any: Condition[] }).any.forEach(visit);
        return;
      case 'trait':
      case 'segment':
      case 'subscribed':
        return;
      default: {
        const unhandled: never = kind;
        throw new Error(`unhandled condition kind ${String(unhandled)}`);
      }
    }
  };
  visit(condition);
  return found;
}

/**
 * One spec per distinct (event, filters) among the definitions, sorted by key. The ever-count is
 * always kept; occurrence times are kept for the longest window any condition uses (none when
 * every condition counts ever).
 */
export function counterSpecsFor(definitions: SegmentDefinition[]): CounterSpec[] {
  const specs = new Map<string, CounterSpec>();
  for (const definition of definitions) {
    for (const condition of performedConditions(definition.where)) {
      const key = counterKeyOf(condition);
      const windowMs = condition.within === undefined ? undefined : parseDuration(condition.within);
      const existing = specs.get(key);
      if (existing === undefined) {
        const where = canonicalFilters(condition.where);
        specs.set(key, { key, event: condition.performed, ...(where ? { where } : {}), ...(windowMs !== undefined ? { windowMs } : {}) });
      } else if (windowMs !== undefined && (existing.windowMs === undefined || windowMs > existing.windowMs)) {
        specs.set(key, { ...existing, windowMs });
      }
    }
  }
  return [...specs.values()].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}
