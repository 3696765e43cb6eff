// npm run bench:rebuild — rebuilding every projection (`herald projections rebuild`) over a generated
// log of 1M events, against reading the same log sequentially in the same run. See bench/README.md.
import { statSync } from 'node:fs';
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

const { openStateDb } = requireDist('state/state-db.js');
const { rebuildProjections } = requireDist('cli/projections.commands.js');
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

/** `herald projections rebuild` (all projections) into a fresh state database. */
async function rebuild(store, dir, round, profile) {
  const statePath = join(dir, `state-${round}.sqlite`);
  const db = openStateDb(statePath);
  try {
    const profiler = profile ? await startProfile('rebuild') : undefined;
    const cpuStart = process.cpuUsage();
    const started = process.hrtime.bigint();
    const results = await rebuildProjections(store, db, []);
    const total = seconds(started);
    const cpu = cpuSeconds(cpuStart);
    const profileFile = await profiler?.stop();
    const members = db.prepare('SELECT segment_id, COUNT(*) AS n FROM segment_members GROUP BY segment_id ORDER BY segment_id').all();
    const { persons, recordBytes } = db.prepare('SELECT COUNT(*) AS persons, AVG(LENGTH(record)) AS recordBytes FROM segment_persons').get();
    const due = db.prepare('SELECT COUNT(*) AS n FROM segment_persons WHERE next_check_at IS NOT NULL').get().n;
    const links = db.prepare('SELECT COUNT(*) AS n FROM identity_links').get().n;
    return { total, cpu, results, members, persons, recordBytes, due, links, profileFile };
  } finally {
    db.close();
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

  const rates = { bare: [], decoded: [], readAll: [], rebuild: [] };
  const cpuRates = { bare: [], decoded: [], readAll: [], rebuild: [] };
  const names = { bare: 'bare SELECT', decoded: 'SELECT+decode', readAll: 'readAll' };
  const rate = (events, s) => `${fmt(events / s)}/s`;
  let sample;
  for (let round = 1; round <= ROUNDS; round++) {
    const steps = round % 2 ? ['bare', 'decoded', 'readAll', 'rebuild'] : ['rebuild', 'readAll', 'decoded', 'bare'];
    const line = [];
    for (const step of steps) {
      if (step !== 'rebuild') {
        const r = step === 'bare' ? bareSelect(logPath) : step === 'decoded' ? decodedSelect(logPath, head) : await withStore((store) => readAllPages(store, head));
        rates[step].push(r.events / r.seconds);
        cpuRates[step].push(r.events / r.cpu);
        line.push(`${names[step]} ${rate(r.events, r.seconds)} [${rate(r.events, r.cpu)}]`);
      } else {
        const r = await withStore((store) => rebuild(store, dir, round, PROFILE && round === ROUNDS));
        rates.rebuild.push(head / r.total);
        cpuRates.rebuild.push(head / r.cpu);
        line.push(`rebuild ${rate(head, r.total)} [${rate(head, r.cpu)}] (${r.total.toFixed(1)} s, one pass: ${r.results.names.join(', ')})`);
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
  ];
  printTable(['median of rounds', 'events/s', 'x readAll', 'events/CPU-s', 'goal'], rows);
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
