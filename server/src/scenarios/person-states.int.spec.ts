/**
 * The engine's cache of person states skips reading the stream when it already holds the event
 * being decided on, and folds in its own appended decisions. Whatever it skips, the state it holds
 * must be exactly what a fresh read of the log gives.
 */
import { type DomainEvent, type PersonStateOptions, userStream } from '@herald/projections';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NewEvent, RecordedEvent } from '../event-store/event-store.port';
import { SqliteEventStore } from '../event-store/sqlite/sqlite-event-store';
import { MessagingSettingsService } from '../settings/messaging-settings.service';
import { TestClock } from '../shared/clock';
import { uuidv7 } from '../shared/ids';
import { PersonStates } from './person-states';
import { ScenarioCatalog } from './scenario-catalog';
import { ScenarioEngine } from './scenario-engine';

let dir: string;
let store: SqliteEventStore;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'herald-person-states-'));
  store = new SqliteEventStore({ path: join(dir, 'events.sqlite') });
});
afterEach(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

const WORKSPACE = 'default';
const PERSON = 'user:ada';
const STREAM = userStream(WORKSPACE, 'ada');

/** An engine over the log with the scenario `cart` (Checkout Started, re-entry always) published with `rest`. */
async function cartEngine(rest: Record<string, unknown>) {
  const clock = new TestClock(new Date('2026-03-02T10:00:00Z'));
  const catalog = new ScenarioCatalog(store, clock);
  await catalog.publish(WORKSPACE, { id: 'cart', name: 'Cart', trigger: { event: 'Checkout Started' }, entry: { reenter: 'always' }, ...rest });
  return { clock, engine: new ScenarioEngine(store, catalog, new MessagingSettingsService(store, clock)) };
}

it('decides without reading the stream when it holds the cause, and keeps the state a fresh read gives', async () => {
  const { clock, engine } = await cartEngine({
    exitOn: [{ event: 'Order Completed' }],
    steps: [
      { id: 'mail', send: { channel: 'email', template: 'cart-plain' } },
      { id: 'wait', wait: '1h' },
    ],
  });
  const personReads: number[] = [];
  const readStream = store.readStream.bind(store);
  store.readStream = (stream, options) => {
    if (stream === STREAM) personReads.push(options?.fromRevision ?? 0);
    return readStream(stream, options);
  };
  let options: PersonStateOptions | undefined;
  const load = engine.persons.load.bind(engine.persons);
  engine.persons.load = (workspace, person, given, known) => {
    options = given;
    return load(workspace, person, given, known);
  };

  const track = async (...names: string[]): Promise<RecordedEvent[]> => {
    const now = clock.now().toISOString();
    const events: NewEvent[] = names.map((event) => ({
      id: uuidv7(),
      type: 'Tracked',
      data: { event, userId: 'ada', properties: {} },
      metadata: { workspace: WORKSPACE, occurredAt: now, receivedAt: now, schemaVersion: 1 },
    }));
    await store.append(STREAM, events);
    const all = await store.readStream(STREAM);
    personReads.pop(); // the test's own read
    return all.slice(-names.length);
  };
  const decideOn = (event: RecordedEvent) =>
    engine.decideAndAppend(WORKSPACE, PERSON, { kind: 'event', event: event as DomainEvent }, clock.now().getTime(), { id: event.id, receivedAt: event.metadata.receivedAt }, undefined, event);
  const expectFreshState = async () => {
    const cached = await engine.persons.load(WORKSPACE, PERSON, options!);
    const fresh = await new PersonStates(store).load(WORKSPACE, PERSON, options!);
    expect(cached.revision).toBe(fresh.revision);
    expect(cached.state).toEqual(fresh.state);
  };

  // A new person's first event: nothing to read.
  const [checkout] = await track('Checkout Started');
  const enrolled = await decideOn(checkout);
  expect(enrolled.map((d) => d.type)).toContain('EnrollmentStarted');
  expect(enrolled.map((d) => d.type)).toContain('MessageQueued');
  expect(personReads).toEqual([]);
  await expectFreshState();
  personReads.length = 0;

  // The next event is one past what the cache holds (its own decisions folded in): still no read.
  clock.advance(60_000);
  const [order] = await track('Order Completed');
  const exited = await decideOn(order);
  expect(exited.map((d) => d.type)).toContain('EnrollmentExited');
  expect(personReads).toEqual([]);
  await expectFreshState();
  personReads.length = 0;

  // Deciding on an event with a newer one already in the stream: the append fails on the revision,
  // the engine reads the stream and decides again, and the result is what a fresh read says.
  clock.advance(60_000);
  const [again] = await track('Checkout Started', 'Page Seen');
  const reenrolled = await decideOn(again);
  expect(personReads.length).toBeGreaterThanOrEqual(1);
  expect(reenrolled.map((d) => d.type)).toContain('EnrollmentStarted');
  await expectFreshState();
});

it("follows a new person from their stream's first event, so their first decision needs no read, and reads past a gap", async () => {
  const { clock, engine } = await cartEngine({ steps: [{ id: 'mail', send: { channel: 'email', template: 'cart-plain' } }] });
  const reads: string[] = [];
  const readStream = store.readStream.bind(store);
  store.readStream = (stream, options) => {
    if (stream.startsWith('user-')) reads.push(`${stream}@${options?.fromRevision ?? 0}`);
    return readStream(stream, options);
  };
  const append = async (person: string, type: string, data: Record<string, unknown>): Promise<RecordedEvent> => {
    const now = clock.now().toISOString();
    const stream = userStream(WORKSPACE, person);
    await readStream(stream); // (not counted)
    const result = await store.append(stream, [{ id: uuidv7(), type, data, metadata: { workspace: WORKSPACE, occurredAt: now, receivedAt: now, schemaVersion: 1 } }]);
    return (await readStream(stream, { fromRevision: result.nextExpectedRevision }))[0];
  };
  const decideOn = (person: string, event: RecordedEvent) =>
    engine.decideAndAppend(WORKSPACE, `user:${person}`, { kind: 'event', event: event as DomainEvent }, clock.now().getTime(), { id: event.id, receivedAt: event.metadata.receivedAt }, undefined, event);
  let options: PersonStateOptions | undefined;
  const load = engine.persons.load.bind(engine.persons);
  engine.persons.load = (workspace, person, given, known) => {
    options = given;
    return load(workspace, person, given, known);
  };
  const expectFreshState = async (person: string) => {
    const cached = await engine.persons.load(WORKSPACE, `user:${person}`, options!);
    const fresh = await new PersonStates(store).load(WORKSPACE, `user:${person}`, options!);
    expect(cached.revision).toBe(fresh.revision);
    expect(cached.state).toEqual(fresh.state);
    reads.length = 0;
  };

  // identify, a page view nobody reacts to, then the trigger: followed all along, no read.
  const identified = await append('grace', 'Identified', { userId: 'grace', traits: { email: 'grace@example.com', plan: 'pro' } });
  expect(identified.revision).toBe(0);
  await engine.observe(WORKSPACE, 'user:grace', identified);
  await engine.observe(WORKSPACE, 'user:grace', await append('grace', 'PageViewed', { userId: 'grace', name: 'Cart', properties: {} }));
  const trigger = await append('grace', 'Tracked', { event: 'Checkout Started', userId: 'grace', properties: {} });
  expect((await decideOn('grace', trigger)).map((d) => d.type)).toContain('MessageQueued');
  expect(reads).toEqual([]);
  await expectFreshState('grace');

  // An event the engine did not see leaves a gap: the state is read from the revision after what it holds.
  await engine.observe(WORKSPACE, 'user:alan', await append('alan', 'Identified', { userId: 'alan', traits: { plan: 'free' } }));
  await append('alan', 'Identified', { userId: 'alan', traits: { plan: 'pro' } });
  const alanTrigger = await append('alan', 'Tracked', { event: 'Checkout Started', userId: 'alan', properties: {} });
  await engine.observe(WORKSPACE, 'user:alan', alanTrigger); // not a continuation: ignored
  expect((await decideOn('alan', alanTrigger)).map((d) => d.type)).toContain('MessageQueued');
  expect(reads).toEqual([`${userStream(WORKSPACE, 'alan')}@1`]);
  await expectFreshState('alan');

  // Someone whose stream began before the engine followed them is read whole.
  await append('edsger', 'Identified', { userId: 'edsger', traits: {} });
  const edsgerTrigger = await append('edsger', 'Tracked', { event: 'Checkout Started', userId: 'edsger', properties: {} });
  await engine.observe(WORKSPACE, 'user:edsger', edsgerTrigger);
  await decideOn('edsger', edsgerTrigger);
  expect(reads).toEqual([`${userStream(WORKSPACE, 'edsger')}@0`]);
  await expectFreshState('edsger');
});

