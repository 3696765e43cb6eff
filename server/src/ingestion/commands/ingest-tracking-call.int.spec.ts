/**
 * The tracking-call handler on the embedded log when an append fails: the call is refused and the
 * identity links it reserved are given back, so a later call decides them again, for a single call
 * and for a batch whose messages go to two streams.
 */
import { userStream } from '@herald/projections';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EventStoreUnavailableError } from '../../event-store/errors';
import type { AppendOptions, AppendResult, NewEvent } from '../../event-store/event-store.port';
import { SqliteEventStore } from '../../event-store/sqlite/sqlite-event-store';
import { IDENTITY_LINKED } from '../../identity/identity.projection';
import { IdentityService } from '../../identity/identity.service';
import { Metrics } from '../../operations/metrics';
import { TestClock } from '../../shared/clock';
import { openStateDb, type StateDb } from '../../state/state-db';
import { IngestTrackingCallCommand } from './ingest-tracking-call.command';
import { IngestTrackingCallHandler } from './ingest-tracking-call.handler';

/** The embedded log, refusing the next `failures` appends as a log whose writer has stopped would. */
class FailingStore extends SqliteEventStore {
  failures = 0;
  override append(stream: string, events: NewEvent[], options?: AppendOptions): Promise<AppendResult> {
    if (this.failures > 0) {
      this.failures -= 1;
      return Promise.reject(new EventStoreUnavailableError('The event log writer stopped: disk gone'));
    }
    return super.append(stream, events, options);
  }
}

let dir: string;
let store: FailingStore;
let db: StateDb;
let handler: IngestTrackingCallHandler;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'herald-ingest-'));
  store = new FailingStore({ path: ':memory:' });
  db = openStateDb(join(dir, 'state.sqlite'));
  handler = new IngestTrackingCallHandler(store, new TestClock(new Date('2026-03-01T10:00:00Z')), new IdentityService(db), new Metrics());
});

afterEach(async () => {
  await store.close();
  db.close();
  rmSync(dir, { recursive: true, force: true });
});

const identify = (anonymousId: string, userId: string, messageId: string) => ({ type: 'identify', anonymousId, userId, messageId });

it.each([
  ['a single call', (call: { messageId: string }) => new IngestTrackingCallCommand('default', 'identify', call)],
  // Two messages to two streams: one append each.
  [
    'a batch',
    (call: { messageId: string }) =>
      new IngestTrackingCallCommand('default', 'batch', {
        batch: [call, { type: 'track', userId: 'bystander', event: 'Viewed', messageId: `${call.messageId}-b` }],
      }),
  ],
])('%s whose append fails gives its identity link back: the next identify of that anonymous id links it', async (_, command) => {
  store.failures = 1;
  await expect(handler.execute(command(identify('anon-1', 'ada', 'm-1')))).rejects.toThrow(EventStoreUnavailableError);
  // Still reserved for ada, this would be routed to ada's stream with no link of its own.
  await expect(handler.execute(command(identify('anon-1', 'grace', 'm-2')))).resolves.toMatchObject({ accepted: expect.any(Number) });
  const events = (await store.readAll()).filter((event) => event.stream !== userStream('default', 'bystander'));
  expect(events.map((event) => [event.stream, event.type])).toEqual([
    [userStream('default', 'grace'), IDENTITY_LINKED],
    [userStream('default', 'grace'), 'Identified'],
  ]);
  expect(events[0].data).toMatchObject({ key: 'anon:anon-1', userId: 'grace' });
});
