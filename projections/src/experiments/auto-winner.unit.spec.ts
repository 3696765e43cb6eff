import type { DomainEvent } from '../events';
import { NO_SETTINGS } from '../messaging';
import type { ScenarioCatalogView } from '../scenarios/decide';
import type { ScenarioDefinition } from '../scenarios/scenario-definition';
import type { VariantAssigned } from '../scenarios/scenario-events';
import { ScenarioSimulator, staticCatalog } from '../scenarios/simulator';
import { gbHash } from '../stats';
import {
  decideAutoWinner,
  decidePromotion,
  ExperimentAlreadyConcludedError,
  ExperimentNotFoundError,
  UnknownVariantError,
  type ExperimentConcluded,
} from './auto-winner';
import { ExperimentLedger } from './experiment-ledger';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const T0 = Date.parse('2026-03-02T00:00:00Z');

const welcome: ScenarioDefinition = {
  id: 'welcome',
  name: 'Welcome offer',
  trigger: { event: 'Signed Up' },
  goal: { event: 'Purchased', within: '7d' },
  steps: [
    { id: 'settle', wait: '1h' },
    {
      id: 'offer',
      send: {
        channel: 'email',
        holdout: 10,
        variants: [
          { key: 'plain', weight: 50, template: 'plain' },
          { key: 'discount', weight: 50, template: 'discount' },
        ],
        autoWinner: { minExposures: 300, alpha: 0.05 },
      },
    },
  ],
};

/** A catalog whose conclusions can be added as the simulation goes, as the log would. */
function catalogWithConclusions(definitions: ScenarioDefinition[]) {
  const base = staticCatalog(definitions.map((definition) => ({ definition })));
  const conclusions = new Map<string, { winner: string; eventId: string }>();
  const view: ScenarioCatalogView = { ...base, conclusion: (scenarioId, stepId) => conclusions.get(`${scenarioId}/${stepId}`) };
  return { view, conclude: (c: ExperimentConcluded, eventId: string) => conclusions.set(`${c.scenarioId}/${c.stepId}`, { winner: c.winner, eventId }) };
}

/** mulberry32: a small seeded generator, so the simulation is the same on every run. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

let sequence = 0;
function tracked(name: string, at: number): DomainEvent {
  const iso = new Date(at).toISOString();
  return { id: `u${sequence++}`, type: 'Tracked', data: { event: name, properties: {} }, metadata: { workspace: 'w', occurredAt: iso, receivedAt: iso, schemaVersion: 1 } };
}

describe('auto-winner over 30 simulated days', () => {
  it('concludes once for the better variant; later enrolments get it, except the holdout', () => {
    const catalog = catalogWithConclusions([welcome]);
    const sim = new ScenarioSimulator(catalog.view, NO_SETTINGS);
    const ledger = new ExperimentLedger();
    const rand = random(42);
    // Purchase probability by the variant a user got: the discount really converts better.
    const rates: Record<string, number> = { plain: 0.04, discount: 0.1, holdout: 0.02 };
    const purchases: Array<{ person: string; at: number }> = [];
    const conclusions: Array<{ event: ExperimentConcluded; id: string; at: number }> = [];
    let folded = 0;
    let users = 0;

    for (let hour = 0; hour < 30 * 24; hour++) {
      const start = T0 + hour * HOUR;
      // ~10 sign-ups an hour, spread over the hour.
      for (let i = 0; i < 10; i++) {
        const at = start + Math.floor(((i + rand()) / 10) * HOUR);
        sim.advanceTo(at);
        sim.handle(`user:u${users++}`, tracked('Signed Up', at));
      }
      sim.advanceTo(start + HOUR - 1);
      for (const due of purchases.filter((p) => p.at < start + HOUR)) sim.handle(due.person, tracked('Purchased', due.at));
      purchases.splice(0, purchases.length, ...purchases.filter((p) => p.at >= start + HOUR));

      // The host's side: fold the new decisions, then ask the rule after each exposure or conversion.
      for (; folded < sim.log.length; folded++) {
        const event = sim.log[folded];
        const changes = ledger.record(event);
        if (event.type === 'VariantAssigned') {
          const data = event.data as VariantAssigned;
          if (rand() < rates[data.variant]) purchases.push({ person: event.person, at: Date.parse(event.metadata.occurredAt) + DAY });
        }
        if (changes.length === 0) continue;
        const concluded = decideAutoWinner({
          definition: welcome,
          version: 1,
          stepId: 'offer',
          arms: ledger.counts('w', 'welcome', 'offer'),
          concluded: conclusions.length > 0,
          causeEventId: event.id,
          now: start + HOUR,
        });
        if (concluded) {
          const id = `concluded-${conclusions.length}`;
          conclusions.push({ event: concluded, id, at: start + HOUR });
          catalog.conclude(concluded, id);
        }
      }
    }

    expect(users).toBe(7200);
    expect(conclusions).toHaveLength(1);
    const [{ event: conclusion, id, at: concludedAt }] = conclusions;
    expect(conclusion).toMatchObject({ scenarioId: 'welcome', stepId: 'offer', version: 1, winner: 'discount', cause: { kind: 'auto', alpha: 0.05, minExposures: 300 } });
    // It was decided on what the rule asks for.
    const counted = Object.fromEntries(conclusion.analysis.variants.map((v) => [v.key, v]));
    expect(counted.plain.exposures).toBeGreaterThanOrEqual(300);
    expect(counted.discount.exposures).toBeGreaterThanOrEqual(300);
    expect(conclusion.analysis.srm.mismatch).toBe(false);
    expect(counted.discount.sequentialPValue).toBeLessThanOrEqual(0.05);
    expect(concludedAt).toBeLessThan(T0 + 30 * DAY);

    const assignments = sim.log.filter((e) => e.type === 'VariantAssigned').map((e) => ({ ...(e.data as VariantAssigned), person: e.person, at: Date.parse(e.metadata.occurredAt) }));
    const before = assignments.filter((a) => a.concludedBy === undefined);
    const after = assignments.filter((a) => a.concludedBy !== undefined);
    expect(before.every((a) => a.at < concludedAt)).toBe(true);
    expect(after.length).toBeGreaterThan(1000);
    for (const a of after) {
      expect(a.concludedBy).toBe(id);
      // The holdout keeps exactly its share: the same hash buckets as before the conclusion.
      const bucket = gbHash('welcome:offer', a.person.slice('user:'.length), 2)!;
      expect([a.variant, bucket < 0.1]).toEqual([bucket < 0.1 ? 'holdout' : 'discount', bucket < 0.1]);
    }
    // One assignment per enrolment: the ones made before stay as they were.
    expect(new Set(assignments.map((a) => a.enrollmentId)).size).toBe(assignments.length);

    // The fold's counts are the counts of the events.
    const arms = ledger.counts('w', 'welcome', 'offer');
    const exposuresOf = (variant: string, rollout: boolean) => assignments.filter((a) => a.variant === variant && (a.concludedBy !== undefined) === rollout).length;
    for (const a of arms) expect([a.variant, a.phase, a.exposures]).toEqual([a.variant, a.phase, exposuresOf(a.variant, a.phase === 'rollout')]);
    const goals = sim.log.filter((e) => e.type === 'GoalReached').length;
    expect(arms.reduce((total, a) => total + a.conversions, 0)).toBe(goals);
  });
});

describe('decideAutoWinner and decidePromotion', () => {
  const arms = [
    { variant: 'plain', phase: 'experiment' as const, exposures: 5000, conversions: 200 },
    { variant: 'discount', phase: 'experiment' as const, exposures: 5000, conversions: 500 },
    { variant: 'holdout', phase: 'experiment' as const, exposures: 1111, conversions: 30 },
  ];
  const base = { definition: welcome, version: 3, stepId: 'offer', arms, concluded: false, causeEventId: 'ev-9', now: T0 };

  it('concludes with the counts and statistics, the cause and the time', () => {
    const concluded = decideAutoWinner(base)!;
    expect(concluded).toMatchObject({
      scenarioId: 'welcome',
      stepId: 'offer',
      version: 3,
      winner: 'discount',
      cause: { kind: 'auto', eventId: 'ev-9', alpha: 0.05, minExposures: 300 },
      concludedAt: '2026-03-02T00:00:00.000Z',
    });
    expect(concluded.analysis.variants.map((v) => [v.key, v.exposures, v.conversions])).toEqual([
      ['plain', 5000, 200],
      ['discount', 5000, 500],
      ['holdout', 1111, 30],
    ]);
  });

  it('does nothing once concluded, without autoWinner, or below minExposures', () => {
    expect(decideAutoWinner({ ...base, concluded: true })).toBeUndefined();
    const manual = { ...welcome, steps: welcome.steps.map((s) => ('send' in s ? { ...s, send: { ...s.send, autoWinner: undefined } } : s)) };
    expect(decideAutoWinner({ ...base, definition: manual })).toBeUndefined();
    expect(decideAutoWinner({ ...base, arms: arms.map((a) => ({ ...a, exposures: 299, conversions: Math.min(a.conversions, 299) })) })).toBeUndefined();
    expect(decideAutoWinner({ ...base, stepId: 'settle' })).toBeUndefined();
  });

  it('promotes by hand, with typed errors for an unknown step or variant and a second conclusion', () => {
    const promote = { ...base, variant: 'plain', requestedBy: 'admin' };
    expect(decidePromotion(promote)).toMatchObject({ winner: 'plain', cause: { kind: 'manual', requestedBy: 'admin' } });
    expect(() => decidePromotion({ ...promote, stepId: 'settle' })).toThrow(ExperimentNotFoundError);
    expect(() => decidePromotion({ ...promote, variant: 'fancy' })).toThrow(new UnknownVariantError('"fancy" is not a variant of step offer; the variants are plain, discount'));
    expect(() => decidePromotion({ ...promote, variant: 'holdout' })).toThrow(UnknownVariantError);
    expect(() => decidePromotion({ ...promote, concluded: true })).toThrow(ExperimentAlreadyConcludedError);
  });
});
