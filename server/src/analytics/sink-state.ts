/**
 * The analytics sink's checkpoint and funnel links live in a SQLite file of their own,
 * `DATA_DIR/analytics-sink.sqlite`, beside the projections' `state.sqlite`. On the embedded log the
 * sink commits from its worker thread; in `state.sqlite` it was a second writer, and a projection's
 * commit on the event loop waited, synchronously, for the sink's commit of a batch's links (SQLite
 * has one writer per file). Apart, neither waits for the other.
 *
 * Herald before this kept them in `state.sqlite`: they are moved over once, at the first start.
 */
import { dirname, join } from 'node:path';
import { openStateDb, readCheckpoint, type StateDb } from '../state/state-db';
import { ANALYTICS_SINK } from './analytics-sink';
import { FUNNEL_CONTEXT_TABLES, FunnelContext } from './funnel-context';

export const SINK_STATE_FILE = 'analytics-sink.sqlite';

/** Opens the sink's state next to `projectionState` (in memory when that is), moving it out of there first if needed. */
export function openSinkState(projectionState: StateDb): StateDb {
  if (projectionState.memory) return openStateDb(':memory:');
  // Its own commits checkpoint its WAL (small: one commit per batch of up to 20,000 events).
  const sinkState = openStateDb(join(dirname(projectionState.name), SINK_STATE_FILE), { checkpointIntervalMs: 0 });
  try {
    moveSinkState(projectionState, sinkState);
  } catch (error) {
    sinkState.close();
    throw error;
  }
  return sinkState;
}

function moveSinkState(from: StateDb, to: StateDb): void {
  FunnelContext.setup(to);
  const left = readCheckpoint(from, ANALYTICS_SINK);
  if (left === 0 && !FUNNEL_CONTEXT_TABLES.some((table) => hasTable(from, table))) return;
  // A start that stopped between the copy and the clean-up below finds the copy already made.
  if (readCheckpoint(to, ANALYTICS_SINK) === 0) {
    to.prepare('ATTACH DATABASE ? AS projections').run(from.name);
    try {
      to.transaction(() => {
        for (const table of FUNNEL_CONTEXT_TABLES) {
          if (!hasTable(from, table)) continue;
          // By name: the file of an earlier version may have fewer columns than the table has now.
          const columns = to.prepare<[string, string], { name: string }>('SELECT name FROM pragma_table_info(?, ?)').all(table, 'projections').map((column) => column.name);
          to.exec(`INSERT OR IGNORE INTO main.${table} (${columns.join(', ')}) SELECT ${columns.join(', ')} FROM projections.${table}`);
        }
        to.prepare('INSERT OR REPLACE INTO main.checkpoints (name, position) VALUES (?, ?)').run(ANALYTICS_SINK, left);
      })();
    } finally {
      to.exec('DETACH DATABASE projections');
    }
  }
  from.transaction(() => {
    for (const table of FUNNEL_CONTEXT_TABLES) from.exec(`DROP TABLE IF EXISTS ${table}`);
    from.prepare('DELETE FROM checkpoints WHERE name = ?').run(ANALYTICS_SINK);
  })();
}

function hasTable(db: StateDb, table: string): boolean {
  return db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?").get(table) !== undefined;
}
