/**
 * The sink's worker thread (on a SQLite log file): it is woken by appends, the checkpoint and the
 * funnel links move only after ClickHouse took the batch, a stop waits for the insert under way and
 * ends the thread, a thread that fails is replaced from the checkpoint, and logs a thread cannot
 * open are followed on the event loop instead.
 */
import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteEventStore } from '../event-store/sqlite/sqlite-event-store';
import { uuidv7 } from '../shared/ids';
import { openStateDb, readCheckpoint, type StateDb } from '../state/state-db';
import { analyticsEngines } from './analytics-engines.fixture';
import { dropAnalyticsSchema, ensureAnalyticsSchema } from './analytics-schema';
import { ANALYTICS_SINK, AnalyticsSink } from './analytics-sink';
import type { AnalyticsStore } from './analytics-store.port';
import { HOSTILE } from './hostile-values.fixture';
import { generateScenarioHistory } from './scenario-history.fixture';
import { sql } from './sql';

jest.setTimeout(120_000);

describe.each(analyticsEngines)('analytics sink thread against $name', (engine) => {
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
    folder = mkdtempSync(join(tmpdir(), 'herald-sink-thread-'));
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

  async function appendUsers(users: number, seed: number): Promise<number> {
    for (const { stream, events } of generateScenarioHistory({ users, seed })) await log.append(stream, events);
    return log.headPosition();
  }

  const stored = async () =>
    Number((await analytics.query<{ events: string }>(sql`SELECT uniqExact(event_id) AS events FROM events`))[0].events);

  /** The engine's store with its own `insertTabSeparated`. */
  const storeInserting = (insertTabSeparated: AnalyticsStore['insertTabSeparated']): AnalyticsStore => ({
    kind: analytics.kind,
    command: (statement) => analytics.command(statement),
    query: (statement) => analytics.query(statement),
    insert: (table, rows) => analytics.insert(table, rows),
    close: async () => undefined,
    insertTabSeparated,
  });

  /** A store whose inserts wait until released. */
  function gatedStore() {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let inserts = 0;
    const store = storeInserting(async (table, columns, payload) => {
      inserts++;
      await gate;
      return analytics.insertTabSeparated(table, columns, payload);
    });
    return { store, release, inserts: () => inserts };
  }

  /** Starts a sink on a gated store and waits until its first insert is under way. */
  async function startGatedSink(): Promise<{ started: AnalyticsSink; release: () => void }> {
    const { store, release, inserts } = gatedStore();
    const started = new AnalyticsSink(log, db, store, { maxBatch: 100_000, maxWaitMs: 20 });
    sink = started;
    started.start();
    while (inserts() === 0) await new Promise((resolve) => setTimeout(resolve, 5));
    return { started, release };
  }

  it('starts on an empty log and is woken by appends (not by its poll)', async () => {
    sink = new AnalyticsSink(log, db, analytics, { maxWaitMs: 20, pollMs: 3_600_000 });
    expect(sink.runsOn).toBe('worker thread');
    sink.start();
    for (let round = 1; round <= 3; round++) {
      const head = await appendUsers(20, round);
      await sink.caughtUpTo(head);
      expect(await stored()).toBe(head);
    }
    expect(readCheckpoint(db, ANALYTICS_SINK)).toBe(await log.headPosition());
  });

  it('reads the log every openBatchReadMs while a batch is open, not after every append', async () => {
    sink = new AnalyticsSink(log, db, analytics, { maxWaitMs: 1_000, openBatchReadMs: 250 });
    sink.start();
    await sink.caughtUpTo(await appendUsers(1, 1));
    const readsBefore = sink.threadReads!;
    const wakesBefore = sink.threadWakes!;
    // 100 commits in about a second, all within one batch's window.
    for (let i = 0; i < 100; i++) {
      const now = new Date().toISOString();
      await log.append(`user-${i}`, [{ id: uuidv7(), type: 'Tracked', data: { event: 'Go' }, metadata: { workspace: 'default', occurredAt: now, receivedAt: now, schemaVersion: 1 } }]);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    await sink.caughtUpTo(await log.headPosition());
    // The first append opens the batch; then a read every 250 ms and one at the close: a handful of
    // pages, where waking on every append read about a hundred.
    expect(sink.threadReads! - readsBefore).toBeLessThan(15);
    // And the main thread announces an append only to a thread waiting for one (no batch open): a
    // message per batch, not per commit.
    expect(sink.threadWakes! - wakesBefore).toBeLessThan(5);
    expect(await stored()).toBe(await log.headPosition());
  });

  it('inserts a batch of events appended longer than maxWaitMs ago once it reaches the head, without waiting again', async () => {
    const head = await appendUsers(30, 8);
    // As if the events had been appended an hour ago (recorded_at: the log's commit time in ms), and
    // the sink were catching up after a start: the batch's window closed long ago.
    const file = new Database(join(folder, 'events.sqlite'), { timeout: 5_000 });
    file.prepare('UPDATE events SET recorded_at = recorded_at - 3600000').run();
    file.close();
    sink = new AnalyticsSink(log, db, analytics, { maxBatch: 100_000, maxWaitMs: 3_600_000 });
    expect(sink.runsOn).toBe('worker thread');
    sink.start();
    // With the window counted from when the thread read the first event, this would wait an hour.
    await sink.caughtUpTo(head, 60_000);
    expect(await stored()).toBe(head);
  });

  it('writes non-ASCII and hostile values into its payloads unchanged', async () => {
    const occurredAt = '2026-03-02T10:00:00.000Z';
    for (const value of HOSTILE) {
      await log.append(`user-default:${value}`, [
        { id: uuidv7(), type: 'Tracked', data: { event: value, userId: value, properties: { [value]: value } }, metadata: { workspace: 'default', occurredAt, receivedAt: occurredAt, schemaVersion: 1 } },
      ]);
    }
    sink = new AnalyticsSink(log, db, analytics, { maxWaitMs: 20 });
    expect(sink.runsOn).toBe('worker thread');
    sink.start();
    await sink.caughtUpTo(await log.headPosition());
    const rows = await analytics.query<{ user_id: string; event_name: string; properties: string }>(
      sql`SELECT user_id, event_name, properties FROM events ORDER BY position`,
    );
    expect(rows).toEqual(HOSTILE.map((value) => ({ user_id: value, event_name: value, properties: JSON.stringify({ [value]: value }) })));
  });

  it('moves the checkpoint and saves the funnel links only after the insert succeeded', async () => {
    const head = await appendUsers(30, 1);
    const { started, release } = await startGatedSink();
    // The batch is built and handed over; nothing of it may be committed yet.
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(started.checkpoint()).toBe(0);
    expect(readCheckpoint(db, ANALYTICS_SINK)).toBe(0);
    expect(db.prepare('SELECT count(*) AS n FROM analytics_enrollments').get()).toEqual({ n: 0 });
    release();
    await started.caughtUpTo(head);
    expect(readCheckpoint(db, ANALYTICS_SINK)).toBe(head);
    expect(db.prepare('SELECT count(*) AS n FROM analytics_enrollments').get()).toEqual({ n: 30 });
    expect(await stored()).toBe(head);
  });

  it('inserts the next batch while the thread commits the one before, and the checkpoint never passes a batch not yet stored', async () => {
    const head = await appendUsers(40, 6);
    // Events are numbered 1..head in this fresh log, so the rows stored so far are the highest position stored.
    let storedRows = 0;
    const checkpointsSeen: Array<{ checkpoint: number; storedBefore: number }> = [];
    const store = storeInserting(async (table, columns, payload) => {
      checkpointsSeen.push({ checkpoint: readCheckpoint(db, ANALYTICS_SINK), storedBefore: storedRows });
      await new Promise((resolve) => setTimeout(resolve, 5));
      await analytics.insertTabSeparated(table, columns, payload);
      storedRows += Buffer.from(payload).toString('utf8').split('\n').length;
    });
    sink = new AnalyticsSink(log, db, store, { maxBatch: 50, maxWaitMs: 20 });
    sink.start();
    await sink.caughtUpTo(head);
    expect(checkpointsSeen.length).toBeGreaterThan(5);
    for (const seen of checkpointsSeen) expect(seen.checkpoint).toBeLessThanOrEqual(seen.storedBefore);
    expect(storedRows).toBe(head);
    expect(readCheckpoint(db, ANALYTICS_SINK)).toBe(head);
    expect(await stored()).toBe(head);
  });

  it('hands the memory of an inserted batch back to the thread for a later batch, which carries none of the earlier bytes', async () => {
    const head = await appendUsers(40, 7);
    const payloads: Uint8Array[] = [];
    const positions: number[][] = [];
    const store = storeInserting(async (table, columns, payload) => {
      payloads.push(payload);
      // Lines of different lengths from batch to batch: a reused buffer holds longer earlier lines past this batch's end.
      positions.push(Buffer.from(payload).toString('utf8').split('\n').map((line) => Number(line.split('\t')[5])));
      await analytics.insertTabSeparated(table, columns, payload);
    });
    sink = new AnalyticsSink(log, db, store, { maxBatch: 37, maxWaitMs: 20 });
    sink.start();
    await sink.caughtUpTo(head);
    await sink.stop();
    sink = undefined;
    // Each batch holds the positions after the one before, once each.
    expect(positions.flat()).toEqual(Array.from({ length: head }, (_, i) => i + 1));
    // Handed back (transferred) once stored: unusable on this side.
    expect(payloads.length).toBeGreaterThan(5);
    expect(payloads.every((payload) => payload.byteLength === 0)).toBe(true);
    expect(await stored()).toBe(head);
  });

  it('a stop waits for the insert under way, commits it, and ends the thread', async () => {
    const head = await appendUsers(30, 2);
    const { started, release } = await startGatedSink();
    expect(started.threadRunning()).toBe(true);
    const stopping = started.stop();
    release();
    await stopping;
    expect(started.threadRunning()).toBe(false);
    expect(started.checkpoint()).toBe(head);
    expect(readCheckpoint(db, ANALYTICS_SINK)).toBe(head);
    expect(await stored()).toBe(head);
    // And it starts again where it stopped.
    const more = await appendUsers(10, 3);
    sink = new AnalyticsSink(log, db, analytics, { maxWaitMs: 20 });
    sink.start();
    await sink.caughtUpTo(more);
    expect(await stored()).toBe(more);
  });

  it('a thread whose commit fails is replaced and resumes from the checkpoint; the batch sent twice changes no count', async () => {
    const head = await appendUsers(30, 5);
    const errors: number[] = [];
    sink = new AnalyticsSink(log, db, analytics, { maxWaitMs: 20, retryDelayMs: 5, busyTimeoutMs: 20, onError: (_error, attempt) => errors.push(attempt) });
    // Another writer holds state.sqlite longer than the thread waits: its commit after the insert fails.
    const locker = openStateDb(join(folder, 'state.sqlite'));
    locker.exec('BEGIN IMMEDIATE');
    sink.start();
    while (errors.length < 2) await new Promise((resolve) => setTimeout(resolve, 5));
    expect(errors.every((attempt) => attempt === 0)).toBe(true);
    expect(sink.checkpoint()).toBe(0);
    expect(await stored()).toBe(head);
    locker.exec('COMMIT');
    locker.close();
    await sink.caughtUpTo(head);
    expect(readCheckpoint(db, ANALYTICS_SINK)).toBe(head);
    await analytics.command(sql`OPTIMIZE TABLE events FINAL`);
    const [{ rows }] = await analytics.query<{ rows: string }>(sql`SELECT count() AS rows FROM events`);
    expect(Number(rows)).toBe(head);
  });

  it('follows a log the thread cannot open (in memory) on the event loop', async () => {
    const memory = new SqliteEventStore({ path: ':memory:' });
    try {
      for (const { stream, events } of generateScenarioHistory({ users: 10, seed: 4 })) await memory.append(stream, events);
      sink = new AnalyticsSink(memory, db, analytics, { maxWaitMs: 20 });
      expect(sink.runsOn).toBe('event loop');
      sink.start();
      await sink.caughtUpTo(await memory.headPosition());
      expect(sink.threadRunning()).toBe(false);
      expect(await stored()).toBe(await memory.headPosition());
      await sink.stop();
    } finally {
      await memory.close();
    }
  });
});
