// The server under test, in its own process so it does not share a core with the load generator.
// argv: JSON { kind: 'bare' | 'herald', dataDir?, writeKey?, role? }. Sends { type: 'ready', port }; answers
// { type: 'stats' } with the event store's group-commit counters; closes on { type: 'stop' }.
import { startHeapProfile, startProfile } from './projections-support.mjs';
import { constants as perfConstants, PerformanceObserver } from 'node:perf_hooks';
import { requireDist, serverRequire, threadTimes } from './common.mjs';

const { kind, dataDir, writeKey, role = 'all' } = JSON.parse(process.argv[2]);

let app;
let close;
let port;
let stats = () => ({});
let profiler;
/** Connections accepted so far: the load generator waits for all of them before measuring. */
let accepted = 0;
const countConnections = (httpServer) => httpServer.on('connection', () => (accepted += 1));

if (kind === 'bare') {
  // The floor: the same Fastify version, one POST route per path that does nothing, default JSON parser.
  const fastify = serverRequire('fastify')();
  const ok = async () => ({ success: true });
  fastify.post('/v1/track', ok);
  fastify.post('/v1/batch', ok);
  await fastify.listen({ port: 0, host: '127.0.0.1' });
  port = fastify.server.address().port;
  countConnections(fastify.server);
  close = () => fastify.close();
} else if (kind === 'herald') {
  const { createHeraldApp } = requireDist('app.js');
  const { configFromEnv } = requireDist('config.js');
  const { EVENT_STORE } = requireDist('event-store/event-store.port.js');
  const configFor = (env) =>
    configFromEnv({
      DATA_DIR: dataDir,
      PORT: '0',
      HOST: '127.0.0.1',
      ADMIN_TOKEN: 'bench-admin-token',
      DEFAULT_WRITE_KEY: writeKey,
      LOG_LEVEL: 'warn',
      // ANALYTICS=off measures without the ClickHouse sink (to attribute its cost); on by default, as `npm start` runs.
      ANALYTICS: process.env.ANALYTICS,
      ...env,
    });
  if (role === 'ingest') {
    // An ingestion node needs a log its main process has started on (the workspace, its write key)
    // and shares: the main process starts once and stops; it is not measured (docs/deployment.md).
    const main = await createHeraldApp({ config: configFor({ SQLITE_SHARED: '1', ANALYTICS: 'off' }) });
    await main.close();
  }
  app = await createHeraldApp({ config: configFor({ HERALD_ROLE: role }) });
  await app.listen(0, '127.0.0.1');
  port = app.getHttpServer().address().port;
  countConnections(app.getHttpServer());
  const store = app.get(EVENT_STORE, { strict: false });
  stats = () => ({ kind: store.kind, ...store.stats });
  close = () => app.close();
} else {
  throw new Error(`unknown server kind ${kind}`);
}

/** Main-thread GC pauses so far (ms): scavenges and the rest (mark-compact, incremental marking steps). */
const gcMillis = { minor: 0, other: 0 };
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) {
    if (entry.detail?.kind === perfConstants.NODE_PERFORMANCE_GC_MINOR) gcMillis.minor += entry.duration;
    else gcMillis.other += entry.duration;
  }
}).observe({ entryTypes: ['gc'] });

process.on('message', async (message) => {
  if (message.type === 'stats') {
    const cpu = process.cpuUsage();
    // Minor page faults: ≈ 17 µs each on this machine (bench/README.md), mostly V8 taking fresh pages.
    const { minorPageFault } = process.resourceUsage();
    process.send({ type: 'stats', stats: { ...stats(), accepted, cpuMicros: cpu.user + cpu.system, minorPageFaults: minorPageFault, threads: Object.fromEntries(threadTimes()), gcMillis: { ...gcMillis } } });
  }
  // BENCH_CPU_PROF=1: the parent profiles only the measured run, not start-up and warm-up.
  if (message.type === 'profile-start') {
    profiler = message.heap ? await startHeapProfile(message.name, { live: message.heap === 'live' }) : await startProfile(message.name);
    process.send({ type: 'profile-started' });
  }
  if (message.type === 'profile-stop') {
    const file = await profiler.stop();
    process.send({ type: 'profile-stopped', file });
  }
  if (message.type === 'stop') {
    await close();
    // process.exit still lets --cpu-prof write its profile.
    process.exit(0);
  }
});
process.send({ type: 'ready', port });
