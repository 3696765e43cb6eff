/**
 * The sink against the real engines: every event of the log arrives once, the funnel views count
 * what the log says, a replay from position 0 (twice) changes no count, and failed inserts are
 * retried without losing or skipping events. Each case runs twice: with the sink's reading, mapping
 * and serialising on its worker thread (the default on a SQLite log file), and on the event loop
 * (the path for KurrentDB and ':memory:' logs, forced here with `thread: false`).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteEventStore } from '../event-store/sqlite/sqlite-event-store';
import { openStateDb, type StateDb } from '../state/state-db';
import { analyticsEngines, warnIfNoServer } from './analytics-engines.fixture';
import { AnalyticsQueries } from './analytics-queries';
import { dropAnalyticsSchema, ensureAnalyticsSchema } from './analytics-schema';
import { AnalyticsSink } from './analytics-sink';
import { type AnalyticsStore, AnalyticsStoreError } from './analytics-store.port';
import { funnelFromLog, generateScenarioHistory, type GeneratedAppend } from './scenario-history.fixture';
import { sql } from './sql';

warnIfNoServer('Analytics sink');
// Generous: these suites share 2 cores with other work, and ClickHouse inserts slow down most under load.
jest.setTimeout(120_000);

const cases = analyticsEngines.flatMap((engine) => [
  { name: `${engine.name}, on a worker thread`, engine, thread: true },
  { name: `${engine.name}, on the event loop`, engine, thread: false },
]);

describe.each(cases)('analytics sink against $name', ({ engine, thread }) => {
  let analytics: AnalyticsStore;
  let dispose: () => Promise<void>;
  let folder: string;
  let log: SqliteEventStore;
  let db: StateDb;
  let sink: AnalyticsSink | undefined;

  beforeAll(async () => {
    ({ store: analytics, dispose } = await engine.open());
  });
  afterAll(async () => dispose());

  beforeEach(async () => {
    await dropAnalyticsSchema(analytics);
    await ensureAnalyticsSchema(analytics);
    folder = mkdtempSync(join(tmpdir(), 'herald-sink-'));
    log = new SqliteEventStore({ path: join(folder, 'events.sqlite') });
    db = openStateDb(join(folder, 'state.sqlite'));
  });
  afterEach(async () => {
    await sink?.stop();
    sink = undefined;
    await log.close();
    db.close();
    rmSync(folder, { recursive: true, force: true });
  });

  async function appendAll(appends: GeneratedAppend[]): Promise<number> {
    for (const { stream, events } of appends) await log.append(stream, events);
    return log.headPosition();
  }

  async function runSinkToHead(target: AnalyticsStore = analytics): Promise<void> {
    sink = new AnalyticsSink(log, db, target, { maxBatch: 500, maxWaitMs: 20, retryDelayMs: 5, thread });
    expect(sink.runsOn).toBe(thread ? 'worker thread' : 'event loop');
    sink.start();
    await sink.caughtUpTo(await log.headPosition());
  }

  const snapshot = async () => ({
    byType: await analytics.query(sql`SELECT type, uniqExact(event_id) AS events, count() >= uniqExact(event_id) AS ok FROM events GROUP BY type ORDER BY type`),
    funnel: await analytics.query(sql`SELECT * FROM funnel ORDER BY workspace, scenario_id, step_id, variant, day`),
    messages: await analytics.query(sql`SELECT * FROM messages ORDER BY workspace, message_id`),
  });

  it('stores every event of the log once, and the funnel counts what the log says', async () => {
    const appends = generateScenarioHistory({ users: 300 });
    const head = await appendAll(appends);
    await runSinkToHead();

    const [{ events, distinct }] = await analytics.query<{ events: string; distinct: string }>(
      sql`SELECT count() AS events, uniqExact(event_id) AS distinct FROM events FINAL`,
    );
    expect(Number(events)).toBe(head);
    expect(Number(distinct)).toBe(head);
    const logByType = new Map<string, number>();
    for (const event of await log.readAll()) logByType.set(event.type, (logByType.get(event.type) ?? 0) + 1);
    const stored = await analytics.query<{ type: string; events: string }>(sql`SELECT type, uniqExact(event_id) AS events FROM events GROUP BY type`);
    expect(new Map(stored.map((row) => [row.type, Number(row.events)]))).toEqual(logByType);

    const expected = funnelFromLog(appends);
    const rows = await analytics.query<Record<string, string>>(
      sql`SELECT step_id, variant, sum(entered) AS entered, sum(sent) AS sent, sum(delivered) AS delivered, sum(opened) AS opened,
            sum(clicked) AS clicked, sum(converted) AS converted
          FROM (SELECT step_id, variant, ${sql`uniqExactMerge(entered_state) AS entered, uniqExactMerge(sent_state) AS sent, uniqExactMerge(delivered_state) AS delivered,
            uniqExactMerge(opened_state) AS opened, uniqExactMerge(clicked_state) AS clicked, uniqExactMerge(converted_state) AS converted`}
            FROM funnel_daily WHERE scenario_id = ${'abandoned-cart'} GROUP BY step_id, variant)
          GROUP BY step_id, variant`,
    );
    const actual = new Map(rows.map((row) => [`${row.step_id}|${row.variant}`, {
      entered: Number(row.entered), sent: Number(row.sent), delivered: Number(row.delivered),
      opened: Number(row.opened), clicked: Number(row.clicked), converted: Number(row.converted),
    }]));
    expect(actual).toEqual(expected);
    expect(expected.get('|')!.entered).toBe(300);
    expect(expected.get('reminder|discount')!.converted).toBeGreaterThan(0);
  });

  it('a replay from position 0, twice, leaves every count unchanged', async () => {
    await appendAll(generateScenarioHistory({ users: 120, seed: 7 }));
    await runSinkToHead();
    const before = await snapshot();
    for (let replay = 0; replay < 2; replay++) {
      await sink!.stop();
      sink!.replayFromStart();
      await runSinkToHead();
      expect(await snapshot()).toEqual(before);
    }
    // Also after ClickHouse merged the duplicates away.
    await analytics.command(sql`OPTIMIZE TABLE events FINAL`);
    await analytics.command(sql`OPTIMIZE TABLE funnel_daily FINAL`);
    await analytics.command(sql`OPTIMIZE TABLE messages_agg FINAL`);
    expect(await snapshot()).toEqual(before);
  });

  it('the funnel API query splits by variant and by enrolment day, with exact totals', async () => {
    const appends = generateScenarioHistory({ users: 200, seed: 3 });
    await appendAll(appends);
    await runSinkToHead();
    const queries = new AnalyticsQueries(analytics);
    const query = { workspace: 'default', scenarioId: 'abandoned-cart', from: '2026-03-01', to: '2026-03-31' };
    const byVariant = await queries.funnel({ ...query, by: 'variant' }, ['wait-1h', 'reminder', 'wait-purchase', 'sms-nudge']);
    const expected = funnelFromLog(appends);
    expect(byVariant.steps.map((step) => step.stepId)).toEqual(['wait-1h', 'reminder', 'wait-purchase', 'sms-nudge']);
    const reminder = byVariant.steps[1];
    for (const row of reminder.variants!) expect(row).toEqual({ variant: row.variant, ...expected.get(`reminder|${row.variant}`) });
    expect(reminder.entered).toBe(reminder.variants!.reduce((sum, row) => sum + row.entered, 0));
    expect(byVariant.scenario.entered).toBe(200);
    expect(byVariant.scenario.converted).toBe(expected.get('|')!.converted);

    const byDay = await queries.funnel({ ...query, by: 'day' });
    expect(byDay.scenario.days!.map((day) => day.day)).toEqual(['2026-03-02', '2026-03-03', '2026-03-04']);
    expect(byDay.scenario.days!.reduce((sum, day) => sum + day.entered, 0)).toBe(200);
    const oneDay = await queries.funnel({ ...query, from: '2026-03-03', to: '2026-03-03' });
    expect(oneDay.scenario.entered).toBe(byDay.scenario.days![1].entered);
  });

  it('retries failed inserts without losing or skipping an event', async () => {
    const head = await appendAll(generateScenarioHistory({ users: 50, seed: 11 }));
    let failures = 3;
    const flaky: AnalyticsStore = {
      kind: analytics.kind,
      command: (statement) => analytics.command(statement),
      query: (statement) => analytics.query(statement),
      close: async () => undefined,
      insert: async (table, rows) => analytics.insert(table, rows),
      insertTabSeparated: async (table, columns, payload) => {
        if (failures-- > 0) throw new AnalyticsStoreError('Connection refused (simulated)');
        return analytics.insertTabSeparated(table, columns, payload);
      },
    };
    await runSinkToHead(flaky);
    expect(sink!.failedInserts).toBe(3);
    const [{ events, first, last }] = await analytics.query<{ events: string; first: string; last: string }>(
      sql`SELECT uniqExact(position) AS events, min(position) AS first, max(position) AS last FROM events`,
    );
    expect([Number(events), Number(first), Number(last)]).toEqual([head, 1, head]);
  });
  it('stopped while a batch cannot be inserted and restarted, it ends with exactly the rows of one clean run', async () => {
    // People who reach the goal early and then go on to another step: that step must not count as
    // converted, even when its link was saved before the goal's row was re-read.
    const early = Array.from({ length: 30 }, (_, i) => {
      const enrollmentId = `early-${i}`;
      const base = { enrollmentId, scenarioId: 'abandoned-cart' };
      const event = (type: string, data: object, n: number) => ({
        id: `00000000-0000-4000-8000-${String(i * 10 + n).padStart(12, '0')}`,
        type,
        data: { ...base, ...data },
        metadata: { workspace: 'default', occurredAt: '2026-03-05T10:00:00.000Z', receivedAt: '2026-03-05T10:00:00.000Z', schemaVersion: 1 },
      });
      return {
        stream: `user-default:early ${i}`,
        events: [
          event('EnrollmentStarted', { version: 1, person: `user:early ${i}` }, 0),
          event('TimerScheduled', { stepId: 'wait-1h', purpose: 'wait', dueAt: '2026-03-05T11:00:00.000Z' }, 1),
          event('GoalReached', { version: 1, eventId: 'x', variants: {}, afterMs: 1000 }, 2),
          event('VariantAssigned', { stepId: 'reminder', variant: 'plain', bucket: 0.5, hashVersion: 2, seed: 's' }, 3),
          event('MessageQueued', { stepId: 'reminder', messageId: `early-${i}/reminder/0`, channel: 'email', variant: 'plain' }, 4),
        ],
      };
    });
    // First in the log, so the interrupted batches below hold them.
    await appendAll(early);
    await appendAll(generateScenarioHistory({ users: 80, seed: 13 }));
    await runSinkToHead();
    const clean = await snapshot();
    await sink!.stop();
    sink = undefined;
    await dropAnalyticsSchema(analytics);
    await ensureAnalyticsSchema(analytics);
    db.close();
    db = openStateDb(join(folder, 'state-2.sqlite'));

    // Small batches, and ClickHouse "goes away" after 2 inserts: the batch mapped while the second
    // insert ran has its funnel links saved with that insert's commit, but its rows never arrived.
    let inserts = 0;
    const failing: AnalyticsStore = {
      kind: analytics.kind,
      command: (statement) => analytics.command(statement),
      query: (statement) => analytics.query(statement),
      close: async () => undefined,
      insert: async (table, rows) => analytics.insert(table, rows),
      insertTabSeparated: async (table, columns, payload) => {
        if (++inserts > 2) throw new AnalyticsStoreError('Connection refused (simulated)');
        return analytics.insertTabSeparated(table, columns, payload);
      },
    };
    const interrupted = new AnalyticsSink(log, db, failing, { maxBatch: 40, maxWaitMs: 20, retryDelayMs: 5, thread });
    interrupted.start();
    while (interrupted.failedInserts === 0) await new Promise((resolve) => setTimeout(resolve, 5));
    await interrupted.stop();
    expect(interrupted.checkpoint()).toBeLessThan(await log.headPosition());

    sink = new AnalyticsSink(log, db, analytics, { maxBatch: 40, maxWaitMs: 20, retryDelayMs: 5, thread });
    sink.start();
    await sink.caughtUpTo(await log.headPosition());
    await analytics.command(sql`OPTIMIZE TABLE events FINAL`);
    expect(await snapshot()).toEqual(clean);
    const goals = await analytics.query<{ enrollment_id: string; goal_steps: string[] }>(
      sql`SELECT enrollment_id, goal_steps FROM events FINAL WHERE type = 'GoalReached' ORDER BY enrollment_id`,
    );
    const earlyGoals = goals.filter((row) => row.enrollment_id.startsWith('early-'));
    expect(earlyGoals).toHaveLength(30);
    expect(earlyGoals.every((row) => JSON.stringify(row.goal_steps) === JSON.stringify(['', 'wait-1h']))).toBe(true);
    const others = goals.filter((row) => !row.enrollment_id.startsWith('early-'));
    expect(others.length).toBeGreaterThan(0);
    expect(others.every((row) => JSON.stringify(row.goal_steps) === JSON.stringify(['', 'wait-1h', 'reminder', 'wait-purchase']))).toBe(true);
  });
});
