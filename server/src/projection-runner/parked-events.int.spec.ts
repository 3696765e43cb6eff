/**
 * Parking (parked-events.ts), against the real SQLite log and state database: an event the
 * projection's own code fails on five times in a row is set aside, recorded in the log and the state
 * database, and skipped from then on, also after a restart; the events after it are handled. A
 * failure of the log or the state database, or one that passes, parks nothing. A rebuild handles
 * parked events again.
 */
import { EventStoreError, EventStoreUnavailableError, InvalidEventError, WrongExpectedRevisionError } from '../event-store/errors';
import type { NewEvent, RecordedEvent } from '../event-store/event-store.port';
import { SqliteEventStore } from '../event-store/sqlite/sqlite-event-store';
import { derivedEventId, uuidv7 } from '../shared/ids';
import type { StateDb } from '../state/state-db';
import {
  EventHandlingError,
  isEventFault,
  listParked,
  operationsStream,
  park,
  PARK_AFTER_ATTEMPTS,
  PROJECTION_EVENT_PARKED,
  PROJECTION_EVENT_REPLAYED,
  type ProjectionEventParked,
} from './parked-events';
import { type HostedProjection, type PlannedAppend, ProjectionRunner, UnknownProjectionError } from './projection-runner';
import { until, useLogAndState } from '../test-support/log-and-state';

function newEvent(type: string): NewEvent {
  const now = new Date().toISOString();
  return { id: uuidv7(), type, data: {}, metadata: { workspace: 'w', occurredAt: now, receivedAt: now, schemaVersion: 1 } };
}

const files = useLogAndState('parked');
let store: SqliteEventStore;
let db: StateDb;
beforeEach(() => ({ store, db } = files));

/** Handles each event of its partition (stream) by counting it; `failWith` decides a failure per event and attempt. */
class CountingProjection implements HostedProjection {
  readonly handled = new Map<number, number>();
  constructor(
    readonly name: string,
    private readonly failWith: (event: RecordedEvent, attempt: number) => unknown,
  ) {}
  setup(): void {}
  reset(): void {
    this.handled.clear();
  }
  partitionOf(event: RecordedEvent): string {
    return event.stream;
  }
  async handle(event: RecordedEvent): Promise<PlannedAppend[]> {
    const attempt = (this.handled.get(event.position) ?? 0) + 1;
    this.handled.set(event.position, attempt);
    const failure = this.failWith(event, attempt);
    if (failure) throw failure;
    return [];
  }
}

async function parkedEventsInLog(): Promise<Array<RecordedEvent<string, ProjectionEventParked>>> {
  return (await store.readStream(operationsStream('w'))) as Array<RecordedEvent<string, ProjectionEventParked>>;
}

it(`parks an event its handle fails on ${PARK_AFTER_ATTEMPTS} times in a row, goes on after it, and skips it after a restart`, async () => {
  await store.append('s-a', [newEvent('Fine')]);
  const poison = await store.append('s-poison', [newEvent('Poison')]);
  await store.append('s-b', [newEvent('Fine')]);
  const bug = () => new TypeError("Cannot read properties of undefined (reading 'cart_id')");
  const projection = new CountingProjection('counting', (event) => (event.type === 'Poison' ? bug() : undefined));
  const parked: ProjectionEventParked[] = [];
  const runner = new ProjectionRunner(store, db, { retryDelayMs: 1, onParked: (event) => parked.push(event), now: () => new Date('2026-11-27T10:00:00Z') });
  runner.start(projection);
  try {
    await until(() => runner.checkpoint('counting') >= 3);
    expect(projection.handled.get(poison.position)).toBe(PARK_AFTER_ATTEMPTS);
    expect(projection.handled.get(3)).toBeGreaterThanOrEqual(1);
    expect(runner.parkedCount('counting')).toBe(1);
  } finally {
    await runner.stop();
  }
  const [event] = await store.readStream('s-poison');
  const expected = {
    projection: 'counting',
    position: poison.position,
    eventId: event.id,
    stream: 's-poison',
    type: 'Poison',
    attempts: PARK_AFTER_ATTEMPTS,
    error: "Cannot read properties of undefined (reading 'cart_id')",
  };
  expect(parked).toEqual([expected]);
  const inLog = await parkedEventsInLog();
  expect(inLog.map((e) => [e.type, e.data, e.metadata.causationId, e.metadata.workspace])).toEqual([[PROJECTION_EVENT_PARKED, expected, event.id, 'w']]);
  expect(listParked(db)).toEqual([
    {
      projection: 'counting',
      position: poison.position,
      event_id: event.id,
      stream: 's-poison',
      type: 'Poison',
      attempts: PARK_AFTER_ATTEMPTS,
      error: expected.error,
      parked_at: Date.parse('2026-11-27T10:00:00Z'),
    },
  ]);

  // A restart reads the parked positions: the event is not handled again, the next ones are.
  const later = await store.append('s-poison', [newEvent('Fine')]);
  const restarted = new ProjectionRunner(store, db, { retryDelayMs: 1 });
  const again = new CountingProjection('counting', () => undefined);
  restarted.start(again);
  try {
    await until(() => restarted.checkpoint('counting') >= later.position);
    expect(again.handled.has(poison.position)).toBe(false);
    expect(again.handled.get(later.position)).toBe(1);
    expect(restarted.parkedCount('counting')).toBe(1);
  } finally {
    await restarted.stop();
  }
});

it('parks an event its apply fails on, and commits the state of the events around it', async () => {
  db.exec('CREATE TABLE applied (position INTEGER PRIMARY KEY)');
  const insert = db.prepare<[number]>('INSERT INTO applied (position) VALUES (?)');
  const projection: HostedProjection = {
    name: 'applying',
    setup() {},
    reset() {},
    apply(_db, event) {
      if (event.type === 'Poison') throw new RangeError('Invalid time value');
      insert.run(event.position);
    },
  };
  await store.append('s', [newEvent('Fine'), newEvent('Poison'), newEvent('Fine')]);
  const errors: unknown[] = [];
  const runner = new ProjectionRunner(store, db, { retryDelayMs: 1, onError: (_name, error) => errors.push(error) });
  runner.start(projection);
  try {
    await until(() => runner.checkpoint('applying') >= 4);
  } finally {
    await runner.stop();
  }
  // 4: the ProjectionEventParked, an event of the log like any other.
  expect(db.prepare('SELECT position FROM applied ORDER BY position').pluck().all()).toEqual([1, 3, 4]);
  expect(errors).toHaveLength(PARK_AFTER_ATTEMPTS);
  expect(errors[0]).toBeInstanceOf(EventHandlingError);
  expect((errors[0] as EventHandlingError).event.position).toBe(2);
  expect((await parkedEventsInLog()).map((e) => e.data.error)).toEqual(['Invalid time value']);
});

it('parks nothing for failures of the log or the state database, however long they last, nor for a failure that passes', async () => {
  // First in the log, so the failures are counted against it until it passes (at the last attempt before parking).
  await store.append('s-flaky', [newEvent('Flaky')]);
  await store.append('s-store', [newEvent('StoreDown')]);
  await store.append('s-sqlite', [newEvent('Busy')]);
  const attempts = PARK_AFTER_ATTEMPTS * 2;
  const projection = new CountingProjection('patient', (event, attempt) => {
    if (event.type === 'StoreDown' && attempt <= attempts) return new EventStoreUnavailableError('The event store is closed');
    if (event.type === 'Busy' && attempt <= attempts) return Object.assign(new Error('database is locked'), { code: 'SQLITE_BUSY' });
    if (event.type === 'Flaky' && attempt < PARK_AFTER_ATTEMPTS) return new Error('not yet');
    return undefined;
  });
  const runner = new ProjectionRunner(store, db, { retryDelayMs: 1 });
  runner.start(projection);
  try {
    await until(() => runner.checkpoint('patient') >= 3);
    expect(projection.handled.get(1)).toBeGreaterThanOrEqual(PARK_AFTER_ATTEMPTS);
    expect(projection.handled.get(2)).toBeGreaterThan(attempts);
    expect(projection.handled.get(3)).toBeGreaterThan(attempts);
    expect(runner.parkedCount('patient')).toBe(0);
  } finally {
    await runner.stop();
  }
  expect(listParked(db)).toEqual([]);
  expect(await parkedEventsInLog()).toEqual([]);
});

it('parking the same event again (a crash between the log and the state database) appends nothing twice', async () => {
  const { position } = await store.append('s', [newEvent('Poison')]);
  const [event] = await store.readStream('s');
  const failure = new EventHandlingError(event, 'p', new Error('boom'));
  await park(store, db, failure, PARK_AFTER_ATTEMPTS, new Date());
  await park(store, db, failure, PARK_AFTER_ATTEMPTS + 1, new Date());
  expect((await parkedEventsInLog()).map((e) => e.data.position)).toEqual([position]);
  expect(listParked(db).map((row) => [row.projection, row.position, row.attempts])).toEqual([['p', position, PARK_AFTER_ATTEMPTS + 1]]);
});

it('a rebuild handles the parked events again and forgets them', async () => {
  await store.append('s-a', [newEvent('Fine')]);
  await store.append('s-poison', [newEvent('Poison')]);
  let fixed = false;
  const projection = new CountingProjection('fixable', (event) => (event.type === 'Poison' && !fixed ? new Error('bug') : undefined));
  const runner = new ProjectionRunner(store, db, { retryDelayMs: 1 });
  runner.start(projection);
  try {
    await until(() => runner.checkpoint('fixable') >= 2);
  } finally {
    await runner.stop();
  }
  expect(listParked(db)).toHaveLength(1);
  fixed = true;
  await new ProjectionRunner(store, db).rebuildAll([projection]);
  expect(projection.handled.get(2)).toBe(1);
  expect(listParked(db)).toEqual([]);
});

it("tells the projection's own failures from those of the log, SQLite or the network", async () => {
  await store.append('s', [newEvent('E')]);
  const [event] = await store.readStream('s');
  const fault = (cause: unknown) => isEventFault(new EventHandlingError(event, 'p', cause));
  expect(fault(new TypeError("Cannot read properties of undefined (reading 'x')"))).toBe(true);
  // An append the log refuses as invalid: the same event makes it again.
  expect(fault(new InvalidEventError('Event type must be a non-empty string'))).toBe(true);
  expect(fault(new EventStoreUnavailableError('KurrentDB is unavailable'))).toBe(false);
  expect(fault(new WrongExpectedRevisionError('s', '1', 2))).toBe(false);
  expect(fault(new EventStoreError('KurrentDB failed: timeout'))).toBe(false);
  expect(fault(Object.assign(new Error('database is locked'), { code: 'SQLITE_BUSY' }))).toBe(false);
  expect(fault(Object.assign(new Error('disk I/O error'), { name: 'SqliteError' }))).toBe(false);
  expect(fault(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }))).toBe(false);
});

describe('replaying parked events after a fix', () => {
  /** Fails on `Poison` events while `broken`; otherwise plans one `Reacted` event per event, with an id derived from it. */
  class FixableProjection extends CountingProjection {
    broken = true;
    constructor() {
      super('fixable', (event) => (this.broken && event.type === 'Poison' ? new TypeError('bug in the fixable projection') : undefined));
    }
    override async handle(event: RecordedEvent): Promise<PlannedAppend[]> {
      await super.handle(event);
      return [{ stream: `reactions-${event.stream}`, events: [{ ...newEvent('Reacted'), id: derivedEventId(event.id, 'fixable') }] }];
    }
  }

  async function parkedFixture() {
    await store.append('s-a', [newEvent('Fine')]);
    const poison = await store.append('s-poison', [newEvent('Poison')]);
    const other = await store.append('s-other', [newEvent('Poison')]);
    const projection = new FixableProjection();
    const runner = new ProjectionRunner(store, db, { retryDelayMs: 1, now: () => new Date('2026-11-27T12:00:00Z') });
    runner.start(projection);
    await until(() => runner.parkedCount('fixable') === 2 && runner.checkpoint('fixable') >= other.position, 'both parked');
    return { projection, runner, poison: poison.position, other: other.position };
  }

  const replayedInLog = async () => (await store.readStream(operationsStream('w'))).filter((e) => e.type === PROJECTION_EVENT_REPLAYED).map((e) => e.data);

  it('handles the event again: its decisions are appended, it is no longer skipped, and the projection goes on', async () => {
    const { projection, runner, poison, other } = await parkedFixture();
    try {
      projection.broken = false;
      const replayed = await runner.replayParked('fixable', [poison]);
      expect(replayed).toEqual([
        { projection: 'fixable', position: poison, eventId: expect.any(String), stream: 's-poison', type: 'Poison', outcome: 'handled', attempts: PARK_AFTER_ATTEMPTS },
      ]);
      expect(projection.handled.get(poison)).toBe(PARK_AFTER_ATTEMPTS + 1);
      expect((await store.readStream('reactions-s-poison')).map((e) => e.type)).toEqual(['Reacted']);
      expect(listParked(db).map((row) => row.position)).toEqual([other]);
      expect(runner.parkedCount('fixable')).toBe(1);
      expect(await replayedInLog()).toEqual(replayed);

      // The projection resumed where it was: a new event is handled, once.
      const after = await store.append('s-a', [newEvent('Fine')]);
      await until(() => runner.checkpoint('fixable') >= after.position, 'the event after the replay');
      expect(projection.handled.get(after.position)).toBe(1);
      expect(projection.handled.get(poison)).toBe(PARK_AFTER_ATTEMPTS + 1);
    } finally {
      await runner.stop();
    }
    // After a restart, the replayed event stays handled (not skipped, not handled again); the other stays parked.
    const restarted = new ProjectionRunner(store, db, { retryDelayMs: 1 });
    restarted.start(new FixableProjection());
    try {
      expect(restarted.parkedCount('fixable')).toBe(1);
    } finally {
      await restarted.stop();
    }
  });

  it('a replay that fails again leaves the event parked with one more attempt; a later one, after the fix, handles it', async () => {
    const { projection, runner, poison, other } = await parkedFixture();
    try {
      const failed = await runner.replayParked('fixable');
      expect(failed.map((r) => [r.position, r.outcome, r.attempts, r.error])).toEqual([
        [poison, 'failed', PARK_AFTER_ATTEMPTS, 'bug in the fixable projection'],
        [other, 'failed', PARK_AFTER_ATTEMPTS, 'bug in the fixable projection'],
      ]);
      expect(listParked(db).map((row) => [row.position, row.attempts])).toEqual([
        [poison, PARK_AFTER_ATTEMPTS + 1],
        [other, PARK_AFTER_ATTEMPTS + 1],
      ]);
      expect(await store.readStream('reactions-s-poison')).toEqual([]);

      projection.broken = false;
      const handled = await runner.replayParked('fixable');
      expect(handled.map((r) => [r.position, r.outcome, r.attempts])).toEqual([
        [poison, 'handled', PARK_AFTER_ATTEMPTS + 1],
        [other, 'handled', PARK_AFTER_ATTEMPTS + 1],
      ]);
      expect(listParked(db)).toEqual([]);
      expect(runner.parkedCount('fixable')).toBe(0);
      // Each replay is recorded once, in the order they were made.
      expect((await replayedInLog()).map((r) => (r as { outcome: string }).outcome)).toEqual(['failed', 'failed', 'handled', 'handled']);
      // Nothing left to replay.
      expect(await runner.replayParked('fixable')).toEqual([]);
    } finally {
      await runner.stop();
    }
  });

  it('refuses a projection it does not run', async () => {
    const runner = new ProjectionRunner(store, db);
    await expect(runner.replayParked('nothing')).rejects.toBeInstanceOf(UnknownProjectionError);
  });
});
