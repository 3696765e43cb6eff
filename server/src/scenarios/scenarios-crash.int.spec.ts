/**
 * Exactly once under crashes: the scenarios reactor, whose appends sometimes "crash" right after they
 * became durable (so the event is handled again from the last checkpoint), and which is restarted
 * now and then, must leave the log with each decision once: one enrolment per trigger, one message
 * per step, every timer fired once.
 */
import { userStream } from '@herald/projections';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NewEvent } from '../event-store/event-store.port';
import { uuidv7 } from '../shared/ids';
import { scenarioReactorBed } from './scenario-reactor.fixture';

const HOUR = 3_600_000;


let dir: string;
beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'herald-scenario-crash-'))));
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/**
 * A scenario reactor over a log whose appends crash at random (after writing), restartable, with
 * the two-sends-two-waits scenario both tests drive.
 */
async function crashTestBed(seed: number, crashRate: number) {
  const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  const bed = await scenarioReactorBed(dir, {
    id: 'nudge',
    name: 'Nudge',
    trigger: { event: 'Cart Updated' },
    entry: { reenter: 'always', concurrent: true },
    steps: [
      { id: 'wait', wait: '1h' },
      { id: 'mail', send: { channel: 'email', template: 'cart-plain' } },
      { id: 'later', wait: '2h' },
      { id: 'text', send: { channel: 'sms', template: 'cart-sms' } },
    ],
  }, () => random() < crashRate);
  const { store, clock } = bed;
  return {
    ...bed,
    /** Appends the trigger event to the user's stream, at the clock's time. */
    trigger: (userId: string, n: number) => {
      const now = clock.now().toISOString();
      const event: NewEvent = {
        id: uuidv7(),
        type: 'Tracked',
        data: { event: 'Cart Updated', properties: { n } },
        metadata: { workspace: 'default', occurredAt: now, receivedAt: now, schemaVersion: 1 },
      };
      return store.append(userStream('default', userId), [event]);
    },
    /** Every trigger enrolled once, queued both messages once, fired both waits and exited. */
    checkDecisions: async (triggers: number) => {
      const all = await store.readAll();
      const count = (type: string) => all.filter((e) => e.type === type).length;
      expect(count('EnrollmentStarted')).toBe(triggers);
      expect(count('MessageQueued')).toBe(2 * triggers);
      expect(count('TimerFired')).toBe(2 * triggers);
      expect(count('EnrollmentExited')).toBe(triggers);
      const messageIds = all.filter((e) => e.type === 'MessageQueued').map((e) => (e.data as { messageId: string }).messageId);
      expect(new Set(messageIds).size).toBe(messageIds.length);
    },
  };
}

it('appends every decision once although the reactor crashes after appends and restarts', async () => {
  const { store, db, clock, timers, caughtUp, restart, stop, trigger, checkDecisions } = await crashTestBed(7, 0.2);
  const triggers = 40;
  for (let i = 0; i < triggers; i++) {
    await trigger(`u${i % 7}`, i);
    clock.advance(10 * 60_000);
    if (i % 10 === 9) {
      await caughtUp();
      await restart();
    }
    await caughtUp();
    await timers.fireDue();
  }
  for (let step = 0; step < 10; step++) {
    clock.advance(HOUR);
    await caughtUp();
    await timers.fireDue();
  }
  await caughtUp();
  await stop();

  await checkDecisions(triggers);
  db.close();
  await store.close();
});

it('appends every decision once when triggers arrive together, so batches are decided while earlier ones are still being appended, under crashes and restarts', async () => {
  const { store, db, clock, timers, caughtUp, restart, stop, trigger, checkDecisions } = await crashTestBed(11, 0.1);
  const triggers = 300;
  const users = 40;
  // Waves of triggers appended without waiting for the reactor, several per person in a wave: a
  // person's later trigger lands in a later batch while the earlier one's decisions are appended.
  for (let wave = 0; wave < 6; wave++) {
    const appends: Promise<unknown>[] = [];
    for (let i = wave * 50; i < (wave + 1) * 50; i++) {
      appends.push(trigger(`u${i % users}`, i));
      if (i % 10 === 9) await new Promise((resolve) => setImmediate(resolve));
    }
    await Promise.all(appends);
    // Restart mid-flight every other wave: the reactor is stopped with batches still in its pipeline.
    if (wave % 2 === 1) await restart();
  }
  await caughtUp();
  for (let step = 0; step < 4; step++) {
    clock.advance(HOUR);
    await timers.fireDue();
    await caughtUp();
  }
  await stop();

  await checkDecisions(triggers);
  // The timer index holds no enrolment that has finished.
  expect((db.prepare('SELECT count(*) AS n FROM scenario_timers').get() as { n: number }).n).toBe(0);
  db.close();
  await store.close();
});
