// bench:scenarios parts 2 and 3, in their own process (run with --expose-gc): the running app with
// `waiting` enrolments parked on a wait step (due in days), plus enrolments whose waits fall due in
// measured windows; the lag of TimerFired and of the MessageQueued that follows, against a plain
// in-memory setTimeout due at the same moments; and the heap and SQLite bytes those enrolments take.
// argv: JSON { waiting, windows: [{ rate, seconds }], gapSeconds, graceSeconds, profile }.
import { performance } from 'node:perf_hooks';
import { join } from 'node:path';
import { makeTempDir, removeDir, requireDist, serverRequire } from './common.mjs';
import { percentile, startProfile } from './projections-support.mjs';
import { WAIT_THEN_SEND, WORKSPACE, projections, startApp, trackedEvent, uuidv7, watchLog } from './scenarios-common.mjs';

const { waiting, windows, gapSeconds, graceSeconds, profile } = JSON.parse(process.argv[2]);
const send = process.send ? (message) => process.send(message) : (message) => console.log(JSON.stringify(message, null, 1));
const log = (text) => send({ type: 'log', text });
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const wallNow = () => performance.timeOrigin + performance.now();

const { SqliteEventStore } = requireDist('event-store/sqlite/sqlite-event-store.js');
const { openStateDb } = requireDist('state/state-db.js');
const { ScenarioCatalog } = requireDist('scenarios/scenario-catalog.js');
const { decisionEventId } = requireDist('scenarios/scenario-engine.js');
const { branchCounterSpecs } = requireDist('scenarios/person-states.js');
const { rebuildProjections } = requireDist('cli/projections.commands.js');
const { systemClock } = requireDist('shared/clock.js');
const Database = serverRequire('better-sqlite3');

const LEAD_MS = 3000;
const DAY = 86_400_000;

/**
 * The clock the app runs on: the system clock shifted by a constant, so due times written during
 * set-up (whose length varies) land a fixed time after measurement starts. It ticks in real time;
 * before `align` it reads an hour before `base`, so nothing in the measured windows is due early.
 */
class ShiftedClock {
  constructor(base) {
    this.base = base;
    this.offset = Date.now() - base + 3_600_000;
  }
  now() {
    return new Date(Date.now() - this.offset);
  }
  /** From now on the clock reads `base` at wall time `wall`. */
  align(wall) {
    this.offset = wall - this.base;
  }
}

/** The events the engine appends when a `Wait` trigger enrols someone: EnrollmentStarted, then TimerScheduled. */
function enrolment(userId, dueAt, at) {
  const triggerId = uuidv7(at);
  const trigger = trackedEvent(userId, 'Wait', triggerId, at);
  const enrollmentId = `${WAIT_THEN_SEND.id}/${triggerId}`;
  const meta = {
    workspace: WORKSPACE,
    causationId: triggerId,
    correlationId: triggerId,
    occurredAt: trigger.metadata.occurredAt,
    receivedAt: trigger.metadata.receivedAt,
    schemaVersion: 1,
  };
  const started = {
    id: decisionEventId(triggerId, `enroll|${WAIT_THEN_SEND.id}`),
    type: 'EnrollmentStarted',
    data: {
      enrollmentId,
      scenarioId: WAIT_THEN_SEND.id,
      version: 1,
      person: `user:${userId}`,
      trigger: { eventId: triggerId, type: 'Tracked', event: 'Wait', properties: trigger.data.properties },
    },
    metadata: meta,
  };
  const scheduled = {
    id: decisionEventId(triggerId, `timer|${enrollmentId}|wait-1h`),
    type: 'TimerScheduled',
    data: {
      timerId: `${enrollmentId}/wait-1h/${triggerId}`,
      enrollmentId,
      scenarioId: WAIT_THEN_SEND.id,
      stepId: 'wait-1h',
      purpose: 'wait',
      dueAt: new Date(dueAt).toISOString(),
    },
    metadata: meta,
  };
  return { stream: projections.userStream(WORKSPACE, userId), events: [trigger, started, scheduled], enrollmentId };
}

async function appendAll(store, count, make) {
  const inFlight = new Set();
  for (let i = 0; i < count; i++) {
    const { stream, events } = make(i);
    const p = store.append(stream, events).finally(() => inFlight.delete(p));
    inFlight.add(p);
    if (inFlight.size >= 5000) await Promise.race(inFlight);
  }
  await Promise.all(inFlight);
}

const dir = makeTempDir('scenarios-timers');
let herald;
try {
  // --- Set-up: the log with every enrolment already decided, projections rebuilt ----------------
  const setupStarted = performance.now();
  const base = Math.floor(Date.now() / 1000) * 1000;
  const at = base - 3_600_000;
  {
    const store = new SqliteEventStore({ path: join(dir, 'events.sqlite') });
    await new ScenarioCatalog(store, systemClock).publish(WORKSPACE, WAIT_THEN_SEND);
    // Waiting: due between 1 and 7 days from now, never during the run.
    await appendAll(store, waiting, (i) => enrolment(`wait-${i}`, base + DAY + Math.floor((i / waiting) * 6 * DAY), at));
    // Measured: due at `rate` per second in each window, windows `gapSeconds` apart.
    let start = base + LEAD_MS;
    let n = 0;
    for (const [w, window] of windows.entries()) {
      const count = window.rate * window.seconds;
      await appendAll(store, count, (i) => enrolment(`due-${w}-${i}`, start + Math.floor((i * 1000) / window.rate), at));
      window.start = start;
      window.count = count;
      n += count;
      start += (window.seconds + gapSeconds) * 1000;
    }
    const db = openStateDb(join(dir, 'state.sqlite'));
    await rebuildProjections(store, db, ['identity', 'segments']);
    db.close();
    await store.close();
  }
  const setupMs = performance.now() - setupStarted;

  // The app, as deployed: with no scenario checkpoint it rebuilds the timer index on start.
  const clock = new ShiftedClock(base);
  const appStarted = performance.now();
  herald = await startApp(dir, { clock });
  const appStartMs = performance.now() - appStarted;
  // Measure the steady state: the projections and the analytics sink first catch up with the set-up's log.
  const catchUpStarted = performance.now();
  await herald.caughtUp();
  const catchUpMs = performance.now() - catchUpStarted;
  const head = await herald.store.headPosition();
  const state = new Database(join(dir, 'state.sqlite'), { readonly: true });
  const indexRows = state.prepare('SELECT COUNT(*) AS n FROM scenario_timers').get().n;
  const indexBytes = state
    .prepare("SELECT name, SUM(pgsize) AS bytes FROM dbstat WHERE name IN ('scenario_timers', 'scenario_timers_due') GROUP BY name")
    .all();
  state.close();
  const log_ = new Database(join(dir, 'events.sqlite'), { readonly: true });
  const logBytes = log_.prepare("SELECT SUM(pgsize) AS bytes FROM dbstat WHERE name IN ('events', 'events_by_stream', 'events_by_id', 'streams', 'sqlite_autoindex_streams_1')").get().bytes;
  log_.close();
  log(`set-up: ${waiting + windows.reduce((s, w) => s + w.count, 0)} enrolments in ${(setupMs / 1000).toFixed(1)} s; app start with timer index rebuild ${(appStartMs / 1000).toFixed(1)} s, catching up ${(catchUpMs / 1000).toFixed(1)} s; ${indexRows} timers indexed; log head ${head}`);

  // --- Part 3: memory of the waiting enrolments in the engine's person-state cache ---------------
  const engine = herald.engine;
  const catalog = await engine.catalogOf(WORKSPACE);
  const settings = await engine.settingsOf(WORKSPACE);
  const options = {
    specs: branchCounterSpecs([...catalog.entries.values()].flatMap((entry) => entry.versions.map((v) => v.definition))),
    capWindowMs: Math.max(projections.maxCapWindowMs(settings), DAY),
    timezone: settings.timezone,
  };
  const heap = () => {
    global.gc();
    global.gc();
    return process.memoryUsage().heapUsed;
  };
  const heapBefore = heap();
  const loadStarted = performance.now();
  for (let i = 0; i < waiting; i++) await engine.persons.load(WORKSPACE, `user:wait-${i}`, options);
  const loadMs = performance.now() - loadStarted;
  const heapAfter = heap();
  // A sample person's state as JSON, to relate the heap figure to the data held.
  const sample = await engine.persons.load(WORKSPACE, 'user:wait-0', options);
  const memory = {
    enrolments: waiting,
    heapBefore,
    heapAfter,
    perEnrolment: (heapAfter - heapBefore) / waiting,
    stateJsonBytes: Buffer.byteLength(JSON.stringify(sample.state)),
    loadMs,
    indexRows,
    indexBytes: Object.fromEntries(indexBytes.map((row) => [row.name, row.bytes])),
    logBytesPerEnrolment: logBytes / (waiting + windows.reduce((s, w) => s + w.count, 0)),
  };

  // --- Part 2: timer lag in the windows ------------------------------------------------------------
  const due = new Map(); // enrollmentId -> { window, dueWall, fired, queued }
  const measureStart = wallNow() + 500;
  clock.align(measureStart);
  const toWall = (virtual) => virtual + clock.offset;
  // Enrolment ids are derived from trigger ids made in set-up; map them back through the log's events.
  {
    const reader = new Database(join(dir, 'events.sqlite'), { readonly: true });
    const rows = reader.prepare("SELECT data FROM events WHERE type = 'TimerScheduled'").all();
    reader.close();
    for (const { data } of rows) {
      const scheduled = JSON.parse(data);
      const dueVirtual = Date.parse(scheduled.dueAt);
      const window = windows.findIndex((w) => dueVirtual >= w.start && dueVirtual < w.start + w.seconds * 1000);
      if (window >= 0) due.set(scheduled.enrollmentId, { window, dueWall: toWall(dueVirtual) });
    }
  }
  // Baseline: an in-memory timer (setTimeout) due at each of the same moments, in the same process.
  const baseline = windows.map(() => []);
  for (const record of due.values()) {
    setTimeout(() => baseline[record.window].push(wallNow() - record.dueWall), Math.max(0, record.dueWall - wallNow()));
  }
  const stateReader = new Database(join(dir, 'state.sqlite'), { readonly: true });
  const dueRows = stateReader.prepare('SELECT COUNT(*) AS n FROM scenario_timers WHERE due_at <= ?');
  let firedEarly = 0;
  let firedWaiting = 0;
  const watcher = watchLog(herald.store, head, ['TimerFired', 'MessageQueued'], (event) => {
    const seen = wallNow();
    const record = due.get(event.data.enrollmentId);
    if (!record) {
      if (event.type === 'TimerFired') firedWaiting += 1;
      return;
    }
    if (event.type === 'TimerFired') {
      record.fired = seen - record.dueWall;
      if (record.fired < 0) firedEarly += 1;
    } else record.queued = seen - record.dueWall;
  });
  const results = [];
  for (const [w, window] of windows.entries()) {
    const windowStart = toWall(window.start);
    const windowEnd = windowStart + window.seconds * 1000;
    await sleep(Math.max(0, windowStart - wallNow()));
    const profiler = profile ? await startProfile(`scenarios-timers-${window.rate}`) : undefined;
    // Backlogs, sampled: timers due but not fired, fired but not yet acted on by the reactor, and due
    // rows still in the timer index (the firing loop reads at most 1000 due rows at a time).
    const backlog = { dueNotFired: 0, firedNotQueued: 0, dueInIndex: 0 };
    const sampler = setInterval(() => {
      const now = wallNow();
      let dueNotFired = 0;
      let firedNotQueued = 0;
      for (const r of due.values()) {
        if (r.window !== w || r.dueWall > now) continue;
        if (r.fired === undefined) dueNotFired += 1;
        else if (r.queued === undefined) firedNotQueued += 1;
      }
      backlog.dueNotFired = Math.max(backlog.dueNotFired, dueNotFired);
      backlog.firedNotQueued = Math.max(backlog.firedNotQueued, firedNotQueued);
      backlog.dueInIndex = Math.max(backlog.dueInIndex, dueRows.get(clock.now().getTime()).n);
    }, 250);
    await sleep(Math.max(0, windowEnd - wallNow()));
    clearInterval(sampler);
    const profileFile = await profiler?.stop();
    await sleep(graceSeconds * 1000);
    const stoppedAt = wallNow();
    const records = [...due.values()].filter((r) => r.window === w);
    // Not seen by the end of the grace period: their lag is at least (stop - due).
    const bound = (r, key) => r[key] ?? stoppedAt - r.dueWall;
    const summary = (key) => {
      const values = records.map((r) => bound(r, key));
      const censored = records.filter((r) => r[key] === undefined).length;
      return {
        p: [50, 95, 99].map((p) => percentile(values, p)),
        // A percentile is only a lower bound when it falls among the censored values.
        lowerBound: [50, 95, 99].map((p) => censored > records.length * (1 - p / 100)),
        censored,
      };
    };
    const lastFired = Math.max(...records.map((r) => (r.fired ?? -Infinity) + r.dueWall));
    const lastQueued = Math.max(...records.map((r) => (r.queued ?? -Infinity) + r.dueWall));
    results.push({
      rate: window.rate,
      seconds: window.seconds,
      count: records.length,
      baseline: { p: [50, 95, 99].map((p) => percentile(baseline[w], p)), censored: records.length - baseline[w].length },
      fired: summary('fired'),
      queued: summary('queued'),
      firedRate: records.filter((r) => r.fired !== undefined).length / ((lastFired - windowStart) / 1000),
      queuedRate: records.filter((r) => r.queued !== undefined).length / ((lastQueued - windowStart) / 1000),
      backlog,
      profileFile,
    });
  }
  await watcher.stop();
  stateReader.close();
  send({ type: 'result', memory, timers: results, firedEarly, firedWaiting, setupMs, appStartMs, head });
} finally {
  await herald?.close();
  removeDir(dir);
}
process.exit(0);
