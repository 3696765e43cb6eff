// bench:scenarios part 1, in its own process: trigger event -> MessageQueued latency at a steady
// rate. argv: JSON { host: 'app' | 'engine', rate, duration, warmup, profile }. Sends { type: 'result', ... }.
import os from 'node:os';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { makeTempDir, removeDir, threadTimes } from './common.mjs';
import { percentile, startHeapProfile, startProfile } from './projections-support.mjs';
import { SEND_NOW, WORKSPACE, projections, startApp, startEngineOnly, trackedEvent, uuidv7, watchLog } from './scenarios-common.mjs';
import { createLoopTrace, traceLines } from './loop-trace.mjs';

const { host, rate, duration, warmup, grace, profile, heap, tag, trace } = JSON.parse(process.argv[2]);
const send = process.send ? (message) => process.send(message) : (message) => console.log(JSON.stringify(message, null, 1));
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

const dir = makeTempDir(`scenarios-latency-${host}`);
const herald = host === 'app' ? await startApp(dir) : await startEngineOnly(dir);
try {
  await herald.catalog.publish(WORKSPACE, SEND_NOW);
  // Let the runner read the publish before load starts, so the catalogue is cached.
  await sleep(300);
  const loopTrace = trace ? traceHerald(herald) : undefined;
  const head = await herald.store.headPosition();

  /** trigger id -> { t0: append called, ack, seen: trigger visible, queued: its MessageQueued visible } */
  const sent = new Map();
  // Outcomes of the dispatch that follows (sandbox channel), to check the messages really go out.
  const outcomes = {};
  const watcher = watchLog(herald.store, head, ['Tracked', 'MessageQueued', 'MessageSent', 'MessageFailed', 'MessageSuppressed'], (event, now) => {
    if (event.type !== 'Tracked' && event.type !== 'MessageQueued') {
      const key = event.type === 'MessageFailed' ? `${event.type}:${event.data.reason}` : event.type;
      outcomes[key] = (outcomes[key] ?? 0) + 1;
    } else if (event.type === 'Tracked') {
      const record = sent.get(event.id);
      if (record) record.seen = now;
    } else {
      const record = sent.get(event.metadata.causationId);
      if (record) record.queued = now;
    }
  });

  if (trace) traceHops(herald, sent);

  // Open loop: every tick appends whatever the schedule says is due, one append per trigger (as one
  // track call each), each for a user not seen before, without waiting for earlier appends.
  let scheduled = 0;
  let failed = 0;
  const started = performance.now();
  const measureFrom = started + warmup * 1000;
  const end = measureFrom + duration * 1000;
  let profiler;
  let threadsAtStart;
  let lagSampler;
  let statsStart;
  let eluStart;
  let cpuStart;
  // How long the event loop was held at a time (a trigger waits behind such stretches).
  const loopDelay = monitorEventLoopDelay({ resolution: 5 });
  const sendOne = () => {
    const n = scheduled++;
    const id = uuidv7();
    const userId = `${tag}-${n}`;
    const record = { t0: performance.now() };
    sent.set(id, record);
    herald.store.append(projections.userStream(WORKSPACE, userId), [trackedEvent(userId, 'Go', id)]).then(
      () => {
        record.ack = performance.now();
      },
      (error) => {
        failed += 1;
        if (failed === 1) console.error(`append failed: ${error.message}`);
      },
    );
  };
  await new Promise((resolve) => {
    const tick = async () => {
      const t = performance.now();
      if (!statsStart && t >= measureFrom) {
        if (trace) threadsAtStart = threadTimes();
        // A diagnostic (bench/README, twelfth session): chDB's threads at nice 10 with `^(?!node)`.
        if (process.env.BENCH_RENICE) renice(process.env.BENCH_RENICE);
        statsStart = { ...herald.store.stats };
        eluStart = performance.eventLoopUtilization();
        cpuStart = process.cpuUsage();
        loopDelay.enable();
        loopTrace?.start();
        lagSampler = trace ? sampleLags(herald) : undefined;
        if (profile) profiler = await startProfile(`scenarios-latency-${host}-${rate}`);
        else if (heap) profiler = await startHeapProfile(`scenarios-latency-${host}-${rate}`, { live: heap === 'live', promoted: heap === 'promoted' });
      }
      if (t >= end) return resolve();
      const due = Math.floor(((t - started) * rate) / 1000) - scheduled;
      for (let i = 0; i < due; i++) sendOne();
      setTimeout(tick, 1);
    };
    tick();
  });
  const profileFile = profiler ? await profiler.stop() : undefined;
  if (trace) send({ type: 'log', text: `CPU by thread over the window (ms, and minor page faults; "node" threads are the log's writer, the sink's, V8's helpers...; resident memory at the end ${(process.memoryUsage().rss / 2 ** 20).toFixed(0)} MiB): ${threadLines(threadsAtStart, threadTimes())}` });
  const stats = { ...herald.store.stats };
  const elu = performance.eventLoopUtilization(eluStart);
  const cpu = process.cpuUsage(cpuStart);
  loopDelay.disable();
  loopTrace?.stop();
  if (lagSampler) send({ type: 'log', text: lagSampler.stop() });
  if (loopTrace) for (const text of traceLines(loopTrace.report(duration * 1000), duration * 1000)) send({ type: 'log', text });
  // No drain: when the engine cannot keep up, the backlog would take minutes. What is not queued after
  // a grace period is censored: its latency is at least (stop - ack).
  await sleep(grace * 1000);
  const stoppedAt = performance.now();
  await watcher.stop();

  const window = [...sent.values()].filter((r) => r.t0 >= measureFrom && r.t0 < end && r.ack !== undefined);
  const ps = [50, 95, 99];
  const summary = (key) => {
    const values = window.map((r) => (r[key] ?? stoppedAt) - r.ack);
    const censored = window.filter((r) => r[key] === undefined).length;
    return { p: ps.map((p) => percentile(values, p)), lowerBound: ps.map((p) => censored > window.length * (1 - p / 100)), censored };
  };
  if (trace) {
    // Where a trigger's time goes, cumulative from its append's acknowledgement.
    const f = (n) => n.toFixed(1);
    const hops = ['decide', 'decisionAppend', 'decisionAck', 'queued'].map((key) => {
      const values = window.filter((r) => r[key] !== undefined).map((r) => r[key] - r.ack);
      return `${key} ${f(percentile(values, 50))} / ${f(percentile(values, 99))}`;
    });
    send({ type: 'log', text: `hops, ms after the trigger's ack (p50 / p99): ${hops.join(', ')}` });
  }
  const queuedInWindow = [...sent.values()].filter((r) => r.queued !== undefined && r.queued >= measureFrom && r.queued < end).length;
  send({
    type: 'result',
    host,
    rate: window.filter((r) => r.ack < end).length / duration,
    // Messages that became visible during the window, per second: what the engine got through.
    queuedRate: queuedInWindow / duration,
    triggers: window.length,
    failed,
    visible: summary('seen'),
    queued: summary('queued'),
    append: { p: ps.map((p) => percentile(window.map((r) => r.ack - r.t0), p)) },
    // Group commits of the log (each one fsync) and events written, per message queued in the window.
    commitsPerMessage: (stats.commits - statsStart.commits) / (queuedInWindow || 1),
    eventsPerMessage: (stats.events - statsStart.events) / (queuedInWindow || 1),
    eventLoopUtilization: elu.utilization,
    loopDelay: { p99: loopDelay.percentile(99) / 1e6, max: loopDelay.max / 1e6 },
    outcomes,
    cpuShare: (cpu.user + cpu.system) / 1000 / (duration * 1000),
    profileFile,
  });
} finally {
  await herald.close();
  removeDir(dir);
}
process.exit(0);

/** Notes when the engine starts deciding on each trigger, appends its decisions, and has them acknowledged. */
function traceHops(herald, sent) {
  const { engine, store } = herald;
  const decide = engine.decideAndAppend;
  engine.decideAndAppend = function (workspace, person, cause, now, meta, ...rest) {
    const record = sent.get(meta.id);
    if (record && record.decide === undefined) record.decide = performance.now();
    return decide.call(this, workspace, person, cause, now, meta, ...rest);
  };
  const append = store.append;
  store.append = function (stream, events, ...rest) {
    const record = events[0]?.metadata?.causationId && sent.get(events[0].metadata.causationId);
    const result = append.call(this, stream, events, ...rest);
    if (record && record.decisionAppend === undefined) {
      record.decisionAppend = performance.now();
      result.then(() => (record.decisionAck = performance.now()), () => undefined);
    }
    return result;
  };
}

/**
 * Every 50 ms: how many events behind the log's head each projection is, and how many decoded events
 * the log keeps for subscribers still to read them (they live until the slowest has: GC survivors).
 */
function sampleLags(herald) {
  const samples = { 'decoded events kept by the log': [] };
  const timer = setInterval(() => {
    const head = herald.store.head;
    samples['decoded events kept by the log'].push(herald.store.keptEvents ?? 0);
    for (const name of herald.runner.names()) (samples[name] ??= []).push(head - herald.runner.checkpoint(name));
  }, 50);
  return {
    stop() {
      clearInterval(timer);
      const p = (values, q) => percentile(values, q).toFixed(0);
      return `p50 / p99 / max of 50 ms samples: events kept, and each projection's events behind the head: ${Object.entries(samples).map(([name, values]) => `${name} ${p(values, 50)} / ${p(values, 99)} / ${Math.max(...values)}`).join(', ')}`;
    },
  };
}

/** Wraps what runs on the main thread: each projection's parts, the runner's commits, the log's reads and appends. */
function traceHerald(herald) {
  const loopTrace = createLoopTrace();
  for (const { projection } of herald.runner.running.values()) {
    for (const part of ['preload', 'handle', 'apply', 'flush']) loopTrace.wrap(projection, part, `${projection.name}.${part}`);
  }
  loopTrace.wrap(herald.runner, 'commitBatch', (running) => `${running.projection.name}.commit`);
  for (const part of ['readPage', 'flush', 'settle', 'keepAppended', 'append', 'readStream']) loopTrace.wrap(herald.store, part, `log.${part}`);
  loopTrace.wrap(herald.engine, 'decideAndAppend', 'scenarios.decideAndAppend');
  loopTrace.wrap(herald.engine.persons, 'load', 'scenarios.persons.load');
  return loopTrace;
}

/** Nice 10 for the threads (other than main) whose name matches, as they are now (a diagnostic). */
function renice(pattern) {
  const re = new RegExp(pattern);
  const done = [];
  for (const [tid, { name }] of threadTimes()) {
    if (tid === String(process.pid) || !re.test(name)) continue;
    try {
      os.setPriority(Number(tid), 10);
      done.push(`${name}:${tid}`);
    } catch {
      // The thread ended meanwhile.
    }
  }
  send({ type: 'log', text: `reniced ${done.join(' ')}` });
}

/** The threads that used CPU between two readings, busiest first. */
function threadLines(before, after) {
  const rows = [...after].map(([tid, { name, micros, minorFaults }]) => [
    tid === String(process.pid) ? 'main' : `${name}:${tid}`,
    Math.round((micros - (before.get(tid)?.micros ?? 0)) / 1000),
    minorFaults - (before.get(tid)?.minorFaults ?? 0),
  ]);
  return rows.filter(([, ms]) => ms > 0).sort((a, b) => b[1] - a[1]).map(([name, ms, faults]) => `${name} ${ms} (${faults} faults)`).join(', ');
}
