/**
 * Hostile values through every kind of value that reaches SQL, through the sink's TabSeparated
 * rows, and as the workspace and scenario of the API's queries, against the real engines: each must come back unchanged, and the table must still be there
 * afterwards.
 */
import type { RecordedEvent } from '../event-store/event-store.port';
import type { RawRecordedEvent } from '../event-store/sqlite/sqlite-raw-reader';
import { openStateDb } from '../state/state-db';
import { analyticsEngines, warnIfNoServer } from './analytics-engines.fixture';
import { AnalyticsQueries } from './analytics-queries';
import { dropAnalyticsSchema, ensureAnalyticsSchema } from './analytics-schema';
import type { AnalyticsStore } from './analytics-store.port';
import { HOSTILE } from './hostile-values.fixture';
import { EVENT_TSV_COLUMNS, eventRowTsv, toEventRow, writeRawEventRow } from './event-rows';
import { FunnelContext } from './funnel-context';
import { identifier, sql, trusted } from './sql';
import { TsvPayload } from './tsv-payload';

warnIfNoServer('SQL escaping');


describe.each(analyticsEngines)('SQL escaping against $name', (engine) => {
  let store: AnalyticsStore;
  let dispose: () => Promise<void>;

  beforeAll(async () => {
    ({ store, dispose } = await engine.open());
    await store.command(trusted(`CREATE TABLE victims (id UInt32, text String, at DateTime('UTC'), tags Array(String)) ENGINE = MergeTree() ORDER BY id`));
  });
  afterAll(async () => dispose());

  it.each(HOSTILE.map((value, index) => [index, value]))('round-trips hostile string #%i as a string literal, in an array and as a name', async (index, value) => {
    const id = 1000 + Number(index);
    await store.command(sql`INSERT INTO victims (id, text, at, tags) VALUES (${id}, ${value}, ${new Date('2026-03-02T10:00:00Z')}, ${[value, 'x']})`);
    const [row] = await store.query<{ text: string; tags: string[]; alias: string }>(
      sql`SELECT text, tags, ${value} AS ${identifier(`alias ${value}`)} FROM victims WHERE id = ${id} AND text = ${value} AND has(tags, ${value})`,
    );
    expect(row.text).toBe(value);
    expect(row.tags).toEqual([value, 'x']);
    expect(Object.values(row)[2]).toBe(value);
    // Rows inserted as JSONEachRow go through the same text untouched.
    await store.insert('victims', [{ id: id + 500, text: value, at: '2026-03-02 10:00:00', tags: [value] }]);
    const [inserted] = await store.query<{ text: string }>(sql`SELECT text FROM victims WHERE id = ${id + 500}`);
    expect(inserted.text).toBe(value);
    const [{ tables }] = await store.query<{ tables: string }>(sql`SELECT count() AS tables FROM system.tables WHERE database = currentDatabase() AND name = ${'victims'}`);
    expect(Number(tables)).toBe(1);
  });

  it('round-trips numbers, negative numbers, dates and arrays of numbers', async () => {
    const [row] = await store.query<Record<string, unknown>>(
      sql`SELECT ${-5} AS negative, 1 -${-1} AS minus_negative, ${1.25} AS fraction, ${[1, -2, 3]} AS numbers, toUnixTimestamp(${new Date('2026-03-02T10:00:05Z')}) AS at, ${true} AS yes`,
    );
    expect(row).toEqual({ negative: -5, minus_negative: 2, fraction: 1.25, numbers: [1, -2, 3], at: 1772445605, yes: 1 });
  });

  it('stores the sink\'s TabSeparated rows with hostile values in every column exactly as toEventRow maps them', async () => {
    await ensureAnalyticsSchema(store);
    const events = HOSTILE.flatMap((value, index) => hostileHistory(value, index));
    const decoded = new FunnelContext(openStateDb(':memory:'));
    const raw = new FunnelContext(openStateDb(':memory:'));
    const expected = new FunnelContext(openStateDb(':memory:'));
    const lines = events.map((event) => eventRowTsv(event, decoded));
    // From the stored JSON text, as the sink's thread writes them: the bytes of the same lines.
    const payload = new TsvPayload(1000);
    for (const event of events) writeRawEventRow(asStored(event), raw, payload);
    expect(Buffer.from(payload.bytes())).toEqual(Buffer.from(lines.join('\n')));
    await store.insertTabSeparated('events', EVENT_TSV_COLUMNS, payload.bytes());

    // 64-bit integers come back as JSON strings from the server, as numbers from chDB; 18.16 writes
    // the DateTime 0 (no enrolment) as zeros.
    const rows = (await store.query<Record<string, unknown>>(sql`SELECT * FROM events ORDER BY position`)).map((row) => ({
      ...row,
      enrolled_at: row.enrolled_at === '0000-00-00 00:00:00' ? '1970-01-01 00:00:00' : row.enrolled_at,
      revision: Number(row.revision),
      position: Number(row.position),
      occurred_at_ms: Number(row.occurred_at_ms),
    }));
    const wanted = events.map((event) => toEventRow(event, expected));
    expect(rows).toEqual(wanted);
    // Every hostile step id (an empty one is no step) went through the arrays.
    expect(wanted.filter((row) => row.goal_steps.length > 1).map((row) => [row.goal_steps[1], row.goal_variants[1]])).toEqual(
      HOSTILE.filter((value) => value !== '').map((value) => [value, value]),
    );
  });

  it("answers the API's queries for hostile workspaces and scenarios with their own rows only", async () => {
    await dropAnalyticsSchema(store);
    await ensureAnalyticsSchema(store);
    const context = new FunnelContext(openStateDb(':memory:'));
    const lines = HOSTILE.flatMap((value, index) => hostileHistory(value, index)).map((event) => eventRowTsv(event, context));
    await store.insertTabSeparated('events', EVENT_TSV_COLUMNS, Buffer.from(lines.join('\n')));
    const queries = new AnalyticsQueries(store);
    const one = { entered: 1, sent: 1, delivered: 0, opened: 0, clicked: 0, converted: 1 };
    for (const value of HOSTILE) {
      // Each workspace (and scenario, step, variant and channel) is `value`: one person, one enrolment, one message.
      expect(await queries.activeEnrollments(value)).toEqual([{ scenarioId: value, started: 1, exited: 0, active: 1 }]);
      expect(await queries.messagesByChannelAndOutcome(value)).toEqual([{ channel: value, outcome: 'sent', messages: 1 }]);
      expect(await queries.eventsPerMinute(value, new Date('2026-03-02T10:00:00Z'), new Date('2026-03-02T10:01:00Z'))).toEqual([
        { minute: '2026-03-02T10:00:00Z', events: 6 },
      ]);
      const funnel = await queries.funnel({ workspace: value, scenarioId: value, from: '2026-03-02', to: '2026-03-02', by: 'variant' });
      // An empty scenario id is no scenario: the sink's views count no enrolment for it.
      if (value === '') continue;
      expect(funnel.scenario).toMatchObject({ entered: 1, converted: 1 });
      expect(funnel.steps).toEqual([{ stepId: value, ...one, variants: [{ variant: value, ...one }] }]);
    }
    // Nothing was dropped or rewritten on the way: every row is still there.
    const [{ events }] = await store.query<{ events: string }>(sql`SELECT uniqExact(event_id) AS events FROM events`);
    expect(Number(events)).toBe(lines.length);
  });
});

let position = 0;
/** A person whose ids, names, properties, workspace, step, variant and channel are all `value`. */
function hostileHistory(value: string, index: number): RecordedEvent[] {
  const stream = `user-default:${value}`;
  const enrollmentId = `enrollment ${index} ${value}`;
  const metadata = { workspace: value, occurredAt: '2026-03-02T10:00:00.123Z', receivedAt: '2026-03-02T10:00:00.123Z', schemaVersion: 1, causationId: value, correlationId: value };
  const event = (type: string, data: unknown): RecordedEvent => {
    position += 1;
    return { id: `00000000-0000-4000-8000-${String(position).padStart(12, '0')}`, type, data, stream, revision: position, position, recordedAt: '2026-03-02T10:00:01.000Z', metadata };
  };
  return [
    event('Tracked', { event: value, userId: value, properties: { [value]: value, list: [value] } }),
    event('EnrollmentStarted', { enrollmentId, scenarioId: value, version: 1, person: `user:${value}` }),
    event('VariantAssigned', { enrollmentId, scenarioId: value, stepId: value, variant: value }),
    event('MessageQueued', { enrollmentId, scenarioId: value, stepId: value, messageId: `${index}${value}`, channel: value }),
    event('MessageSent', { messageId: `${index}${value}`, channel: value }),
    event('GoalReached', { enrollmentId, scenarioId: value }),
  ];
}

/** The event as the SQLite log stores it (JSON text) and its raw reader returns it. */
function asStored(event: RecordedEvent): RawRecordedEvent {
  const { recordedAt, data, metadata, ...envelope } = event;
  return { ...envelope, recordedAtMs: Date.parse(recordedAt), data: JSON.stringify(data), metadata: JSON.stringify(metadata) };
}
