// One `herald projections rebuild` of every projection, in a process of its own so that bench:rebuild
// can give it the Node flags the CLI runs with (or, for comparison, none). Usage (forked, IPC):
// rebuild-child.mjs <log path> <state path> [profile]; sends one { type: 'result', ... } message.
import { requireDist } from './common.mjs';
import { openStore } from './projections-log.mjs';
import { startProfile } from './projections-support.mjs';

const [logPath, statePath, profile] = process.argv.slice(2);
const { openStateDb } = requireDist('state/state-db.js');
const { rebuildProjections } = requireDist('cli/projections.commands.js');

const store = openStore(logPath);
const db = openStateDb(statePath);
try {
  const profiler = profile === 'profile' ? await startProfile('rebuild') : undefined;
  const cpuStart = process.cpuUsage();
  const faultsStart = process.resourceUsage().minorPageFault;
  const started = process.hrtime.bigint();
  const results = await rebuildProjections(store, db, []);
  const total = Number(process.hrtime.bigint() - started) / 1e9;
  const used = process.cpuUsage(cpuStart);
  const faults = process.resourceUsage().minorPageFault - faultsStart;
  const profileFile = await profiler?.stop();
  const members = db.prepare('SELECT segment_id, COUNT(*) AS n FROM segment_members GROUP BY segment_id ORDER BY segment_id').all();
  const { persons, recordBytes } = db.prepare('SELECT COUNT(*) AS persons, AVG(LENGTH(record)) AS recordBytes FROM segment_persons').get();
  const due = db.prepare('SELECT COUNT(*) AS n FROM segment_persons WHERE next_check_at IS NOT NULL').get().n;
  const links = db.prepare('SELECT COUNT(*) AS n FROM identity_links').get().n;
  process.send({ type: 'result', total, cpu: (used.user + used.system) / 1e6, faults, results, members, persons, recordBytes, due, links, profileFile, execArgv: process.execArgv });
} finally {
  db.close();
  await store.close();
}
