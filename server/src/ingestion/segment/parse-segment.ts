// Validates and normalises calls to Segment's HTTP Tracking API
// (https://segment.com/docs/connections/sources/catalog/libraries/server/http-api/). Pure: the
// receive time and new message ids come in through the context.
import { nestingProblem, tooDeeplyNested } from '@herald/projections';
import { z } from 'zod';
import type { ParseResult, SegmentCallType, SegmentMessage, SegmentProblem } from './segment-message';

export const SEGMENT_CALL_TYPES: readonly SegmentCallType[] = ['track', 'identify', 'page', 'screen', 'group', 'alias'];

export interface ParseSegmentContext {
  receivedAt: Date;
  newMessageId: () => string;
  /** Per event, serialised as UTF-8 JSON. */
  maxEventBytes?: number;
}

// Segment's limit per event; the HTTP layer enforces the 500 KB per batch request. Segment itself
// answers 400 when either is exceeded (HTTP API > Max request size); we answer 413, which says why.
export const DEFAULT_MAX_EVENT_BYTES = 32 * 1024;

/** Problems listed in the top-level message; all of them are in `problems`. */
const LISTED_PROBLEMS = 5;

export function parseSegmentCall(kind: SegmentCallType | 'batch', body: unknown, ctx: ParseSegmentContext): ParseResult {
  if (!isObject(body)) return invalid([{ path: '', message: 'the body must be a JSON object' }]);
  return kind === 'batch' ? parseBatch(body, ctx) : parseSingle(kind, body, ctx);
}

function parseSingle(kind: SegmentCallType, body: Record<string, unknown>, ctx: ParseSegmentContext): ParseResult {
  // Before anything walks it recursively (measuring its size serialises it).
  const deep = tooDeeplyNested(body);
  if (deep !== undefined) return invalid([nestingProblem(deep)]);
  const bytes = byteLength(body);
  const limit = ctx.maxEventBytes ?? DEFAULT_MAX_EVENT_BYTES;
  if (bytes > limit) {
    return tooLarge([{ path: '', message: `the event is ${bytes} bytes; the limit per event is ${limit} bytes` }]);
  }
  // The endpoint names the call; a `type` in the body may only repeat it.
  const typeProblems: SegmentProblem[] =
    body.type == null || body.type === kind ? [] : [{ path: 'type', message: `type must be "${kind}" on this endpoint` }];
  const call = parseCall(kind, body, '');
  if (!call.ok || typeProblems.length > 0) return invalid([...typeProblems, ...(call.ok ? [] : call.problems)]);
  return withWriteKey({ ok: true, messages: [toMessage(kind, call.fields, {}, ctx)] }, call.fields.writeKey);
}

function parseBatch(body: Record<string, unknown>, ctx: ParseSegmentContext): ParseResult {
  const envelope = batchSchema.safeParse(body);
  const problems = envelope.success ? [] : toProblems(envelope.error, '');
  const batch = Array.isArray(body.batch) && body.batch.length > 0 ? body.batch : undefined;
  if (!batch) return invalid(problems);

  const tooDeep: SegmentProblem[] = [];
  batch.forEach((raw, i) => {
    const path = tooDeeplyNested(raw);
    if (path !== undefined) tooDeep.push(nestingProblem(`batch[${i}]${path.startsWith('[') ? '' : '.'}${path}`));
  });
  if (tooDeep.length > 0) return invalid(tooDeep);
  // An oversized event is refused as such, before its content is judged.
  const limit = ctx.maxEventBytes ?? DEFAULT_MAX_EVENT_BYTES;
  const sizes = batch.map(byteLength);
  const firstTooLarge = sizes.findIndex((bytes) => bytes > limit);
  if (firstTooLarge >= 0) {
    const oversized = sizes.flatMap((bytes, i) =>
      bytes > limit ? [{ path: `batch[${i}]`, message: `batch[${i}] is ${bytes} bytes; the limit per event is ${limit} bytes` }] : [],
    );
    return tooLarge(oversized, firstTooLarge);
  }

  // One bad element rejects the whole batch, so the client never has to work out which half was kept.
  const calls = batch.map((raw, i) => parseBatchElement(raw, `batch[${i}]`));
  const valid = calls.filter((call) => call.ok);
  if (!envelope.success || valid.length < calls.length) {
    const firstBad = calls.findIndex((call) => !call.ok);
    const elementProblems = calls.flatMap((call) => (call.ok ? [] : call.problems));
    return invalid([...problems, ...elementProblems], firstBad >= 0 ? firstBad : undefined);
  }
  const shared = envelope.data;
  const messages = valid.map((call) => toMessage(call.type, call.fields, shared, ctx));
  return withWriteKey({ ok: true, messages }, shared.writeKey);
}

// ---- schemas ----------------------------------------------------------------------------------

/** "is required" when missing, "must be <expected>" when of the wrong kind. */
const expecting = (expected: string) => ({
  error: (issue: { input?: unknown }) => (issue.input == null ? 'is required' : `must be ${expected}`),
});

/** Absent and null mean the same for scalars: analytics.js sends `"userId": null` for anonymous visitors. */
const optional = <T extends z.ZodType>(schema: T) => schema.nullish().transform((value) => value ?? undefined);

const text = z.string(expecting('a string'));
const nonEmptyText = text.min(1, 'must not be empty');
// Segment accepts numeric ids and stores them as strings; so do we, so one user has one stream.
const id = z
  .union([z.string(), z.number()], expecting('a string or a number'))
  .transform(String)
  .pipe(z.string().min(1, 'must not be empty').max(1000, 'must be at most 1000 characters'));
// Not z.record: that copies every key, and a JSON key "__proto__" would become the copy's prototype.
// Null means absent, as for scalars: analytics-ruby sends `"integrations": null` on every call.
const dict = optional(z.custom<Record<string, unknown>>(isObject, 'must be an object'));
/**
 * A user's or visitor's id that may be left out; an empty string is left out too, as Segment does
 * (analytics-python lets `user_id=""` through beside an anonymous id), so an event is not refused for it.
 */
const optionalId = z
  .union([z.string(), z.number()], expecting('a string or a number'))
  .nullish()
  .transform((value) => (value == null || value === '' ? undefined : String(value)))
  .pipe(z.string().max(1000, 'must be at most 1000 characters').optional());
const date = z.string(expecting('an ISO 8601 date string')).transform((value, ctx) => {
  const millis = parseDate(value);
  if (millis === undefined) ctx.issues.push({ code: 'custom', message: 'must be an ISO 8601 date string', input: value });
  return millis ?? z.NEVER;
});

const common = {
  messageId: optional(nonEmptyText.max(200, 'must be at most 200 characters')),
  userId: optionalId,
  anonymousId: optionalId,
  context: dict,
  integrations: dict,
  timestamp: optional(date),
  originalTimestamp: optional(date),
  sentAt: optional(date),
  // Credentials, not data: returned beside the messages, never kept in them.
  writeKey: optional(text),
};

// Unknown fields (`_metadata`, `library`, `version`...) are stripped, as z.object does by default.
const callSchemas = {
  track: z.object({ ...common, event: nonEmptyText, properties: dict }),
  identify: z.object({ ...common, traits: dict }),
  page: z.object({ ...common, name: optional(text), category: optional(text), properties: dict }),
  // Segment's libraries send a screen's category at the top level too (analytics-kotlin, -python, -ruby).
  screen: z.object({ ...common, name: optional(text), category: optional(text), properties: dict }),
  group: z.object({ ...common, groupId: id, traits: dict }),
  alias: z.object({ ...common, previousId: id, userId: id }),
} satisfies Record<SegmentCallType, z.ZodType>;

type CallFields = z.output<(typeof callSchemas)[SegmentCallType]>;

const batchSchema = z.object({
  batch: z.array(z.unknown(), expecting('an array of messages')).min(1, 'must not be empty'),
  sentAt: optional(date),
  context: dict,
  integrations: dict,
  writeKey: optional(text),
});

type Shared = Partial<Pick<z.output<typeof batchSchema>, 'sentAt' | 'context' | 'integrations'>>;

// ---- one call ---------------------------------------------------------------------------------

type ParsedCall = { ok: true; type: SegmentCallType; fields: CallFields } | { ok: false; problems: SegmentProblem[] };

function parseBatchElement(raw: unknown, prefix: string): ParsedCall {
  if (!isObject(raw)) return { ok: false, problems: [{ path: prefix, message: `${prefix} must be an object` }] };
  if (!isCallType(raw.type)) {
    const path = `${prefix}.type`;
    const message = raw.type == null ? `${path} is required` : `${path} must be one of ${SEGMENT_CALL_TYPES.join(', ')}`;
    return { ok: false, problems: [{ path, message }] };
  }
  return parseCall(raw.type, raw, prefix);
}

function parseCall(type: SegmentCallType, raw: Record<string, unknown>, prefix: string): ParsedCall {
  const fields = type === 'track' ? fastTrackFields(raw) : undefined;
  return fields ? { ok: true, type, fields } : parseWithSchema(type, raw, prefix);
}

/** The schemas' answer, problems and all (exported for the spec that holds the fast path to it). */
export function parseWithSchema(type: SegmentCallType, raw: Record<string, unknown>, prefix: string): ParsedCall {
  const result = callSchemas[type].safeParse(raw);
  const problems = result.success ? [] : toProblems(result.error, prefix);
  // Alias's schema already requires userId; every other call must name someone.
  if (type !== 'alias' && missingId(raw.userId) && missingId(raw.anonymousId)) {
    const path = joinPath(prefix, ['userId']);
    problems.push({ path, message: `${path} or anonymousId is required` });
  }
  return result.success && problems.length === 0 ? { ok: true, type, fields: result.data } : { ok: false, problems };
}

/**
 * A track call's fields without the schema, when every field is plainly what the schema accepts; the
 * same output as `callSchemas.track` then (the spec compares them), else undefined and the schema
 * decides, with its problems. Tracking calls are most of the traffic, and zod's parse of one cost
 * ≈ 10 µs of the request's CPU (bench:ingest), this ≈ 1.
 */
export function fastTrackFields(raw: Record<string, unknown>): CallFields | undefined {
  const { messageId, userId, anonymousId, context, integrations, timestamp, originalTimestamp, sentAt, writeKey, event, properties } = raw;
  if (typeof event !== 'string' || event.length === 0) return undefined;
  if (messageId != null && (typeof messageId !== 'string' || messageId.length === 0 || messageId.length > 200)) return undefined;
  if (missingId(userId) && missingId(anonymousId)) return undefined;
  const user = plainId(userId);
  const anonymous = plainId(anonymousId);
  if (user === null || anonymous === null) return undefined;
  if (!plainDict(context) || !plainDict(integrations) || !plainDict(properties)) return undefined;
  if (writeKey != null && typeof writeKey !== 'string') return undefined;
  const at = plainDate(timestamp);
  const original = plainDate(originalTimestamp);
  const sent = plainDate(sentAt);
  if (at === null || original === null || sent === null) return undefined;
  // The schema's key order (its shape), so the stored JSON is the same either way.
  return {
    messageId: (messageId ?? undefined) as string | undefined,
    userId: user,
    anonymousId: anonymous,
    context: (context ?? undefined) as Record<string, unknown> | undefined,
    integrations: (integrations ?? undefined) as Record<string, unknown> | undefined,
    timestamp: at,
    originalTimestamp: original,
    sentAt: sent,
    writeKey: (writeKey ?? undefined) as string | undefined,
    event,
    properties: (properties ?? undefined) as Record<string, unknown> | undefined,
  };
}

/** No id: absent, null or empty (see `optionalId`). */
function missingId(value: unknown): boolean {
  return value == null || value === '';
}

/** `optionalId`'s output when plainly valid; null when the schema must judge it. */
function plainId(value: unknown): string | undefined | null {
  if (missingId(value)) return undefined;
  const text = typeof value === 'string' ? value : typeof value === 'number' && Number.isFinite(value) ? String(value) : undefined;
  return text !== undefined && text.length > 0 && text.length <= 1000 ? text : null;
}

/** `dict` accepts absent, null or an object. */
function plainDict(value: unknown): boolean {
  return value == null || isObject(value);
}

/** `optional(date)`'s output when plainly valid; null when the schema must judge it. */
function plainDate(value: unknown): number | undefined | null {
  if (value == null) return undefined;
  return typeof value === 'string' ? (parseDate(value) ?? null) : null;
}

function toMessage(type: SegmentCallType, fields: CallFields, shared: Shared, ctx: ParseSegmentContext): SegmentMessage {
  const { messageId, context, integrations, timestamp, originalTimestamp, sentAt, writeKey: _credentials, ...rest } = fields;
  const receivedAt = ctx.receivedAt.getTime();
  // The client's `timestamp` is the device's clock at the event, hence Segment's `originalTimestamp`.
  const original = timestamp ?? originalTimestamp;
  const sent = sentAt ?? shared.sentAt;
  // Segment, "Spec: Common Fields" > Timestamps (segment.com/docs/connections/spec/common/#timestamps):
  // "Segment calculates timestamp as timestamp = receivedAt - (sentAt - originalTimestamp)", sentAt
  // and receivedAt being "assumed to occur at the same time", so their difference is the device's
  // clock skew. Without sentAt the skew is unknown and the device time stands; without a device
  // time the event is taken to have just happened ("leave out the timestamp and Segment servers
  // will timestamp the requests for you", HTTP API > Historical import).
  const happenedAt = original === undefined ? receivedAt : sent === undefined ? original : receivedAt - (sent - original);
  const receivedAtText = iso(receivedAt);
  return definedOnly({
    type,
    messageId: messageId ?? ctx.newMessageId(),
    ...rest,
    // Shallow merges, the message's own keys winning, as the batch docs describe.
    context: { ...shared.context, ...context },
    integrations: { ...shared.integrations, ...integrations },
    timestamp: happenedAt === receivedAt ? receivedAtText : iso(happenedAt),
    originalTimestamp: original === undefined ? undefined : iso(original),
    sentAt: sent === undefined ? undefined : iso(sent),
    receivedAt: receivedAtText,
  });
}

// ---- dates ------------------------------------------------------------------------------------

// ISO 8601 as clients write it: one-digit months and days (Segment's own batch example has
// "2015-2-02T00:30:08.276Z", which Date.parse rejects), a space for the T, microseconds (Python),
// and no offset. A missing offset means UTC: Date.parse would use the server's time zone.
const ISO_DATE =
  /^(\d{4})-(\d{1,2})-(\d{1,2})(?:[T ](\d{1,2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?)?\s*(?:Z|([+-])(\d{2})(?::?(\d{2}))?)?$/i;
// RFC 2822 / HTTP dates and Date#toString(), only with an explicit zone, for the same reason.
// Date.parse alone is too lenient: it reads "12345" as the year 12345 and "foo 2020" as 2020.
const ZONED_TEXT_DATE =
  /^(?:[a-z]{3},?\s+)?(?:\d{1,2}\s+[a-z]{3}|[a-z]{3}\s+\d{1,2}),?\s+\d{4}\s+\d{1,2}:\d{2}(?::\d{2})?\s+(?:(?:GMT|UTC)?[+-]\d{4}|GMT|UTC|Z)(?:\s+\([^)]*\))?$/i;

/** Milliseconds since the epoch, or undefined if `value` is not a date we can read unambiguously. */
export function parseDate(value: string): number | undefined {
  const trimmed = value.trim();
  const isoMatch = ISO_DATE.exec(trimmed);
  if (isoMatch) return isoToMillis(isoMatch);
  const millis = ZONED_TEXT_DATE.test(trimmed) ? Date.parse(trimmed) : NaN;
  return Number.isFinite(millis) ? millis : undefined;
}

function isoToMillis(match: RegExpExecArray): number | undefined {
  const [, year, month, day, hour = '0', minute = '0', second = '0', fraction = '', sign, offsetHours = '0', offsetMinutes = '0'] =
    match;
  const date = new Date(0);
  // Not Date.UTC, which reads the years 0 to 99 as 1900 to 1999.
  date.setUTCFullYear(+year, +month - 1, +day);
  date.setUTCHours(+hour, +minute, +second, +fraction.padEnd(3, '0').slice(0, 3));
  // Date rolls 30 February over to 1 March; reading the fields back catches that.
  const valid =
    date.getUTCMonth() === +month - 1 &&
    date.getUTCDate() === +day &&
    +hour < 24 &&
    +minute < 60 &&
    +second < 60 &&
    +offsetHours < 24 &&
    +offsetMinutes < 60;
  if (!valid) return undefined;
  const offset = (sign === '-' ? -1 : 1) * (+offsetHours * 60 + +offsetMinutes);
  return date.getTime() - offset * 60_000;
}

const iso = (millis: number) => new Date(millis).toISOString();

// ---- helpers ----------------------------------------------------------------------------------

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isCallType(value: unknown): value is SegmentCallType {
  return SEGMENT_CALL_TYPES.includes(value as SegmentCallType);
}

function byteLength(value: unknown): number {
  return Buffer.byteLength(JSON.stringify(value) ?? '', 'utf8');
}

/** "batch[3].event" from "batch[3]" and ["event"]. */
function joinPath(prefix: string, keys: readonly PropertyKey[]): string {
  return keys.reduce<string>(
    (path, key) => (typeof key === 'number' ? `${path}[${key}]` : path ? `${path}.${String(key)}` : String(key)),
    prefix,
  );
}

function toProblems(error: z.ZodError, prefix: string): SegmentProblem[] {
  return error.issues.map((issue) => {
    const path = joinPath(prefix, issue.path);
    return { path, message: path ? `${path} ${issue.message}` : issue.message };
  });
}

function invalid(problems: SegmentProblem[], index?: number): ParseResult {
  const listed = problems.slice(0, LISTED_PROBLEMS).map((problem) => problem.message);
  if (problems.length > LISTED_PROBLEMS) listed.push(`and ${problems.length - LISTED_PROBLEMS} more`);
  return { ok: false, status: 400, code: 'invalid_payload', message: listed.join('; '), problems, ...(index === undefined ? {} : { index }) };
}

function tooLarge(problems: SegmentProblem[], index?: number): ParseResult {
  return { ok: false, status: 413, code: 'event_too_large', message: problems[0]!.message, problems, ...(index === undefined ? {} : { index }) };
}

function withWriteKey(result: { ok: true; messages: SegmentMessage[] }, writeKey: string | undefined): ParseResult {
  return writeKey ? { ...result, writeKey } : result;
}

/**
 * Leaves absent fields out, rather than present and undefined, so stored events stay tidy. The keys
 * are a message's own (the schemas strip any other), so plain assignment cannot meet "__proto__".
 */
export function definedOnly<T extends object>(value: T): T {
  const result: Record<string, unknown> = {};
  for (const key of Object.keys(value)) {
    const field = (value as Record<string, unknown>)[key];
    if (field !== undefined) result[key] = field;
  }
  return result as T;
}
