/**
 * The experiment API and the auto-winner over HTTP, on the real app: users stream events with the
 * test clock, one A/B step with a real difference in conversion concludes by itself, another is
 * promoted by hand, and a restart (and a rebuild of the counts) concludes nothing twice.
 */
import { gbHash } from '@herald/projections';
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { EVENT_STORE, type EventStore, type RecordedEvent } from '../event-store/event-store.port';
import { TestClock } from '../shared/clock';
import { adminGet, adminSend, eventually, post, saveTemplates, startTestApp, type TestApp } from '../test-support/herald-test-app';

const HOUR = 3_600_000;
const T0 = new Date('2026-03-02T10:00:00Z');

const autoScenario = {
  id: 'promo-ab',
  name: 'Promo A/B with auto-winner',
  trigger: { event: 'Signed Up' },
  goal: { event: 'Purchased', within: '3d' },
  steps: [
    {
      id: 'offer',
      send: {
        channel: 'email',
        holdout: 10,
        variants: [
          { key: 'plain', weight: 50, template: 'promo-plain' },
          { key: 'discount', weight: 50, template: 'promo-discount' },
        ],
        autoWinner: { minExposures: 60, alpha: 0.05 },
      },
    },
  ],
};

const manualScenario = {
  id: 'club',
  name: 'Club welcome, promoted by hand',
  trigger: { event: 'Joined Club' },
  goal: { event: 'Purchased', within: '3d' },
  steps: [
    {
      id: 'hello',
      send: {
        channel: 'email',
        holdout: 20,
        control: 'b',
        variants: [
          { key: 'a', weight: 1, template: 'club-a' },
          { key: 'b', weight: 1, template: 'club-b' },
        ],
      },
    },
  ],
};

/** The variant the split gives a user, as the engine computes it (holdout first, then the weights). */
function splitOf(seed: string, userId: string, holdout: number, keys: [string, string]): string {
  const bucket = gbHash(seed, userId, 2)!;
  if (bucket < holdout) return 'holdout';
  return (bucket - holdout) / (1 - holdout) < 0.5 ? keys[0] : keys[1];
}

type Counted = Record<string, { exposures: number; conversions: number }>;

let herald: TestApp;
let clock: TestClock;
let dataDir: string;
const store = () => herald.app.get<EventStore>(EVENT_STORE);
const track = (userId: string, event: string) => post(`${herald.url}/v1/track`, { userId, event, properties: {} });
const results = (scenarioId: string, stepId: string) => adminGet(`${herald.url}/api/experiments/${scenarioId}/${stepId}`);
const concluded = async (): Promise<RecordedEvent[]> =>
  (await store().readStream('scenarios-default')).filter((event) => event.type === 'ExperimentConcluded');

/** Exposures and conversions per `variant/phase`, counted straight from the log's events. */
async function countedInLog(scenarioId: string, stepId: string): Promise<Counted> {
  const events = await store().readAll({ filter: { eventTypes: ['VariantAssigned', 'GoalReached'] } });
  const byEnrollment = new Map<string, string>();
  const counted: Counted = {};
  for (const event of events) {
    const data = event.data as { enrollmentId: string; scenarioId: string; stepId?: string; variant?: string; concludedBy?: string };
    if (data.scenarioId !== scenarioId) continue;
    if (event.type === 'VariantAssigned' && data.stepId === stepId) {
      const key = `${data.variant}/${data.concludedBy ? 'rollout' : 'experiment'}`;
      byEnrollment.set(data.enrollmentId, key);
      counted[key] = { exposures: (counted[key]?.exposures ?? 0) + 1, conversions: counted[key]?.conversions ?? 0 };
    } else if (event.type === 'GoalReached' && byEnrollment.has(data.enrollmentId)) {
      // Every goal here came an hour after the exposure (the send step is the first step).
      counted[byEnrollment.get(data.enrollmentId)!].conversions++;
    }
  }
  return counted;
}

/** The same counts as the API reports them. */
function countedByApi(body: { variants: Array<{ key: string; exposures: number; conversions: number }>; afterConclusion: Array<{ key: string; exposures: number; conversions: number }> }): Counted {
  const counted: Counted = {};
  for (const v of body.variants) if (v.exposures > 0) counted[`${v.key}/experiment`] = { exposures: v.exposures, conversions: v.conversions };
  for (const v of body.afterConclusion) counted[`${v.key}/rollout`] = { exposures: v.exposures, conversions: v.conversions };
  return counted;
}

async function apiMatchesLog(scenarioId: string, stepId: string): Promise<Counted> {
  return eventually(async () => {
    const log = await countedInLog(scenarioId, stepId);
    const api = countedByApi((await results(scenarioId, stepId)).body);
    return JSON.stringify(sorted(api)) === JSON.stringify(sorted(log)) && log;
  }, 20_000);
}
const sorted = (counted: Counted) => Object.fromEntries(Object.entries(counted).sort(([a], [b]) => a.localeCompare(b)));

beforeAll(async () => {
  clock = new TestClock(T0);
  herald = await startTestApp({ clock });
  dataDir = herald.dataDir;
});
afterAll(() => herald.destroy());

describe('experiments over HTTP', () => {
  let conclusionId: string;

  it('answers 404 for an unknown scenario or step, and 401 without the admin token', async () => {
    await saveTemplates(herald.url, 'promo-plain', 'promo-discount', 'club-a', 'club-b');
    expect((await adminSend('POST', `${herald.url}/api/scenarios`, autoScenario)).status).toBe(201);
    expect((await adminSend('POST', `${herald.url}/api/scenarios`, manualScenario)).status).toBe(201);
    expect(await results('nope', 'offer')).toMatchObject({ status: 404, body: { error: 'not_found', message: 'No scenario nope' } });
    expect(await results('promo-ab', 'nope')).toMatchObject({ status: 404, body: { message: 'Scenario promo-ab has no step nope' } });
    expect((await adminGet(`${herald.url}/api/experiments/promo-ab/offer`, 'wrong-token')).status).toBe(401);
    const empty = await results('promo-ab', 'offer');
    expect(empty.status).toBe(200);
    expect(empty.body).toMatchObject({ control: 'plain', winner: null, conclusion: null, srm: { chi2: 0, pValue: 1, mismatch: false } });
    expect(empty.body.variants.map((v: { key: string }) => v.key)).toEqual(['plain', 'discount', 'holdout']);
    // The shape the issue names, for every variant.
    for (const variant of empty.body.variants) {
      expect(Object.keys(variant).sort()).toEqual(
        ['key', 'exposures', 'conversions', 'rate', 'lift', 'ci', 'pValue', 'adjustedPValue', 'chanceToBeatControl', 'sequentialPValue'].sort(),
      );
    }
    expect(Object.keys(empty.body.srm).sort()).toEqual(['chi2', 'mismatch', 'pValue']);
  });

  it('concludes once for the variant that converts better; later enrolments get it, except the holdout', async () => {
    // Discount buyers convert one in two, plain ones one in ten, the holdout one in twenty.
    const converts = (variant: string, i: number) => (variant === 'discount' ? i % 2 === 0 : variant === 'plain' ? i % 10 === 0 : i % 20 === 0);
    let users = 0;
    for (let round = 0; round < 12 && (await concluded()).length === 0; round++) {
      const cohort: Array<{ userId: string; index: number }> = [];
      for (let i = 0; i < 40; i++, users++) {
        const userId = `buyer-${users}`;
        expect((await track(userId, 'Signed Up')).status).toBe(200);
        cohort.push({ userId, index: users });
      }
      clock.advance(HOUR);
      for (const { userId, index } of cohort) {
        if (converts(splitOf('promo-ab:offer', userId, 0.1, ['plain', 'discount']), index)) await track(userId, 'Purchased');
      }
      await apiMatchesLog('promo-ab', 'offer');
    }
    const [conclusion] = await eventually(async () => {
      const events = await concluded();
      return events.length > 0 && events;
    });
    conclusionId = conclusion.id;
    expect(conclusion.data).toMatchObject({
      scenarioId: 'promo-ab',
      stepId: 'offer',
      version: 1,
      winner: 'discount',
      cause: { kind: 'auto', alpha: 0.05, minExposures: 60 },
    });
    // Decided on counts that met the rule: every variant at minExposures, no SRM, significant.
    const decidedOn = Object.fromEntries((conclusion.data as any).analysis.variants.map((v: any) => [v.key, v]));
    expect(decidedOn.plain.exposures).toBeGreaterThanOrEqual(60);
    expect(decidedOn.discount.exposures).toBeGreaterThanOrEqual(60);
    expect(decidedOn.discount.sequentialPValue).toBeLessThanOrEqual(0.05);
    expect((conclusion.data as any).analysis.srm.mismatch).toBe(false);

    // New enrolments: the winner, unless the hash holds them out (the holdout keeps its share).
    const later = Array.from({ length: 40 }, (_, i) => `later-${i}`);
    for (const userId of later) await track(userId, 'Signed Up');
    const assigned = await eventually(async () => {
      const events = await store().readAll({ filter: { eventTypes: ['VariantAssigned'] } });
      const ofLater = events.filter((e) => (e.data as { enrollmentId: string }).enrollmentId.startsWith('promo-ab/') && later.some((u) => e.stream.endsWith(`-user:${u}`) || e.stream.endsWith(u)));
      return ofLater.length === later.length && ofLater;
    });
    for (const event of assigned) {
      const data = event.data as { variant: string; bucket: number; concludedBy?: string };
      expect([data.variant, data.concludedBy]).toEqual([data.bucket < 0.1 ? 'holdout' : 'discount', conclusionId]);
    }
    expect(assigned.some((e) => (e.data as { variant: string }).variant === 'discount')).toBe(true);
    expect(await concluded()).toHaveLength(1);

    // The API's numbers are the log's, and it reports the conclusion.
    const counts = await apiMatchesLog('promo-ab', 'offer');
    expect(counts['discount/rollout'].exposures).toBeGreaterThan(0);
    const { body } = await results('promo-ab', 'offer');
    expect(body).toMatchObject({ winner: 'discount', concluded: { winner: 'discount', eventId: conclusionId }, conclusion: { eventId: conclusionId, cause: { kind: 'auto' } } });
    expect(body.holdoutVsSending.sending.exposures).toBe(
      Object.entries(counts)
        .filter(([key]) => !key.startsWith('holdout/'))
        .reduce((total, [, c]) => total + c.exposures, 0),
    );
  });

  it('explains a message sent after the conclusion: the variant came from the concluded experiment', async () => {
    const userId = Array.from({ length: 40 }, (_, i) => `later-${i}`).find((u) => gbHash('promo-ab:offer', u, 2)! >= 0.1)!;
    const queued = await eventually(async () => {
      const events = (await adminGet(`${herald.url}/api/users/${userId}/events`)).body.events as RecordedEvent[];
      return events.find((e) => e.type === 'MessageQueued');
    });
    const why = await adminGet(`${herald.url}/api/users/${userId}/explain?message=${encodeURIComponent((queued.data as { messageId: string }).messageId)}`);
    expect(why.status).toBe(200);
    expect(why.body.variant).toMatchObject({
      key: 'discount',
      source: 'concluded-experiment',
      concludedBy: conclusionId,
      conclusion: { eventId: conclusionId, winner: 'discount', cause: { kind: 'auto' } },
    });
  });

  it('promotes by hand, once, with 4xx naming the problem and nothing stored', async () => {
    for (let i = 0; i < 10; i++) await track(`member-${i}`, 'Joined Club');
    const promote = (path: string, body: unknown) => adminSend('POST', `${herald.url}/api/experiments/${path}/promote`, body);
    expect(await promote('club/hello', { variant: 'c' })).toMatchObject({ status: 400, body: { path: 'variant', message: '"c" is not a variant of step hello; the variants are a, b' } });
    expect(await promote('club/hello', { variant: 'holdout' })).toMatchObject({ status: 400 });
    expect(await promote('club/hello', {})).toMatchObject({ status: 400, body: { path: 'variant' } });
    expect(await promote('club/hello', { variant: 'a', extra: 1 })).toMatchObject({ status: 400, body: { path: 'extra' } });
    expect(await promote('club/nope', { variant: 'a' })).toMatchObject({ status: 404 });
    expect(await promote('nope/hello', { variant: 'a' })).toMatchObject({ status: 404 });
    expect(await promote('promo-ab/offer', { variant: 'plain' })).toMatchObject({ status: 409 });
    expect(await concluded()).toHaveLength(1);

    const promoted = await promote('club/hello', { variant: 'a' });
    expect(promoted).toMatchObject({ status: 201, body: { scenarioId: 'club', stepId: 'hello', winner: 'a' } });
    expect(await promote('club/hello', { variant: 'b' })).toMatchObject({ status: 409 });
    expect((await concluded()).map((e) => [e.id, (e.data as { winner: string }).winner])).toEqual([
      [conclusionId, 'discount'],
      [promoted.body.eventId, 'a'],
    ]);

    const after = Array.from({ length: 10 }, (_, i) => `member-after-${i}`);
    for (const userId of after) await track(userId, 'Joined Club');
    await eventually(async () => (await countedInLog('club', 'hello'))['a/rollout'] !== undefined || (await countedInLog('club', 'hello'))['holdout/rollout'] !== undefined);
    const counts = await apiMatchesLog('club', 'hello');
    expect(Object.keys(counts).filter((key) => key.endsWith('/rollout')).every((key) => key === 'a/rollout' || key === 'holdout/rollout')).toBe(true);
    const { body } = await results('club', 'hello');
    expect(body).toMatchObject({ control: 'b', winner: 'a', conclusion: { eventId: promoted.body.eventId, cause: { kind: 'manual' } } });
    const member = after.find((u) => gbHash('club:hello', u, 2)! >= 0.2)!;
    const queued = await eventually(async () => {
      const events = (await adminGet(`${herald.url}/api/users/${member}/events`)).body.events as RecordedEvent[];
      return events.find((e) => e.type === 'MessageQueued');
    });
    const why = await adminGet(`${herald.url}/api/users/${member}/explain?message=${encodeURIComponent((queued.data as { messageId: string }).messageId)}`);
    expect(why.body.variant).toMatchObject({ key: 'a', source: 'concluded-experiment', conclusion: { cause: { kind: 'manual', requestedBy: 'admin' } } });
  });

  it('concludes nothing twice across a restart and a rebuild of the counts', async () => {
    const before = await countedInLog('promo-ab', 'offer');
    await herald.close();
    herald = await startTestApp({ dataDir, clock });
    for (let i = 0; i < 5; i++) await track(`restart-${i}`, 'Signed Up');
    await eventually(async () => (await countedInLog('promo-ab', 'offer'))['discount/rollout']?.exposures !== before['discount/rollout']?.exposures || undefined);
    await apiMatchesLog('promo-ab', 'offer');
    expect((await concluded()).map((e) => (e.data as { stepId: string }).stepId)).toEqual(['offer', 'hello']);

    // Drop the counts and their checkpoint: the next start counts the whole log again, concluding nothing.
    await herald.close();
    const db = new Database(join(dataDir, 'state.sqlite'));
    db.exec("DROP TABLE experiment_arms; DROP TABLE experiment_enrollments; DELETE FROM checkpoints WHERE name = 'experiments';");
    db.close();
    herald = await startTestApp({ dataDir, clock });
    await apiMatchesLog('promo-ab', 'offer');
    await apiMatchesLog('club', 'hello');
    expect(await concluded()).toHaveLength(2);
  });
});
