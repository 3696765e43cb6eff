/**
 * The experiments projection starts an enrolment's record without looking in the table for one (an
 * enrolment starts once); if the table has one after all, it is the enrolment's, as the fold says.
 */
import { type ArmCounts, type EnrollmentExposures } from '@herald/projections';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RecordedEvent } from '../event-store/event-store.port';
import type { ScenarioCatalog } from '../scenarios/scenario-catalog';
import { openStateDb, type StateDb } from '../state/state-db';
import { prepared } from '../state/prepared';
import { committedCounts, ExperimentsProjection } from './experiments.projection';

let dir: string;
let db: StateDb;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'herald-experiments-'));
  db = openStateDb(join(dir, 'state.sqlite'));
});
afterEach(() => {
  db.close();
  rmSync(dir, { recursive: true, force: true });
});

let position = 0;
function event(type: string, data: Record<string, unknown>, at: string): RecordedEvent {
  position += 1;
  return {
    id: `00000000-0000-7000-8000-${String(position).padStart(12, '0')}`,
    stream: 'user-default:ada',
    revision: position,
    position,
    type,
    data,
    metadata: { workspace: 'default', occurredAt: at, receivedAt: at, schemaVersion: 1 },
    recordedAt: at,
  } as RecordedEvent;
}
const started = (enrollmentId: string, at: string) => event('EnrollmentStarted', { enrollmentId, scenarioId: 'promo', version: 1, trigger: { event: 'Signed Up' } }, at);
const assigned = (enrollmentId: string, variant: string, at: string) => event('VariantAssigned', { enrollmentId, scenarioId: 'promo', stepId: 'offer', variant }, at);

/** Handles one batch and commits it, as the runner does (which preloads it first). */
let preloading = true;
async function batch(projection: ExperimentsProjection, events: RecordedEvent[]): Promise<void> {
  if (preloading) projection.preload(events);
  for (const e of events) await projection.handle(e);
  db.transaction(() => projection.flush(db))();
}

function recordOf(enrollmentId: string): EnrollmentExposures | undefined {
  const row = db.prepare<[string], { record: string }>('SELECT record FROM experiment_enrollments WHERE enrollment_id = ?').get(enrollmentId);
  return row && (JSON.parse(row.record) as EnrollmentExposures);
}

const counts = (): ArmCounts[] => committedCounts(db, 'default', 'promo', 'offer');

it.each([true, false])('keeps the stored record when an enrolment it has seen starts again, in a later batch or with more of it in the same batch (preloaded: %s)', async (preload) => {
  preloading = preload;
  const projection = new ExperimentsProjection(db, undefined as unknown as ScenarioCatalog, false);
  projection.setup(db);

  await batch(projection, [started('e1', '2026-03-02T10:00:00.000Z'), assigned('e1', 'plain', '2026-03-02T10:00:01.000Z')]);
  const first = recordOf('e1');
  expect(first?.steps.offer?.variant).toBe('plain');
  expect(first?.startedAt).toBe(Date.parse('2026-03-02T10:00:00.000Z'));

  // The same start again, alone: the stored record stands.
  await batch(projection, [started('e1', '2026-03-03T10:00:00.000Z')]);
  expect(recordOf('e1')).toEqual(first);

  // Again, followed by an assignment of the step it was already exposed at: nothing is counted twice.
  await batch(projection, [started('e1', '2026-03-04T10:00:00.000Z'), assigned('e1', 'discount', '2026-03-04T10:00:01.000Z')]);
  expect(recordOf('e1')).toEqual(first);
  expect(counts()).toEqual([{ variant: 'plain', phase: 'experiment', exposures: 1, conversions: 0 }]);

  // A new enrolment gets its record.
  await batch(projection, [started('e2', '2026-03-05T10:00:00.000Z')]);
  expect(recordOf('e2')).toEqual({ workspace: 'default', enrollmentId: 'e2', scenarioId: 'promo', startedAt: Date.parse('2026-03-05T10:00:00.000Z'), steps: {} });
  await batch(projection, [assigned('e2', 'discount', '2026-03-05T10:00:01.000Z')]);
  expect(recordOf('e2')?.steps.offer?.variant).toBe('discount');
  expect(counts()).toEqual([
    { variant: 'discount', phase: 'experiment', exposures: 1, conversions: 0 },
    { variant: 'plain', phase: 'experiment', exposures: 1, conversions: 0 },
  ]);
});

it('reads the records a batch needs in one transaction, not one autocommit read each', async () => {
  preloading = true;
  const projection = new ExperimentsProjection(db, undefined as unknown as ScenarioCatalog, false);
  projection.setup(db);
  await batch(projection, [started('e1', '2026-03-02T10:00:00.000Z'), assigned('e1', 'plain', '2026-03-02T10:00:01.000Z')]);
  // Every read of the records table, and whether a transaction was open.
  const reads: boolean[] = [];
  const select = prepared(db, 'SELECT record FROM experiment_enrollments WHERE workspace = ? AND enrollment_id = ?');
  const get = select.get.bind(select);
  select.get = ((...args: unknown[]) => {
    reads.push(db.inTransaction);
    return get(...args);
  }) as typeof select.get;
  // Started again (e1, stored) and anew (e2), each with more of it in the batch: both need the table.
  await batch(projection, [
    started('e1', '2026-03-03T10:00:00.000Z'),
    assigned('e1', 'discount', '2026-03-03T10:00:01.000Z'),
    started('e2', '2026-03-03T10:00:02.000Z'),
    assigned('e2', 'plain', '2026-03-03T10:00:03.000Z'),
  ]);
  expect(reads).toEqual([true, true]);
  expect(recordOf('e1')?.steps.offer?.variant).toBe('plain');
  expect(recordOf('e2')?.steps.offer?.variant).toBe('plain');
});
