// npm run bench:send — emails per second through Herald's whole pipeline (track event -> scenario
// engine with frequency caps -> MessageQueued -> dispatcher: subscription check, render, intent,
// pooled SMTP -> MessageSent) into a local SMTP server, against raw pooled nodemailer sending
// the same email to the same server. See bench/README.md, section "bench:send".
import os from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { BENCH_DIR, codeLine, envInt, fmt, machineLine, makeTempDir, median, printTable, ratioText, removeDir, startChild, waitForOtherBenchmarks } from './lib/common.mjs';
import { printProfileTop } from './lib/projections-support.mjs';

const ROUNDS = envInt('BENCH_ROUNDS', 3);
/** Emails per measurement: fixed by these, or else sized from the warm-up's rate to last about SECONDS. */
const FIXED_MESSAGES = process.env.BENCH_SEND_MESSAGES ? envInt('BENCH_SEND_MESSAGES', 0) : undefined;
const FIXED_RAW_MESSAGES = process.env.BENCH_SEND_RAW_MESSAGES ? envInt('BENCH_SEND_RAW_MESSAGES', 0) : FIXED_MESSAGES;
const SECONDS = envInt('BENCH_SEND_SECONDS', 15);
const WARMUP = envInt('BENCH_SEND_WARMUP', 500);
const BATCH = envInt('BENCH_SEND_BATCH', 100);
const HTTP_CONCURRENCY = envInt('BENCH_SEND_HTTP_CONCURRENCY', 4);
/** Herald's defaults: DISPATCH_CONCURRENCY (config.ts) and the EmailAdapter's pool (email.adapter.ts). */
const CONCURRENCY = 32;
/** SMTP connections on both sides; Herald's default is 5, another size goes into its SMTP_URL (`?maxConnections=`). */
const POOL = envInt('BENCH_SEND_POOL', 5);
const STALL_SECONDS = envInt('BENCH_SEND_STALL', 30);
const PROFILE = process.env.BENCH_CPU_PROF === '1';
const GOAL = 0.7;
/** Herald's threads as send-herald.mjs groups them (Linux only). */
const THREAD_GROUPS = [
  ['main', 'main thread'],
  ['v8', 'V8 helpers (GC, JIT)'],
  ['app', 'threads started with the app (log writer, checkpointer)'],
  ['later', 'threads started later (SMTP thread, analytics sink thread)'],
  ['chdb', "chDB's pools"],
];
const WRITE_KEY = 'bench-write-key';
const ADMIN_TOKEN = 'bench-admin-token';
const WORKSPACE = 'default';

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const now = () => performance.timeOrigin + performance.now();
const pct = (share) => `${Math.round(share * 100)}%`;

/** The scenario under test: every 'Go' event queues the abandoned-cart email at once. */
const SCENARIO = {
  id: 'blast',
  name: 'Bench: send at once',
  trigger: { event: 'Go' },
  entry: { reenter: 'always' },
  steps: [{ id: 'mail', send: { channel: 'email', template: 'cart-plain' } }],
};
/** A cap every send is checked against and none reaches (each user gets one or two messages). */
const SETTINGS = { caps: [{ channel: 'any', max: 1000, per: '1d' }] };
const CART = {
  cart_id: 'c-1042',
  currency: 'EUR',
  products: [
    { name: 'Trail running shoes', quantity: 1, price: '89.00' },
    { name: 'Merino socks', quantity: 2, price: '12.50' },
  ],
};

// ---- the sink -----------------------------------------------------------------------------------

async function ask(child, type, extra = {}) {
  child.send({ type, ...extra });
  return child.next(type);
}

/** Waits until the sink has `count` messages; fails when nothing arrives for STALL_SECONDS. */
async function waitForSink(sink, count, what) {
  let last = -1;
  let lastChange = now();
  for (;;) {
    const { count: got } = await ask(sink, 'stats');
    if (got >= count) return;
    if (got !== last) {
      last = got;
      lastChange = now();
    } else if (now() - lastChange > STALL_SECONDS * 1000) {
      throw new Error(`${what}: the SMTP server got ${got} of ${count} messages and nothing more for ${STALL_SECONDS} s`);
    }
    await sleep(50);
  }
}

/** Emails for a measurement of about SECONDS at `rate` (the warm-up's, a little below the steady rate). */
const sized = (rate) => Math.min(50_000, Math.max(1_000, Math.ceil((rate * SECONDS) / 100) * 100));

/** Throughput from the arrival times at the sink: whole run from `started`, and the 10%..90% window. */
function rates(times, started, count) {
  const first = Math.floor(count * 0.1);
  const last = Math.ceil(count * 0.9) - 1;
  return {
    whole: (count / (times[count - 1] - started)) * 1000,
    steady: ((last - first) / (times[last] - times[first])) * 1000,
    seconds: (times[count - 1] - started) / 1000,
  };
}

// ---- Herald -------------------------------------------------------------------------------------

function client(port) {
  const base = `http://127.0.0.1:${port}`;
  const basic = `Basic ${Buffer.from(`${WRITE_KEY}:`).toString('base64')}`;
  const call = async (method, path, body, auth) => {
    const response = await fetch(`${base}${path}`, {
      method,
      headers: { 'content-type': 'application/json', authorization: auth },
      body: JSON.stringify(body),
    });
    const text = await response.text();
    if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${text.slice(0, 500)}`);
    return text;
  };
  return {
    admin: (method, path, body) => call(method, path, body, `Bearer ${ADMIN_TOKEN}`),
    /** Posts `calls` through /v1/batch, BATCH calls per request, HTTP_CONCURRENCY requests at a time. */
    async batch(calls) {
      let next = 0;
      const worker = async () => {
        while (next < calls.length) {
          const slice = calls.slice(next, next + BATCH);
          next += BATCH;
          await call('POST', '/v1/batch', { batch: slice }, basic);
        }
      };
      await Promise.all(Array.from({ length: HTTP_CONCURRENCY }, worker));
    },
  };
}

const identify = (tag, i) => ({
  type: 'identify',
  userId: `${tag}-${i}`,
  traits: { email: `${tag}-${i}@example.test`, first_name: `Ada${i}`, plan: 'pro' },
  messageId: `${tag}-identify-${i}`,
});
const go = (tag, i) => ({ type: 'track', userId: `${tag}-${i}`, event: 'Go', properties: CART, messageId: `${tag}-go-${i}` });

/** Waits until every projection has caught up with the log. */
async function settle(herald) {
  for (;;) {
    const stats = await ask(herald, 'stats');
    if (stats.lag === 0) return stats;
    await sleep(100);
  }
}

/**
 * The outcomes recorded after `from`, once every intent has one: the sink counts a message when its
 * data ends, before it answers, so the last MessageSent may still be on its way when all have arrived.
 */
async function settledOutcomes(herald, from) {
  const started = now();
  for (;;) {
    const outcomes = await ask(herald, 'outcomes', { from });
    const { MessageQueued, MessageDispatching, ...final } = outcomes.counts;
    const settled = Object.values(final).reduce((a, b) => a + b, 0);
    if (settled >= MessageQueued || now() - started > STALL_SECONDS * 1000) return outcomes;
    await sleep(100);
  }
}

async function measureHerald(sink, smtpUrl, round) {
  const dataDir = makeTempDir(`send-${round}`);
  const heraldSmtpUrl = POOL === 5 ? smtpUrl : `${smtpUrl}/?maxConnections=${POOL}`;
  const herald = startChild(join(BENCH_DIR, 'lib', 'send-herald.mjs'), [JSON.stringify({ dataDir, smtpUrl: heraldSmtpUrl, writeKey: WRITE_KEY, adminToken: ADMIN_TOKEN })], { nodeFlags: SENDER_FLAGS });
  try {
    const { port } = await herald.next('ready');
    const http = client(port);
    await http.admin('PUT', `/api/settings/messaging?workspace=${WORKSPACE}`, SETTINGS);
    await http.admin('POST', `/api/scenarios?workspace=${WORKSPACE}`, SCENARIO);
    const tag = `h${round}`;
    await http.batch(Array.from({ length: WARMUP }, (_, i) => identify(tag, i)));
    await settle(herald);

    // Warm-up: the first messages compile the template, open the SMTP pool and warm the JIT.
    sink.send({ type: 'reset' });
    const warmStarted = now();
    await http.batch(Array.from({ length: WARMUP }, (_, i) => go(tag, i)));
    await waitForSink(sink, WARMUP, 'Herald warm-up');
    const { captured: source, times: warmTimes } = await ask(sink, 'arrivals');
    // Sized from the warm-up's steady rate (10-90% of its arrivals): its whole duration includes
    // the first trigger's way through ingestion and the engine, and was a third of the steady rate,
    // so a measurement lasted about 6 s instead of SECONDS.
    const MESSAGES = FIXED_MESSAGES ?? sized(rates(warmTimes, warmStarted, WARMUP).steady);
    await http.batch(Array.from({ length: MESSAGES }, (_, i) => identify(tag, WARMUP + i)));
    await settle(herald);

    const triggers = Array.from({ length: MESSAGES }, (_, i) => go(tag, WARMUP + i));
    sink.send({ type: 'reset' });
    if (PROFILE) {
      herald.send({ type: 'profile-start', name: `send-herald-r${round}` });
      await herald.next('profile-started');
    }
    const before = await ask(herald, 'stats');
    const sinkBefore = await ask(sink, 'stats');
    const started = now();
    await http.batch(triggers);
    const ingested = now();
    await waitForSink(sink, MESSAGES, `Herald round ${round}`);
    const after = await ask(herald, 'stats');
    const sinkAfter = await ask(sink, 'stats');
    let profileFile;
    if (PROFILE) {
      herald.send({ type: 'profile-stop' });
      profileFile = (await herald.next('profile-stopped')).file;
    }
    const { times, bytes } = await ask(sink, 'arrivals');
    await settle(herald);
    const { counts, example, queuedAt, sentAt } = await settledOutcomes(herald, before.head);
    if (counts.MessageSent !== MESSAGES || counts.MessageQueued !== MESSAGES) {
      throw new Error(`Herald round ${round}: expected ${MESSAGES} queued and sent, got ${JSON.stringify(counts)}${example ? `, e.g. ${JSON.stringify(example)}` : ''}`);
    }
    const seconds = (times[MESSAGES - 1] - started) / 1000;
    return {
      ...rates(times, started, MESSAGES),
      ingestSeconds: (ingested - started) / 1000,
      // Where the pipeline waits: the engine's MessageQueued and the dispatcher's MessageSent over the
      // same 10-90% window (their occurredAt, ms resolution). Queued well ahead of sent: the dispatcher limits.
      queuedSteady: rates(queuedAt, started, queuedAt.length).steady,
      queuedSeconds: (queuedAt.at(-1) - started) / 1000,
      sentSteady: rates(sentAt, started, sentAt.length).steady,
      bytesPerMessage: bytes / times.length,
      cpu: (after.cpuMicros - before.cpuMicros) / 1e6 / seconds,
      cpuPerMessage: (after.cpuMicros - before.cpuMicros) / MESSAGES,
      // By group of threads; a thread that ended in the window is missing from `after` and is not counted.
      threadCpuPerMessage: Object.fromEntries(Object.entries(after.threads ?? {}).map(([group, micros]) => [group, (micros - (before.threads?.[group] ?? 0)) / MESSAGES])),
      sinkCpu: (sinkAfter.cpuMicros - sinkBefore.cpuMicros) / 1e6 / seconds,
      eventsPerMessage: (after.events - before.events) / MESSAGES,
      commitsPerMessage: (after.commits - before.commits) / MESSAGES,
      messages: MESSAGES,
      counts,
      source,
      profileFile,
    };
  } finally {
    await herald.stop();
    removeDir(dataDir);
  }
}

/**
 * The young generation's starting size `npm start` gives Herald (docs/deployment.md), for both
 * senders: it is what lets the SMTP thread's isolate use 64 MB semi-spaces.
 */
const SENDER_FLAGS = ['--min-semi-space-size=64'];

// ---- raw nodemailer -------------------------------------------------------------------------------

async function measureRaw(sink, smtpUrl, source) {
  const raw = startChild(join(BENCH_DIR, 'lib', 'send-raw.mjs'), [
    JSON.stringify({ smtpUrl, source, warmup: WARMUP, concurrency: CONCURRENCY, maxConnections: POOL }),
  ], { profileName: 'send-raw', nodeFlags: SENDER_FLAGS });
  try {
    const { warmRate } = await raw.next('warm');
    // The raw warm-up (well under a second) includes opening the pool: its rate is about half the steady one.
    const RAW_MESSAGES = FIXED_RAW_MESSAGES ?? sized(warmRate * 2);
    sink.send({ type: 'reset' });
    const sinkBefore = await ask(sink, 'stats');
    raw.send({ type: 'go', count: RAW_MESSAGES });
    const done = await raw.next('done');
    await waitForSink(sink, RAW_MESSAGES, 'raw');
    const sinkAfter = await ask(sink, 'stats');
    const { times, bytes } = await ask(sink, 'arrivals');
    if (done.failed > 0) throw new Error(`raw: ${done.failed} sends failed`);
    const seconds = (times[RAW_MESSAGES - 1] - done.started) / 1000;
    return {
      ...rates(times, done.started, RAW_MESSAGES),
      bytesPerMessage: bytes / times.length,
      cpu: done.cpuMicros / 1e6 / seconds,
      cpuPerMessage: done.cpuMicros / RAW_MESSAGES,
      messages: RAW_MESSAGES,
      sinkCpu: (sinkAfter.cpuMicros - sinkBefore.cpuMicros) / 1e6 / seconds,
    };
  } finally {
    await raw.stop();
  }
}

// ---- the run --------------------------------------------------------------------------------------

console.log(`bench:send  ${machineLine()}`);
console.log(codeLine());
// Any older benchmark script (bench/*.mjs, analytics included) distorts the figures on 2 cores.
await waitForOtherBenchmarks({ maxMinutes: 20 });
const runStarted = Date.now();
console.log(
  `${FIXED_MESSAGES ? `${fmt(FIXED_MESSAGES)} emails per Herald measurement (${fmt(FIXED_RAW_MESSAGES)} raw)` : `emails per measurement sized to last ~${SECONDS} s at the warm-up's steady rate`}, ${fmt(WARMUP)} warm-up each; scenario 'blast' (trigger Go -> send cart-plain.mjml), ` +
    `cap any ${SETTINGS.caps[0].max}/${SETTINGS.caps[0].per} checked; triggers through /v1/batch (${BATCH} per request, ${HTTP_CONCURRENCY} at a time); ` +
    `SMTP pool of ${POOL} connections on both sides, ${CONCURRENCY} sends in flight; ${ROUNDS} rounds\n`,
);

const sink = startChild(join(BENCH_DIR, 'lib', 'send-sink.mjs'));
const { port: sinkPort } = await sink.next('ready');
const smtpUrl = `smtp://127.0.0.1:${sinkPort}`;
const results = { herald: [], raw: [] };
let source;
try {
  for (let round = 1; round <= ROUNDS; round++) {
    // Herald goes first in odd rounds; round 1 also captures the email the baseline sends.
    const order = round % 2 || !source ? ['herald', 'raw'] : ['raw', 'herald'];
    for (const side of order) {
      if (side === 'herald') {
        const r = await measureHerald(sink, smtpUrl, round);
        source ??= r.source;
        results.herald.push(r);
        console.log(
          `round ${round}  herald  ${fmt(r.steady).padStart(6)} emails/s steady (10-90%), ${fmt(r.whole).padStart(6)} first trigger -> last email (${fmt(r.messages)} in ${r.seconds.toFixed(1)} s; triggers ingested in ${r.ingestSeconds.toFixed(1)} s)  ` +
            `${fmt(r.bytesPerMessage)} B/email  cpu herald ${pct(r.cpu)} sink ${pct(r.sinkCpu)}  ${fmt(r.cpuPerMessage)} µs CPU/email` +
            `${r.threadCpuPerMessage.main === undefined ? '' : ` (${THREAD_GROUPS.filter(([g]) => r.threadCpuPerMessage[g] !== undefined).map(([g, name]) => `${name} ${fmt(r.threadCpuPerMessage[g])}`).join(', ')})`}  ` +
            `${r.eventsPerMessage.toFixed(1)} events, ${r.commitsPerMessage.toFixed(2)} commits/email; ` +
            `engine queued ${fmt(r.queuedSteady)}/s (last at ${r.queuedSeconds.toFixed(1)} s), MessageSent ${fmt(r.sentSteady)}/s`,
        );
        if (r.profileFile) {
          console.log(`profile: ${r.profileFile}`);
          printProfileTop(r.profileFile, 30);
        }
      } else {
        const r = await measureRaw(sink, smtpUrl, source);
        results.raw.push(r);
        console.log(
          `round ${round}  raw     ${fmt(r.steady).padStart(6)} emails/s steady (10-90%), ${fmt(r.whole).padStart(6)} first send -> last email (${fmt(r.messages)} in ${r.seconds.toFixed(1)} s)  ` +
            `${fmt(r.bytesPerMessage)} B/email  cpu client ${pct(r.cpu)} sink ${pct(r.sinkCpu)}  ${fmt(r.cpuPerMessage)} µs CPU/email`,
        );
      }
    }
  }
} finally {
  await sink.stop();
}

// ---- summary --------------------------------------------------------------------------------------
const med = (side, key) => median(results[side].map((r) => r[key]));
const paired = (key) => median(results.herald.map((r, i) => r[key] / results.raw[i][key]));
const verdict = (ratio) => (ratio >= GOAL ? `met (>= ${GOAL})` : `NOT met (< ${GOAL})`);
console.log('');
printTable(
  ['medians', 'raw nodemailer', 'Herald', 'ratio of medians', 'median ratio per round', 'goal'],
  [
    ['emails/s, steady (10-90% of arrivals)', fmt(med('raw', 'steady')), fmt(med('herald', 'steady')), ratioText(med('herald', 'steady') / med('raw', 'steady')), ratioText(paired('steady')), verdict(paired('steady'))],
    ['emails/s, start -> last email', fmt(med('raw', 'whole')), fmt(med('herald', 'whole')), ratioText(med('herald', 'whole') / med('raw', 'whole')), ratioText(paired('whole')), ''],
    ['Herald only: MessageQueued/s (engine), steady', '', fmt(med('herald', 'queuedSteady')), '', '', ''],
    ['CPU µs per email (sender process)', fmt(med('raw', 'cpuPerMessage')), fmt(med('herald', 'cpuPerMessage')), ratioText(med('raw', 'cpuPerMessage') / med('herald', 'cpuPerMessage')), '', ''],
    ...THREAD_GROUPS.filter(([group]) => results.herald.every((r) => r.threadCpuPerMessage[group] !== undefined)).map(([group, name]) => [
      `Herald only: CPU µs per email, ${name}`,
      '',
      fmt(median(results.herald.map((r) => r.threadCpuPerMessage[group]))),
      '',
      '',
      '',
    ]),
    ['bytes per email at the SMTP server', fmt(med('raw', 'bytesPerMessage')), fmt(med('herald', 'bytesPerMessage')), '', '', ''],
  ],
);
const ratio = paired('steady');
console.log(
  `\nHerald / raw = ${ratioText(ratio)} (median of the per-round ratios of steady emails/s): goal >= ${GOAL} ${ratio >= GOAL ? 'MET' : 'NOT MET'}`,
);
console.log(`total ${((Date.now() - runStarted) / 1000).toFixed(0)} s, load at the end ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);
