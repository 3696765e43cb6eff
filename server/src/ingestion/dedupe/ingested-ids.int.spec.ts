/**
 * The messageId dedupe on a log that only recognises recent ids by itself: KurrentDB, here its
 * in-memory stand-in with a cache of 3 recent ids (no KurrentDB server can run on these machines).
 * Each test runs ingestion as the server does: the command handler, the real state database, the
 * projection runner with the ingested-ids projection, and "restarts" with new instances on the same
 * state file and log.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { rebuildProjections } from '../../cli/projections.commands';
import { waitFor } from '../../event-store/event-store.contract';
import { FakeKurrentDb } from '../../event-store/kurrentdb/fake-kurrentdb.fixture';
import { KurrentDbEventStore } from '../../event-store/kurrentdb/kurrentdb-event-store';
import { IdentityService } from '../../identity/identity.service';
import { Metrics } from '../../operations/metrics';
import { ProjectionRunner } from '../../projection-runner/projection-runner';
import { TestClock } from '../../shared/clock';
import { openStateDb, readCheckpoint, type StateDb } from '../../state/state-db';
import { IngestTrackingCallCommand } from '../commands/ingest-tracking-call.command';
import { IngestTrackingCallHandler, trackingEventId } from '../commands/ingest-tracking-call.handler';
import { INGESTED_IDS, ingestedIdsProjection } from './ingested-ids.projection';
import { IngestedIds } from './ingested-ids.service';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

let dir: string;
let log: FakeKurrentDb;
let store: KurrentDbEventStore;
let clock: TestClock;
let open: Array<{ runner?: ProjectionRunner; db: StateDb }>;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'herald-dedupe-'));
  log = new FakeKurrentDb({ recentIds: 3 });
  store = new KurrentDbEventStore(log);
  clock = new TestClock(new Date('2026-03-01T10:00:00Z'));
  open = [];
});

afterEach(async () => {
  for (const { runner, db } of open) {
    await runner?.stop();
    db.close();
  }
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

/** One server process: ingestion with (or without) the index, and the index's projection when `project`. */
function startProcess(options: { dedupe?: boolean; project?: boolean } = {}) {
  const db = openStateDb(join(dir, 'state.sqlite'));
  const ids = options.dedupe === false ? null : new IngestedIds(db);
  const runner = options.project === false ? undefined : new ProjectionRunner(store, db, { onCommitted: (name, event) => name === INGESTED_IDS && ids?.settled(event.id) });
  open.push({ runner, db });
  ids?.startCatchUp(store, readCheckpoint(db, INGESTED_IDS), () => clock.now());
  runner?.start(ingestedIdsProjection);
  const handler = new IngestTrackingCallHandler(store, clock, new IdentityService(db), new Metrics(), ids);
  return {
    ids,
    runner,
    track: (userId: string, messageId: string) =>
      handler.execute(new IngestTrackingCallCommand('default', 'track', { userId, event: 'Order Completed', messageId })),
    batch: (messages: Array<{ userId: string; messageId: string }>) =>
      handler.execute(new IngestTrackingCallCommand('default', 'batch', { batch: messages.map((m) => ({ type: 'track', event: 'Order Completed', ...m })) })),
    /** Waits until the index's projection has committed every tracking event in the log. */
    projected: () => {
      const last = [...log.records].reverse().find((r) => r.type === 'Tracked');
      return waitFor(() => runner!.checkpoint(INGESTED_IDS) >= (last?.position ?? 0));
    },
  };
}

const copiesOf = (messageId: string) => log.records.filter((r) => r.id === trackingEventId('default', messageId)).length;

/** Three other messages push an id out of the stand-in's recent-ids cache. */
async function others(process: { track: (u: string, m: string) => Promise<unknown> }, tag: string) {
  for (let i = 0; i < 3; i++) await process.track(`other-${tag}`, `other-${tag}-${i}`);
}

describe('messageId dedupe on a log that recognises only recent ids (KurrentDB)', () => {
  it('without the index, the log itself stores a duplicate once it has left the recent ids (the gap the index closes)', async () => {
    const server = startProcess({ dedupe: false, project: false });
    await server.track('ada', 'm-1');
    await others(server, 'a');
    await server.track('ada', 'm-1');
    expect(copiesOf('m-1')).toBe(2);
  });

  it('stores a message once however late its duplicate comes, even under another user id', async () => {
    const server = startProcess();
    await server.track('ada', 'm-1');
    await others(server, 'a');
    await server.projected();
    await expect(server.track('ada', 'm-1')).resolves.toEqual({ accepted: 1 });
    await expect(server.track('grace', 'm-1')).resolves.toEqual({ accepted: 1 });
    clock.advance(25 * HOUR);
    await others(server, 'b');
    await server.track('ada', 'm-1');
    expect(copiesOf('m-1')).toBe(1);
    expect(log.records.filter((r) => r.stream.includes('grace'))).toEqual([]);
  });

  it('recognises a duplicate before the projection has reached the original (an append in flight or just made)', async () => {
    const server = startProcess({ project: false });
    const concurrent = await Promise.all([1, 2, 3, 4, 5].map((n) => server.track(n % 2 ? 'ada' : 'grace', 'm-2')));
    expect(concurrent).toEqual(Array(5).fill({ accepted: 1 }));
    await others(server, 'a');
    await server.track('ada', 'm-2');
    expect(copiesOf('m-2')).toBe(1);
  });

  it('a batch repeating known messages beside new ones stores only the new ones', async () => {
    const server = startProcess();
    await server.track('ada', 'm-3');
    await others(server, 'a');
    await server.projected();
    const answer = await server.batch([
      { userId: 'ada', messageId: 'm-3' },
      { userId: 'ada', messageId: 'm-4' },
      { userId: 'ada', messageId: 'm-4' },
    ]);
    expect(answer).toEqual({ accepted: 3 });
    expect([copiesOf('m-3'), copiesOf('m-4')]).toEqual([1, 1]);
  });

  it('survives a restart, including messages appended after the projection last committed', async () => {
    const first = startProcess();
    await first.track('ada', 'm-5');
    await first.projected();
    await open[0].runner!.stop();
    // Appended after the index's last commit, then the process stops before projecting it.
    await first.track('ada', 'm-6');
    open[0].db.close();
    open = [];

    clock.advance(30 * HOUR);
    const second = startProcess();
    await others(second, 'a');
    await second.track('ada', 'm-5');
    await second.track('grace', 'm-6');
    expect([copiesOf('m-5'), copiesOf('m-6')]).toEqual([1, 1]);
  });

  it('forgets ids a week after their receipt, counted in the events own times', async () => {
    const server = startProcess();
    await server.track('ada', 'm-7');
    await server.projected();
    const id = trackingEventId('default', 'm-7');
    expect(server.ids!.lookup(id)).toBe('stored');
    clock.advance(6 * DAY);
    await server.track('ada', 'm-8');
    await server.projected();
    expect(server.ids!.lookup(id)).toBe('stored');
    clock.advance(DAY + 2 * HOUR);
    await server.track('ada', 'm-9');
    await server.projected();
    expect(server.ids!.lookup(id)).toBeUndefined();
    expect(server.ids!.lookup(trackingEventId('default', 'm-8'))).toBe('stored');
  });

  it('is one of the projections `herald projections rebuild` knows on KurrentDB, and rebuilds to the same index', async () => {
    const server = startProcess();
    for (let day = 0; day < 9; day++) {
      await server.track('ada', `day-${day}`);
      clock.advance(DAY);
    }
    await server.projected();
    await server.runner!.stop();
    const db = open[0].db;
    const index = () => db.prepare('SELECT id, received_at FROM ingested_ids ORDER BY id').all();
    const live = index();
    expect(live).toHaveLength(8);
    await rebuildProjections(store, db, [INGESTED_IDS]);
    expect(index()).toEqual(live);
  });
});
