// The server under test, in its own process so it does not share a core with the load generator.
// argv: JSON { kind: 'bare' | 'herald', dataDir?, writeKey? }. Sends { type: 'ready', port }; answers
// { type: 'stats' } with the event store's group-commit counters; closes on { type: 'stop' }.
import { writeFileSync, mkdirSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { join } from 'node:path';
import { BENCH_DIR, requireDist, serverRequire } from './common.mjs';

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
    profiler = new Session();
    profiler.connect();
    await profiler.post('Profiler.enable');
    await profiler.post('Profiler.setSamplingInterval', { interval: 200 });
    await profiler.post('Profiler.start');
    process.send({ type: 'profile-started' });
  }
  if (message.type === 'profile-stop') {
    const { profile } = await profiler.post('Profiler.stop');
    profiler.disconnect();
    const dir = join(BENCH_DIR, 'profiles');
    mkdirSync(dir, { recursive: true });
    const file = join(dir, `${message.name}-${Date.now()}.cpuprofile`);
    writeFileSync(file, JSON.stringify(profile));
    process.send({ type: 'profile-stopped', file });
  }
  if (message.type === 'stop') {
    await close();
    // process.exit still lets --cpu-prof write its profile.
    process.exit(0);
  }
});
process.send({ type: 'ready', port });
