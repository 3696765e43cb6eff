// npm run bench:analytics — the ClickHouse side on embedded chDB, each part against a baseline in
// the same run (see bench/README.md):
//   1. sink throughput (log -> rows -> ClickHouse, checkpointed; reading and mapping on the sink's
//      worker thread, as in the server) against a raw chDB bulk insert of the same rows in batches of
//      the same size; goal >= 0.7;
//   2. the funnel API over a store of 10M generated events against a raw windowFunnel scan of the
//      same events; goal < 500 ms;
//   3. sink lag p99 while events are appended at 5,000/s; goal < 2 s.
// Everything runs in this one process: libchdb binds one data folder per process, and Herald runs
// its sink beside ingestion in one process too.
import os from 'node:os';
import { join } from 'node:path';
import { abandonedCartHistories, recorded } from './lib/analytics-log.mjs';
import { codeLine, envInt, fmt, machineLine, makeTempDir, median, printTable, ratioText, removeDir, requireDist, serverRequire, threadTimes } from './lib/common.mjs';
import { goalText, percentile, waitForQuietMachine } from './lib/projections-support.mjs';

const SINK_EVENTS = envInt('BENCH_SINK_EVENTS', 1_000_000);
const FUNNEL_EVENTS = envInt('BENCH_FUNNEL_EVENTS', 10_000_000);
const LAG_RATE = envInt('BENCH_LAG_RATE', 5000);
const LAG_SECONDS = envInt('BENCH_LAG_SECONDS', 30);
const ROUNDS = envInt('BENCH_ROUNDS', 3);
const QUERY_RUNS = envInt('BENCH_QUERY_RUNS', 10);
// Events per insert, the sink's batch (ANALYTICS_BATCH_SIZE, the server's default) and the raw side's alike.
const BATCH = envInt('BENCH_SINK_BATCH', 20_000);
const ONLY = process.env.BENCH_ONLY;

const { SqliteEventStore } = requireDist('event-store/sqlite/sqlite-event-store.js');
const { openStateDb } = requireDist('state/state-db.js');
const { ChdbAnalyticsStore } = requireDist('analytics/chdb-analytics-store.js');
const { ensureAnalyticsSchema, dropAnalyticsSchema } = requireDist('analytics/analytics-schema.js');
const { AnalyticsSink } = requireDist('analytics/analytics-sink.js');
const { AnalyticsQueries } = requireDist('analytics/analytics-queries.js');
const { FunnelContext } = requireDist('analytics/funnel-context.js');
const { toEventRow, eventRowTsv, EVENT_TSV_COLUMNS } = requireDist('analytics/event-rows.js');
const { trusted } = requireDist('analytics/sql.js');
const { Session } = serverRequire('chdb');

const seconds = (from) => Number(process.hrtime.bigint() - from) / 1e9;
const processCpuSeconds = () => {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1e6;
};

/**
 * Where a side's CPU went, in µs per event: this thread (`main`), threads started meanwhile and gone
 * or still there (`new`: the sink's worker thread), Node's other threads (`node`: V8's helpers for
 * every isolate's GC and compiler, libuv's pool where chDB's insert runs), and chDB's own threads by
 * name (background merges run in `MergeMutate`); with the minor page faults of main and of new.
 */
function threadBreakdown(before, after, events, startCpu, endCpu) {
  const groups = new Map();
  const add = (group, cpu) => groups.set(group, (groups.get(group) ?? 0) + cpu);
  const faults = { main: 0, new: 0 };
  let seen = 0;
  for (const [tid, t] of after) {
    const old = before.get(tid);
    const cpu = (t.micros - (old?.micros ?? 0)) / 1e6;
    seen += cpu;
    if (tid === String(process.pid)) {
      add('main', cpu);
      faults.main += t.minorFaults - old.minorFaults;
    } else if (!old) {
      add(t.name === 'node' ? 'new' : t.name, cpu);
      if (t.name === 'node') faults.new += t.minorFaults;
    } else add(t.name, cpu);
  }
  // Threads that ended before the second look (the sink's worker thread, once stopped, among them).
  const gone = endCpu - startCpu - seen;
  if (gone > 0) add('ended', gone);
  const parts = [...groups].filter(([, cpu]) => (cpu * 1e6) / events >= 0.1).sort((a, b) => b[1] - a[1]);
  return `${parts.map(([group, cpu]) => `${group} ${fmt((cpu * 1e6) / events, 1)}`).join(', ')}; page faults per event main ${fmt(faults.main / events, 3)}, new ${fmt(faults.new / events, 3)}`;
}

const EVENTS_PER_PERSON = 15.7; // on average, see lib/analytics-log.mjs; the exact count is printed

async function freshSchema(store) {
  await dropAnalyticsSchema(store);
  await ensureAnalyticsSchema(store);
}

/** Appends generated histories to a SQLite log, `events` events at least; returns the head. */
async function fillLog(log, events, personOffset = 0) {
  const people = Math.ceil(events / EVENTS_PER_PERSON);
  let pending = [];
  for (const { stream, events: batch } of abandonedCartHistories({ people, personOffset })) {
    pending.push(log.append(stream, batch));
    if (pending.length >= 256) {
      await Promise.all(pending);
      pending = [];
    }
  }
  await Promise.all(pending);
  return log.headPosition();
}

/**
 * The rows the sink would write for the whole log, built once (not timed), as the TabSeparated
 * payloads of the sink's batches (the sink's own lines). They are kept as bytes outside the JS heap:
 * a million row objects (≈ 3 GB) kept in this process made the garbage collector's work grow for
 * everything else that ran in it, the sink under test included.
 */
async function payloadsOfLog(log, head, folder) {
  const db = openStateDb(join(folder, `rows-${Date.now()}.sqlite`));
  const context = new FunnelContext(db);
  const payloads = [];
  let rows = 0;
  let bytes = 0;
  for (let from = 1; from <= head; ) {
    const page = await log.readAll({ fromPosition: from, maxCount: BATCH });
    const payload = Buffer.from(page.map((event) => eventRowTsv(event, context)).join('\n'));
    payloads.push(payload);
    rows += page.length;
    bytes += payload.length;
    // In one transaction, as the sink commits.
    db.transaction(() => context.commit())();
    from = page[page.length - 1].position + 1;
  }
  db.close();
  return { payloads, rows, bytesPerRow: bytes / rows };
}

/** The baseline: the same rows, already serialised, into the same table in batches of the same size, with chDB's own insert. */
async function rawInsert(session, payloads) {
  const started = process.hrtime.bigint();
  for (const payload of payloads) await session.insert({ table: 'events', values: payload, format: 'TabSeparated', columns: EVENT_TSV_COLUMNS });
  return seconds(started);
}

async function sinkRun(log, store, head, folder, round) {
  // Opened as the server opens the sink's own state file (openSinkState): its WAL is checkpointed by
  // the sink's commits, not by a checkpointer thread of its own.
  const db = openStateDb(join(folder, `sink-${round}-${Date.now()}.sqlite`), { checkpointIntervalMs: 0 });
  const sink = new AnalyticsSink(log, db, store, { maxBatch: BATCH, maxWaitMs: 1000, onError: (error) => console.log(`  sink error (retried): ${error.message}`) });
  // The sink as the server runs it: on a SQLite log file it reads, maps and serialises on its worker
  // thread, and this thread inserts.
  if (round === 1) console.log(`  the sink runs on ${sink.runsOn === 'worker thread' ? 'its worker thread' : 'the event loop'}`);
  const started = process.hrtime.bigint();
  sink.start();
  const progress = setInterval(() => console.log(`  sink at ${fmt(sink.checkpoint())} of ${fmt(head)} after ${fmt(seconds(started), 1)} s`), 10_000);
  await sink.caughtUpTo(head, 3_600_000);
  clearInterval(progress);
  const elapsed = seconds(started);
  // Before the thread is stopped, so that its CPU is still its own.
  const threads = threadTimes();
  const cpu = processCpuSeconds();
  await sink.stop();
  db.close();
  return { elapsed, threads, cpu };
}

async function countEvents(store) {
  const [{ events }] = await store.query(trusted('SELECT uniqExact(event_id) AS events FROM events'));
  return Number(events);
}

async function benchSink(store, session, folder) {
  console.log(`\n## 1. Sink throughput: ${fmt(SINK_EVENTS)} events, ${ROUNDS} rounds, batches of ${BATCH}`);
  const log = new SqliteEventStore({ path: join(folder, 'sink-log.sqlite') });
  const head = await fillLog(log, SINK_EVENTS);
  const { payloads, rows, bytesPerRow } = await payloadsOfLog(log, head, folder);
  if (rows !== head) throw new Error(`built ${rows} rows for a log of ${head} events`);
  console.log(`log: ${fmt(head)} events; ${fmt(bytesPerRow)} B of TabSeparated per row on average`);
  const results = [];
  for (let round = 1; round <= ROUNDS; round++) {
    await freshSchema(store);
    let threads = threadTimes();
    let cpu = processCpuSeconds();
    const raw = await rawInsert(session, payloads);
    const rawCpu = processCpuSeconds() - cpu;
    const rawThreads = threadBreakdown(threads, threadTimes(), head, cpu, cpu + rawCpu);
    if ((await countEvents(store)) !== head) throw new Error('raw insert lost rows');
    await freshSchema(store);
    threads = threadTimes();
    cpu = processCpuSeconds();
    const { elapsed: sink, threads: sinkEnd, cpu: sinkEndCpu } = await sinkRun(log, store, head, folder, round);
    const sinkCpu = processCpuSeconds() - cpu;
    const sinkThreads = threadBreakdown(threads, sinkEnd, head, cpu, sinkEndCpu);
    if ((await countEvents(store)) !== head) throw new Error('the sink lost rows');
    results.push({ raw: head / raw, sink: head / sink });
    // CPU of the whole process (chDB's threads, the sink's thread): a cross-check that load on the machine disturbs less.
    console.log(
      `round ${round}: raw ${fmt(head / raw)} rows/s, sink ${fmt(head / sink)} events/s, ratio ${ratioText(raw / sink)}; ` +
        `CPU µs per event raw ${fmt((rawCpu * 1e6) / head, 1)} (${fmt((100 * rawCpu) / raw)}% CPU), sink ${fmt((sinkCpu * 1e6) / head, 1)} (${fmt((100 * sinkCpu) / sink)}% CPU)\n` +
        `  CPU µs per event by thread, raw: ${rawThreads}\n  sink: ${sinkThreads}`,
    );
  }
  await log.close();
  const ratio = median(results.map((r) => r.sink / r.raw));
  printTable(
    ['', 'raw rows/s', 'sink events/s', 'ratio sink/raw (median per round)', 'goal >= 0.7'],
    [['median', fmt(median(results.map((r) => r.raw))), fmt(median(results.map((r) => r.sink))), ratioText(ratio), goalText(ratio >= 0.7)]],
  );
  return ratio;
}

async function benchFunnel(store, folder) {
  console.log(`\n## 2. Funnel API over ${fmt(FUNNEL_EVENTS)} generated events`);
  await freshSchema(store);
  // Rows straight into ClickHouse (the sink's own rows, built with its mapping), to build a big store quickly.
  const db = openStateDb(join(folder, 'funnel-rows.sqlite'));
  const context = new FunnelContext(db);
  const people = Math.ceil(FUNNEL_EVENTS / EVENTS_PER_PERSON);
  const started = process.hrtime.bigint();
  let batch = [];
  let total = 0;
  for (const event of recorded(abandonedCartHistories({ people, seed: 9 }))) {
    batch.push(toEventRow(event, context));
    if (batch.length === 100_000) {
      db.transaction(() => context.commit())();
      await store.insert('events', batch);
      total += batch.length;
      batch = [];
      if (total % 1_000_000 === 0) console.log(`  ${fmt(total)} events stored (${fmt(seconds(started))} s)`);
    }
  }
  await store.insert('events', batch);
  total += batch.length;
  db.transaction(() => context.commit())();
  db.close();
  console.log(`store: ${fmt(total)} events, ${fmt(people)} enrolments, filled in ${fmt(seconds(started))} s`);
  const [{ parts }] = await store.query(trusted(`SELECT count() AS parts FROM system.parts WHERE active AND table = 'funnel_daily' AND database = currentDatabase()`));
  console.log(`funnel_daily: ${parts} active parts at measurement time (no OPTIMIZE)`);

  const queries = new AnalyticsQueries(store);
  const base = { workspace: 'default', scenarioId: 'abandoned-cart', from: '2026-03-01', to: '2026-03-31' };
  const steps = ['wait-1h', 'reminder', 'wait-purchase', 'sms-nudge'];
  const scan = trusted(`SELECT level, count() AS enrolments FROM (
      SELECT enrollment_id, windowFunnel(259200)(occurred_at, type = 'EnrollmentStarted', type = 'VariantAssigned',
        type = 'MessageSent' AND step_id = 'reminder', type = 'MessageOpened' AND step_id = 'reminder', type = 'GoalReached') AS level
      FROM events WHERE workspace = 'default' AND scenario_id = 'abandoned-cart' GROUP BY enrollment_id)
    GROUP BY level ORDER BY level`);
  const time = async (run) => {
    const t = process.hrtime.bigint();
    await run();
    return seconds(t) * 1000;
  };
  const rows = [];
  const scanMs = [];
  for (let i = 0; i < Math.max(3, Math.ceil(QUERY_RUNS / 3)); i++) scanMs.push(await time(() => store.query(scan)));
  rows.push(['raw windowFunnel scan of events', fmt(median(scanMs)), fmt(Math.max(...scanMs)), '', '']);
  for (const by of [undefined, 'variant', 'day']) {
    const ms = [];
    for (let i = 0; i < QUERY_RUNS; i++) ms.push(await time(() => queries.funnel({ ...base, by }, steps)));
    rows.push([`funnel API query${by ? ` by=${by}` : ''}`, fmt(median(ms)), fmt(Math.max(...ms)), ratioText(median(ms) / median(scanMs)), goalText(median(ms) < 500)]);
  }
  const check = await queries.funnel({ ...base, by: 'variant' }, steps);
  console.log(`check: ${fmt(check.scenario.entered)} enrolments entered, ${fmt(check.scenario.converted)} converted`);
  printTable(['query', 'median ms', 'max ms', 'ratio to scan', 'goal < 500 ms'], rows);
}

async function benchLag(store, folder) {
  console.log(`\n## 3. Sink lag while ${fmt(LAG_RATE)} events/s are appended for ${LAG_SECONDS} s (default sink settings: batches of ${BATCH} or 1 s)`);
  await freshSchema(store);
  const log = new SqliteEventStore({ path: join(folder, 'lag-log.sqlite') });
  const db = openStateDb(join(folder, 'lag-state.sqlite'), { checkpointIntervalMs: 0 });
  const sink = new AnalyticsSink(log, db, store, { maxBatch: BATCH, maxWaitMs: 1000, onError: (error) => console.log(`  sink error (retried): ${error.message}`) });
  sink.start();
  const tickMs = 100;
  const perTick = Math.round((LAG_RATE * tickMs) / 1000);
  const histories = abandonedCartHistories({ people: Math.ceil((LAG_RATE * LAG_SECONDS) / 10), seed: 4, personOffset: 50_000_000 });
  const ticks = [];
  // Sampled while the appends go on: a tick's lag is from its append to the first moment the
  // sink's checkpoint is seen past its last event.
  const lags = [];
  let index = 0;
  const sample = () => {
    const checkpoint = sink.checkpoint();
    while (index < ticks.length && ticks[index].position <= checkpoint) lags.push(Date.now() - ticks[index++].at);
  };
  const sampler = setInterval(sample, 5);
  const startedAt = Date.now();
  let appended = 0;
  let carry = [];
  for (let tick = 0; Date.now() - startedAt < LAG_SECONDS * 1000; tick++) {
    // Whole people per tick, about `perTick` events.
    const appends = [];
    let events = carry.length;
    if (carry.length) appends.push(...carry);
    carry = [];
    // Catch up on ticks that ran late, so the rate over the window is the one asked for.
    const due = Math.max(perTick, Math.round((LAG_RATE * (Date.now() - startedAt + tickMs)) / 1000) - appended);
    while (events < due) {
      const next = histories.next();
      if (next.done) break;
      appends.push(next.value);
      events += next.value.events.length;
    }
    const at = Date.now();
    const results = await Promise.all(appends.map(({ stream, events: batch }) => log.append(stream, batch)));
    appended += events;
    ticks.push({ at, position: Math.max(...results.map((r) => r.position)) });
    const wait = startedAt + (tick + 1) * tickMs - Date.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
  }
  const elapsed = (Date.now() - startedAt) / 1000;
  const deadline = Date.now() + 60_000;
  while (index < ticks.length && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
  clearInterval(sampler);
  if (index < ticks.length) console.log(`WARNING: ${ticks.length - index} ticks not in ClickHouse 60 s after the appends ended`);
  await sink.stop();
  await log.close();
  db.close();
  console.log(`appended ${fmt(appended)} events in ${fmt(elapsed, 1)} s (${fmt(appended / elapsed)}/s)`);
  printTable(
    ['', 'p50 ms', 'p99 ms', 'max ms', 'goal p99 < 2000 ms'],
    [['sink lag (append -> in ClickHouse)', fmt(percentile(lags, 50)), fmt(percentile(lags, 99)), fmt(Math.max(...lags)), goalText(percentile(lags, 99) < 2000)]],
  );
}

async function main() {
  await waitForQuietMachine();
  console.log(`bench:analytics  ${machineLine()}`);
  console.log(codeLine());
  const folder = makeTempDir('analytics');
  // The store (Herald's adapter) and a raw session on the same folder: chDB lets sessions on one folder coexist.
  const store = new ChdbAnalyticsStore(join(folder, 'analytics'));
  const session = new Session(join(folder, 'analytics'));
  try {
    if (!ONLY || ONLY === 'lag') await benchLag(store, folder);
    if (!ONLY || ONLY === 'sink') await benchSink(store, session, folder);
    if (!ONLY || ONLY === 'funnel') await benchFunnel(store, folder);
  } finally {
    session.close();
    await store.close();
    removeDir(folder);
  }
  console.log(`\nload at the end: ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
