import type { DomainEvent } from '../events';
import { ExperimentLedger, evolveEnrollmentExposures } from './experiment-ledger';

const T0 = Date.parse('2026-03-02T10:00:00Z');
const HOUR = 3_600_000;
let sequence = 0;
function event(type: string, data: Record<string, unknown>, at: number, workspace = 'w'): DomainEvent {
  const iso = new Date(at).toISOString();
  return { id: `e${sequence++}`, type, data, metadata: { workspace, occurredAt: iso, receivedAt: iso, schemaVersion: 1 } };
}
const started = (enrollmentId: string, at: number, workspace = 'w') =>
  event('EnrollmentStarted', { enrollmentId, scenarioId: 's', version: 1, person: 'user:x', trigger: { eventId: 't', type: 'Tracked', properties: {} } }, at, workspace);
const assigned = (enrollmentId: string, stepId: string, variant: string, at: number, concludedBy?: string) =>
  event('VariantAssigned', { enrollmentId, scenarioId: 's', stepId, variant, bucket: 0.5, hashVersion: 2, seed: `s:${stepId}`, ...(concludedBy ? { concludedBy } : {}) }, at);
const goal = (enrollmentId: string, startedAt: number, goalAt: number) =>
  event('GoalReached', { enrollmentId, scenarioId: 's', version: 1, eventId: 'g', variants: {}, afterMs: goalAt - startedAt }, goalAt + 1000);

describe('the experiment fold', () => {
  it('counts an exposure per enrolment and step, the holdout included, and a conversion after it', () => {
    const ledger = new ExperimentLedger();
    for (const e of [
      started('e1', T0),
      assigned('e1', 'offer', 'plain', T0 + HOUR),
      started('e2', T0),
      assigned('e2', 'offer', 'holdout', T0 + HOUR),
      started('e3', T0),
      assigned('e3', 'offer', 'discount', T0 + HOUR),
      goal('e1', T0, T0 + 2 * HOUR),
      goal('e2', T0, T0 + 3 * HOUR),
      // Replayed and repeated events change nothing.
      assigned('e1', 'offer', 'plain', T0 + HOUR),
      goal('e1', T0, T0 + 5 * HOUR),
    ]) {
      ledger.record(e);
    }
    expect(ledger.counts('w', 's', 'offer')).toEqual([
      { variant: 'plain', phase: 'experiment', exposures: 1, conversions: 1 },
      { variant: 'holdout', phase: 'experiment', exposures: 1, conversions: 1 },
      { variant: 'discount', phase: 'experiment', exposures: 1, conversions: 0 },
    ]);
    expect(ledger.counts('other', 's', 'offer')).toEqual([]);
  });

  it('does not count a goal reached before the enrolment got to the step', () => {
    const ledger = new ExperimentLedger();
    ledger.record(started('e1', T0));
    ledger.record(assigned('e1', 'first', 'a', T0));
    ledger.record(goal('e1', T0, T0 + HOUR));
    ledger.record(assigned('e1', 'second', 'b', T0 + 2 * HOUR));
    expect(ledger.counts('w', 's', 'first')).toEqual([{ variant: 'a', phase: 'experiment', exposures: 1, conversions: 1 }]);
    expect(ledger.counts('w', 's', 'second')).toEqual([{ variant: 'b', phase: 'experiment', exposures: 1, conversions: 0 }]);
  });

  it('uses the time of the goal event, not the order the events were logged in', () => {
    // A goal event that happened (occurredAt) before the exposure but was recorded after it.
    const ledger = new ExperimentLedger();
    ledger.record(started('e1', T0));
    ledger.record(assigned('e1', 'offer', 'a', T0 + 2 * HOUR));
    ledger.record(goal('e1', T0, T0 + HOUR));
    expect(ledger.counts('w', 's', 'offer')).toEqual([{ variant: 'a', phase: 'experiment', exposures: 1, conversions: 0 }]);
  });

  it('puts assignments that followed a conclusion in the rollout phase', () => {
    const ledger = new ExperimentLedger();
    ledger.record(started('e1', T0));
    ledger.record(assigned('e1', 'offer', 'discount', T0, 'concluded-1'));
    expect(ledger.counts('w', 's', 'offer')).toEqual([{ variant: 'discount', phase: 'rollout', exposures: 1, conversions: 0 }]);
  });

  it('keeps workspaces apart and never mutates a record', () => {
    const first = evolveEnrollmentExposures(undefined, started('e1', T0, 'w1')).record!;
    const frozen = JSON.stringify(first);
    const second = evolveEnrollmentExposures(first, assigned('e1', 'offer', 'a', T0));
    expect(JSON.stringify(first)).toBe(frozen);
    expect(second.changes).toEqual([{ workspace: 'w', scenarioId: 's', stepId: 'offer', variant: 'a', phase: 'experiment', exposures: 1, conversions: 0 }]);
    expect(evolveEnrollmentExposures(first, event('MessageQueued', { enrollmentId: 'e1' }, T0))).toEqual({ record: first, changes: [] });
  });
});
