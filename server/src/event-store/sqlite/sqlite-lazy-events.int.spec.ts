/**
 * A subscriber that says which events it reads (`reads`) is handed every event, in order, but the
 * log decodes the others' JSON only if something reads it. Readers of everything, and one-off reads,
 * always get plain decoded events, equal to a fresh read of the log.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { newEvent, waitFor } from '../event-store.contract';
import type { RecordedEvent, Subscription } from '../event-store.port';
import { SqliteEventStore } from './sqlite-event-store';

let folder: string;
let store: SqliteEventStore;
let parsed: string[];

beforeEach(() => {
  folder = mkdtempSync(join(tmpdir(), 'herald-lazy-'));
  store = new SqliteEventStore({ path: join(folder, 'events.sqlite') });
  // The JSON texts the process decodes (a spy: JSON.parse still parses).
  parsed = [];
  const parse = JSON.parse;
  jest.spyOn(JSON, 'parse').mockImplementation((text: string, reviver?: Parameters<typeof JSON.parse>[1]) => {
    parsed.push(text);
    return parse(text, reviver);
  });
});

afterEach(async () => {
  jest.restoreAllMocks();
  await store.close();
  rmSync(folder, { recursive: true, force: true });
});

/** Appends `rounds` commits of a few Wanted and Unread events, some appends holding both. */
async function appendMix(rounds: number): Promise<void> {
  for (let round = 0; round < rounds; round++) {
    await Promise.all([
      store.append(`user-default:a${round}`, [newEvent('Wanted', { round, n: 0 }), newEvent('Unread', { round, mark: 'unread-mark' })]),
      store.append(`user-default:b${round}`, [newEvent('Unread', { round, mark: 'unread-mark' })]),
      store.append(`user-default:c${round}`, [newEvent('Wanted', { round, n: 1 })]),
    ]);
  }
}

function consume(subscription: Subscription, into: RecordedEvent[], until: number): Promise<void> {
  return (async () => {
    for await (const event of subscription) {
      into.push(event);
      if (into.length === until) return;
    }
  })();
}

/** Every field of the event, read through its accessors. */
const fields = ({ id, type, data, metadata, stream, revision, position, recordedAt }: RecordedEvent) => ({
  id,
  type,
  data,
  metadata,
  stream,
  revision,
  position,
  recordedAt,
});

const unreadParsed = () => parsed.filter((text) => text.includes('unread-mark')).length;

it('hands a subscriber every event in order and decodes the ones outside `reads` only when read', async () => {
  const start = await store.headPosition();
  // Read from the log (written before the subscriber), then kept for it as each commit is written.
  await appendMix(5);
  const received: RecordedEvent[] = [];
  const subscription = store.subscribeToAll({ afterPosition: start, reads: { eventTypes: ['Wanted'] } });
  const done = consume(subscription, received, 40);
  await waitFor(() => received.length >= 20);
  await appendMix(5);
  await done;
  await subscription.stop();

  expect(received.map((event) => event.position)).toEqual([...Array(40).keys()].map((i) => start + 1 + i));
  expect(received.filter((event) => event.type === 'Unread')).toHaveLength(20);
  expect(unreadParsed()).toBe(0);
  const log = await store.readAll({ fromPosition: start + 1 });
  expect(received.map(fields)).toEqual(log.map(fields));
  // Read through its accessors above: each unread event's data and metadata decoded once, not again.
  expect(received.find((event) => event.type === 'Unread')!.data).toBe(received.find((event) => event.type === 'Unread')!.data);
});

it('gives readers of every event, and one-off reads, plain decoded events', async () => {
  const start = await store.headPosition();
  const partial: RecordedEvent[] = [];
  const whole: RecordedEvent[] = [];
  const partialReader = store.subscribeToAll({ afterPosition: start, reads: { eventTypes: ['Wanted'] } });
  const partialDone = consume(partialReader, partial, 20);
  // A second partial reader that does not read yet: what it has not read stays kept for it.
  const paused = store.subscribeToAll({ afterPosition: start, reads: { eventTypes: ['Wanted'] } });
  void paused[Symbol.asyncIterator]().next();
  await appendMix(5);
  await partialDone;
  expect(unreadParsed()).toBe(0);
  expect(store.keptEvents).toBeGreaterThan(0);

  // Kept undecoded, read by one-off reads: plain objects, filtered or not.
  for (const events of [await store.readAll({ fromPosition: start + 1 }), await store.readAll({ fromPosition: start + 1, filter: { eventTypes: ['Unread'] } })]) {
    for (const event of events) expect(Object.keys(event)).toEqual(expect.arrayContaining(['id', 'data', 'metadata']));
  }
  // A reader of everything, from the start: the kept events come decoded, as plain objects.
  const wholeReader = store.subscribeToAll({ afterPosition: start });
  await consume(wholeReader, whole, 20);
  for (const event of whole) expect(Object.keys(event)).toEqual(expect.arrayContaining(['id', 'data', 'metadata']));
  const log = await store.readAll({ fromPosition: start + 1 });
  expect(whole.map(fields)).toEqual(log.map(fields));
  expect(partial.map(fields)).toEqual(log.map(fields));
  await Promise.all([partialReader.stop(), paused.stop(), wholeReader.stop()]);
});
