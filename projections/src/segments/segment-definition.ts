/**
 * Segment definitions: the types, and validation of untrusted input (parsed YAML or JSON) into
 * them with every problem named by its path. `docs/segments.md` is the reference for users;
 * `segment-schema.ts` publishes the same language as a JSON Schema.
 */
import { DurationError, isDuration } from '../time/durations';
import { isIsoDate } from '../time/instants';
import { isPlainObject, nestingProblem, toPlain, tooDeeplyNested } from '../plain-input';

export const CHANNELS = ['email', 'sms', 'whatsapp', 'telegram', 'push', 'in_app'] as const;
export type Channel = (typeof CHANNELS)[number];

export const COMPARE_OPS = ['eq', 'neq', 'gt', 'gte', 'lt', 'lte', 'contains', 'exists', 'in'] as const;
export type CompareOp = (typeof COMPARE_OPS)[number];
/** Operators that order their operands; the only ones a relative date makes sense with. */
export const ORDERING_OPS: readonly CompareOp[] = ['gt', 'gte', 'lt', 'lte'];

export const SEGMENT_ID_PATTERN = /^[a-z0-9][a-z0-9_-]{0,63}$/;
/** Deeper nesting is rejected, so a hostile definition cannot exhaust the stack. */
export const MAX_CONDITION_DEPTH = 32;

/** A moment relative to the evaluation time: `{ ago: '30d' }` is now - 30 days, `{ in: '3d' }` now + 3 days. */
export type RelativeDate = { ago: string } | { in: string };

/** Compares the event property at a dotted path (`address.city`, `items.0.sku`) with a value. */
export interface PropertyFilter {
  property: string;
  op: CompareOp;
  value?: unknown;
}

export interface CountRange {
  gte?: number;
  lte?: number;
  eq?: number;
}

export interface TraitCondition {
  trait: string;
  op: CompareOp;
  value?: unknown | RelativeDate;
}
export interface PerformedCondition {
  performed: string;
  where?: PropertyFilter[];
  /** Default `{ gte: 1 }`. */
  count?: CountRange;
  /** A duration such as `7d`; absent means ever. */
  within?: string;
}
export interface NotCondition {
  not: Condition;
}
export interface AllCondition {
  all: Condition[];
}
export interface AnyCondition {
  any: Condition[];
}
export interface SegmentCondition {
  segment: string;
}
export interface SubscribedCondition {
  subscribed: Channel;
}

export type Condition =
  | TraitCondition
  | PerformedCondition
  | NotCondition
  | AllCondition
  | AnyCondition
  | SegmentCondition
  | SubscribedCondition;

export interface SegmentDefinition {
  id: string;
  name: string;
  description?: string;
  where: Condition;
}

export interface DefinitionProblem {
  /** Where the problem is, e.g. `where.all[1].within`; empty for the definition as a whole. */
  path: string;
  message: string;
  /** In problems about several definitions (validateSegmentGraph): the definition `path` is in. */
  segment?: string;
}

export type ParseResult = { ok: true; definition: SegmentDefinition } | { ok: false; problems: DefinitionProblem[] };

export const DEFAULT_COUNT: Readonly<CountRange> = Object.freeze({ gte: 1 });

/** The key that says which shape a condition is. Exactly one is present in a valid condition. */
export const CONDITION_KEYS = ['trait', 'performed', 'not', 'all', 'any', 'segment', 'subscribed'] as const;
export type ConditionKind = (typeof CONDITION_KEYS)[number];

const FIELDS: Record<ConditionKind, readonly string[]> = {
  trait: ['trait', 'op', 'value'],
  performed: ['performed', 'where', 'count', 'within'],
  not: ['not'],
  all: ['all'],
  any: ['any'],
  segment: ['segment'],
  subscribed: ['subscribed'],
};
const DEFINITION_FIELDS = ['id', 'name', 'description', 'where'];
const FILTER_FIELDS = ['property', 'op', 'value'];
const COUNT_FIELDS = ['gte', 'lte', 'eq'] as const;

/** The shape of a condition that has already been validated. */
export function conditionKind(condition: Condition): ConditionKind {
  for (const key of CONDITION_KEYS) if (key in condition) return key;
  throw new TypeError(`not a condition: ${JSON.stringify(condition)}`);
}

export function isRelativeDate(value: unknown): value is RelativeDate {
  if (!isPlainObject(value)) return false;
  const keys = Object.keys(value);
  return keys.length === 1 && (keys[0] === 'ago' || keys[0] === 'in') && typeof value[keys[0]] === 'string';
}

// ---------------------------------------------------------------------------------------------
// Parsing a single definition

/**
 * Validates untrusted input (parsed YAML or JSON) as a segment definition and returns it, or every
 * problem found. Unknown fields are rejected. YAML `Date` values (an unquoted `2026-03-01` under
 * some YAML parsers) are read as ISO strings. Defaults are not filled in: the definition comes back
 * as written, so storing it keeps the author's text.
 */
export function parseSegmentDefinition(input: unknown): ParseResult {
  const deep = tooDeeplyNested(input);
  if (deep !== undefined) return { ok: false, problems: [nestingProblem(deep)] };
  const value = toPlain(input);
  const problems: DefinitionProblem[] = [];
  const report = (path: string, message: string) => problems.push({ path, message });

  if (!isPlainObject(value)) {
    report('', 'a segment definition is an object with id, name and where (description is optional)');
    return { ok: false, problems };
  }
  rejectUnknownFields(value, '', DEFINITION_FIELDS, 'a segment definition', report);

  const selfId = typeof value.id === 'string' && SEGMENT_ID_PATTERN.test(value.id) ? value.id : undefined;
  if (!('id' in value)) report('id', 'missing field: a segment needs an id such as engaged-shoppers');
  else checkSegmentId(value.id, 'id', report);

  if (!('name' in value)) report('name', 'missing field: a segment needs a name');
  else if (typeof value.name !== 'string' || value.name.trim() === '') report('name', 'must be a non-empty string');

  if ('description' in value && typeof value.description !== 'string') report('description', 'must be a string');

  if (!('where' in value)) report('where', 'missing field: a segment needs a where condition');
  else checkCondition(value.where, 'where', 1, { selfId, report });

  if (problems.length > 0) return { ok: false, problems };
  return { ok: true, definition: value as unknown as SegmentDefinition };
}

type Report = (path: string, message: string) => void;
interface Walk {
  selfId: string | undefined;
  report: Report;
}

const list = (items: readonly string[]) => items.join(', ');
const show = (value: unknown) => {
  if (value === undefined) return 'nothing';
  const text = JSON.stringify(value);
  return text === undefined ? String(value) : text.length > 60 ? `${text.slice(0, 57)}...` : text;
};
const child = (path: string, key: string) => (path === '' ? key : `${path}.${key}`);

function checkSegmentId(id: unknown, path: string, report: Report): void {
  if (typeof id !== 'string' || !SEGMENT_ID_PATTERN.test(id)) {
    report(
      path,
      `${show(id)} is not a segment id: use 1 to 64 lowercase letters, digits, "-" or "_", starting with a letter or digit`,
    );
  }
}

function rejectUnknownFields(
  object: Record<string, unknown>,
  path: string,
  allowed: readonly string[],
  what: string,
  report: Report,
): void {
  for (const key of Object.keys(object)) {
    if (!allowed.includes(key)) report(child(path, key), `unknown field "${key}" in ${what}; allowed fields are ${list(allowed)}`);
  }
}

function checkCondition(input: unknown, path: string, depth: number, walk: Walk): void {
  const { report } = walk;
  if (depth > MAX_CONDITION_DEPTH) {
    report(path, `conditions nest deeper than ${MAX_CONDITION_DEPTH} levels`);
    return;
  }
  if (!isPlainObject(input)) {
    const hint = Array.isArray(input) ? '; to combine several conditions put them under all: or any:' : '';
    report(path, `a condition is an object with one of ${list(CONDITION_KEYS)}, got ${show(input)}${hint}`);
    return;
  }
  const kinds = CONDITION_KEYS.filter((key) => key in input);
  if (kinds.length > 1) {
    report(path, `a condition has exactly one of ${list(CONDITION_KEYS)}, found ${kinds.join(' and ')}; combine them under all: or any:`);
    return;
  }
  if (kinds.length === 0) {
    const keys = Object.keys(input);
    const looksLike = (['trait', 'performed'] as const).find((kind) => keys.some((key) => FIELDS[kind].includes(key)));
    if (looksLike === 'trait') report(child(path, 'trait'), 'missing field: a trait condition has trait, op and value');
    else if (looksLike === 'performed') report(child(path, 'performed'), 'missing field: a performed condition names the event, e.g. performed: Order Completed');
    else report(path, `not a condition: use one of ${list(CONDITION_KEYS)}${keys.length ? ` (found ${list(keys)})` : ''}`);
    return;
  }
  const kind = kinds[0];
  rejectUnknownFields(input, path, FIELDS[kind], `a ${kind} condition`, report);
  switch (kind) {
    case 'trait':
      checkNonEmptyString(input.trait, child(path, 'trait'), 'a trait name (a dotted path such as address.city is allowed)', report);
      checkComparison(input, path, report);
      return;
    case 'performed':
      checkPerformed(input, path, report);
      return;
    case 'not':
      checkCondition(input.not, child(path, 'not'), depth + 1, walk);
      return;
    case 'all':
    case 'any': {
      const items = input[kind];
      const itemsPath = child(path, kind);
      if (!Array.isArray(items)) report(itemsPath, `${kind} takes a list of conditions, got ${show(items)}`);
      else if (items.length === 0) report(itemsPath, `${kind} needs at least one condition`);
      else items.forEach((item, index) => checkCondition(item, `${itemsPath}[${index}]`, depth + 1, walk));
      return;
    }
    case 'segment': {
      const segmentPath = child(path, 'segment');
      checkSegmentId(input.segment, segmentPath, report);
      if (walk.selfId !== undefined && input.segment === walk.selfId) report(segmentPath, `segment "${walk.selfId}" refers to itself`);
      return;
    }
    case 'subscribed':
      if (!(CHANNELS as readonly unknown[]).includes(input.subscribed)) {
        report(child(path, 'subscribed'), `unknown channel ${show(input.subscribed)}; use one of ${list(CHANNELS)}`);
      }
      return;
    default: {
      const unhandled: never = kind;
      throw new Error(`unhandled condition kind ${String(unhandled)}`);
    }
  }
}

function checkNonEmptyString(value: unknown, path: string, what: string, report: Report): void {
  if (value === undefined) report(path, `missing field: expected ${what}`);
  else if (typeof value !== 'string' || value.trim() === '') report(path, `expected ${what}, got ${show(value)}`);
}

function checkPerformed(input: Record<string, unknown>, path: string, report: Report): void {
  checkNonEmptyString(input.performed, child(path, 'performed'), 'the event name, e.g. Order Completed', report);

  if ('where' in input) {
    const wherePath = child(path, 'where');
    if (!Array.isArray(input.where)) report(wherePath, `where takes a list of property filters ({ property, op, value }), got ${show(input.where)}`);
    else {
      input.where.forEach((filter, index) => {
        const filterPath = `${wherePath}[${index}]`;
        if (!isPlainObject(filter)) {
          report(filterPath, `a property filter is an object with property, op and value, got ${show(filter)}`);
          return;
        }
        rejectUnknownFields(filter, filterPath, FILTER_FIELDS, 'a property filter', report);
        checkNonEmptyString(filter.property, child(filterPath, 'property'), 'a property name (a dotted path such as items.0.sku is allowed)', report);
        checkComparison(filter, filterPath, report);
      });
    }
  }

  if ('count' in input) {
    const countPath = child(path, 'count');
    const count = input.count;
    if (!isPlainObject(count)) report(countPath, `count is an object with one of gte, lte, eq, e.g. { gte: 3 }; got ${show(count)}`);
    else {
      rejectUnknownFields(count, countPath, COUNT_FIELDS, 'count', report);
      const bounds = COUNT_FIELDS.filter((key) => key in count);
      if (bounds.length === 0) report(countPath, 'count needs exactly one of gte, lte, eq, e.g. { gte: 3 }');
      else if (bounds.length > 1) report(countPath, `count takes exactly one of gte, lte, eq; found ${bounds.join(' and ')}`);
      for (const bound of bounds) {
        const n = count[bound];
        if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0) report(child(countPath, bound), `must be a whole number >= 0, got ${show(n)}`);
      }
    }
  }

  if ('within' in input && !isDuration(input.within)) report(child(path, 'within'), new DurationError(input.within).message);
}

const isScalar = (value: unknown) => typeof value === 'string' || typeof value === 'boolean' || (typeof value === 'number' && Number.isFinite(value));

/** The op and value of a trait condition or a property filter. */
function checkComparison(input: Record<string, unknown>, path: string, report: Report): void {
  const opPath = child(path, 'op');
  const valuePath = child(path, 'value');
  const op = input.op;
  if (op === undefined) {
    report(opPath, `missing field: use one of ${list(COMPARE_OPS)}`);
    return;
  }
  if (!(COMPARE_OPS as readonly unknown[]).includes(op)) {
    report(opPath, `unknown operator ${show(op)}; use one of ${list(COMPARE_OPS)}`);
    return;
  }
  const hasValue = 'value' in input;
  const value = input.value;
  switch (op as CompareOp) {
    case 'exists':
      if (hasValue && typeof value !== 'boolean') report(valuePath, `exists takes no value (or true / false), got ${show(value)}`);
      return;
    case 'in':
      if (!hasValue) report(valuePath, 'missing field: in needs an array value, e.g. [pro, enterprise]');
      else if (!Array.isArray(value)) report(valuePath, `in needs an array value, e.g. [pro, enterprise]; got ${show(value)}`);
      else if (value.length === 0) report(valuePath, 'in needs at least one value');
      else value.forEach((item, index) => {
        if (!isScalar(item)) report(`${valuePath}[${index}]`, `must be a string, number or boolean, got ${show(item)}`);
      });
      return;
    case 'eq':
    case 'neq':
    case 'contains':
      if (!hasValue) report(valuePath, `missing field: ${op} needs a value`);
      else if (value === null) report(valuePath, `${op} cannot compare with null; use op: exists (value: false for a missing one)`);
      else if (isPlainObject(value) && ('ago' in value || 'in' in value)) report(valuePath, 'a relative date compares with gt, gte, lt or lte');
      else if (Array.isArray(value)) report(valuePath, `${op} takes a single value; to match any of several use op: in`);
      else if (!isScalar(value)) report(valuePath, `must be a string, number or boolean, got ${show(value)}`);
      return;
    case 'gt':
    case 'gte':
    case 'lt':
    case 'lte':
      if (!hasValue) report(valuePath, `missing field: ${op} needs a number, an ISO 8601 date or a relative date such as { ago: 30d }`);
      else if (isPlainObject(value)) checkRelativeDate(value, valuePath, report);
      else if (!(typeof value === 'number' && Number.isFinite(value)) && !isIsoDate(value)) {
        report(valuePath, `${show(value)} is neither a number nor an ISO 8601 date; ${op} compares numbers and dates (also { ago: 30d } or { in: 3d })`);
      }
      return;
    default: {
      const unhandled: never = op as never;
      throw new Error(`unhandled operator ${String(unhandled)}`);
    }
  }
}

function checkRelativeDate(value: Record<string, unknown>, path: string, report: Report): void {
  const keys = Object.keys(value);
  const direction = keys.filter((key) => key === 'ago' || key === 'in');
  if (direction.length !== 1) {
    report(path, `a relative date has exactly one of ago or in, e.g. { ago: 30d }; got ${show(value)}`);
    return;
  }
  rejectUnknownFields(value, path, ['ago', 'in'], 'a relative date', report);
  const duration = value[direction[0]];
  if (!isDuration(duration)) report(child(path, direction[0]), new DurationError(duration).message);
}

// ---------------------------------------------------------------------------------------------
// Several definitions together

export interface SegmentReference {
  /** The referenced segment id. */
  segment: string;
  /** Path of the `segment:` field inside the referring definition, e.g. `where.any[1].segment`. */
  path: string;
}

/** Every `segment:` condition inside `condition`, with its path (rooted at `path`). */
export function segmentReferences(condition: Condition, path = 'where'): SegmentReference[] {
  const found: SegmentReference[] = [];
  const visit = (c: Condition, at: string) => {
    const kind = conditionKind(c);
    switch (kind) {
      case 'segment':
        found.push({ segment: (c as SegmentCondition).segment, path: `${at}.segment` });
        return;
      case 'not':
        visit((c as NotCondition).not, `${at}.not`);
        return;
      case 'all':
        (c as AllCondition).all.forEach((item, i) => visit(item, `${at}.all[${i}]`));
        return;
      case 'any':
        (c as AnyCondition).any.forEach((item, i) => visit(item, `${at}.any[${i}]`));
        return;
      case 'trait':
      case 'performed':
      case 'subscribed':
        return;
      default: {
        const unhandled: never = kind;
        throw new Error(`unhandled condition kind ${String(unhandled)}`);
      }
    }
  };
  visit(condition, path);
  return found;
}

/**
 * Problems between valid definitions: an id defined twice, a reference to a segment that does not
 * exist, and a segment that refers to itself directly or through others. Each problem carries the
 * referring segment's id and the path of the reference.
 */
export function validateSegmentGraph(definitions: SegmentDefinition[]): DefinitionProblem[] {
  const problems: DefinitionProblem[] = [];
  const byId = new Map<string, SegmentDefinition>();
  for (const definition of definitions) {
    if (byId.has(definition.id)) problems.push({ segment: definition.id, path: 'id', message: `segment "${definition.id}" is defined more than once` });
    else byId.set(definition.id, definition);
  }
  const edges = new Map<string, string[]>();
  for (const [id, definition] of byId) edges.set(id, [...new Set(segmentReferences(definition.where).map((ref) => ref.segment))]);

  for (const [id, definition] of byId) {
    for (const ref of segmentReferences(definition.where)) {
      if (ref.segment === id) {
        problems.push({ segment: id, path: ref.path, message: `segment "${id}" refers to itself` });
      } else if (!byId.has(ref.segment)) {
        problems.push({ segment: id, path: ref.path, message: `segment "${ref.segment}" does not exist` });
      } else {
        const back = shortestPath(ref.segment, id, edges);
        if (back !== undefined) {
          problems.push({ segment: id, path: ref.path, message: `segment "${id}" refers to itself: ${[id, ...back].join(' -> ')}` });
        }
      }
    }
  }
  return problems;
}

/** The shortest chain of references from `from` to `to` (both included), if there is one. */
function shortestPath(from: string, to: string, edges: Map<string, string[]>): string[] | undefined {
  const previous = new Map<string, string | null>([[from, null]]);
  const queue = [from];
  for (let head = 0; head < queue.length; head++) {
    const current = queue[head];
    if (current === to) {
      const chain: string[] = [];
      for (let at: string | null = current; at !== null; at = previous.get(at) ?? null) chain.unshift(at);
      return chain;
    }
    for (const next of edges.get(current) ?? []) {
      if (!previous.has(next)) {
        previous.set(next, current);
        queue.push(next);
      }
    }
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------

export { isPlainObject };
