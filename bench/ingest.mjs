// npm run bench:ingest — Herald's tracking API against a bare Fastify endpoint (/v1/track), and
// /v1/batch against raw better-sqlite3 writing the same rows. Herald runs as an ingestion node
// (HERALD_ROLE=ingest, the goal) and as the whole server in one process (reported). See bench/README.md.
import autocannon from 'autocannon';
import os from 'node:os';
import { join } from 'node:path';
import { BENCH_DIR, envInt, fmt, ratioText, machineLine, makeTempDir, median, printTable, removeDir, startChild, waitForOtherBenchmarks, codeLine } from './lib/common.mjs';
import { batchCall, trackCall } from './lib/events.mjs';
import { describeLog } from './lib/raw-log.mjs';

const ROUNDS = envInt('BENCH_ROUNDS', 3);
const DURATION = envInt('BENCH_DURATION', 6);
const WARMUP = envInt('BENCH_WARMUP', 2);
const CONNECTIONS = envInt('BENCH_CONNECTIONS', 100);
const PIPELINING = envInt('BENCH_PIPELINING', 10);
const BATCH_SIZE = envInt('BENCH_BATCH_SIZE', 100);
const BATCH_CONNECTIONS = envInt('BENCH_BATCH_CONNECTIONS', 10);
const BATCH_DURATION = envInt('BENCH_BATCH_DURATION', 6);
const MAX_ACCEPT_WAIT = envInt('BENCH_MAX_ACCEPT_WAIT', 20);
const RAW_MAX_EVENTS = envInt('BENCH_RAW_MAX_EVENTS', 150_000);
/** `track` or `batch` runs one part only (for profiling); empty runs both. */
const ONLY = process.env.BENCH_ONLY ?? '';
/**
 * Which Herald to measure: `node` (an ingestion node, HERALD_ROLE=ingest: the goal), `all` (every
 * projection, the engine, the dispatcher and the sink in the ingesting process, as `npm start` runs
 * alone), or both (the default).
 */
const HERALDS = (process.env.BENCH_HERALD || 'node,all').split(',');
for (const which of HERALDS) if (which !== 'node' && which !== 'all') throw new Error(`BENCH_HERALD: node, all or both, not ${which}`);
const ROLE = { node: 'ingest', all: 'all' };
const LABEL = { bare: 'bare  ', node: 'node  ', all: 'all   ' };
/** `live` or `allocated`: a sampling heap profile of the server in the window instead (bench/heap-top.mjs). */
const HEAP_PROFILE = process.env.BENCH_HEAP_PROF ?? '';
const PROFILE = process.env.BENCH_CPU_PROF === '1' || HEAP_PROFILE !== '';
/** Node flags added to every server child, baseline and Herald alike (e.g. `--max-semi-space-size=128`). */
const NODE_FLAGS = (process.env.BENCH_NODE_FLAGS ?? '').split(' ').filter(Boolean);
const TRACK_GOAL = 0.5;
const BATCH_GOAL = 0.7;
const WRITE_KEY = 'bench-write-key';
const SERVER = join(BENCH_DIR, 'lib', 'server-child.mjs');
const RAW_WORKER = join(BENCH_DIR, 'lib', 'append-worker.mjs');

const headers = {
  'content-type': 'application/json',
  authorization: `Basic ${Buffer.from(`${WRITE_KEY}:`).toString('base64')}`,
};

let sequence = 0;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * One autocannon run per server, with new messageIds in every request. Connections are opened once:
 * the run waits until the server has accepted all of them, lets it warm up for WARMUP seconds, then
 * measures a window of `duration` seconds (throughput, latency of the responses in the window, and
 * the server's counters and CPU time), and stops. Measuring a separate, second autocannon run would
 * include the new connections' accept ramp, which on a busy Node server takes seconds (see README).
 */
async function load(server, port, { path, connections, pipelining, duration, body, eventsPerRequest = 1 }, kind) {
  const tag = `m${Date.now()}`;
  const instance = autocannon({
    url: `http://127.0.0.1:${port}`,
    connections,
    pipelining,
    // Longer than needed: the run is stopped once the window is measured.
    duration: MAX_ACCEPT_WAIT + WARMUP + duration + 30,
    // Longer than the whole run: a connection the server has not accepted yet (see README) must not
    // count as a timeout; slow answers show in p99/max instead.
    timeout: MAX_ACCEPT_WAIT + WARMUP + duration + 30,
    requests: [
      {
        method: 'POST',
        path,
        headers,
        setupRequest: (request) => {
          request.body = JSON.stringify(body(sequence++, tag));
          return request;
        },
      },
    ],
  });
  const finished = new Promise((resolve, reject) => {
    instance.once('done', resolve);
    instance.once('error', reject);
  });
  let window;
  instance.on('response', (_client, statusCode, _bytes, responseTime) => {
    if (!window) return;
    if (statusCode >= 200 && statusCode < 300) {
      window.ok += 1;
      window.latencies.push(responseTime);
    } else window.failed += 1;
  });
  instance.on('reqError', () => window && (window.failed += 1));

  const started = performance.now();
  let ready = await stats(server);
  while (ready.accepted < connections && performance.now() - started < MAX_ACCEPT_WAIT * 1000) {
    await sleep(50);
    ready = await stats(server);
  }
  const acceptSeconds = (performance.now() - started) / 1000;
  const acceptedBeforeWindow = ready.accepted;
  await sleep(WARMUP * 1000);

  if (PROFILE) {
    server.send({ type: 'profile-start', name: `ingest-${kind}-${path.slice(4)}`, heap: HEAP_PROFILE || undefined });
    await server.next('profile-started');
  }
  const before = await stats(server);
  const clientCpu = process.cpuUsage();
  window = { ok: 0, failed: 0, latencies: [], started: performance.now() };
  await sleep(duration * 1000);
  const seconds = (performance.now() - window.started) / 1000;
  const counted = window;
  window = undefined;
  const clientMicros = process.cpuUsage(clientCpu);
  const after = await stats(server);
  // Stopped under load, so that a heap profile of live objects holds the requests in flight.
  if (PROFILE) {
    server.send({ type: 'profile-stop' });
    console.log(`profile: ${(await server.next('profile-stopped')).file}`);
  }
  instance.stop();
  const result = await finished;

  const failures = result.errors + result.timeouts + result.non2xx + counted.failed;
  if (failures > 0) {
    throw new Error(`${path}: ${result.non2xx} non-2xx, ${result.errors} errors, ${result.timeouts} timeouts (${JSON.stringify(result.statusCodeStats)})`);
  }
  if (ready.accepted < connections) {
    console.warn(`warning: ${path}: only ${ready.accepted} of ${connections} connections were accepted within ${MAX_ACCEPT_WAIT} s; measured anyway`);
  }
  const latencies = Float64Array.from(counted.latencies).sort();
  const percentile = (p) => Math.round(latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))]);
  const serverMicros = after.cpuMicros - before.cpuMicros;
  return {
    rate: counted.ok / seconds,
    seconds,
    acceptSeconds,
    acceptedText: acceptedBeforeWindow >= connections ? `all connections accepted after ${acceptSeconds.toFixed(1)} s` : `only ${acceptedBeforeWindow} of ${connections} connections accepted after ${acceptSeconds.toFixed(1)} s`,
    p50: percentile(50),
    p99: percentile(99),
    max: Math.round(latencies[latencies.length - 1]),
    events: (after.events ?? 0) - (before.events ?? 0),
    commits: (after.commits ?? 0) - (before.commits ?? 0),
    // Share of one core each side used in the window: a server near 100% is the bottleneck.
    serverCpu: serverMicros / 1e6 / seconds,
    loadCpu: (clientMicros.user + clientMicros.system) / 1e6 / seconds,
    cpuPerRequest: serverMicros / counted.ok,
    faultsPerRequest: (after.minorPageFaults - before.minorPageFaults) / counted.ok,
    // Main-thread GC pauses, µs per request (per event for /v1/batch).
    gcMinor: ((after.gcMillis.minor - before.gcMillis.minor) * 1000) / (counted.ok * eventsPerRequest),
    gcOther: ((after.gcMillis.other - before.gcMillis.other) * 1000) / (counted.ok * eventsPerRequest),
    // Per event for /v1/batch.
    threads: threadsPerRequest(before.threads, after.threads, counted.ok * eventsPerRequest),
  };
}

/**
 * CPU µs per request (per event for /v1/batch) of the server's busiest threads in the window, as "main 180, 2345 60, ...": the
 * main thread (its id is the process's, the lowest) first, the others by thread id (Node's worker
 * threads are all named "node"; chDB's have names of their own).
 */
function threadsPerRequest(before = {}, after = {}, requests) {
  const mainTid = Math.min(...Object.keys(after).map(Number));
  return Object.entries(after)
    .map(([tid, { name, micros }]) => ({ tid: Number(tid), name, micros: micros - (before[tid]?.micros ?? 0) }))
    .filter((t) => t.micros > 0)
    .sort((a, b) => (a.tid === mainTid ? -1 : b.tid === mainTid ? 1 : b.micros - a.micros))
    .slice(0, 6)
    .map((t) => `${t.tid === mainTid ? 'main' : t.name === 'node' ? t.tid : `${t.name}:${t.tid}`} ${Math.round(t.micros / requests)}`)
    .join(', ');
}

/** Starts a server in a child process, measures it under load, and stops it. */
async function measureServer(which, spec, round) {
  const kind = which === 'bare' ? 'bare' : 'herald';
  const dataDir = kind === 'herald' ? makeTempDir(`ingest-${round}`) : undefined;
  const server = startChild(SERVER, [JSON.stringify({ kind, dataDir, writeKey: WRITE_KEY, role: ROLE[which] })], { nodeFlags: NODE_FLAGS });
  try {
    const { port } = await server.next('ready');
    return await load(server, port, spec, which);
  } finally {
    await server.stop();
    if (dataDir) {
      if (!rowsStored) rowsStored = describeLog(join(dataDir, 'events.sqlite'));
      removeDir(dataDir);
    }
  }
}
let rowsStored;

async function stats(server) {
  server.send({ type: 'stats' });
  return (await server.next('stats')).stats;
}

let rowsRaw;
async function measureRaw(count, txnSize, round) {
  const dir = makeTempDir(`ingest-raw-${round}`);
  try {
    const spec = { mode: 'raw', kind: 'v5', count, txnSize, path: join(dir, 'events.sqlite'), runTag: `raw${round}-${Date.now()}` };
    const child = startChild(RAW_WORKER, [JSON.stringify(spec)], { profileName: 'ingest-raw' });
    const result = await child.next('result');
    await child.stop();
    rowsRaw ??= result;
    return { rate: result.events / result.seconds, cpuPerEvent: result.cpuMicros / result.events };
  } finally {
    removeDir(dir);
  }
}

const pct = (share) => `${Math.round(share * 100)}%`;
await waitForOtherBenchmarks();
const started = Date.now();
console.log(`bench:ingest  ${machineLine()}`);
console.log(codeLine());
if (NODE_FLAGS.length > 0) console.log(`server children's extra node flags: ${NODE_FLAGS.join(' ')}`);
console.log(
  `/v1/track: -c ${CONNECTIONS} -p ${PIPELINING}, ${WARMUP} s warm-up + ${DURATION} s; /v1/batch: ${BATCH_SIZE} events per request, -c ${BATCH_CONNECTIONS} -p 1, ${WARMUP} s + ${BATCH_DURATION} s; ${ROUNDS} rounds\n`,
);

// ---- /v1/track: Herald against bare Fastify ------------------------------------------------------
const trackSpec = { path: '/v1/track', connections: CONNECTIONS, pipelining: PIPELINING, duration: DURATION, body: trackCall };
const track = { bare: [], node: [], all: [] };
for (let round = 1; round <= ROUNDS && ONLY !== 'batch'; round++) {
  // Each round in another order, so a drift in the machine's load favours no side.
  const sides = ['bare', ...HERALDS];
  const order = sides.map((_, i) => sides[(i + round - 1) % sides.length]);
  for (const which of order) {
    const r = await measureServer(which, trackSpec, round);
    track[which].push(r);
    const grouping = which !== 'bare' ? `, ${fmt(r.events / r.commits, 1)} events/commit` : '';
    console.log(
      `round ${round}  track  ${LABEL[which]}  ${fmt(r.rate).padStart(6)} req/s  p50 ${r.p50} ms  p99 ${r.p99} ms  max ${r.max} ms  (${r.acceptedText})  cpu server ${pct(r.serverCpu)} client ${pct(r.loadCpu)}  ${fmt(r.cpuPerRequest)} µs CPU/req  ${r.faultsPerRequest.toFixed(2)} page faults/req${grouping}\n        threads µs CPU/req: ${r.threads}; main-thread GC µs/req: scavenges ${r.gcMinor.toFixed(0)}, other ${r.gcOther.toFixed(0)}`,
    );
  }
}

// ---- /v1/batch: Herald against raw better-sqlite3 -----------------------------------------------
const batchSpec = {
  path: '/v1/batch',
  connections: BATCH_CONNECTIONS,
  pipelining: 1,
  duration: BATCH_DURATION,
  body: (n, tag) => batchCall(n, BATCH_SIZE, tag),
  eventsPerRequest: BATCH_SIZE,
};
const batch = { node: [], all: [], raw: [], txn: [], rawCpu: [] };
let txnSize;
for (let round = 1; round <= ROUNDS && ONLY !== 'track'; round++) {
  // The baseline commits as many rows per transaction as the first Herald measured did (from its
  // commit counters) and writes as many rows. Round 1 needs that figure first; later rounds
  // alternate which side runs first, the raw side using the previous round's figure when it goes first.
  const rawFirst = round % 2 === 0 && txnSize !== undefined;
  let raw;
  let rawCount;
  const runRaw = async (events) => {
    rawCount = Math.min(RAW_MAX_EVENTS, Math.max(20_000, events));
    raw = await measureRaw(rawCount, txnSize, round);
  };
  if (rawFirst) await runRaw(batch[HERALDS[0]].at(-1).events);
  const lines = [];
  for (const which of rawFirst ? [...HERALDS].reverse() : HERALDS) {
    const r = await measureServer(which, batchSpec, round);
    const eventsPerCommit = r.events / r.commits;
    if (!rawFirst && raw === undefined) {
      txnSize = Math.max(1, Math.round(eventsPerCommit));
      await runRaw(r.events);
    }
    batch[which].push({ ...r, eventRate: r.rate * BATCH_SIZE, cpuPerEvent: r.cpuPerRequest / BATCH_SIZE });
    lines.push(
      `round ${round}  batch  ${LABEL[which]}  ${fmt(r.rate * BATCH_SIZE).padStart(6)} events/s (${fmt(r.rate, 1)} req/s, p99 ${r.p99} ms, ${r.acceptedText}, ${fmt(eventsPerCommit, 1)} events/commit, cpu server ${pct(r.serverCpu)}, ${(r.cpuPerRequest / BATCH_SIZE).toFixed(1)} µs CPU/event, ${(r.faultsPerRequest / BATCH_SIZE).toFixed(3)} page faults/event; threads µs CPU/event: ${r.threads}; main-thread GC µs/event: scavenges ${r.gcMinor.toFixed(1)}, other ${r.gcOther.toFixed(1)})`,
    );
  }
  batch.raw.push(raw.rate);
  batch.rawCpu.push(raw.cpuPerEvent);
  batch.txn.push(txnSize);
  console.log(lines.join('\n'));
  console.log(`round ${round}  batch  raw     ${fmt(raw.rate).padStart(6)} events/s (${fmt(rawCount)} rows, ${txnSize} per transaction, ${raw.cpuPerEvent.toFixed(1)} µs CPU/event)${rawFirst ? ', raw ran first' : ''}`);
}

if (rowsStored) console.log(`\nrows stored by Herald: ${fmt(rowsStored.dataBytes)} B data + ${fmt(rowsStored.metadataBytes)} B metadata JSON on average`);
if (rowsRaw) console.log(`rows written raw:      ${fmt(rowsRaw.dataBytes)} B data + ${fmt(rowsRaw.metadataBytes)} B metadata JSON on average`);

// ---- summary -------------------------------------------------------------------------------------
const cpuCell = (base, subject, digits) => `${base.toFixed(digits)} / ${subject.toFixed(digits)} (${ratioText(base / subject)})`;
const verdict = (ratio, goal) => (ratio >= goal ? `met (>= ${goal})` : `NOT met (< ${goal})`);
const summary = [];
// The sides of a round ran back to back, so their ratio cancels slow drifts in machine load.
const pairedRatio = (subject, baseline) => median(subject.map((value, i) => value / baseline[i]));
const WHAT = { node: 'ingestion node', all: 'whole server, one process' };
// The goal is judged on the ingestion node; the whole server in one process is reported beside it.
const judge = (which, ratio, goal) => (which === 'node' ? verdict(ratio, goal) : `reported (${ratio >= goal ? '>=' : '<'} ${goal})`);
for (const which of HERALDS) {
  if (track[which].length === 0) continue;
  const bareRate = median(track.bare.map((r) => r.rate));
  const heraldRate = median(track[which].map((r) => r.rate));
  const paired = pairedRatio(
    track[which].map((r) => r.rate),
    track.bare.map((r) => r.rate),
  );
  summary.push([
    `/v1/track req/s, ${WHAT[which]} (vs bare Fastify)`,
    fmt(bareRate),
    fmt(heraldRate),
    ratioText(heraldRate / bareRate),
    ratioText(paired),
    `${median(track.bare.map((r) => r.p99))} ms`,
    `${median(track[which].map((r) => r.p99))} ms`,
    cpuCell(median(track.bare.map((r) => r.cpuPerRequest)), median(track[which].map((r) => r.cpuPerRequest)), 0),
    judge(which, paired, TRACK_GOAL),
  ]);
}
for (const which of HERALDS) {
  if (batch[which].length === 0) continue;
  const heraldRate = median(batch[which].map((r) => r.eventRate));
  const rawRate = median(batch.raw);
  const paired = pairedRatio(
    batch[which].map((r) => r.eventRate),
    batch.raw,
  );
  summary.push([
    `/v1/batch events/s, ${WHAT[which]} (vs raw SQLite, ~${median(batch.txn)} rows/txn)`,
    fmt(rawRate),
    fmt(heraldRate),
    ratioText(heraldRate / rawRate),
    ratioText(paired),
    '-',
    `${median(batch[which].map((r) => r.p99))} ms`,
    cpuCell(median(batch.rawCpu), median(batch[which].map((r) => r.cpuPerEvent)), 1),
    judge(which, paired, BATCH_GOAL),
  ]);
}
console.log('');
printTable(
  ['medians', 'baseline', 'Herald', 'ratio of medians', 'median ratio per round', 'p99 baseline', 'p99 Herald', 'server CPU µs baseline / Herald (ratio)', 'goal'],
  summary,
);
console.log(
  '\nThe goal is judged on the median of the per-round ratios Herald / baseline (each round runs both back to back). CPU µs is per request for /v1/track and per event for /v1/batch: the same comparison by CPU time, which other load on the machine disturbs less.',
);
console.log(`\ntotal ${((Date.now() - started) / 1000).toFixed(0)} s, load at the end ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);
