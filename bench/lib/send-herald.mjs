// bench:send — Herald under test, in its own process: `createHeraldApp` with SMTP_URL pointing at the
// sink, listening on 127.0.0.1. The parent drives it over HTTP as a client would (settings, scenario,
// identify and track through /v1/batch). argv: JSON { dataDir, smtpUrl, writeKey, adminToken }. IPC:
//   -> { type: 'ready', port }
//   <- { type: 'stats' }          -> { type: 'stats', head, lag, cpuMicros, threads: { main, v8, app, later, chdb } (µs), events, commits }
//   <- { type: 'outcomes', from } -> { type: 'outcomes', counts: { MessageSent: n, ... }, queuedAt, sentAt } for positions > from
//   <- { type: 'profile-start' } / { type: 'profile-stop', name } (the measured window only)
//   <- { type: 'stop' }
import { startProfile } from './projections-support.mjs';
import { requireDist, serverRequire, threadTimes } from './common.mjs';

// The process's threads before Herald starts: the main thread and V8's platform threads (GC, JIT).
const threadsAtStart = new Set(threadTimes().keys());

const { dataDir, smtpUrl, writeKey, adminToken } = JSON.parse(process.argv[2]);
const sqlCalls = process.env.BENCH_SEND_SQL === '1' ? countSqlCalls() : undefined;
const { createHeraldApp } = requireDist('app.js');
const { configFromEnv } = requireDist('config.js');
const { EVENT_STORE } = requireDist('event-store/event-store.port.js');
const { ProjectionRunner } = requireDist('projection-runner/projection-runner.js');

const config = configFromEnv({
  DATA_DIR: dataDir,
  PORT: '0',
  HOST: '127.0.0.1',
  ADMIN_TOKEN: adminToken,
  DEFAULT_WRITE_KEY: writeKey,
  LOG_LEVEL: 'warn',
  SMTP_URL: smtpUrl,
  EMAIL_FROM: 'Acme <shop@acme.test>',
  PUBLIC_URL: 'https://herald.bench.test',
  UNSUBSCRIBE_MAILTO: 'unsubscribe@acme.test',
});
const app = await createHeraldApp({ config });
await app.listen(0, '127.0.0.1');
const port = app.getHttpServer().address().port;
// Started with the app: the log's writer, the state checkpointer. The analytics sink's thread starts
// a little later, like the SMTP thread (first send).
const threadsAtReady = new Set(threadTimes().keys());
const store = app.get(EVENT_STORE, { strict: false });
const runner = app.get(ProjectionRunner, { strict: false });

const OUTCOMES = ['MessageQueued', 'MessageDispatching', 'MessageSent', 'MessageFailed', 'MessageBounced', 'MessageOutcomeUnknown', 'MessageSuppressed'];
let profiler;

/**
 * CPU µs by group of threads (Linux only; empty elsewhere): the main thread (the event loop), V8's
 * platform threads (GC and JIT helpers of every isolate), the threads started with the app (log
 * writer, checkpointer), later ones (the SMTP thread, started by the first send, and the analytics
 * sink's) and chDB's pools (named by ClickHouse), told apart by when they appeared and by name.
 */
function threadCpu() {
  const groups = {};
  for (const [tid, { name, micros }] of threadTimes()) {
    const group =
      tid === String(process.pid) ? 'main' : name !== 'node' ? 'chdb' : threadsAtStart.has(tid) ? 'v8' : threadsAtReady.has(tid) ? 'app' : 'later';
    groups[group] = (groups[group] ?? 0) + micros;
  }
  return groups;
}

process.on('message', async (message) => {
  if (message.type === 'stats') {
    const head = await store.headPosition();
    // How far the slowest projection (engine, dispatcher, identity, ...) is behind the log.
    const lag = Math.max(0, ...runner.names().map((name) => head - runner.checkpoint(name)));
    const cpu = process.cpuUsage();
    if (sqlCalls) {
      // Main-thread SQL statements run since the last stats request (the measured window, between two).
      console.error(`sql calls since last stats: ${JSON.stringify(Object.fromEntries([...sqlCalls].sort((a, b) => b[1] - a[1])))}`);
      sqlCalls.clear();
    }
    process.send({ type: 'stats', head, lag, cpuMicros: cpu.user + cpu.system, threads: threadCpu(), events: store.stats?.events, commits: store.stats?.commits });
  }
  if (message.type === 'outcomes') {
    const counts = Object.fromEntries(OUTCOMES.map((type) => [type, 0]));
    const events = await store.readAll({ fromPosition: message.from + 1, filter: { eventTypes: OUTCOMES } });
    // When each message was queued (the engine's decision) and recorded as sent, as epoch ms.
    const at = { MessageQueued: [], MessageSent: [] };
    for (const event of events) {
      counts[event.type] += 1;
      at[event.type]?.push(Date.parse(event.metadata.occurredAt));
    }
    const failed = events.find((event) => event.type !== 'MessageSent' && event.type !== 'MessageQueued' && event.type !== 'MessageDispatching');
    process.send({ type: 'outcomes', counts, queuedAt: at.MessageQueued.sort((a, b) => a - b), sentAt: at.MessageSent.sort((a, b) => a - b), example: failed && { type: failed.type, data: failed.data } });
  }
  if (message.type === 'profile-start') {
    profiler = await startProfile(message.name);
    process.send({ type: 'profile-started' });
  }
  if (message.type === 'profile-stop') {
    const file = await profiler.stop();
    process.send({ type: 'profile-stopped', file });
  }
  if (message.type === 'stop') {
    await app.close();
    // Nothing is left open once the app is closed: leaving the IPC channel lets the process end.
    process.disconnect();
  }
});
process.send({ type: 'ready', port });

/** BENCH_SEND_SQL=1: counts the main thread's better-sqlite3 statement calls by method and SQL (each costs ≈ 25-35 µs on a WAL file outside a transaction). */
function countSqlCalls() {
  const calls = new Map();
  const Database = serverRequire('better-sqlite3');
  const probe = new Database(':memory:');
  const Statement = Object.getPrototypeOf(probe.prepare('SELECT 1'));
  probe.close();
  for (const method of ['all', 'get', 'run', 'iterate']) {
    const original = Statement[method];
    Statement[method] = function (...args) {
      const key = `${method} ${this.source.replace(/\s+/g, ' ').slice(0, 90)}`;
      calls.set(key, (calls.get(key) ?? 0) + 1);
      return original.apply(this, args);
    };
  }
  return calls;
}
