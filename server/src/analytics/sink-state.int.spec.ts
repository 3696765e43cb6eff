/**
 * The sink's checkpoint and funnel links moved from `state.sqlite` to a file of their own. An
 * upgraded Herald must resume where the sink stopped, with the same links, and leave nothing of the
 * sink in the projections' file.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStateDb, readCheckpoint, type StateDb, writeCheckpoint } from '../state/state-db';
import { ANALYTICS_SINK } from './analytics-sink';
import { FunnelContext } from './funnel-context';
import { openSinkState, SINK_STATE_FILE } from './sink-state';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'herald-sink-state-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const tables = (db: StateDb) =>
  (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'analytics_%' ORDER BY name").all() as Array<{ name: string }>).map(
    (row) => row.name,
  );

/** What a sink of an earlier version left in state.sqlite: links and a checkpoint, as its commit writes them. */
function earlierSinkState(db: StateDb): void {
  const context = new FunnelContext(db);
  context.startEnrollment('e1', { scenarioId: 'cart', startedAtMs: 1_700_000_000_000 });
  context.reachStep('e1', 'reminder', 'discount', 41);
  context.linkMessage('m1', { enrollmentId: 'e1', scenarioId: 'cart', stepId: 'reminder', variant: 'discount' });
  db.transaction(() => {
    context.commit();
    writeCheckpoint(db, ANALYTICS_SINK, 1234);
  })();
}

it('moves the checkpoint and the funnel links out of state.sqlite at the first start, once', () => {
  const projections = openStateDb(join(dir, 'state.sqlite'), { checkpointIntervalMs: 0 });
  writeCheckpoint(projections, 'segments', 99);
  earlierSinkState(projections);

  const sink = openSinkState(projections);
  expect(sink.name).toBe(join(dir, SINK_STATE_FILE));
  expect(readCheckpoint(sink, ANALYTICS_SINK)).toBe(1234);
  const context = new FunnelContext(sink);
  expect(context.enrollment('e1')).toEqual({ scenarioId: 'cart', startedAtMs: 1_700_000_000_000 });
  expect(context.message('m1')).toEqual({ enrollmentId: 'e1', scenarioId: 'cart', stepId: 'reminder', variant: 'discount' });
  expect([...context.steps('e1', 100)]).toEqual([['reminder', 'discount']]);
  // Nothing of the sink is left beside the projections, whose own checkpoints stay.
  expect(readCheckpoint(projections, ANALYTICS_SINK)).toBe(0);
  expect(tables(projections)).toEqual([]);
  expect(readCheckpoint(projections, 'segments')).toBe(99);

  // Later starts keep what the sink has written since.
  writeCheckpoint(sink, ANALYTICS_SINK, 2000);
  sink.close();
  const again = openSinkState(projections);
  expect(readCheckpoint(again, ANALYTICS_SINK)).toBe(2000);
  expect(new FunnelContext(again).message('m1')?.variant).toBe('discount');
  again.close();
  projections.close();
});

it('finishes a move that stopped after the copy: the copy stands and state.sqlite is cleaned up', () => {
  const projections = openStateDb(join(dir, 'state.sqlite'), { checkpointIntervalMs: 0 });
  earlierSinkState(projections);
  // The copy was committed and the sink went on in its own file, but state.sqlite was never cleaned up.
  const sink = openStateDb(join(dir, SINK_STATE_FILE), { checkpointIntervalMs: 0 });
  FunnelContext.setup(sink);
  writeCheckpoint(sink, ANALYTICS_SINK, 5000);
  sink.close();

  const reopened = openSinkState(projections);
  expect(readCheckpoint(reopened, ANALYTICS_SINK)).toBe(5000);
  expect(tables(projections)).toEqual([]);
  expect(readCheckpoint(projections, ANALYTICS_SINK)).toBe(0);
  reopened.close();
  projections.close();
});

it('starts empty next to a state.sqlite that never had a sink, and in memory beside an in-memory state', () => {
  const projections = openStateDb(join(dir, 'state.sqlite'), { checkpointIntervalMs: 0 });
  const sink = openSinkState(projections);
  expect(readCheckpoint(sink, ANALYTICS_SINK)).toBe(0);
  expect(tables(sink)).toEqual(['analytics_enrollment_steps', 'analytics_enrollments', 'analytics_messages']);
  expect(tables(projections)).toEqual([]);
  sink.close();
  projections.close();

  const inMemory = openSinkState(openStateDb(':memory:'));
  expect(inMemory.memory).toBe(true);
  expect(existsSync(join(process.cwd(), SINK_STATE_FILE))).toBe(false);
  inMemory.close();
});

it('reads links saved before steps had a variant position, moved from state.sqlite or in its own file', () => {
  // The step links as versions before variant_position wrote them.
  const earlierStepsTable = (db: StateDb) => {
    db.exec(`CREATE TABLE analytics_enrollment_steps (enrollment_id TEXT NOT NULL, step_id TEXT NOT NULL, variant TEXT NOT NULL,
      first_position INTEGER NOT NULL, PRIMARY KEY (enrollment_id, step_id))`);
    db.prepare('INSERT INTO analytics_enrollment_steps VALUES (?, ?, ?, ?)').run('e1', 'reminder', 'discount', 41);
  };
  const projections = openStateDb(join(dir, 'state.sqlite'), { checkpointIntervalMs: 0 });
  earlierStepsTable(projections);
  writeCheckpoint(projections, ANALYTICS_SINK, 77);
  const moved = openSinkState(projections);
  const ownFile = openStateDb(join(dir, 'own.sqlite'), { checkpointIntervalMs: 0 });
  earlierStepsTable(ownFile);
  for (const db of [moved, ownFile]) {
    const context = new FunnelContext(db);
    // As those versions answered: the variant from the step's first event on.
    expect(context.variantAt('e1', 'reminder', 41)).toBe('discount');
    expect([...context.steps('e1', 42)]).toEqual([['reminder', 'discount']]);
    // And new links are saved beside them.
    context.reachStep('e1', 'sms', 'short', 50);
    db.transaction(() => context.commit())();
    expect(new FunnelContext(db).variantAt('e1', 'sms', 50)).toBe('short');
  }
  expect(readCheckpoint(moved, ANALYTICS_SINK)).toBe(77);
  moved.close();
  ownFile.close();
  projections.close();
});
