// npm run bench:rebuild — rebuilding every projection (`herald projections rebuild`) over a generated
// log of 1M events, against reading the same log sequentially in the same run. See bench/README.md.
import { fork, spawn } from 'node:child_process';
import { statSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import { join } from 'node:path';
import { codeLine, envInt, fmt, machineLine, makeTempDir, median, printTable, ratioText, removeDir, requireDist, serverRequire } from './lib/common.mjs';
import { DAY, HistoryGenerator, defineSegments, openStore, standardSegments, writeCalls } from './lib/projections-log.mjs';
import { goalText, printProfileTop, startProfile, waitForQuietMachine } from './lib/projections-support.mjs';

const EVENTS = envInt('BENCH_REBUILD_EVENTS', 1_000_000);
const USERS = envInt('BENCH_REBUILD_USERS', 10_000);
const ROUNDS = envInt('BENCH_ROUNDS', 3);
/** The page size of ProjectionRunner.rebuild, so the raw read does the same number of reads. */
const PAGE = 5000;
const RATE_GOAL = 200_000;
const RATIO_GOAL = 0.5;
const PROFILE = process.env.BENCH_CPU_PROF === '1';

// The Node flags the `herald` bin runs the CLI with (a 64 MB young generation). This script runs with
// them too, so the baselines read the log as the rebuild does; it starts itself again when they are
// missing, as the bin does.
const { HERALD_NODE_FLAGS, missingNodeFlags } = createRequire(import.meta.url)('../server/bin/node-flags.js');
const missingFlags = missingNodeFlags(process.execArgv);
if (missingFlags.length > 0) {
  const child = spawn(process.execPath, [...missingFlags, ...process.execArgv, ...process.argv.slice(1)], { stdio: 'inherit' });
  for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => child.kill(signal));
  const code = await new Promise((resolve) => child.on('exit', (exitCode) => resolve(exitCode ?? 1)));
  process.exit(code);
}

const { bytesToUuid } = requireDist('shared/ids.js');
const Database = serverRequire('better-sqlite3');

const seconds = (from) => Number(process.hrtime.bigint() - from) / 1e9;
/** CPU seconds (user + system, all threads) since `from` = process.cpuUsage(). */
const cpuSeconds = (from) => {
  const used = process.cpuUsage(from);
  return (used.user + used.system) / 1e6;
};

/** The adapter's readAll, page after page, as a consumer reading the whole log would (rows + JSON.parse). */
async function readAllPages(store, head) {
  const cpu = process.cpuUsage();
  const started = process.hrtime.bigint();
  let events = 0;
  let from = 1;
  while (from <= head) {
    const page = await store.readAll({ fromPosition: from, maxCount: PAGE });
    if (page.length === 0) break;
    events += page.length;
    from = page[page.length - 1].position + 1;
  }
  return { events, seconds: seconds(started), cpu: cpuSeconds(cpu) };
}

/** The adapter's own SELECT (events joined to streams), iterated with better-sqlite3 and nothing else: no JSON parsing. */
function bareSelect(path) {
  const db = new Database(path, { readonly: true });
  db.pragma('cache_size = -65536');
  try {
    const statement = db.prepare(
      `SELECT e.position, s.name, e.revision, e.event_id, e.type, e.data, e.metadata, e.recorded_at
       FROM events e JOIN streams s ON s.stream_id = e.stream_id WHERE e.position >= ? ORDER BY e.position`,
    );
    const cpu = process.cpuUsage();
    const started = process.hrtime.bigint();
    let events = 0;
    let bytes = 0;
    for (const row of statement.iterate(1)) {
      events += 1;
      bytes += row.data.length;
    }
    return { events, seconds: seconds(started), cpu: cpuSeconds(cpu), bytes };
  } finally {
    db.close();
  }
}

/**
 * The adapter's SELECT in pages of PAGE, each row decoded exactly as the adapter's `toRecorded` does
 * (uuid from bytes, JSON.parse of data and metadata, ISO recordedAt), without anything else the
 * adapter's readAll does (since 4cfa803 it also keeps recently read events in a Map). A check that
 * the readAll baseline is not itself slowed down by the adapter.
 */
function decodedSelect(path, head) {
  const db = new Database(path, { readonly: true });
  db.pragma('cache_size = -65536');
  try {
    const statement = db.prepare(
      `SELECT e.position, s.name, e.revision, e.event_id, e.type, e.data, e.metadata, e.recorded_at
       FROM events e JOIN streams s ON s.stream_id = e.stream_id WHERE e.position >= ? ORDER BY e.position LIMIT ?`,
    );
    const cpu = process.cpuUsage();
    const started = process.hrtime.bigint();
    let events = 0;
    let from = 1;
    while (from <= head) {
      const rows = statement.all(from, PAGE);
      if (rows.length === 0) break;
      const page = rows.map((row) => ({
        id: bytesToUuid(row.event_id),
        type: row.type,
        data: JSON.parse(row.data),
        metadata: JSON.parse(row.metadata),
        stream: row.name,
        revision: row.revision,
        position: row.position,
        recordedAt: new Date(row.recorded_at).toISOString(),
      }));
      events += page.length;
      from = page[page.length - 1].position + 1;
    }
    return { events, seconds: seconds(started), cpu: cpuSeconds(cpu) };
  } finally {
    db.close();
  }
}

/**
 * `herald projections rebuild` (all projections) into a fresh state database, in a process of its
 * own started with `flags`: HERALD_NODE_FLAGS as the bin runs it, or none (V8's defaults, as the CLI
 * ran before it passed them) for comparison.
 */
async function rebuild(logPath, dir, round, flags, profile) {
  const statePath = join(dir, `state-${round}.sqlite`);
  const child = fork(join(import.meta.dirname, 'lib/rebuild-child.mjs'), [logPath, statePath, profile ? 'profile' : ''], { execArgv: flags, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  try {
    const result = await new Promise((resolve, reject) => {
      child.once('message', resolve);
      child.once('exit', (code) => reject(new Error(`rebuild child exited (code ${code}) without a result`)));
    });
    await new Promise((resolve) => (child.exitCode === null ? child.once('exit', resolve) : resolve()));
    return result;
  } finally {
    for (const suffix of ['', '-wal', '-shm']) removeDir(statePath + suffix);
  }
}

console.log(`bench:rebuild  ${machineLine()}, ${codeLine()}`);
// Generating the log loads the machine too: do not start it while another benchmark measures.
await waitForQuietMachine();
const dir = makeTempDir('rebuild');
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => {
    removeDir(dir);
    process.exit(130);
  });
}
try {
  // --- Setup (not measured) -------------------------------------------------------------------
  const logPath = join(dir, 'events.sqlite');
  const store = openStore(logPath);
  const start = Date.parse('2026-01-01T00:00:00Z');
  const setupStarted = process.hrtime.bigint();
  await defineSegments(store, standardSegments(), start - 60_000);
  const generator = new HistoryGenerator({ users: USERS, start, spanMs: 60 * DAY, totalEvents: EVENTS - 3 });
  await writeCalls(store, EVENTS - 3, () => generator.next(), {
    onProgress: (written, total) => {
      if (process.stdout.isTTY && written % 100_000 < 10_000) process.stdout.write(`  generating: ${fmt(written)} / ${fmt(total)}\r`);
    },
  });
  const head = await store.headPosition();
  await store.close();
  // Fold the WAL into the main file, so every round reads the same file layout.
  const counts = new Database(logPath);
  counts.pragma('wal_checkpoint(TRUNCATE)');
  const byType = counts.prepare('SELECT type, COUNT(*) AS n FROM events GROUP BY type ORDER BY n DESC').all();
  const streams = counts.prepare('SELECT COUNT(*) AS n FROM streams').get().n;
  const sizes = counts.prepare('SELECT AVG(LENGTH(data)) AS data, AVG(LENGTH(metadata)) AS metadata FROM events').get();
  counts.close();
  console.log(
    `log: ${fmt(head)} events in ${fmt(streams)} streams (${fmt(USERS)} users over 60 days; 3 segment definitions first), ` +
      `${fmt(statSync(logPath).size / 1e6)} MB, ${fmt(sizes.data)} B data + ${fmt(sizes.metadata)} B metadata JSON per event; generated in ${seconds(setupStarted).toFixed(1)} s`,
  );
  console.log(`  ${byType.map((t) => `${t.type} ${fmt(t.n)}`).join(', ')}`);

  await waitForQuietMachine();
  console.log(`measuring at ${new Date().toISOString()} (load ${os.loadavg()[0].toFixed(2)}); ${ROUNDS} rounds, pages of ${PAGE} events`);
  console.log('events/s = events / wall-clock s; in brackets events per CPU-second of this process (less sensitive to other load)\n');
  // A fresh store for every measurement, as `herald projections rebuild` opens one: the adapter keeps
  // recently read events in memory, which must not carry over from one measurement to the next.
  const withStore = async (use) => {
    const store = openStore(logPath);
    try {
      return await use(store);
    } finally {
      await store.close();
    }
  };
  await withStore((store) => readAllPages(store, Math.min(head, 100_000))); // warm-up: JIT (the file is in the OS cache since it was written)

  const rates = { bare: [], decoded: [], readAll: [], rebuild: [], rebuildDefault: [] };
  const cpuRates = { bare: [], decoded: [], readAll: [], rebuild: [], rebuildDefault: [] };
  const names = { bare: 'bare SELECT', decoded: 'SELECT+decode', readAll: 'readAll', rebuild: 'rebuild', rebuildDefault: 'rebuild, V8 default young generation' };
  const rate = (events, s) => `${fmt(events / s)}/s`;
  let sample;
  for (let round = 1; round <= ROUNDS; round++) {
    const steps = round % 2 ? ['bare', 'decoded', 'readAll', 'rebuild', 'rebuildDefault'] : ['rebuildDefault', 'rebuild', 'readAll', 'decoded', 'bare'];
    const line = [];
    for (const step of steps) {
      if (!step.startsWith('rebuild')) {
        const r = step === 'bare' ? bareSelect(logPath) : step === 'decoded' ? decodedSelect(logPath, head) : await withStore((store) => readAllPages(store, head));
        rates[step].push(r.events / r.seconds);
        cpuRates[step].push(r.events / r.cpu);
        line.push(`${names[step]} ${rate(r.events, r.seconds)} [${rate(r.events, r.cpu)}]`);
      } else {
        const r = await rebuild(logPath, dir, round, step === 'rebuild' ? HERALD_NODE_FLAGS : [], PROFILE && round === ROUNDS && step === 'rebuild');
        rates[step].push(head / r.total);
        cpuRates[step].push(head / r.cpu);
        line.push(
          `${names[step]} ${rate(head, r.total)} [${rate(head, r.cpu)}] (${r.total.toFixed(1)} s, ${(r.faults / head).toFixed(2)} faults/event, ` +
            `node ${r.execArgv.join(' ') || 'without flags'}, one pass: ${r.results.names.join(', ')})`,
        );
        sample ??= r;
        if (r.profileFile) sample.profileFile = r.profileFile;
      }
    }
    console.log(`round ${round}  ${line.join('  |  ')}`);
  }

  console.log(
    `\nrebuilt state: ${fmt(sample.persons)} persons (records of ${fmt(sample.recordBytes)} B JSON on average), ${fmt(sample.links)} identity links, ` +
      `${fmt(sample.due)} with a timer due; members: ${sample.members.map((m) => `${m.segment_id} ${fmt(m.n)}`).join(', ')}`,
  );
  console.log(`finished at ${new Date().toISOString()} (load ${os.loadavg()[0].toFixed(2)})\n`);

  const readAll = median(rates.readAll);
  const readAllCpu = median(cpuRates.readAll);
  const rebuildRate = median(rates.rebuild);
  const rebuildCpu = median(cpuRates.rebuild);
  const rows = [
    ['bare SELECT iterate, no JSON.parse (reference)', fmt(median(rates.bare)), ratioText(median(rates.bare) / readAll), fmt(median(cpuRates.bare)), ''],
    ['SELECT + toRecorded decoding, no adapter (check)', fmt(median(rates.decoded)), ratioText(median(rates.decoded) / readAll), fmt(median(cpuRates.decoded)), ''],
    ['raw sequential read: adapter readAll (baseline)', fmt(readAll), '1.00', fmt(readAllCpu), ''],
    ['rebuild all projections, one pass (log events / total time)', fmt(rebuildRate), ratioText(rebuildRate / readAll), fmt(rebuildCpu), `>= ${fmt(RATE_GOAL)}/s, >= ${RATIO_GOAL.toFixed(2)}`],
    ['  the same with V8\'s default young generation (before)', fmt(median(rates.rebuildDefault)), ratioText(median(rates.rebuildDefault) / readAll), fmt(median(cpuRates.rebuildDefault)), ''],
  ];
  printTable(['median of rounds', 'events/s', 'x readAll', 'events/CPU-s', 'goal'], rows);
  const perRound = rates.rebuild.map((r, i) => ratioText(r / rates.rebuildDefault[i])).join(', ');
  console.log(`\nrebuild with the CLI's flags / with V8's default young generation, per round: ${perRound}`);
  const rateMet = rebuildRate >= RATE_GOAL;
  const ratioMet = rebuildRate / readAll >= RATIO_GOAL;
  console.log(`\nrebuild ${fmt(rebuildRate)} events/s: goal >= ${fmt(RATE_GOAL)} ${goalText(rateMet)}`);
  console.log(`rebuild / raw read ${ratioText(rebuildRate / readAll)} (by CPU time ${ratioText(rebuildCpu / readAllCpu)}): goal >= ${RATIO_GOAL.toFixed(2)} ${goalText(ratioMet)}`);
  const decoded = median(rates.decoded);
  if (decoded > readAll * 1.2) {
    console.log(
      `note: the adapter's readAll is ${ratioText(decoded / readAll)}x slower than the same SELECT and decoding done here; ` +
        `against that read the rebuild is at ${ratioText(rebuildRate / decoded)}`,
    );
  }
  if (sample.profileFile) {
    console.log(`\nCPU profile of the last rebuild: ${sample.profileFile}`);
    printProfileTop(sample.profileFile, 20);
  } else if (!rateMet || !ratioMet) {
    console.log('(BENCH_CPU_PROF=1 profiles the last rebuild and prints its top functions)');
  }
} finally {
  removeDir(dir);
}
