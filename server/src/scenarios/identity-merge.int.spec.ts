/**
 * Enrolments across an identity link, through the real reactor on a real log: a guest's enrolment
 * moves to the user when `IdentityLinked` arrives (handled after every earlier event of the guest's
 * stream), the due-timer index follows it and is rebuilt from the log as it was kept live, and under
 * crashes and restarts every decision is in the log once.
 */
import { anonymousStream, type ScenarioDefinition, userStream } from '@herald/projections';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NewEvent, RecordedEvent } from '../event-store/event-store.port';
import { ProjectionRunner } from '../projection-runner/projection-runner';
import { uuidv7 } from '../shared/ids';
import { scenarioReactorBed } from './scenario-reactor.fixture';
import { ScenariosProjection } from './scenarios.projection';

const HOUR = 3_600_000;

const cart: ScenarioDefinition = {
  id: 'cart',
  name: 'Cart',
  trigger: { event: 'Checkout Started' },
  exitOn: [{ event: 'Order Completed' }],
  goal: { event: 'Order Completed', within: '72h' },
  steps: [
    { id: 'wait-1h', wait: '1h' },
    { id: 'reminder', send: { channel: 'email', template: 'cart-plain' } },
    { id: 'wait-purchase', waitFor: { event: 'Order Completed', timeout: '24h' }, onEvent: 'done', onTimeout: 'sms' },
    { id: 'sms', send: { channel: 'sms', template: 'cart-sms' } },
    { id: 'done', exit: true },
  ],
};

let dir: string;
beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'herald-identity-merge-'))));
afterEach(() => rmSync(dir, { recursive: true, force: true }));

async function testBed(crash: () => boolean = () => false) {
  const bed = await scenarioReactorBed(dir, cart, crash);
  const { store, db, clock } = bed;
  const append = (stream: string, type: string, data: unknown) => {
    const now = clock.now().toISOString();
    const event: NewEvent = { id: uuidv7(), type, data, metadata: { workspace: 'default', occurredAt: now, receivedAt: now, schemaVersion: 1 } };
    return store.append(stream, [event]);
  };
  const timerRows = () => db.prepare('SELECT workspace, enrollment_id, person, timer_id, due_at FROM scenario_timers ORDER BY enrollment_id').all();
  return {
    ...bed,
    timerRows,
    /** Stops the reactor and rebuilds the timer index from the log; returns the rebuilt rows. */
    rebuilt: async () => {
      await bed.stop();
      await new ProjectionRunner(store, db).rebuild(new ScenariosProjection(bed.engine(), false));
      return timerRows();
    },
    checkout: (anonymousId: string) => append(anonymousStream('default', anonymousId), 'Tracked', { event: 'Checkout Started', properties: {} }),
    order: (userId: string) => append(userStream('default', userId), 'Tracked', { event: 'Order Completed', properties: {} }),
    userCheckout: (userId: string) => append(userStream('default', userId), 'Tracked', { event: 'Checkout Started', properties: {} }),
    /** What an identify with both ids appends to the user's stream. */
    link: (anonymousId: string, userId: string) => append(userStream('default', userId), 'IdentityLinked', { key: `anon:${anonymousId}`, userId }),
  };
}

const ofType = (events: RecordedEvent[], type: string) => events.filter((e) => e.type === type);

it("moves a guest's waiting enrolment to the user with its timer, and the timer index rebuilt from the log is the live one", async () => {
  const bed = await testBed();
  await bed.checkout('g1');
  await bed.caughtUp();
  bed.clock.advance(10 * 60_000);
  await bed.link('g1', 'ada');
  await bed.caughtUp();

  const anon = await bed.store.readStream(anonymousStream('default', 'g1'));
  const ada = await bed.store.readStream(userStream('default', 'ada'));
  expect(anon.map((e) => e.type)).toEqual(['Tracked', 'EnrollmentStarted', 'TimerScheduled', 'EnrollmentExited']);
  expect(ada.map((e) => e.type)).toEqual(['IdentityLinked', 'PersonMerged', 'EnrollmentMerged', 'TimerScheduled']);
  const enrollmentId = (anon[1].data as { enrollmentId: string }).enrollmentId;
  expect(anon[3].data).toMatchObject({ enrollmentId, reason: 'merged_into_user', stepId: 'wait-1h' });
  expect(ada[1].data).toMatchObject({ from: 'anon:g1', linkEventId: ada[0].id, profile: { userId: 'anon:g1' } });
  expect(ada[2].data).toMatchObject({ enrollmentId, from: 'anon:g1', step: 'wait-1h', linkEventId: ada[0].id });
  // Same due time as the guest's timer, under the user.
  expect(ada[3].data).toMatchObject({ enrollmentId, dueAt: (anon[2].data as { dueAt: string }).dueAt });
  for (const event of [...ada.slice(1), anon[3]]) expect(event.metadata.causationId).toBe(ada[0].id);
  const live = bed.timerRows();
  expect(live).toEqual([
    { workspace: 'default', enrollment_id: enrollmentId, person: 'user:ada', timer_id: (ada[3].data as { timerId: string }).timerId, due_at: Date.parse('2026-03-02T11:00:00Z') },
  ]);
  expect(await bed.rebuilt()).toEqual(live);
  bed.db.close();
  await bed.store.close();
});

it("keeps the user's own enrolment when the guest's is in the same scenario, and ends the guest's", async () => {
  const bed = await testBed();
  await bed.checkout('g1');
  await bed.userCheckout('ada');
  await bed.caughtUp();
  await bed.link('g1', 'ada');
  await bed.caughtUp();

  const anon = await bed.store.readStream(anonymousStream('default', 'g1'));
  const ada = await bed.store.readStream(userStream('default', 'ada'));
  expect(ofType(anon, 'EnrollmentExited').map((e) => e.data)).toMatchObject([{ reason: 'merged_already_enrolled', stepId: 'wait-1h' }]);
  expect(ofType(ada, 'EnrollmentMerged')).toHaveLength(0);
  const own = (ofType(ada, 'EnrollmentStarted')[0].data as { enrollmentId: string }).enrollmentId;
  expect(bed.timerRows().map((row) => [(row as { enrollment_id: string }).enrollment_id, (row as { person: string }).person])).toEqual([[own, 'user:ada']]);

  // The user's enrolment alone goes on: one email.
  bed.clock.advance(HOUR);
  await bed.timers.fireDue();
  await bed.caughtUp();
  const all = await bed.store.readAll();
  expect(ofType(all, 'MessageQueued').map((e) => [e.stream, (e.data as { enrollmentId: string }).enrollmentId])).toEqual([[userStream('default', 'ada'), own]]);
  await bed.stop();
  bed.db.close();
  await bed.store.close();
});

it('appends every decision of a move once, although the reactor crashes after appends and restarts, and links arrive with the checkouts they follow', async () => {
  let seed = 5;
  const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  const bed = await testBed(() => random() < 0.15);
  const guests = 40;
  // Each guest's checkout and link appended back to back, without waiting for the reactor: the link
  // often lands in the batch of the checkout it must follow.
  for (let wave = 0; wave < 4; wave++) {
    for (let i = wave * 10; i < (wave + 1) * 10; i++) {
      await bed.checkout(`g${i}`);
      await bed.link(`g${i}`, `u${i}`);
      if (i % 2 === 0) await bed.order(`u${i}`);
    }
    if (wave % 2 === 1) await bed.restart();
  }
  await bed.caughtUp();
  for (let step = 0; step < 4; step++) {
    bed.clock.advance(12 * HOUR);
    await bed.timers.fireDue();
    await bed.caughtUp();
  }
  await bed.stop();

  const all = await bed.store.readAll();
  const count = (type: string) => ofType(all, type).length;
  const reasons = ofType(all, 'EnrollmentExited').map((e) => (e.data as { reason: string }).reason);
  const howMany = (reason: string) => reasons.filter((r) => r === reason).length;
  expect(count('EnrollmentStarted')).toBe(guests);
  expect(count('EnrollmentMerged')).toBe(guests);
  expect(howMany('merged_into_user')).toBe(guests);
  expect(howMany('exit_on')).toBe(guests / 2);
  expect(howMany('exit_step') + howMany('completed')).toBe(guests / 2);
  expect(count('GoalReached')).toBe(guests / 2);
  // Who ordered got nothing; the others an email and an SMS, all under the user.
  const messages = ofType(all, 'MessageQueued');
  expect(messages).toHaveLength(guests);
  expect(messages.every((e) => e.stream.startsWith('user-'))).toBe(true);
  expect(new Set(messages.map((e) => (e.data as { messageId: string }).messageId)).size).toBe(guests);
  expect(count('TimerFired')).toBe(guests);
  expect(bed.timerRows()).toEqual([]);
  bed.db.close();
  await bed.store.close();
});
