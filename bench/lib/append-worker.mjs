// One measurement in a fresh process: write `count` tracked events into a new log at `path`, either
// raw (better-sqlite3, `txnSize` rows per transaction) or through SqliteEventStore.append (one event
// per call, `inFlight` calls outstanding so group commit can work). Reports wall and CPU time over IPC.
import { requireDist } from './common.mjs';
import { makeEvents } from './events.mjs';
import { describeLog, openRawLog } from './raw-log.mjs';

const { mode, kind, count, txnSize, inFlight, path, runTag } = JSON.parse(process.argv[2]);
// Ids and payload objects are made before timing: both sides get the same input.
const events = makeEvents(count, kind, runTag);

async function timed(work) {
  const cpu = process.cpuUsage();
  const started = performance.now();
  await work();
  const seconds = (performance.now() - started) / 1000;
  const used = process.cpuUsage(cpu);
  return { seconds, cpuMicros: used.user + used.system };
}

let timing;
let commits;
if (mode === 'raw') {
  const log = await openRawLog(path);
  timing = await timed(() => {
    for (let i = 0; i < count; i += txnSize) log.appendRows(events.slice(i, i + txnSize));
  });
  commits = Math.ceil(count / txnSize);
  log.close();
} else if (mode === 'adapter') {
  const { SqliteEventStore } = requireDist('event-store/sqlite/sqlite-event-store.js');
  const store = new SqliteEventStore({ path });
  let next = 0;
  const writer = async () => {
    while (next < count) {
      const { stream, event } = events[next++];
      await store.append(stream, [event], { expectedRevision: 'any' });
    }
  };
  timing = await timed(() => Promise.all(Array.from({ length: inFlight }, writer)));
  commits = store.stats.commits;
  if (store.stats.events !== count) throw new Error(`adapter wrote ${store.stats.events} events, expected ${count}`);
  await store.close();
} else {
  throw new Error(`unknown mode ${mode}`);
}

const written = describeLog(path);
if (written.rows !== count) throw new Error(`${mode} left ${written.rows} rows, expected ${count}`);
process.send({ type: 'result', ...timing, events: count, commits, ...written }, () => process.exit(0));
