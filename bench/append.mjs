// npm run bench:append — the SQLite event log adapter against raw better-sqlite3 writing the same rows.
// See bench/README.md for what is measured and how to read it.
import os from 'node:os';
import { join } from 'node:path';
import { BENCH_DIR, envInt, fmt, ratioText, machineLine, makeTempDir, median, printTable, removeDir, startChild, waitForOtherBenchmarks, codeLine } from './lib/common.mjs';

const ROUNDS = envInt('BENCH_ROUNDS', 5);
const COUNT = envInt('BENCH_APPEND_EVENTS', 60_000);
const IN_FLIGHT = envInt('BENCH_IN_FLIGHT', 256);
const GOAL = 0.7;
const WORKER = join(BENCH_DIR, 'lib', 'append-worker.mjs');

async function measure(mode, kind, round) {
  const dir = makeTempDir(`append-${mode}-${kind}`);
  try {
    const spec = { mode, kind, count: COUNT, txnSize: IN_FLIGHT, inFlight: IN_FLIGHT, path: join(dir, 'events.sqlite'), runTag: `r${round}-${Date.now()}` };
    const child = startChild(WORKER, [JSON.stringify(spec)], { profileName: `append-${mode}-${kind}` });
    const result = await child.next('result');
    await child.stop();
    return { ...result, rate: result.events / result.seconds, cpuPerEvent: result.cpuMicros / result.events };
  } finally {
    removeDir(dir);
  }
}

await waitForOtherBenchmarks();
const started = Date.now();
console.log(`bench:append  ${machineLine()}`);
console.log(codeLine());
console.log(
  `${COUNT} events per measurement, ${ROUNDS} rounds; raw: ${IN_FLIGHT} rows per transaction; adapter: one event per append(), ${IN_FLIGHT} appends in flight\n`,
);

const results = { v7: { raw: [], adapter: [] }, v5: { raw: [], adapter: [] } };
const cpu = { v7: { raw: [], adapter: [] }, v5: { raw: [], adapter: [] } };
const commits = { v7: [], v5: [] };
let sizes;
for (let round = 1; round <= ROUNDS; round++) {
  for (const kind of ['v7', 'v5']) {
    // Alternate which side goes first, so a drift in machine load does not favour one of them.
    const order = round % 2 ? ['raw', 'adapter'] : ['adapter', 'raw'];
    for (const mode of order) {
      const r = await measure(mode, kind, round);
      results[kind][mode].push(r.rate);
      cpu[kind][mode].push(r.cpuPerEvent);
      if (mode === 'adapter') commits[kind].push(r.events / r.commits);
      sizes ??= r;
      console.log(
        `round ${round}  ${kind === 'v7' ? 'uuidv7' : 'uuidv5'}  ${mode.padEnd(7)}  ${fmt(r.rate).padStart(7)} events/s  (${r.seconds.toFixed(2)} s, ${r.cpuPerEvent.toFixed(1)} µs CPU/event, ${fmt(r.events / r.commits, 1)} events/commit)`,
      );
    }
  }
}

console.log(`\nrows: ${fmt(sizes.dataBytes)} B data + ${fmt(sizes.metadataBytes)} B metadata JSON on average (same for both sides)\n`);
const rows = [];
let verdictRatio;
for (const kind of ['v7', 'v5']) {
  const raw = median(results[kind].raw);
  const adapter = median(results[kind].adapter);
  // The two sides of a round ran back to back, so their ratio cancels slow drifts in machine load.
  const paired = median(results[kind].adapter.map((rate, i) => rate / results[kind].raw[i]));
  if (kind === 'v7') verdictRatio = paired;
  rows.push([
    kind === 'v7' ? 'time-ordered ids (uuidv7)' : 'random ids (uuidv5)',
    fmt(raw),
    fmt(adapter),
    ratioText(adapter / raw),
    ratioText(paired),
    fmt(median(commits[kind]), 1),
    `${median(cpu[kind].raw).toFixed(1)} / ${median(cpu[kind].adapter).toFixed(1)} (${ratioText(median(cpu[kind].raw) / median(cpu[kind].adapter))})`,
    kind === 'v7' ? (paired >= GOAL ? `met (>= ${GOAL})` : `NOT met (< ${GOAL})`) : `(>= ${GOAL}: ${paired >= GOAL ? 'yes' : 'no'})`,
  ]);
}
printTable(
  ['medians', 'raw events/s', 'adapter events/s', 'ratio of medians', 'median ratio per round', 'events/commit', 'CPU µs/event raw / adapter (ratio)', 'goal'],
  rows,
);
console.log(
  '\nThe goal is judged on the median of the per-round ratios (each round runs both sides back to back). The CPU column compares CPU time per event, which other load on the machine disturbs less.',
);
console.log(`total ${((Date.now() - started) / 1000).toFixed(0)} s, load at the end ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);
