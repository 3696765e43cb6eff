// Crash chaos: runs server/dist/main.js as a real process, streams tracking calls (/v1/track,
// /v1/batch, anonymous ids linked by identify), SIGKILLs it at random moments (mid-burst, right after
// an answer, while an email is being sent, during start-up), restarts it on the same data folder,
// lets it drain, and checks the log read-only against what was acknowledged, what a local SMTP server
// received and what a webhook receiver was called with. Not a benchmark: it prints violations and
// exits 1 when there is one. The short, deterministic version is server/src/operations/crash.e2e.spec.ts.
//
//   npm run build && node bench/crash-chaos.mjs [--users 1500] [--kills 6] [--seed 1] [--concurrency 8]
//     [--startkill 0.4] [--greylist on] [--analytics off] [--signal KILL|TERM] [--data <folder>]
import { createRequire } from 'node:module';
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createServer } from 'node:net';
import { createServer as createHttpServer } from 'node:http';

const WT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(join(WT, 'server/package.json'));
const { SMTPServer } = require('smtp-server');
const Database = require('better-sqlite3');

const args = Object.fromEntries(process.argv.slice(2).reduce((acc, a, i, all) => (a.startsWith('--') ? [...acc, [a.slice(2), all[i + 1]]] : acc), []));
const USERS = Number(args.users ?? 1500);
const KILLS = Number(args.kills ?? 6);
let seed = Number(args.seed ?? 1);
const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
const STARTKILL = Number(args.startkill ?? 0.4);
let killAfterAck = false;
const CONCURRENCY = Number(args.concurrency ?? 8);
const ADMIN = 'adm_chaos';
const WRITE_KEY = 'wk_chaos';
const auth = `Basic ${Buffer.from(`${WRITE_KEY}:`).toString('base64')}`;
const log = (...a) => console.log(new Date().toISOString().slice(11, 23), ...a);

// ---- SMTP server that records every message (by X-Herald-Message-Id) ----
const received = new Map(); // herald message id -> count
let mailsTotal = 0;
let killOnMail = 0;
const GREYLIST = (args.greylist ?? 'on') === 'on';
const greylisted = new Set();
const hash = (text) => [...text].reduce((h, c) => (h * 31 + c.charCodeAt(0)) >>> 0, 7); // when > 0, the n-th next accepted mail kills the server before the 250
const smtp = new SMTPServer({
  disabledCommands: ['STARTTLS', 'AUTH'],
  logger: false,
  closeTimeout: 500,
  onData(stream, _session, callback) {
    const chunks = [];
    stream.on('data', (c) => chunks.push(c));
    stream.on('end', () => {
      const raw = Buffer.concat(chunks).toString('latin1');
      const header = /^X-Herald-Message-Id:\s*(.+)$/im.exec(raw.replace(/\r?\n[ \t]+/g, ' '));
      const id = header ? header[1].trim() : `(none:${mailsTotal})`;
      // Greylist the first attempt of about one message in five (a 451: retried by Herald, durably).
      if (GREYLIST && !greylisted.has(id) && hash(id) % 5 === 0) {
        greylisted.add(id);
        return callback(Object.assign(new Error('greylisted, try again'), { responseCode: 451 }));
      }
      received.set(id, (received.get(id) ?? 0) + 1);
      mailsTotal++;
      if (killOnMail > 0 && --killOnMail === 0) {
        log(`${SIGNAL} while an email is going out (${id})`);
        kill();
      }
      callback();
    });
  },
});
smtp.on('error', () => {});
await new Promise((r) => smtp.listen(0, '127.0.0.1', r));
const smtpPort = smtp.server.address().port;

// ---- a webhook receiver that counts calls per person ----
const hooks = new Map();
const hookServer = createHttpServer((req, res) => {
  let body = '';
  req.on('data', (c) => (body += c));
  req.on('end', () => {
    try {
      const key = req.headers['idempotency-key'];
      hooks.set(key, (hooks.get(key) ?? 0) + 1);
    } catch {}
    res.end('ok');
  });
});
await new Promise((r) => hookServer.listen(0, '127.0.0.1', r));
const hookUrl = `http://127.0.0.1:${hookServer.address().port}/hook`;

async function freePort() {
  const s = createServer();
  await new Promise((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address();
  await new Promise((r) => s.close(r));
  return port;
}

// ---- the server process ----
const dataDir = args.data ?? mkdtempSync(join(tmpdir(), 'herald-chaos-'));
const port = await freePort();
const base = `http://127.0.0.1:${port}`;
let child;
let up = false;
let starts = 0;
const outputs = [];
async function start(killAfterMs) {
  starts++;
  const { ADMIN_TOKEN: _a, DEFAULT_WRITE_KEY: _w, ...inherited } = process.env;
  child = spawn(process.execPath, ['--max-semi-space-size=64', '--min-semi-space-size=64', join(WT, 'server/dist/main.js')], {
    env: {
      ...inherited,
      PORT: String(port),
      HOST: '127.0.0.1',
      DATA_DIR: dataDir,
      ADMIN_TOKEN: ADMIN,
      DEFAULT_WRITE_KEY: WRITE_KEY,
      SMTP_URL: `smtp://127.0.0.1:${smtpPort}`,
      ANALYTICS: args.analytics ?? 'off',
      WEB_PUSH: 'off',
      LOG_LEVEL: 'warn',
      DISPATCH_RETRY_BASE_MS: '200',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  outputs.push(() => out);
  child.stdout.on('data', (c) => (out += c));
  child.stderr.on('data', (c) => (out += c));
  const me = child;
  me.exited = new Promise((r) => me.once('exit', (code, signal) => r({ code, signal })));
  const t0 = Date.now();
  if (killAfterMs !== undefined) {
    setTimeout(() => me.kill(SIGNAL), killAfterMs);
    const result = await Promise.race([me.exited.then(() => 'exited'), new Promise((r) => { const c = setInterval(() => { if (out.includes('Herald is listening')) { clearInterval(c); r('listening'); } }, 10); me.exited.then(() => clearInterval(c)); })]);
    log(`start #${starts} killed during start-up after ${killAfterMs} ms (${result} first)`);
    await me.exited;
    return;
  }
  await new Promise((ok, fail) => {
    const check = setInterval(() => {
      if (out.includes('Herald is listening')) {
        clearInterval(check);
        ok();
      }
    }, 10);
    me.exited.then(({ code, signal }) => {
      clearInterval(check);
      fail(new Error(`main.js exited (${code ?? signal}) before listening:\n${out}`));
    });
  });
  up = true;
  log(`start #${starts} listening after ${Date.now() - t0} ms (pid ${me.pid})`);
}
// --signal TERM stops it gracefully instead (a deploy): then no outcome may be left unknown.
const SIGNAL = `SIG${args.signal ?? 'KILL'}`;
function kill() {
  if (!up) return;
  up = false;
  child.kill(SIGNAL);
}
async function restart() {
  const stopping = Date.now();
  const { code, signal } = await child.exited;
  log(`stopped (${signal ?? code}) ${Date.now() - stopping} ms after the ${SIGNAL}`);
  if (random() < STARTKILL) await start(Math.floor(200 + random() * 5000));
  await start();
}

// ---- API helpers ----
async function admin(method, path, body) {
  const r = await fetch(base + path, { method, headers: { authorization: `Bearer ${ADMIN}`, ...(body ? { 'content-type': 'application/json' } : {}) }, body: body ? JSON.stringify(body) : undefined });
  const text = await r.text();
  if (r.status >= 300) throw new Error(`${method} ${path}: ${r.status} ${text}`);
  return text ? JSON.parse(text) : undefined;
}

// ---- load ----
const acked = new Map(); // messageId -> { userId, type }
const stats = { calls: 0, ok: 0, failed: 0, non2xx: 0 };
let counter = 0;
const mid = (u, what) => `chaos-${u}-${what}`;
function userCalls(u) {
  const userId = `u${u}`;
  const identify = { type: 'identify', userId, messageId: mid(u, 'identify'), traits: { email: `${userId}@example.test`, first_name: `U${u}` } };
  const signup = { type: 'track', userId, messageId: mid(u, 'signup'), event: 'Signed Up', properties: { plan: 'free' } };
  const checkout = { type: 'track', userId, messageId: mid(u, 'checkout'), event: 'Checkout Started', properties: { cart_id: `c${u}` } };
  const order = { type: 'track', userId, messageId: mid(u, 'order'), event: 'Order Completed', properties: { cart_id: `c${u}` } };
  const view = (i) => ({ type: 'track', userId, messageId: mid(u, `view${i}`), event: 'Product Viewed', properties: { i } });
  if (u % 3 === 0) {
    // Anonymous first: a view, then an identify that links the anonymous id, then a track with only
    // the anonymous id, which must land on the user's stream (docs/events.md, Identity).
    const anonymousId = `a${u}`;
    const anonView = { type: 'track', anonymousId, messageId: mid(u, 'anonview'), event: 'Product Viewed', properties: { i: -1 } };
    const link = { ...identify, anonymousId };
    const after = { type: 'track', anonymousId, messageId: mid(u, 'afterlink'), event: 'Cart Viewed', properties: {} };
    return [
      { path: '/v1/track', body: anonView, ids: [anonView.messageId], userId },
      { path: '/v1/identify', body: link, ids: [link.messageId], userId, kind: 'link' },
      { path: '/v1/track', body: after, ids: [after.messageId], userId, kind: 'afterlink' },
      { path: '/v1/track', body: signup, ids: [signup.messageId], userId },
      { path: '/v1/track', body: checkout, ids: [checkout.messageId], userId },
    ];
  }
  // A batch (identify + sign-up) and single calls after it, so both paths are exercised.
  return [
    { path: '/v1/batch', body: { batch: [identify, signup] }, ids: [identify.messageId, signup.messageId], userId },
    { path: '/v1/track', body: view(0), ids: [view(0).messageId], userId },
    { path: '/v1/track', body: checkout, ids: [checkout.messageId], userId },
    { path: '/v1/batch', body: { batch: [view(1), view(2)] }, ids: [view(1).messageId, view(2).messageId], userId },
    ...(u % 2 ? [{ path: '/v1/track', body: order, ids: [order.messageId], userId }] : []),
  ];
}

async function call(c) {
  stats.calls++;
  try {
    const r = await fetch(base + c.path, { method: 'POST', headers: { 'content-type': 'application/json', authorization: auth }, body: JSON.stringify(c.body) });
    await r.text();
    if (r.status >= 200 && r.status < 300) {
      stats.ok++;
      for (const id of c.ids) acked.set(id, c.userId);
      if (killAfterAck && (c.kind === 'link' || random() < 0.2)) {
        killAfterAck = false;
        log(`${SIGNAL} right after an acknowledgement (${c.ids.join(', ')})`);
        kill();
      }
      return true;
    }
    stats.non2xx++;
    log(`non-2xx ${r.status} on ${c.path}`);
    return false;
  } catch {
    stats.failed++;
    return false;
  }
}

// ---- setup ----
await start();
await admin('POST', '/api/scenarios', {
  id: 'welcome', name: 'Welcome', trigger: { event: 'Signed Up' }, entry: { reenter: 'always', concurrent: true },
  steps: [
    { id: 'hello', send: { channel: 'email', template: 'welcome-1' } },
    { id: 'crm', webhook: { url: hookUrl, body: { email: '{{ user.email }}' }, retries: 2 } },
  ],
});
await admin('POST', '/api/scenarios', {
  id: 'cart', name: 'Cart', trigger: { event: 'Checkout Started' }, entry: { reenter: 'always', concurrent: true },
  steps: [
    { id: 'wait', wait: '3s' },
    { id: 'reminder', send: { channel: 'email', holdout: 10, variants: [
      { key: 'plain', weight: 50, template: 'cart-plain', subject: 'Cart {{ trigger.cart_id }}' },
      { key: 'discount', weight: 50, template: 'cart-discount' },
    ] } },
    { id: 'order', waitFor: { event: 'Order Completed', timeout: '2s' }, onEvent: 'done', onTimeout: 'done' },
    { id: 'done', exit: true },
  ],
});
await admin('PUT', '/api/settings/messaging', { caps: [{ channel: 'any', max: 3, per: '1h' }] });
await admin('PUT', '/api/templates/nudge', { format: 'liquid', channel: 'in_app', subject: 'Still there?', body: "Hi {{ user.first_name | default: 'there' }}" });
await admin('POST', '/api/segments', {
  id: 'browsing', name: 'Browsing', where: { performed: 'Product Viewed', within: '4s' },
});
await admin('POST', '/api/scenarios', {
  id: 'browse', name: 'Browse', trigger: { segment: { entered: 'browsing' } }, entry: { reenter: 'always', concurrent: true },
  steps: [{ id: 'nudge', send: { channel: 'in_app', template: 'nudge' } }],
});
log(`set up: data ${dataDir}, port ${port}, smtp ${smtpPort}`);

// Work queue: each user's calls in order; CONCURRENCY users in flight. A call that failed (the server
// was down) is retried with the same messageIds after the restart, as an SDK would.
const queue = [];
for (let u = 0; u < USERS; u++) queue.push({ u, calls: userCalls(u), next: 0 });
let cursor = 0;
const t0 = Date.now();
async function worker() {
  for (;;) {
    const job = queue[cursor++];
    if (!job) return;
    while (job.next < job.calls.length) {
      if (!up) {
        await new Promise((r) => setTimeout(r, 20));
        continue;
      }
      if (await call(job.calls[job.next])) job.next++;
      else await new Promise((r) => setTimeout(r, 20));
    }
  }
}
// Chaos: kills at random moments; every other one waits for an email going out.
const chaos = (async () => {
  for (let k = 0; k < KILLS; k++) {
    await new Promise((r) => setTimeout(r, 800 + random() * 2500));
    if (k % 3 === 2) {
      killAfterAck = true;
      while (up) await new Promise((r) => setTimeout(r, 5));
    } else if (k % 3 === 1) {
      killOnMail = 1 + Math.floor(random() * 20);
      const since = Date.now();
      while (up && Date.now() - since < 5000) await new Promise((r) => setTimeout(r, 10));
      if (up) {
        killOnMail = 0;
        log(`no email in 5 s: ${SIGNAL} now`);
        kill();
      }
    } else {
      log(`${SIGNAL} mid-burst (acked ${acked.size})`);
      kill();
    }
    await restart();
  }
})();
const workers = Array.from({ length: CONCURRENCY }, worker);
await Promise.all([chaos, ...workers]);
log(`load done in ${Date.now() - t0} ms: ${JSON.stringify(stats)}, acked ids ${acked.size}`);

// ---- drain: wait until every queued message has an outcome and every timer has fired ----
function openLog() {
  return new Database(join(dataDir, 'events.sqlite'), { readonly: true, fileMustExist: true });
}
function snapshot() {
  const db = openLog();
  try {
    const rows = db.prepare('SELECT e.position, s.name AS stream, e.type, e.event_id, e.data, e.metadata FROM events e JOIN streams s USING (stream_id) ORDER BY e.position').all();
    return rows.map((r) => ({ ...r, id: Buffer.from(r.event_id).toString('hex'), data: JSON.parse(r.data), metadata: JSON.parse(r.metadata) }));
  } finally {
    db.close();
  }
}
const FINAL = new Set(['MessageSent', 'MessageFailed', 'MessageOutcomeUnknown', 'MessageSuppressed', 'MessageBounced']);
function pending(events) {
  const queued = new Set(events.filter((e) => e.type === 'MessageQueued').map((e) => e.data.messageId));
  for (const e of events) if (FINAL.has(e.type)) queued.delete(e.data.messageId);
  const scheduled = new Set(events.filter((e) => e.type === 'TimerScheduled').map((e) => e.data.timerId));
  for (const e of events) if (e.type === 'TimerFired' && e.data.purpose === 'scenario') scheduled.delete(e.data.timerId);
  // A waitFor's timeout is not fired when its event came first: only timers of running enrolments wait.
  const exited = new Set(events.filter((e) => e.type === 'EnrollmentExited').map((e) => e.data.enrollmentId));
  for (const e of events) if (e.type === 'TimerScheduled' && exited.has(e.data.enrollmentId)) scheduled.delete(e.data.timerId);
  const enrolled = new Set(events.filter((e) => e.type === 'EnrollmentStarted').map((e) => e.data.enrollmentId));
  for (const e of events) if (e.type === 'EnrollmentExited') enrolled.delete(e.data.enrollmentId);
  return { messages: queued.size, timers: scheduled.size, enrolments: enrolled.size };
}
const drainStart = Date.now();
let events;
for (;;) {
  events = snapshot();
  const p = pending(events);
  if ((p.messages === 0 && p.timers === 0 && p.enrolments === 0) || Date.now() - drainStart > 60_000) {
    log(`drain: ${JSON.stringify(p)} after ${Date.now() - drainStart} ms`);
    break;
  }
  await new Promise((r) => setTimeout(r, 500));
}
// Segments: wait past the 4 s window so the exits are in.
await new Promise((r) => setTimeout(r, 5000));
child.kill('SIGTERM');
await child.exited;
events = snapshot();
smtp.close(() => {});

// ---- checks ----
const violations = [];
const v = (kind, detail) => violations.push({ kind, detail });
const count = (items, key) => {
  const m = new Map();
  for (const it of items) m.set(key(it), (m.get(key(it)) ?? 0) + 1);
  return m;
};
const byType = (t) => events.filter((e) => e.type === t);

// 1. Every acknowledged messageId is in the log.
const ingested = new Set(events.filter((e) => ['Tracked', 'Identified'].includes(e.type)).map((e) => e.data.messageId));
for (const id of acked.keys()) if (!ingested.has(id)) v('acked-but-lost', id);
// No duplicate ingestion.
for (const [id, n] of count(events.filter((e) => ['Tracked', 'Identified'].includes(e.type)), (e) => e.data.messageId)) if (n > 1) v('ingested-twice', `${id} x${n}`);

// 1b. A track with only an anonymous id, sent after the identify that linked it was acknowledged,
// is on the user's stream.
for (const e of events) if (e.type === 'Tracked' && e.data.event === 'Cart Viewed' && e.stream !== `user-default:${e.data.messageId.split('-')[1].replace(/^/, 'u')}`) v('anonymous-event-on-wrong-stream', `${e.data.messageId} on ${e.stream}`);

// 2. One enrolment per trigger event, per scenario; every trigger enrolled.
const starts2 = byType('EnrollmentStarted');
for (const [key, n] of count(starts2, (e) => `${e.data.scenarioId}|${e.data.trigger?.eventId}|${e.data.trigger?.type ?? ''}`)) if (n > 1) v('enrolled-twice', `${key} x${n}`);
const triggerEvents = { welcome: 'Signed Up', cart: 'Checkout Started' };
for (const [scenario, name] of Object.entries(triggerEvents)) {
  const trig = events.filter((e) => e.type === 'Tracked' && e.data.event === name);
  const enrolled = new Set(starts2.filter((e) => e.data.scenarioId === scenario).map((e) => e.data.trigger.eventId));
  for (const t of trig) if (!enrolled.has(t.id.replace(/^(.{8})(.{4})(.{4})(.{4})/, '$1-$2-$3-$4-'))) v('trigger-not-enrolled', `${scenario} ${t.data.messageId}`);
}
// 3. One MessageQueued per enrolment and step; one of each final state per message.
for (const [key, n] of count(byType('MessageQueued'), (e) => `${e.data.enrollmentId}|${e.data.stepId}`)) if (n > 1) v('queued-twice', `${key} x${n}`);
for (const t of ['MessageSent', 'MessageFailed', 'MessageOutcomeUnknown', 'MessageBounced']) for (const [key, n] of count(byType(t), (e) => e.data.messageId)) if (n > 1) v(`${t}-twice`, `${key} x${n}`);
for (const [key, n] of count(byType('MessageDispatching'), (e) => `${e.data.messageId}|${e.data.attempt}`)) if (n > 1) v('dispatching-twice', `${key} x${n}`);
const enrolments = new Map(starts2.map((e) => [e.data.enrollmentId, e]));
const queuedBy = new Set(byType('StepCompleted').map((e) => `${e.data.enrollmentId}|${e.data.stepId}`));
const sendStep = { welcome: 'hello', cart: 'reminder', browse: 'nudge' };
for (const [id, e] of enrolments) if (!queuedBy.has(`${id}|${sendStep[e.data.scenarioId]}`)) v('enrolment-without-message', `${e.data.scenarioId} ${id}`);
// 4. Timers fire once, and every scheduled timer fired.
for (const [key, n] of count(byType('TimerFired'), (e) => `${e.data.purpose}|${e.data.timerId ?? ''}|${e.data.person ?? ''}|${e.data.dueAt}|${e.stream}`)) if (n > 1) v('timer-fired-twice', `${key} x${n}`);
for (const [key, n] of count(byType('TimerScheduled'), (e) => `${e.data.enrollmentId}|${e.data.stepId}|${e.data.purpose}`)) if (n > 1) v('timer-scheduled-twice', `${key} x${n}`);
// 5. Emails: none received twice; each received one recorded; each MessageSent(smtp) received.
for (const [id, n] of received) if (n > 1) v('email-received-twice', `${id} x${n}`);
const finalOf = new Map();
for (const e of events) if (FINAL.has(e.type)) finalOf.set(e.data.messageId, e.type);
for (const id of received.keys()) if (!['MessageSent', 'MessageOutcomeUnknown'].includes(finalOf.get(id))) v('received-but-recorded-as', `${id}: ${finalOf.get(id)}`);
for (const e of byType('MessageSent')) if (e.data.provider === 'smtp' && !received.has(e.data.messageId)) v('sent-but-not-received', e.data.messageId);
// 6. Every MessageQueued ended.
for (const e of byType('MessageQueued')) if (!finalOf.has(e.data.messageId)) v('message-stuck', `${e.data.messageId} (${e.stream})`);
// 7. Segment transitions alternate, each once per cause.
const seg = events.filter((e) => e.type === 'SegmentEntered' || e.type === 'SegmentExited');
const lastSeg = new Map();
for (const e of seg) {
  const key = `${e.stream}|${e.data.segmentId}|${e.data.person}`;
  if (lastSeg.get(key) === e.type) v('segment-transition-repeated', `${key} ${e.type} at ${e.position}`);
  lastSeg.set(key, e.type);
}
for (const [key, n] of count(seg, (e) => `${e.type}|${e.data.segmentId}|${e.metadata.causationId}`)) if (n > 1) v('segment-transition-twice-per-cause', `${key} x${n}`);
// Reactions in general: any type whose (stream, type, causationId, step/message) repeats.
for (const [key, n] of count(events.filter((e) => e.metadata.causationId && !['Tracked', 'Identified'].includes(e.type)), (e) => `${e.stream}|${e.type}|${e.metadata.causationId}|${e.data.messageId ?? ''}|${e.data.stepId ?? ''}|${e.data.segmentId ?? ''}|${e.data.attempt ?? ''}|${e.data.enrollmentId ?? ''}`)) if (n > 1) v('reaction-twice', `${key} x${n}`);

// 8. Analytics (when on): every event of the log in ClickHouse, none counted twice.
if ((args.analytics ?? 'off') === 'on') {
  const chdb = require('chdb');
  const session = new chdb.Session(join(dataDir, 'analytics'));
  const rows = session.query('SELECT event_id, count() AS n FROM events GROUP BY event_id', 'JSONEachRow').split('\n').filter(Boolean).map((l) => JSON.parse(l));
  const inCh = new Map(rows.map((r) => [r.event_id, Number(r.n)]));
  const uuid = (hex) => hex.replace(/^(.{8})(.{4})(.{4})(.{4})/, '$1-$2-$3-$4-');
  let missing = 0;
  for (const e of events) if (!inCh.has(uuid(e.id))) { missing++; if (missing < 5) v('analytics-missing', `${e.type} at ${e.position}`); }
  if (missing) v('analytics-missing-total', String(missing));
  const dup = rows.filter((r) => Number(r.n) > 1).length;
  console.log(`analytics: ${inCh.size} distinct events in ClickHouse of ${events.length} in the log; ${dup} inserted more than once (merged away later)`);
  const agg = session.query("SELECT outcome, count() AS n FROM messages GROUP BY outcome ORDER BY outcome", 'JSONEachRow');
  console.log(`analytics messages by outcome: ${agg.replace(/\n/g, ' ')}`);
  const enrolledCh = session.query("SELECT scenario_id, uniqExactMerge(entered_state) AS entered, uniqExactMerge(sent_state) AS sent FROM funnel_daily WHERE step_id = '' GROUP BY scenario_id ORDER BY scenario_id", 'JSONEachRow');
  console.log(`analytics funnel: ${enrolledCh.replace(/\n/g, ' ')}`);
  session.cleanup?.();
}

// 8b. A graceful stop waits for the sends under way: nothing unknown.
if (SIGNAL === 'SIGTERM') for (const e of byType('MessageOutcomeUnknown')) v('unknown-after-graceful-stop', `${e.data.messageId} (${e.data.detail ?? 'at start'})`);

// 9. Webhooks: every request has an outcome; calls received more than once are counted (at least once?).
const hookOutcome = new Set(events.filter((e) => e.type === 'WebhookSucceeded' || e.type === 'WebhookFailed').map((e) => e.data.requestId));
for (const e of byType('WebhookRequested')) if (!hookOutcome.has(e.data.requestId)) v('webhook-stuck', e.data.requestId);
for (const [key, n] of count([...byType('WebhookSucceeded'), ...byType('WebhookFailed')], (e) => e.data.requestId)) if (n > 1) v('webhook-outcome-twice', `${key} x${n}`);
const hookDupes = [...hooks.values()].filter((n) => n > 1).length;
console.log(`webhooks: ${hooks.size} requests called, ${hookDupes} more than once (at least once, same Idempotency-Key); requested ${byType('WebhookRequested').length}`);
for (const e of byType('WebhookRequested')) if (!hooks.has(e.data.requestId)) v('webhook-never-called', e.data.requestId);
// 10. Variants once per enrolment and step; the cap (3 per hour, any channel) never exceeded (a run
// lasts less than an hour, so every message of a person counts).
for (const [key, n] of count(byType('VariantAssigned'), (e) => `${e.data.enrollmentId}|${e.data.stepId}`)) if (n > 1) v('variant-twice', `${key} x${n}`);
for (const [key, n] of count(byType('MessageQueued'), (e) => e.stream)) if (n > 3) v('cap-exceeded', `${key} x${n}`);
for (const [key, n] of count(byType('PersonMerged'), (e) => `${e.stream}|${e.data.linkEventId}`)) if (n > 1) v('merged-twice', `${key} x${n}`);

const typeCounts = Object.fromEntries(count(events, (e) => e.type));
const summary = {
  dataDir, starts, stats, acked: acked.size, events: events.length, mails: mailsTotal, distinctMails: received.size,
  types: typeCounts,
  violations: Object.fromEntries(count(violations, (x) => x.kind)),
};
console.log(JSON.stringify(summary, null, 1));
for (const x of violations.slice(0, 40)) console.log('VIOLATION', x.kind, x.detail);
writeFileSync(join(dataDir, 'chaos-report.json'), JSON.stringify({ summary, violations, outputs: outputs.map((o) => o().split('\n').filter((l) => /"level":(40|50|60)|rror/.test(l)).slice(0, 50)) }, null, 1));
process.exit(violations.length ? 1 : 0);
