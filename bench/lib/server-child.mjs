// The server under test, in its own process so it does not share a core with the load generator.
// argv: JSON { kind: 'bare' | 'herald', dataDir?, writeKey? }. Sends { type: 'ready', port }; answers
// { type: 'stats' } with the event store's group-commit counters; closes on { type: 'stop' }.
import { startProfile } from './projections-support.mjs';
import { requireDist, serverRequire } from './common.mjs';

const { kind, dataDir, writeKey } = JSON.parse(process.argv[2]);

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
  const config = configFromEnv({
    DATA_DIR: dataDir,
    PORT: '0',
    HOST: '127.0.0.1',
    ADMIN_TOKEN: 'bench-admin-token',
    DEFAULT_WRITE_KEY: writeKey,
    LOG_LEVEL: 'warn',
    // ANALYTICS=off measures without the ClickHouse sink (to attribute its cost); on by default, as `npm start` runs.
    ANALYTICS: process.env.ANALYTICS,
  });
  app = await createHeraldApp({ config });
  await app.listen(0, '127.0.0.1');
  port = app.getHttpServer().address().port;
  countConnections(app.getHttpServer());
  const store = app.get(EVENT_STORE, { strict: false });
  stats = () => ({ kind: store.kind, ...store.stats });
  close = () => app.close();
} else {
  throw new Error(`unknown server kind ${kind}`);
}

process.on('message', async (message) => {
  if (message.type === 'stats') {
    const cpu = process.cpuUsage();
    process.send({ type: 'stats', stats: { ...stats(), accepted, cpuMicros: cpu.user + cpu.system } });
  }
  // BENCH_CPU_PROF=1: the parent profiles only the measured run, not start-up and warm-up.
  if (message.type === 'profile-start') {
    profiler = await startProfile(message.name);
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
