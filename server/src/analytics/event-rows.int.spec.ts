/** The mapping of one event to its `events` row, with the funnel context in a real (in-memory) state DB, and its raw twin. */
import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RecordedEvent } from '../event-store/event-store.port';
import { SqliteEventStore } from '../event-store/sqlite/sqlite-event-store';
import { SqliteRawReader } from '../event-store/sqlite/sqlite-raw-reader';
import { uuidv7 } from '../shared/ids';
import { openStateDb } from '../state/state-db';
import { dateTimeText, eventRowTsv, parseIsoMs, toEventRow, writeRawEventRow } from './event-rows';
import { FunnelContext } from './funnel-context';
import { generateScenarioHistory } from './scenario-history.fixture';
import { toDateTimeText } from './sql';
import { TsvPayload } from './tsv-payload';

let position = 0;
function recorded(type: string, data: unknown, stream = 'user-default:ada', occurredAt = '2026-03-02T10:00:00.123Z'): RecordedEvent {
  position += 1;
  return {
    id: `id-${position}`,
    type,
    data,
    stream,
    revision: position - 1,
    position,
    recordedAt: '2026-03-02T10:00:01.000Z',
    metadata: { workspace: 'default', occurredAt, receivedAt: occurredAt, schemaVersion: 1, causationId: 'cause', correlationId: 'chain' },
  };
}

describe('toEventRow', () => {
  it('flattens the envelope and keeps data, properties and metadata whole', () => {
    const context = new FunnelContext(openStateDb(':memory:'));
    const row = toEventRow(recorded('Tracked', { event: 'Order Completed', userId: 'ada', properties: { total: 10, note: "it's" } }), context);
    expect(row).toMatchObject({
      workspace: 'default',
      type: 'Tracked',
      person: 'user:ada',
      user_id: 'ada',
      anonymous_id: '',
      event_name: 'Order Completed',
      occurred_at: '2026-03-02 10:00:00',
      occurred_at_ms: Date.parse('2026-03-02T10:00:00.123Z'),
      recorded_at: '2026-03-02 10:00:01',
      causation_id: 'cause',
      correlation_id: 'chain',
      properties: JSON.stringify({ total: 10, note: "it's" }),
      enrollment_id: '',
      enrolled_at: '1970-01-01 00:00:00',
      goal_steps: [],
    });
    expect(JSON.parse(row.data)).toEqual({ event: 'Order Completed', userId: 'ada', properties: { total: 10, note: "it's" } });
    expect(JSON.parse(row.metadata).workspace).toBe('default');
  });

  it('clamps times DateTime cannot hold and tolerates data that is not an object', () => {
    const context = new FunnelContext(openStateDb(':memory:'));
    expect(toEventRow(recorded('Tracked', null, 'anon-default:x', '1901-01-01T00:00:00Z'), context)).toMatchObject({ occurred_at: '1970-01-01 00:00:00', anonymous_id: 'x', data: 'null' });
    expect(toEventRow(recorded('Tracked', 'text', 'anon-default:x', '2200-01-01T00:00:00Z'), context).occurred_at).toBe('2106-02-07 06:28:15');
    expect(toEventRow(recorded('Tracked', {}, 'herald-workspaces', 'not a date'), context)).toMatchObject({ occurred_at: '2026-03-02 10:00:01', person: '' });
  });

  it('gives provider outcomes the enrolment, step and variant of their message, and goals the steps reached before them', () => {
    const db = openStateDb(':memory:');
    const context = new FunnelContext(db);
    const e = { enrollmentId: 'e1', scenarioId: 'cart' };
    toEventRow(recorded('EnrollmentStarted', { ...e, person: 'user:ada' }, undefined, '2026-03-02T09:00:00Z'), context);
    toEventRow(recorded('TimerScheduled', { ...e, stepId: 'wait' }), context);
    toEventRow(recorded('VariantAssigned', { ...e, stepId: 'mail', variant: 'b' }), context);
    // Committed in between: the links must survive in SQLite, not only in memory.
    db.transaction(() => context.commit())();
    expect(toEventRow(recorded('MessageQueued', { ...e, stepId: 'mail', messageId: 'm1', channel: 'email' }), context).variant).toBe('b');
    const sent = toEventRow(recorded('MessageSent', { messageId: 'm1', channel: 'email' }), context);
    expect(sent).toMatchObject({ enrollment_id: 'e1', scenario_id: 'cart', step_id: 'mail', variant: 'b', enrolled_at: '2026-03-02 09:00:00' });
    const goal = toEventRow(recorded('GoalReached', { ...e, variants: { mail: 'b' } }), context);
    expect(goal).toMatchObject({ goal_steps: ['', 'wait', 'mail'], goal_variants: ['', '', 'b'], step_id: '', scenario_id: 'cart' });
    // A message nobody queued keeps its own fields only.
    expect(toEventRow(recorded('MessageOpened', { messageId: 'unknown', channel: 'email' }), context)).toMatchObject({ enrollment_id: '', message_id: 'unknown' });
  });

  it('maps events again after a crash to the same rows, though links from later in the log were saved meanwhile', () => {
    // The sink commits a batch's links with the links of batches mapped after it, so after a crash
    // the events after the checkpoint are mapped again with those links already saved.
    const e = { enrollmentId: 'e2', scenarioId: 'cart' };
    const events = [
      recorded('EnrollmentStarted', { ...e, person: 'user:ada' }, undefined, '2026-03-02T09:00:00Z'),
      // The step's events before its variant is known, then the variant, a message, the goal.
      recorded('StepCompleted', { ...e, stepId: 'mail' }),
      recorded('TimerScheduled', { ...e, stepId: 'mail' }),
      recorded('VariantAssigned', { ...e, stepId: 'mail', variant: 'b' }),
      recorded('MessageQueued', { ...e, stepId: 'mail', messageId: 'm2', channel: 'email' }),
      recorded('GoalReached', { ...e, variants: { mail: 'b' } }),
      recorded('StepCompleted', { ...e, stepId: 'late' }),
      recorded('VariantAssigned', { ...e, stepId: 'late', variant: 'x' }),
    ];
    const db = openStateDb(':memory:');
    const first = new FunnelContext(db);
    const rows = events.map((event) => toEventRow(event, first));
    expect(rows.map((row) => row.variant)).toEqual(['', '', '', 'b', 'b', '', '', 'x']);
    db.transaction(() => first.commit())();

    // Every link is saved; the events from the step's first one on are mapped again.
    const again = new FunnelContext(db);
    expect(events.slice(1).map((event) => toEventRow(event, again))).toEqual(rows.slice(1));
  });
});

describe('writeRawEventRow', () => {
  it('writes the bytes of the lines of eventRowTsv from the stored JSON text', async () => {
    const folder = mkdtempSync(join(tmpdir(), 'herald-rows-'));
    const log = new SqliteEventStore({ path: join(folder, 'events.sqlite') });
    try {
      for (const { stream, events } of generateScenarioHistory({ users: 40, seed: 5 })) await log.append(stream, events);
      // Odd data too: not an object, escapes, a time DateTime cannot hold.
      const odd = (type: string, data: unknown, occurredAt = '2026-03-02T10:00:00Z') => ({
        id: uuidv7(),
        type,
        data,
        metadata: { workspace: 'de"fault', occurredAt, receivedAt: occurredAt, schemaVersion: 1 },
      });
      await log.append('anon-default:x', [odd('Tracked', null), odd('Tracked', 'text \\ "q"\n'), odd('Tracked', { event: 'é\u2028', properties: [1, { a: null }] }, '2200-01-01T00:00:00Z')]);
      const decoded = new FunnelContext(openStateDb(':memory:'));
      const raw = new FunnelContext(openStateDb(':memory:'));
      const reader = new SqliteRawReader(new Database(join(folder, 'events.sqlite'), { readonly: true }));
      const rows = new FunnelContext(openStateDb(':memory:'));
      const events = await log.readAll();
      const expected = events.map((event) => eventRowTsv(event, decoded));
      // A small payload to start with: it grows as the rows come.
      const payload = new TsvPayload(100);
      for (const event of reader.readPage(1, 100_000)) writeRawEventRow(event, raw, payload);
      expect(payload.rows).toBe(expected.length);
      expect(Buffer.from(payload.bytes())).toEqual(Buffer.from(expected.join('\n')));
      expect(expected.length).toBe(await log.headPosition());
      // The history has what the funnel context must fill in (how the rows read back from ClickHouse
      // is checked against toEventRow in sql-injection.int.spec.ts).
      const mapped = events.map((event) => toEventRow(event, rows));
      expect(mapped.some((row) => row.goal_steps.length > 0 && row.variant === '' && row.enrollment_id !== '')).toBe(true);
    } finally {
      await log.close();
      rmSync(folder, { recursive: true, force: true });
    }
  });
});

describe('dateTimeText', () => {
  it('formats as toDateTimeText does, across days, bounds and in any order', () => {
    const times = [0, 999, 1000, 86_399_999, 86_400_000, 4_294_967_295_000, Date.parse('2026-03-02T23:59:59.999Z'), Date.parse('2024-02-29T12:34:56.789Z')];
    let seed = 7;
    for (let i = 0; i < 2000; i++) times.push((seed = (seed * 48271) % 2147483647) * 2000);
    // Seconds that share a slot of the cache (2^14 apart), asked for in turn.
    for (let i = 0; i < 6; i++) times.push(1_772_400_000_000 + (i % 2) * 16_384_000 + 500);
    for (const ms of times) expect(dateTimeText(ms)).toBe(toDateTimeText(new Date(ms)));
  });
});

describe('parseIsoMs', () => {
  it('reads a time as Date.parse does, toISOString text or not', () => {
    const texts = ['2026-03-02T10:00:00.123Z', '0100-01-01T00:00:00.000Z', '0099-12-31T23:59:59.999Z', '9999-12-31T23:59:59.999Z', '2024-02-29T12:00:00.000Z'];
    texts.push('2026-02-30T00:00:00.000Z', '2026-04-31T00:00:00.000Z', '2026-13-01T00:00:00.000Z', '2026-00-10T00:00:00.000Z', '2026-03-00T00:00:00.000Z');
    texts.push('2026-03-02T24:00:00.000Z', '2026-03-02T23:60:00.000Z', '2026-03-02T23:59:60.000Z', '2026-03-02t10:00:00.123z', '2026-03-02T10:00:00.123+01:00');
    texts.push('2026-03-02T10:00:00Z', '2026-03-02', '+002026-03-02T10:00:00.000Z', '2026-03-02 10:00:00.123Z', 'not a date at all, 24 ch', '');
    let seed = 3;
    const next = () => (seed = (seed * 48271) % 2147483647);
    for (let i = 0; i < 3000; i++) {
      const text = new Date(next() * 3000).toISOString();
      texts.push(text);
      // The same text with one character replaced.
      const at = next() % text.length;
      texts.push(text.slice(0, at) + String.fromCharCode(0x20 + (next() % 0x60)) + text.slice(at + 1));
    }
    for (const text of texts) expect([text, parseIsoMs(text)]).toEqual([text, Date.parse(text)]);
  });
});
