/**
 * One `events` row per event of the log: the envelope flattened into columns, the ids the funnel
 * needs (filled from the funnel context where the event itself does not carry them), and the
 * event's data kept whole as JSON text.
 *
 * The sink writes rows as TabSeparated lines (about half the bytes of JSONEachRow, whose keys repeat
 * on every row, and no quoting of the JSON columns). From the SQLite log it reads data and metadata
 * as the JSON text the log stores and copies that text into the `data` and `metadata` columns as it
 * is; it decodes them only for the columns picked out of them. Only adapters that hand over decoded
 * events (KurrentDB, ':memory:' logs) have them serialised again.
 */
import { personKeyOfStream } from '@herald/projections';
import type { RecordedEvent } from '../event-store/event-store.port';
import type { RawRecordedEvent } from '../event-store/sqlite/sqlite-raw-reader';
import type { FunnelContext } from './funnel-context';
import { toDateTimeText } from './sql';
import type { TsvPayload } from './tsv-payload';

export interface EventRow {
  workspace: string;
  event_id: string;
  type: string;
  stream: string;
  revision: number;
  position: number;
  person: string;
  user_id: string;
  anonymous_id: string;
  occurred_at: string;
  occurred_at_ms: number;
  recorded_at: string;
  causation_id: string;
  correlation_id: string;
  event_name: string;
  enrollment_id: string;
  enrolled_at: string;
  scenario_id: string;
  step_id: string;
  variant: string;
  message_id: string;
  channel: string;
  goal_steps: string[];
  goal_variants: string[];
  properties: string;
  data: string;
  metadata: string;
}

/** DateTime holds seconds from 1970 to 2106; anything outside is clamped so the insert never fails. */
const MAX_DATETIME_MS = 4_294_967_295_000;

export function clampedMs(iso: unknown, fallback = 0): number {
  const ms = typeof iso === 'string' ? parseIsoMs(iso) : Number.NaN;
  return Number.isNaN(ms) ? fallback : clamp(ms);
}

/**
 * `Date.parse(iso)`, with a short way for what `toISOString` writes (`YYYY-MM-DDTHH:mm:ss.sssZ`,
 * every event's occurredAt): 0.07 against 0.4 µs. Only plainly valid times take it (years from 100,
 * days up to 28, no leap second or 24:00); anything else is Date.parse's to judge.
 */
export function parseIsoMs(iso: string): number {
  if (
    iso.length !== 24 ||
    iso.charCodeAt(4) !== 0x2d ||
    iso.charCodeAt(7) !== 0x2d ||
    iso.charCodeAt(10) !== 0x54 ||
    iso.charCodeAt(13) !== 0x3a ||
    iso.charCodeAt(16) !== 0x3a ||
    iso.charCodeAt(19) !== 0x2e ||
    iso.charCodeAt(23) !== 0x5a
  ) {
    return Date.parse(iso);
  }
  const year = digits(iso, 0, 4);
  const month = digits(iso, 5, 2);
  const day = digits(iso, 8, 2);
  const hour = digits(iso, 11, 2);
  const minute = digits(iso, 14, 2);
  const second = digits(iso, 17, 2);
  const ms = digits(iso, 20, 3);
  if (year < 100 || month < 1 || month > 12 || day < 1 || day > 28 || hour < 0 || hour > 23 || minute < 0 || minute > 59 || second < 0 || second > 59 || ms < 0) {
    return Date.parse(iso);
  }
  return Date.UTC(year, month - 1, day, hour, minute, second, ms);
}

/** The decimal number of `count` digits at `from`; -1 if one of them is not a digit. */
function digits(text: string, from: number, count: number): number {
  let value = 0;
  for (let i = from; i < from + count; i++) {
    const digit = text.charCodeAt(i) - 0x30;
    if (digit < 0 || digit > 9) return -1;
    value = value * 10 + digit;
  }
  return value;
}

const clamp = (ms: number) => Math.min(Math.max(ms, 0), MAX_DATETIME_MS);

/**
 * The columns taken from the event's envelope, data and metadata, with the three DateTime columns as
 * milliseconds (formatted by whoever writes them); `data` and `metadata` are added by the caller.
 */
type EventColumns = Omit<EventRow, 'data' | 'metadata' | 'occurred_at' | 'recorded_at' | 'enrolled_at'> & {
  recorded_at_ms: number;
  enrolled_at_ms: number;
};

/** What the mapping reads: the envelope, and data and metadata decoded. */
interface MappedEvent {
  id: string;
  type: string;
  stream: string;
  revision: number;
  position: number;
  recordedMs: number;
  data: unknown;
  metadata: Partial<Record<string, unknown>> | undefined;
}

/**
 * Seconds already formatted, by the second's low bits (a slot holds the last second that fell on it):
 * a batch's rows share their recorded times, an enrolment's rows its start, and many rows a second.
 * Looked up three times per row; a Map keyed by seconds (beyond V8's small integers, so a boxed
 * number each time) cost about three times as much.
 */
const SLOTS = 1 << 14;
const slotSeconds = new Float64Array(SLOTS).fill(-1);
const slotTexts = new Array<string>(SLOTS).fill('');
/** `YYYY-MM-DD ` by day since 1970, and `hh:mm:` and `ss` of the day, made when first asked for. */
const dayTexts = new Map<number, string>();

/** `YYYY-MM-DD ` (with the space before the time) of a day since 1970; the TsvPayload writes it too. */
export function dayText(day: number): string {
  let text = dayTexts.get(day);
  if (text === undefined) {
    if (dayTexts.size >= 10_000) dayTexts.clear();
    text = `${toDateTimeText(new Date(day * 86_400_000)).slice(0, 10)} `;
    dayTexts.set(day, text);
  }
  return text;
}
const minuteTexts = new Array<string | undefined>(1440);
const secondOfMinuteTexts = Array.from({ length: 60 }, (_, s) => (s < 10 ? `0${s}` : `${s}`));

/**
 * `toDateTimeText(new Date(ms))` for clamped times (0 to MAX_DATETIME_MS), three times per row:
 * without a Date and an ISO string each time, which the sink's profile showed.
 */
export function dateTimeText(ms: number): string {
  const second = Math.floor(ms / 1000);
  const slot = second & (SLOTS - 1);
  if (slotSeconds[slot] === second) return slotTexts[slot];
  const text = formatDateTime(second);
  slotSeconds[slot] = second;
  slotTexts[slot] = text;
  return text;
}

function formatDateTime(second: number): string {
  const day = Math.floor(second / 86_400);
  const time = second - day * 86_400;
  const minute = Math.floor(time / 60);
  let minuteText = minuteTexts[minute];
  if (minuteText === undefined) {
    const hour = Math.floor(minute / 60);
    minuteText = minuteTexts[minute] = `${hour < 10 ? '0' : ''}${hour}:${minute % 60 < 10 ? '0' : ''}${minute % 60}:`;
  }
  return dayText(day) + minuteText + secondOfMinuteTexts[time - minute * 60];
}

/** The person of the last stream asked about: a person's events often come one after another. */
let lastStream = '';
let lastPerson = '';
function personOfStream(stream: string): string {
  if (stream !== lastStream) {
    lastPerson = personKeyOfStream(stream) ?? '';
    lastStream = stream;
  }
  return lastPerson;
}

const text = (value: unknown): string => (typeof value === 'string' ? value : '');

/** What the mapping reads, built field by field: one object shape for every event (a spread gave many). */
type Envelope = Pick<RecordedEvent, 'id' | 'type' | 'stream' | 'revision' | 'position'>;

function mappedEvent(envelope: Envelope, recordedMs: number, data: unknown, metadata: unknown): MappedEvent {
  return {
    id: envelope.id,
    type: envelope.type,
    stream: envelope.stream,
    revision: envelope.revision,
    position: envelope.position,
    recordedMs,
    data,
    metadata: metadata as MappedEvent['metadata'],
  };
}

/** Maps an event to its row, reading and updating the funnel context (call in log order). */
export function toEventRow(event: RecordedEvent, context: FunnelContext): EventRow {
  const { recorded_at_ms, enrolled_at_ms, ...columns } = decodedColumns(event, context);
  return {
    ...columns,
    occurred_at: dateTimeText(columns.occurred_at_ms),
    recorded_at: dateTimeText(recorded_at_ms),
    enrolled_at: dateTimeText(enrolled_at_ms),
    data: dataText(event),
    metadata: metadataText(event),
  };
}

/** The event's row as one TabSeparated line (no newline), from a decoded event; see `writeRawEventRow`. */
export function eventRowTsv(event: RecordedEvent, context: FunnelContext): string {
  return tsvLine(decodedColumns(event, context), dataText(event), metadataText(event));
}

const decodedColumns = (event: RecordedEvent, context: FunnelContext) =>
  eventColumns(mappedEvent(event, clampedMs(event.recordedAt), event.data, event.metadata), context);
const dataText = (event: RecordedEvent) => JSON.stringify(event.data ?? null);
const metadataText = (event: RecordedEvent) => JSON.stringify(event.metadata ?? {});

/**
 * The same row, written into a payload, from an event as the SQLite log stores it: data and metadata
 * are decoded for the columns taken from them, and their stored text goes into the `data` and
 * `metadata` columns as is (it is what `JSON.stringify` made of them on append, so the bytes are
 * those of `eventRowTsv`'s line).
 */
export function writeRawEventRow(event: RawRecordedEvent, context: FunnelContext, out: TsvPayload): void {
  const c = eventColumns(mappedEvent(event, clamp(event.recordedAtMs), JSON.parse(event.data), JSON.parse(event.metadata)), context);
  out.startRow();
  out.text(c.workspace);
  out.text(c.event_id);
  out.text(c.type);
  out.text(c.stream);
  out.number(c.revision);
  out.number(c.position);
  out.text(c.person);
  out.text(c.user_id);
  out.text(c.anonymous_id);
  out.dateTime(c.occurred_at_ms);
  out.number(c.occurred_at_ms);
  out.dateTime(c.recorded_at_ms);
  out.text(c.causation_id);
  out.text(c.correlation_id);
  out.text(c.event_name);
  out.text(c.enrollment_id);
  out.dateTime(c.enrolled_at_ms);
  out.text(c.scenario_id);
  out.text(c.step_id);
  out.text(c.variant);
  out.text(c.message_id);
  out.text(c.channel);
  out.raw(tsvArray(c.goal_steps));
  out.raw(tsvArray(c.goal_variants));
  out.json(c.properties);
  out.json(event.data);
  out.json(event.metadata);
}

function eventColumns(event: MappedEvent, context: FunnelContext): EventColumns {
  const data = (typeof event.data === 'object' && event.data !== null ? event.data : {}) as Record<string, unknown>;
  const recordedMs = event.recordedMs;
  const occurredMs = clampedMs(event.metadata?.occurredAt, recordedMs);
  const person = personOfStream(event.stream);

  let enrollmentId = text(data.enrollmentId);
  let scenarioId = text(data.scenarioId);
  let stepId = text(data.stepId);
  let variant = text(data.variant);
  const messageId = text(data.messageId);

  // Provider outcomes name only the message: its enrolment, step and variant come from MessageQueued.
  if (messageId && !enrollmentId) {
    const link = context.message(messageId);
    if (link) ({ enrollmentId, scenarioId, stepId, variant } = link);
  }
  if (event.type === 'EnrollmentStarted' && enrollmentId) context.startEnrollment(enrollmentId, { scenarioId, startedAtMs: occurredMs });
  const enrollment = enrollmentId ? context.enrollment(enrollmentId) : undefined;
  if (!scenarioId && enrollment) scenarioId = enrollment.scenarioId;

  if (enrollmentId && stepId) {
    const known = context.reachStep(enrollmentId, stepId, variant, event.position);
    if (!variant) variant = known;
    if (messageId && event.type.startsWith('Message') && !context.message(messageId)) {
      context.linkMessage(messageId, { enrollmentId, scenarioId, stepId, variant });
    }
  }

  let goalSteps: string[] = [];
  let goalVariants: string[] = [];
  if (event.type === 'GoalReached' && enrollmentId) {
    // '' is the scenario as a whole; then every step reached before the goal.
    const reached = context.steps(enrollmentId, event.position);
    goalSteps = ['', ...reached.keys()];
    goalVariants = ['', ...reached.values()];
  }

  const properties = data.properties ?? data.traits;
  return {
    workspace: text(event.metadata?.workspace),
    event_id: event.id,
    type: event.type,
    stream: event.stream,
    revision: event.revision,
    position: event.position,
    person,
    user_id: person.startsWith('user:') ? person.slice(5) : text(data.userId),
    anonymous_id: person.startsWith('anon:') ? person.slice(5) : text(data.anonymousId),
    occurred_at_ms: occurredMs,
    recorded_at_ms: recordedMs,
    causation_id: text(event.metadata?.causationId),
    correlation_id: text(event.metadata?.correlationId),
    event_name: text(data.event) || (event.type === 'PageViewed' || event.type === 'ScreenViewed' ? text(data.name) : ''),
    enrollment_id: enrollmentId,
    enrolled_at_ms: enrollment?.startedAtMs ?? 0,
    scenario_id: scenarioId,
    step_id: stepId,
    variant,
    message_id: messageId,
    channel: text(data.channel),
    goal_steps: goalSteps,
    goal_variants: goalVariants,
    properties: properties === undefined ? '' : JSON.stringify(properties),
  };
}

/** The `events` columns in the order the TabSeparated lines hold them (the INSERT names them in this order). */
export const EVENT_TSV_COLUMNS: readonly (keyof EventRow)[] = [
  'workspace', 'event_id', 'type', 'stream', 'revision', 'position', 'person', 'user_id', 'anonymous_id', 'occurred_at',
  'occurred_at_ms', 'recorded_at', 'causation_id', 'correlation_id', 'event_name', 'enrollment_id', 'enrolled_at',
  'scenario_id', 'step_id', 'variant', 'message_id', 'channel', 'goal_steps', 'goal_variants', 'properties', 'data', 'metadata',
];

/**
 * One TabSeparated line. Strings escape backslash, tab, line feed and carriage return as ClickHouse
 * reads them; numbers and formatted times need nothing. `data`, `metadata` and `properties` are JSON
 * text, which holds no raw tab or line break, so only their backslashes are escaped.
 */
function tsvLine(c: EventColumns, data: string, metadata: string): string {
  return (
    `${tsv(c.workspace)}\t${tsv(c.event_id)}\t${tsv(c.type)}\t${tsv(c.stream)}\t${c.revision}\t${c.position}\t${tsv(c.person)}\t` +
    `${tsv(c.user_id)}\t${tsv(c.anonymous_id)}\t${dateTimeText(c.occurred_at_ms)}\t${c.occurred_at_ms}\t${dateTimeText(c.recorded_at_ms)}\t` +
    `${tsv(c.causation_id)}\t${tsv(c.correlation_id)}\t${tsv(c.event_name)}\t${tsv(c.enrollment_id)}\t${dateTimeText(c.enrolled_at_ms)}\t${tsv(c.scenario_id)}\t` +
    `${tsv(c.step_id)}\t${tsv(c.variant)}\t${tsv(c.message_id)}\t${tsv(c.channel)}\t${tsvArray(c.goal_steps)}\t` +
    `${tsvArray(c.goal_variants)}\t${tsvJson(c.properties)}\t${tsvJson(data)}\t${tsvJson(metadata)}`
  );
}

const NEEDS_TSV_ESCAPE = /[\\\t\n\r]/;
const TSV_ESCAPES: Partial<Record<string, string>> = { '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r' };
const tsvEscape = (char: string) => TSV_ESCAPES[char] ?? char;

/** A String column's text as ClickHouse's TabSeparated reads it (the TsvPayload escapes the same way). */
export function tsv(value: string): string {
  return NEEDS_TSV_ESCAPE.test(value) ? value.replace(/[\\\t\n\r]/g, tsvEscape) : value;
}

const tsvJson = (text: string) => (text.includes('\\') ? text.replace(/\\/g, '\\\\') : text);

/** An Array(String) value: `['a','b']`, each element a quoted string (quote escaped too). */
function tsvArray(values: readonly string[]): string {
  if (values.length === 0) return '[]';
  let out = '[';
  for (let i = 0; i < values.length; i++) out += `${i === 0 ? '' : ','}'${tsv(values[i]).replace(/'/g, "\\'")}'`;
  return `${out}]`;
}
