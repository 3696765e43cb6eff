// npm run bench:segments — (a) how long after an event its SegmentEntered is visible in the log, at a
// steady 2k events/s through the live projection runner; (b) the live runner's cost per event with
// 10k users vs 1M users in the state. See bench/README.md.
import { PerformanceObserver, monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { codeLine, envInt, fmt, machineLine, makeTempDir, median, printTable, removeDir, requireDist, serverRequire } from './lib/common.mjs';
import {
  DAY,
  HistoryGenerator,
  WORKSPACE,
  defineSegments,
  identifyEvent,
  openStore,
  orderCompleted,
  pageEvent,
  productViewed,
  random,
  standardSegments,
  trackEvent,
  traitsFor,
  writeCalls,
} from './lib/projections-log.mjs';
import { goalText, percentile, printProfileTop, startProfile, waitForQuietMachine } from './lib/projections-support.mjs';

const RATE = envInt('BENCH_SEGMENTS_RATE', 2000);
const DURATION = envInt('BENCH_SEGMENTS_DURATION', 20);
const WARMUP = envInt('BENCH_SEGMENTS_WARMUP', 3);
const HISTORY_EVENTS = envInt('BENCH_SEGMENTS_HISTORY', 200_000);
const SMALL = envInt('BENCH_SEGMENTS_SMALL_USERS', 10_000);
const LARGE = envInt('BENCH_SEGMENTS_LARGE_USERS', 1_000_000);
const BATCH = envInt('BENCH_SEGMENTS_BATCH', 50_000);
const ROUNDS = envInt('BENCH_ROUNDS', 5);
/** `latency` or `scale` runs one part only; empty runs both. */
const ONLY = process.env.BENCH_ONLY ?? '';
const PROFILE = process.env.BENCH_CPU_PROF === '1';
/** `1`: (a) also times each sign-up's way from its ack to its SegmentEntered, step by step, and the log's commits. */
const TRACE = process.env.BENCH_SEGMENTS_TRACE === '1';
/** One event in ten is a new user's first event, `Signed Up`, which makes them enter `signed-up`. */
const NEW_USER_EVERY = 10;
const P99_GOAL_MS = 20;
const SCALE_GOAL = 1.5;

const { openStateDb, writeCheckpoint } = requireDist('state/state-db.js');
const { ProjectionRunner } = requireDist('projection-runner/projection-runner.js');
const { SegmentsProjection } = requireDist('segments/segments.projection.js');
const { identityProjection } = requireDist('identity/identity.projection.js');
const { rebuildProjections } = requireDist('cli/projections.commands.js');
const { userStream } = serverRequire('@herald/projections');

const SIGNED_UP = { id: 'signed-up', name: 'Signed up', where: { performed: 'Signed Up' } };
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const ms = (n) => `${n.toFixed(1)} ms`;

/** Temporary directories, removed on Ctrl-C too. */
const tempDirs = new Set();
function tempDir(prefix) {
  const dir = makeTempDir(prefix);
  tempDirs.add(dir);
  return dir;
}
function removeTemp(dir) {
  removeDir(dir);
  tempDirs.delete(dir);
}
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => {
    for (const dir of tempDirs) removeDir(dir);
    process.exit(130);
  });
}

/** The server's live projections (identity + segments) on `store` and `db`; resolves `waitFor(position)` once both have committed it. */
function startRunner(store, db, trace) {
  const committed = { identity: 0, segments: 0 };
  const waiters = [];
  // The runner's own appends (membership decisions), timed: it waits for each to be durable.
  const appends = { count: 0, millis: 0, durations: [] };
  const timedStore = new Proxy(store, {
    get(target, property) {
      if (property === 'append') {
        return async (...args) => {
          const t0 = performance.now();
          trace?.appendCalled(args[0], args[1], t0);
          try {
            return await target.append(...args);
          } finally {
            const took = performance.now() - t0;
            trace?.appendDone(args[0], args[1], t0 + took);
            appends.count += 1;
            appends.millis += took;
            appends.durations.push(took);
          }
        };
      }
      const value = Reflect.get(target, property);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  const runner = new ProjectionRunner(timedStore, db, {
    onError: (name, error) => console.error(`projection ${name} failed: ${error?.stack ?? error}`),
    onCommitted: (name, event) => {
      committed[name] = event.position;
      for (let i = waiters.length - 1; i >= 0; i--) {
        if (committed.identity >= waiters[i].position && committed.segments >= waiters[i].position) waiters.splice(i, 1)[0].resolve();
      }
    },
  });
  runner.start(identityProjection);
  const segments = new SegmentsProjection(db, timedStore);
  if (trace) {
    const preload = segments.preload.bind(segments);
    segments.preload = (events) => {
      trace.preloaded(events, performance.now());
      preload(events);
    };
    const handle = segments.handle.bind(segments);
    segments.handle = async (event) => {
      const planned = await handle(event);
      trace.handled(event, performance.now());
      return planned;
    };
  }
  runner.start(segments);
  committed.identity = Math.max(committed.identity, runner.checkpoint(identityProjection.name));
  committed.segments = Math.max(committed.segments, runner.checkpoint('segments'));
  return {
    runner,
    committed,
    appends,
    waitFor: (position) =>
      committed.identity >= position && committed.segments >= position ? Promise.resolve() : new Promise((resolve) => waiters.push({ position, resolve })),
    stop: () => runner.stop(),
  };
}

/**
 * BENCH_SEGMENTS_TRACE=1: when each step of a sign-up's way from its ingestion commit to its
 * SegmentEntered happened (the runner's preload and handling of it, its decision's append and the
 * group commit that made it durable), and every group commit of the log, timed around the store's
 * writer (a private field: bench only) and marked when it ran a WAL checkpoint (the log file's
 * mtime moved: in WAL mode only a checkpoint writes the file).
 */
function createTrace(store, logPath) {
  const byStream = new Map();
  const commits = [];
  const committer = store.committer;
  const commit = committer.commit.bind(committer);
  let mtime = statSync(logPath).mtimeMs;
  committer.commit = (batch, recordedAt, done) => {
    const t0 = performance.now();
    commit(batch, recordedAt, (outcomes, failure, info) => {
      const t1 = performance.now();
      const m = statSync(logPath).mtimeMs;
      // Where the writer says when its transaction began and how long it took: its start and end on this clock.
      const writerMs = typeof info === 'number' ? info : info?.writerMs;
      const w0 = info?.startedAt !== undefined ? info.startedAt - performance.timeOrigin : undefined;
      const entry = { t0, t1, w0, w1: w0 !== undefined ? w0 + writerMs : undefined, writerMs, appends: batch.length, checkpointed: m !== mtime };
      mtime = m;
      commits.push(entry);
      for (const request of batch) {
        const steps = byStream.get(request.stream);
        if (!steps) continue;
        if (request.events.some((event) => event.type === 'SegmentEntered')) steps.decisionCommit ??= entry;
        else steps.ingestCommit ??= entry;
      }
      done(outcomes, failure);
    });
  };
  const step = (stream, name, t) => {
    const steps = byStream.get(stream);
    if (steps && steps[name] === undefined) steps[name] = t;
  };
  return {
    commits,
    follow: (stream, record) => byStream.set(stream, Object.assign(record, { stream })),
    preloaded: (events, t) => {
      for (const event of events) step(event.stream, 'preload', t);
    },
    handled: (event, t) => step(event.stream, 'handled', t),
    appendCalled: (stream, events, t) => {
      if (events.some((event) => event.type === 'SegmentEntered')) step(stream, 'decisionCall', t);
    },
    appendDone: (stream, events, t) => {
      if (events.some((event) => event.type === 'SegmentEntered')) step(stream, 'decisionAck', t);
    },
  };
}

/** Prints where the time of the slowest sign-ups went, step by step, against the median sign-up. */
function printTrace(trace, window) {
  const done = window.filter((r) => r.seen !== undefined && r.ack !== undefined && r.decisionCommit && r.preload !== undefined && r.decisionCall !== undefined);
  done.sort((x, y) => x.seen - x.ack - (y.seen - y.ack));
  const parts = [
    ['ack -> preloaded (delivery, runner busy)', (r) => r.preload - r.ack],
    ['preloaded -> handled', (r) => r.handled - r.preload],
    ['handled -> decision append called (batch, queue)', (r) => r.decisionCall - r.handled],
    ['append called -> handed to the writer', (r) => r.decisionCommit.t0 - r.decisionCall],
    // Where the writer reports when its transaction began: the wait for the one in flight, the
    // transaction itself and the way back; otherwise (older code) the whole trip as one step.
    ['handed -> its transaction begins (the one in flight)', (r) => (r.decisionCommit.w0 ?? r.decisionCommit.t0) - r.decisionCommit.t0],
    ['its transaction (writer thread, fsync)', (r) => (r.decisionCommit.w1 ?? r.decisionCommit.t1) - (r.decisionCommit.w0 ?? r.decisionCommit.t0)],
    ['transaction end -> reply handled', (r) => r.decisionCommit.t1 - (r.decisionCommit.w1 ?? r.decisionCommit.t1)],
    ['reply handled -> seen by the subscriber', (r) => r.seen - r.decisionCommit.t1],
    ['total from ack', (r) => r.seen - r.ack],
  ];
  const groups = [
    ['all', done],
    ['slowest 5%', done.slice(Math.floor(done.length * 0.95))],
    ['slowest 1%', done.slice(Math.floor(done.length * 0.99))],
  ];
  const mean = (rows, f) => rows.reduce((sum, r) => sum + f(r), 0) / Math.max(1, rows.length);
  console.log(`(a) trace: ${done.length} sign-ups traced; mean ms per step`);
  printTable(
    ['step', ...groups.map(([name, rows]) => `${name} (${rows.length})`)],
    parts.map(([name, f]) => [name, ...groups.map(([, rows]) => mean(rows, f).toFixed(2))]),
  );
  const inFlight = (r) => trace.commits.find((c) => (c.w0 ?? c.t0) <= r.decisionCall && (c.w1 ?? c.t1) > r.decisionCall);
  for (const [name, rows] of groups.slice(1)) {
    const ownCheckpoint = rows.filter((r) => r.decisionCommit.checkpointed).length;
    // (With the checkpointer thread, "checkpointed" only says the file was written during the commit.)
    const flightCheckpoint = rows.filter((r) => inFlight(r)?.checkpointed).length;
    console.log(`(a) trace ${name}: decision's own commit checkpointed in ${ownCheckpoint}, the commit in flight at its call in ${flightCheckpoint}`);
  }
  const from = window.length ? Math.min(...window.map((r) => r.start)) : 0;
  const to = window.length ? Math.max(...window.map((r) => r.start)) : 0;
  // One entry per transaction (batches that shared one report the same start).
  const commits = trace.commits.filter((c, i, all) => c.t0 >= from && c.t0 < to && (c.w0 === undefined || i === 0 || all[i - 1].w0 !== c.w0));
  const took = commits.map((c) => (c.w0 !== undefined ? c.writerMs : c.t1 - c.t0));
  const checkpoints = commits.filter((c) => c.checkpointed).map((c) => c.t1 - c.t0);
  const busy = took.reduce((a, b) => a + b, 0) / Math.max(1, to - from);
  // The trip to the writer thread and back (main thread's event loop included), where the writer says how long it took.
  const trips = commits.filter((c) => c.writerMs !== undefined && c.w0 === undefined).map((c) => c.t1 - c.t0 - c.writerMs);
  if (trips.length > 0) {
    const writer = commits.filter((c) => c.writerMs !== undefined).map((c) => c.writerMs);
    console.log(
      `(a) trace: writer thread's own commit time p50 ${ms(percentile(writer, 50))} p99 ${ms(percentile(writer, 99))}; ` +
        `the trip there and back p50 ${ms(percentile(trips, 50))} p99 ${ms(percentile(trips, 99))} max ${ms(Math.max(...trips))}, ${((trips.reduce((a, b) => a + b, 0) / (to - from)) * 100).toFixed(0)}% of the window`,
    );
  }
  console.log(
    `(a) trace: ${fmt(commits.length)} group commits in the window (${fmt(commits.length / ((to - from) / 1000))}/s, writer busy ${(busy * 100).toFixed(0)}%), ` +
      `each p50 ${ms(percentile(took, 50))} p99 ${ms(percentile(took, 99))} max ${ms(Math.max(...took))}; ` +
      `${checkpoints.length} ran a WAL checkpoint: p50 ${ms(percentile(checkpoints, 50))} max ${ms(Math.max(0, ...checkpoints))}`,
  );
}

function eventsOfType(db, after, type) {
  return db.prepare('SELECT COUNT(*) AS n FROM events WHERE position > ? AND type = ?').get(after, type).n;
}

// --- (a) event -> SegmentEntered latency at a steady rate --------------------------------------

async function latency() {
  await waitForQuietMachine();
  const dir = tempDir('segments-latency');
  try {
    const store = openStore(join(dir, 'events.sqlite'));
    const db = openStateDb(join(dir, 'state.sqlite'));
    // An existing workspace: 10k users with 60 days of history, projections rebuilt over it.
    const now = Date.now();
    await defineSegments(store, [...standardSegments(), SIGNED_UP], now - 61 * DAY);
    const history = new HistoryGenerator({ users: SMALL, seed: 7, start: now - 60 * DAY, spanMs: 60 * DAY - 60_000, totalEvents: HISTORY_EVENTS });
    await writeCalls(store, HISTORY_EVENTS, () => history.next());
    await rebuildProjections(store, db, ['identity', 'segments']);
    const head = await store.headPosition();
    console.log(`(a) state: ${fmt(SMALL)} users, ${fmt(head)} events of history, rebuilt; segments: ${[...standardSegments(), SIGNED_UP].map((s) => s.id).join(', ')}`);

    await waitForQuietMachine();
    const trace = TRACE ? createTrace(store, join(dir, 'events.sqlite')) : undefined;
    const live = startRunner(store, db, trace);
    await live.waitFor(head);

    // Watch the log for SegmentEntered, as a downstream consumer (the scenario engine) would.
    const sent = new Map(); // person -> { start, ack, seen }
    const subscription = store.subscribeToAll({ afterPosition: head, filter: { eventTypes: ['SegmentEntered'] } });
    let entered = 0;
    const watching = (async () => {
      for await (const event of subscription) {
        entered += 1;
        if (event.data.segmentId !== SIGNED_UP.id) continue;
        const record = sent.get(event.data.person);
        if (record && record.seen === undefined) record.seen = performance.now();
      }
    })();

    // Open loop: every tick sends whatever the schedule says is due, one append per event (as one
    // HTTP track call each), without waiting for earlier appends.
    const load = new HistoryGenerator({ users: SMALL, seed: 11, now: () => Date.now() });
    // The history has touched (nearly) every user; make sure the load only adds events to known ones.
    load.anonLeft.fill(0);
    const appendLatencies = [];
    let scheduled = 0;
    let acked = 0;
    let failed = 0;
    let newUsers = 0;
    // The profile (BENCH_CPU_PROF=1 with BENCH_ONLY=latency) covers the load, warm-up included.
    const profiler = PROFILE && ONLY === 'latency' ? await startProfile('segments-latency') : undefined;
    const started = performance.now();
    const measureFrom = started + WARMUP * 1000;
    const end = measureFrom + DURATION * 1000;
    let ackedInWindow = 0;
    let windowStart;
    // Evidence for the tail: event-loop blocking and GC pauses during the window.
    const loopDelay = monitorEventLoopDelay({ resolution: 1 });
    const gc = { count: 0, millis: 0, max: 0 };
    const gcObserver = new PerformanceObserver((list) => {
      for (const entry of list.getEntries()) {
        gc.count += 1;
        gc.millis += entry.duration;
        gc.max = Math.max(gc.max, entry.duration);
      }
    });
    const sendOne = () => {
      scheduled += 1;
      let stream;
      let event;
      let record;
      if (scheduled % NEW_USER_EVERY === 0) {
        const userId = `new-${++newUsers}`;
        stream = userStream(WORKSPACE, userId);
        event = trackEvent({ userId }, 'Signed Up', { method: 'email', referrer: 'newsletter' }, Date.now());
        record = { start: performance.now() };
        sent.set(`user:${userId}`, record);
        trace?.follow(stream, record);
      } else {
        ({ stream, events: [event] } = nextSingle(load));
      }
      const t0 = performance.now();
      store.append(stream, [event]).then(
        () => {
          const t1 = performance.now();
          acked += 1;
          if (t0 >= measureFrom && t0 < end) {
            ackedInWindow += 1;
            appendLatencies.push(t1 - t0);
          }
          if (record) record.ack = t1;
        },
        (error) => {
          failed += 1;
          if (failed === 1) console.error(`append failed: ${error.message}`);
        },
      );
    };
    await new Promise((resolve) => {
      const tick = () => {
        const t = performance.now();
        if (!windowStart && t >= measureFrom) {
          windowStart = { cpu: process.cpuUsage(), appends: { ...live.appends, from: live.appends.durations.length }, t };
          loopDelay.enable();
          gcObserver.observe({ entryTypes: ['gc'] });
        }
        if (t >= end) {
          resolve();
          return;
        }
        const due = Math.floor(((t - started) * RATE) / 1000) - scheduled;
        for (let i = 0; i < due; i++) sendOne();
        setTimeout(tick, 1);
      };
      tick();
    });
    loopDelay.disable();
    gcObserver.disconnect();
    const profileFile = await profiler?.stop();
    const windowMs = performance.now() - windowStart.t;
    const decisionAppends = live.appends.durations.slice(windowStart.appends.from);
    const windowCpu = process.cpuUsage(windowStart.cpu);
    const runnerAppends = live.appends.count - windowStart.appends.count;
    const runnerAppendMs = live.appends.millis - windowStart.appends.millis;
    const loadHead = await store.headPosition();
    const lagAtEnd = loadHead - live.committed.segments;
    // Let the runner finish the events already appended, then stop.
    const drainStarted = performance.now();
    while (acked + failed < scheduled) await sleep(5);
    const lastUser = await store.headPosition();
    await Promise.race([live.waitFor(lastUser), sleep(30_000)]);
    const drainMs = performance.now() - drainStarted;
    await sleep(200);
    await subscription.stop();
    await watching;
    await live.stop();

    const window = [...sent.values()].filter((r) => r.start >= measureFrom && r.start < end);
    if (trace) printTrace(trace, window);
    const missing = window.filter((r) => r.seen === undefined).length;
    const fromAck = window.filter((r) => r.seen !== undefined && r.ack !== undefined).map((r) => r.seen - r.ack);
    const fromStart = window.filter((r) => r.seen !== undefined).map((r) => r.seen - r.start);
    const log = serverRequire('better-sqlite3')(join(dir, 'events.sqlite'), { readonly: true });
    const decisions = { entered: eventsOfType(log, head, 'SegmentEntered'), exited: eventsOfType(log, head, 'SegmentExited') };
    log.close();
    await store.close();
    db.close();
    return {
      rate: ackedInWindow / DURATION,
      samples: window.length,
      missing,
      failed,
      fromAck: [50, 95, 99].map((p) => percentile(fromAck, p)),
      fromAckMax: Math.max(...fromAck),
      fromStart: [50, 95, 99].map((p) => percentile(fromStart, p)),
      append: [50, 99].map((p) => percentile(appendLatencies, p)),
      lagAtEnd,
      drainMs,
      cpuShare: (windowCpu.user + windowCpu.system) / 1000 / windowMs,
      runnerAppends: runnerAppends / (windowMs / 1000),
      runnerAppendMs: runnerAppendMs / Math.max(1, runnerAppends),
      runnerWaitShare: runnerAppendMs / windowMs,
      decisionAppend: [50, 99].map((p) => percentile(decisionAppends, p)).concat(Math.max(...decisionAppends)),
      appendMax: Math.max(...appendLatencies),
      loopDelay: [50, 99].map((p) => loopDelay.percentile(p) / 1e6).concat(loopDelay.max / 1e6),
      gc: { ...gc, perSecond: gc.millis / (windowMs / 1000) },
      profileFile,
      over: fromAck.filter((v) => v > P99_GOAL_MS).length / Math.max(1, fromAck.length),
      decisions,
      entered,
    };
  } finally {
    removeTemp(dir);
  }
}

/** One call of the live load's mix, for a known user (an anonymous phase would not stay single-event). */
function nextSingle(generator) {
  for (;;) {
    const call = generator.next();
    if (call.events.length === 1) return call;
  }
}

// --- (b) per-event cost with 10k vs 1M users -----------------------------------------------------

/**
 * A workspace with `users` people: one identify each (traits as in the other benchmarks), the
 * standard segments plus `signed-up`, and the projections' state built by a rebuild. The log has
 * no identity links, so the identity projection's checkpoint is simply set to the head.
 */
async function buildState(users, label) {
  const dir = tempDir(`segments-${label.replace(/[^0-9a-z]/g, '')}`);
  const started = performance.now();
  const store = openStore(join(dir, 'events.sqlite'));
  const db = openStateDb(join(dir, 'state.sqlite'));
  const start = Date.parse('2026-01-01T00:00:00Z');
  await defineSegments(store, [...standardSegments(), SIGNED_UP], start - 60_000);
  const rand = random(3);
  let user = 0;
  await writeCalls(store, users, () => {
    const userId = `u${user}`;
    const call = { stream: userStream(WORKSPACE, userId), events: [identifyEvent({ userId }, traitsFor(rand, user), start + Math.floor((user * DAY) / users))] };
    user += 1;
    return call;
  });
  const head = await store.headPosition();
  await rebuildProjections(store, db, ['segments']);
  identityProjection.setup(db);
  writeCheckpoint(db, identityProjection.name, head);
  // Where the state keeps last seen beside the records (segment_last_seen, since the tenth session),
  // a state that has run a while has a row there for nearly every person; this log's one identify
  // per user leaves none. Each person gets one, with a time before every measured event, so the
  // folds of noted times into that table cost what they would there (rewriting its pages, not
  // filling an empty table).
  let lastSeenRows = '';
  if (db.prepare("SELECT 1 FROM sqlite_master WHERE name = 'segment_last_seen'").get()) {
    const rows = db.prepare('INSERT INTO segment_last_seen (workspace, person, last_seen) SELECT workspace, person, ? FROM segment_persons').run(start).changes;
    lastSeenRows = `, ${fmt(rows)} last seen rows`;
  }
  const persons = db.prepare('SELECT COUNT(*) AS n FROM segment_persons').get().n;
  console.log(`(b) ${label}: ${fmt(persons)} persons in the state${lastSeenRows} (log of ${fmt(head)} events), built in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  return { dir, store, db, users, label, rand: random(users), signedUp: new Set(), round: 0 };
}

/**
 * `BATCH` new events over random existing users, after the state's history: product views (not
 * shoes), page views, app opens, orders, trait updates, and 2% `Signed Up` by users who had not
 * (one SegmentEntered each). The mix, and so the number of membership changes, is the same for
 * both sizes; only how many users the events are spread over differs.
 */
async function appendBatch(setup) {
  const { store, rand, users } = setup;
  setup.round += 1;
  const at0 = Date.parse('2026-01-03T00:00:00Z') + setup.round * 3_600_000;
  let n = 0;
  const categories = ['shirts', 'trousers', 'bags', 'hats', 'socks'];
  await writeCalls(store, BATCH, () => {
    const at = at0 + Math.floor((n * 3_000_000) / BATCH);
    n += 1;
    let user = Math.floor(rand() * users);
    const r = rand();
    let event;
    // Once every user has signed up (10k users, BENCH_ROUNDS >= 10) the sign-ups stop instead of
    // searching for a user left forever.
    if (r < 0.02 && setup.signedUp.size < users) {
      while (setup.signedUp.has(user)) user = (user + 1) % users;
      setup.signedUp.add(user);
      event = trackEvent({ userId: `u${user}` }, 'Signed Up', { method: 'email' }, at);
    } else {
      const who = { userId: `u${user}` };
      if (r < 0.05) event = identifyEvent(who, { lifetimeValue: Math.floor(rand() * 1200), plan: rand() < 0.5 ? 'free' : 'pro' }, at);
      else if (r < 0.45) event = productViewed(rand, who, at, undefined, categories[Math.floor(rand() * categories.length)]);
      else if (r < 0.75) event = pageEvent(who, ['Pricing', 'Marketing', '/pricing'], at);
      else if (r < 0.9) event = trackEvent(who, 'Application Opened', { from_background: true, build: '3120' }, at);
      else event = orderCompleted(rand, who, at);
    }
    return { stream: userStream(WORKSPACE, `u${user}`), events: [event] };
  });
  return store.headPosition();
}

/** Appends a batch with the runner stopped, then starts it and times its catch-up through the batch. */
async function measureBatch(setup, profile) {
  const before = await setup.store.headPosition();
  const batchHead = await appendBatch(setup);
  const profiler = profile ? await startProfile(`segments-${setup.label}`) : undefined;
  const faults = process.resourceUsage().minorPageFault;
  const cpu = process.cpuUsage();
  const started = performance.now();
  const live = startRunner(setup.store, setup.db);
  await live.waitFor(batchHead);
  const elapsed = performance.now() - started;
  const cpuUsed = process.cpuUsage(cpu);
  // Minor page faults cost ≈ 17 µs each on this VM (bench/README.md): how many the batch took.
  const faulted = process.resourceUsage().minorPageFault - faults;
  const profileFile = await profiler?.stop();
  await live.stop();
  const events = batchHead - before;
  const Database = serverRequire('better-sqlite3');
  const log = new Database(join(setup.dir, 'events.sqlite'), { readonly: true });
  const entered = eventsOfType(log, batchHead, 'SegmentEntered');
  const exited = eventsOfType(log, batchHead, 'SegmentExited');
  log.close();
  // Let the next round start from the decisions just appended (handled by the next runner, not timed).
  const after = await setup.store.headPosition();
  if (after > batchHead) {
    const drain = startRunner(setup.store, setup.db);
    await drain.waitFor(after);
    await drain.stop();
  }
  return {
    events,
    micros: (elapsed * 1000) / events,
    cpuMicros: (cpuUsed.user + cpuUsed.system) / events,
    systemMicros: cpuUsed.system / events,
    faults: faulted / events,
    entered,
    exited,
    profileFile,
  };
}

async function scale() {
  await waitForQuietMachine();
  const small = await buildState(SMALL, `${fmt(SMALL)} users`);
  let large;
  try {
    large = await buildState(LARGE, `${fmt(LARGE)} users`);
    await waitForQuietMachine();
    console.log(`(b) measuring at ${new Date().toISOString()}: ${ROUNDS} rounds of ${fmt(BATCH)} new events per size, live runner catching up`);
    const results = new Map([
      [small.label, []],
      [large.label, []],
    ]);
    const profiles = [];
    for (let round = 1; round <= ROUNDS; round++) {
      const order = round % 2 ? [small, large] : [large, small];
      const line = [];
      for (const setup of order) {
        const r = await measureBatch(setup, PROFILE && round === ROUNDS);
        results.get(setup.label).push(r);
        if (r.profileFile) profiles.push(r.profileFile);
        line.push(
          `${setup.label}: ${r.micros.toFixed(1)} µs/event (${r.cpuMicros.toFixed(1)} µs CPU, ${r.systemMicros.toFixed(1)} of it system; ` +
            `${r.faults.toFixed(2)} page faults; ${r.entered} entered, ${r.exited} exited)`,
        );
      }
      console.log(`round ${round}  ${line.join('  |  ')}`);
    }
    return { small: results.get(small.label), large: results.get(large.label), profiles };
  } finally {
    for (const setup of [small, large]) {
      if (!setup) continue;
      await setup.store.close();
      setup.db.close();
      removeTemp(setup.dir);
    }
  }
}

// --- Main ------------------------------------------------------------------------------------------

console.log(`bench:segments  ${machineLine()}, ${codeLine()}`);
let a;
let b;
if (ONLY !== 'scale') {
  console.log(`(a) ${fmt(RATE)} events/s for ${DURATION} s after ${WARMUP} s of warm-up; 1 in ${NEW_USER_EVERY} is a new user's Signed Up`);
  a = await latency();
  console.log(
    `(a) achieved ${fmt(a.rate)} events/s; ${fmt(a.samples)} sign-ups measured, ${a.missing} without SegmentEntered, ${a.failed} appends failed; ` +
      `append ack p50 ${ms(a.append[0])} p99 ${ms(a.append[1])}; runner ${fmt(a.lagAtEnd)} events behind at the end of the load, caught up ${fmt(a.drainMs)} ms later; ` +
      `${fmt(a.decisions.entered)} SegmentEntered and ${fmt(a.decisions.exited)} SegmentExited appended in all`,
  );
  console.log(
    `(a) in the window: process CPU ${(a.cpuShare * 100).toFixed(0)}% of a core; the runner made ${fmt(a.runnerAppends)} appends/s of decisions, ` +
      `waiting ${ms(a.runnerAppendMs)} for each to be durable = ${(a.runnerWaitShare * 100).toFixed(0)}% of its time`,
  );
  console.log(
    `(a) tail evidence: ${(a.over * 100).toFixed(1)}% of sign-ups over ${P99_GOAL_MS} ms; decision append (fsync) p50 ${ms(a.decisionAppend[0])} p99 ${ms(a.decisionAppend[1])} max ${ms(a.decisionAppend[2])}; ` +
      `ingest append max ${ms(a.appendMax)}; event-loop delay p50 ${ms(a.loopDelay[0])} p99 ${ms(a.loopDelay[1])} max ${ms(a.loopDelay[2])}; ` +
      `GC ${a.gc.count} pauses, ${fmt(a.gc.perSecond)} ms/s, longest ${ms(a.gc.max)}`,
  );
  if (a.profileFile) {
    console.log(`\nCPU profile of the measured window: ${a.profileFile}`);
    printProfileTop(a.profileFile, 20);
  }
}
if (ONLY !== 'latency') b = await scale();

console.log('');
const rows = [];
if (a) {
  const met = a.fromAck[2] <= P99_GOAL_MS && a.missing === 0 && a.rate >= RATE * 0.98;
  rows.push([
    `(a) event -> SegmentEntered visible, from append ack`,
    `${ms(a.fromAck[0])} / ${ms(a.fromAck[1])} / ${ms(a.fromAck[2])}`,
    `p99 <= ${P99_GOAL_MS} ms at ${fmt(RATE)}/s`,
    `${goalText(met)} (${fmt(a.rate)}/s achieved)`,
  ]);
  rows.push([`(a)   same, from append start`, `${ms(a.fromStart[0])} / ${ms(a.fromStart[1])} / ${ms(a.fromStart[2])}`, '', '']);
}
if (b) {
  const smallCost = median(b.small.map((r) => r.micros));
  const largeCost = median(b.large.map((r) => r.micros));
  const smallCpu = median(b.small.map((r) => r.cpuMicros));
  const largeCpu = median(b.large.map((r) => r.cpuMicros));
  rows.push([`(b) per event, ${fmt(SMALL)} users (wall / CPU)`, `${smallCost.toFixed(1)} / ${smallCpu.toFixed(1)} µs`, '', '']);
  rows.push([`(b) per event, ${fmt(LARGE)} users (wall / CPU)`, `${largeCost.toFixed(1)} / ${largeCpu.toFixed(1)} µs`, '', '']);
  rows.push([
    `(b) ratio ${fmt(LARGE)} / ${fmt(SMALL)} (wall / CPU)`,
    `${(largeCost / smallCost).toFixed(2)} / ${(largeCpu / smallCpu).toFixed(2)}`,
    `<= ${SCALE_GOAL.toFixed(2)}`,
    goalText(largeCost / smallCost <= SCALE_GOAL),
  ]);
}
printTable(['measure (medians)', 'p50 / p95 / p99 or value', 'goal', ''], rows);
if (b?.profiles.length) {
  for (const file of b.profiles) {
    console.log(`\nCPU profile: ${file}`);
    printProfileTop(file, 20);
  }
}
for (const dir of tempDirs) removeTemp(dir);
