/**
 * The runner against the real SQLite log: partitioned projections handle different keys
 * concurrently and one key in log order; events without a key are barriers; a failure in one
 * partition discards the whole batch, which is handled again from the checkpoint.
 */
import { Worker } from 'node:worker_threads';
import { join } from 'node:path';
import type { NewEvent, RecordedEvent } from '../event-store/event-store.port';
import { SqliteEventStore } from '../event-store/sqlite/sqlite-event-store';
import { uuidv5, uuidv7 } from '../shared/ids';
import { openStateDb, readCheckpoint, type StateDb } from '../state/state-db';
import { type HostedProjection, type PlannedAppend, ProjectionRunner } from './projection-runner';
import { until, useLogAndState } from '../test-support/log-and-state';

function newEvent(type: string): NewEvent {
  const now = new Date().toISOString();
  return { id: uuidv7(), type, data: {}, metadata: { workspace: 'w', occurredAt: now, receivedAt: now, schemaVersion: 1 } };
}

/** Records when each event's handling starts and ends; handling of stream `slow` waits for `release`. */
class RecordingProjection implements HostedProjection {
  readonly name = 'recording';
  readonly log: string[] = [];
  failOnce = false;
  private releaseSlow!: () => void;
  private readonly slowGate = new Promise<void>((resolve) => (this.releaseSlow = resolve));

  setup(): void {}
  reset(): void {}

  partitionOf(event: RecordedEvent): string | undefined {
    return event.stream.startsWith('p-') ? event.stream : undefined;
  }

  async handle(event: RecordedEvent): Promise<PlannedAppend[]> {
    if (event.stream.startsWith('out-')) return [];
    this.log.push(`start ${event.stream}#${event.revision}`);
    if (event.stream === 'p-slow' && event.revision === 0) await this.slowGate;
    if (event.stream === 'p-fail' && this.failOnce) {
      this.failOnce = false;
      throw new Error('handler failed');
    }
    this.log.push(`end ${event.stream}#${event.revision}`);
    return [{ stream: `out-${event.stream}`, events: [newEvent('Saw')] }];
  }

  release(): void {
    this.releaseSlow();
  }
}

const files = useLogAndState('runner');
let dir: string;
let store: SqliteEventStore;
let db: StateDb;
beforeEach(() => ({ dir, store, db } = files));

it('handles other partitions while one waits, keeps order within a partition, and waits for all at a barrier', async () => {
  await store.append('p-slow', [newEvent('A'), newEvent('B')]);
  await store.append('p-fast', [newEvent('A')]);
  await store.append('workspace', [newEvent('Barrier')]);
  await store.append('p-fast', [newEvent('C')]);
  const projection = new RecordingProjection();
  const runner = new ProjectionRunner(store, db);
  runner.start(projection);
  try {
    // p-fast is handled while p-slow's first event is still waiting; the barrier is not.
    await until(() => projection.log.includes('end p-fast#0'));
    expect(projection.log).toEqual(['start p-slow#0', 'start p-fast#0', 'end p-fast#0']);
    projection.release();
    await until(() => runner.checkpoint('recording') >= 5);
    expect(projection.log).toEqual([
      'start p-slow#0',
      'start p-fast#0',
      'end p-fast#0',
      'end p-slow#0',
      'start p-slow#1',
      'end p-slow#1',
      'start workspace#0',
      'end workspace#0',
      'start p-fast#1',
      'end p-fast#1',
    ]);
    // The appends of a batch are made in log order per stream.
    expect((await store.readStream('out-p-slow')).length).toBe(2);
    expect((await store.readStream('out-workspace')).length).toBe(1);
  } finally {
    await runner.stop();
  }
});

it('discards a batch in which one partition failed and handles it again from the checkpoint', async () => {
  await store.append('p-ok', [newEvent('A')]);
  await store.append('p-fail', [newEvent('A')]);
  const projection = new RecordingProjection();
  projection.failOnce = true;
  const errors: unknown[] = [];
  const runner = new ProjectionRunner(store, db, { onError: (_name, error) => errors.push(error), retryDelayMs: 10 });
  runner.start(projection);
  try {
    await until(() => readCheckpoint(db, 'recording') >= 2);
    expect(errors).toHaveLength(1);
    expect(projection.log.filter((line) => line === 'end p-ok#0')).toHaveLength(2);
    // Nothing of the failed batch was appended the first time, and the retry appended once per event.
    expect((await store.readStream('out-p-ok')).length).toBe(1);
    expect((await store.readStream('out-p-fail')).length).toBe(1);
  } finally {
    await runner.stop();
  }
});

it('preloads each batch with the events the projection wants, before handling any of them', async () => {
  const log: string[] = [];
  const projection: HostedProjection = {
    name: 'preloading',
    filter: { eventTypes: ['Wanted'] },
    setup() {},
    reset() {},
    preload(events) {
      log.push(`preload ${events.map((event) => event.position).join(',')}`);
    },
    async handle(event) {
      log.push(`handle ${event.position}`);
      return [];
    },
  };
  await store.append('s', [newEvent('Wanted'), newEvent('Other'), newEvent('Wanted')]);
  const runner = new ProjectionRunner(store, db);
  runner.start(projection);
  try {
    await until(() => runner.checkpoint('preloading') >= 3);
    // Events appended together usually form one batch; either way each is preloaded before it is
    // handled, and the event the filter rejects is neither.
    const batches = log.filter((line) => line.startsWith('preload'));
    expect(batches.flatMap((line) => line.slice('preload '.length).split(','))).toEqual(['1', '3']);
    for (const position of [1, 3]) {
      const preloaded = log.findIndex((line) => line.startsWith('preload') && line.slice('preload '.length).split(',').includes(String(position)));
      expect(preloaded).toBeLessThan(log.indexOf(`handle ${position}`));
    }
    expect(log.filter((line) => line.startsWith('handle'))).toEqual(['handle 1', 'handle 3']);
  } finally {
    await runner.stop();
  }
});

it('a rebuild commits once at the end, or after each page while a projection holds much in memory', async () => {
  for (let i = 0; i < 10; i++) await store.append('s', [newEvent('E')]);
  const flushes = (holdsMuch: boolean) => {
    let count = 0;
    const projection: HostedProjection = {
      name: `counting-${holdsMuch}`,
      setup() {},
      reset() {},
      flush() {
        count += 1;
      },
      holdsMuch: () => holdsMuch,
    };
    return { projection, count: () => count };
  };
  const light = flushes(false);
  const heavy = flushes(true);
  await new ProjectionRunner(store, db).rebuildAll([light.projection], undefined, { pageSize: 3 });
  await new ProjectionRunner(store, db).rebuildAll([heavy.projection], undefined, { pageSize: 3 });
  expect(light.count()).toBe(1);
  expect(heavy.count()).toBe(4);
  expect(readCheckpoint(db, 'counting-true')).toBe(10);
});

it('a rebuild that reads before it writes keeps going while the checkpointer truncates the WAL', async () => {
  // A checkpointer that truncates the WAL every 2 ms takes the write lock each time; a deferred
  // transaction that has already read then failed with SQLITE_BUSY instead of waiting for it.
  const busyDb = openStateDb(join(dir, 'busy.sqlite'), { checkpointIntervalMs: 2, maxWalBytes: 16 * 1024 });
  busyDb.exec('CREATE TABLE IF NOT EXISTS rows (k INTEGER PRIMARY KEY, v TEXT NOT NULL)');
  const read = busyDb.prepare<[number], { v: string }>('SELECT v FROM rows WHERE k = ?');
  const write = busyDb.prepare<[number, string]>('INSERT OR REPLACE INTO rows (k, v) VALUES (?, ?)');
  for (let i = 0; i < 60; i++) await store.append(`s-${i}`, [newEvent('E')]);
  const projection: HostedProjection = {
    name: 'read-then-write',
    setup() {},
    reset() {},
    async handle(event) {
      read.get(event.position);
      // Time for the checkpointer to come in between the read and the commit's writes.
      await new Promise((resolve) => setTimeout(resolve, 2));
      return [];
    },
    flush() {
      for (let i = 0; i < 40; i++) write.run(i, 'x'.repeat(1000));
    },
  };
  try {
    await new ProjectionRunner(store, busyDb).rebuildAll([projection], undefined, { pageSize: 2, commitEvery: 2 });
    expect(readCheckpoint(busyDb, 'read-then-write')).toBe(60);
  } finally {
    busyDb.close();
  }
});

it('a live batch that reads before it writes is committed while another thread keeps writing the same file', async () => {
  const path = join(dir, 'live-busy.sqlite');
  const busyDb = openStateDb(path, { checkpointIntervalMs: 0 });
  busyDb.exec('CREATE TABLE IF NOT EXISTS rows (k INTEGER PRIMARY KEY, v TEXT NOT NULL)');
  // Another writer on the same file, as the analytics sink thread is, committing all the time.
  const other = new Worker(
    `const Database = require('better-sqlite3');
     const { parentPort, workerData } = require('node:worker_threads');
     const db = new Database(workerData.path, { timeout: 5000 });
     const put = db.prepare("INSERT OR REPLACE INTO rows (k, v) VALUES (?, 'other')");
     let stop = false, n = 0;
     parentPort.on('message', () => (stop = true));
     const tick = () => { if (stop) { db.close(); parentPort.close(); return; } put.run(100000 + (n++ % 100)); setImmediate(tick); };
     tick();`,
    { eval: true, workerData: { path } },
  );
  const read = busyDb.prepare<[number], { v: string }>('SELECT v FROM rows WHERE k = ?');
  const write = busyDb.prepare<[number, string]>('INSERT OR REPLACE INTO rows (k, v) VALUES (?, ?)');
  const errors: unknown[] = [];
  const projection: HostedProjection = {
    name: 'live-read-then-write',
    setup() {},
    reset() {},
    apply(_db, event) {
      // Reads first, lingers (the other thread commits meanwhile), then writes.
      read.get(event.position);
      const until = Date.now() + 2;
      while (Date.now() < until);
      write.run(event.position, 'mine');
    },
  };
  const runner = new ProjectionRunner(store, busyDb, { onError: (_name, error) => errors.push(error), retryDelayMs: 1 });
  try {
    runner.start(projection);
    let head = 0;
    for (let i = 0; i < 30; i++) head = (await store.append(`s-live-${i}`, [newEvent('E')])).position;
    for (let i = 0; i < 2000 && runner.checkpoint('live-read-then-write') < head; i++) await new Promise((resolve) => setTimeout(resolve, 5));
    expect(runner.checkpoint('live-read-then-write')).toBe(head);
    expect(errors).toEqual([]);
  } finally {
    await runner.stop();
    other.postMessage('stop');
    await new Promise((resolve) => other.once('exit', resolve));
    busyDb.close();
  }
});

/** Counts the `Wanted` events it applies, in its own table, committed with its checkpoint. */
class CountingWanted implements HostedProjection {
  readonly name = 'counting-wanted';
  readonly filter = { eventTypes: ['Wanted'] };
  setup(db: StateDb): void {
    db.exec('CREATE TABLE IF NOT EXISTS wanted_count (id INTEGER PRIMARY KEY CHECK (id = 1), n INTEGER NOT NULL)');
    db.exec('INSERT OR IGNORE INTO wanted_count (id, n) VALUES (1, 0)');
  }
  reset(db: StateDb): void {
    db.exec('DROP TABLE IF EXISTS wanted_count');
  }
  apply(db: StateDb): void {
    db.prepare('UPDATE wanted_count SET n = n + 1').run();
  }
}

it('puts off the checkpoint over events the projection ignores; after a crash it skips them again and applies each wanted event once', async () => {
  const wantedCount = () => (db.prepare('SELECT n FROM wanted_count').get() as { n: number }).n;
  await store.append('s', [newEvent('Wanted')]);
  // An hour: every write below is one the runner could not put off.
  const hooks = { idleCheckpointMs: 3_600_000 };
  let runner = new ProjectionRunner(store, db, hooks);
  runner.start(new CountingWanted());
  await until(() => runner.checkpoint('counting-wanted') === 1);
  expect(readCheckpoint(db, 'counting-wanted')).toBe(1);
  // Irrelevant events move the checkpoint in memory only.
  for (let i = 0; i < 20; i++) await store.append('s', [newEvent('Other')]);
  await until(() => runner.checkpoint('counting-wanted') === 21);
  expect(readCheckpoint(db, 'counting-wanted')).toBe(1);
  // A wanted event commits its state and the checkpoint past everything before it.
  await store.append('s', [newEvent('Wanted')]);
  await until(() => runner.checkpoint('counting-wanted') === 22);
  expect(readCheckpoint(db, 'counting-wanted')).toBe(22);
  expect(wantedCount()).toBe(2);
  for (let i = 0; i < 5; i++) await store.append('s', [newEvent('Other')]);
  await until(() => runner.checkpoint('counting-wanted') === 27);

  // A crash (the runner is dropped without stop): the next one resumes at the written checkpoint,
  // reads the ignored events again and applies only the wanted events that follow.
  // Its loop is stopped the way stop() does it, without the write stop() makes at the end.
  for (const running of runner['running'].values()) {
    running.stopped = true;
    await running.subscription?.stop();
    await running.loop;
  }
  expect(readCheckpoint(db, 'counting-wanted')).toBe(22);
  runner = new ProjectionRunner(store, db, hooks);
  await store.append('s', [newEvent('Wanted')]);
  runner.start(new CountingWanted());
  await until(() => runner.checkpoint('counting-wanted') === 28);
  expect(wantedCount()).toBe(3);
  expect(readCheckpoint(db, 'counting-wanted')).toBe(28);

  // A clean stop writes the checkpoint past the ignored events.
  await store.append('s', [newEvent('Other')]);
  await until(() => runner.checkpoint('counting-wanted') === 29);
  await runner.stop();
  expect(readCheckpoint(db, 'counting-wanted')).toBe(29);
  expect(wantedCount()).toBe(3);
});

/**
 * A pipelined reactor as the scenario engine is one: it appends its decisions itself (derived ids)
 * while handling, and its state (applied events per stream) is written by `apply`. Handling of
 * `p-slow#0` waits for its gate, which a test opens or fails.
 */
class PipelinedReactor implements HostedProjection {
  readonly name = 'pipelined';
  readonly pipelined = true;
  readonly log: string[] = [];
  private gate?: { promise: Promise<void>; open: () => void; fail: (error: Error) => void };

  constructor(
    private readonly out: SqliteEventStore,
    slow = true,
  ) {
    if (slow) {
      let open!: () => void;
      let fail!: (error: Error) => void;
      const promise = new Promise<void>((resolve, reject) => ((open = resolve), (fail = reject)));
      this.gate = { promise, open, fail };
    }
  }

  setup(db: StateDb): void {
    db.exec('CREATE TABLE IF NOT EXISTS pipelined_applied (stream TEXT NOT NULL, revision INTEGER NOT NULL, n INTEGER NOT NULL, PRIMARY KEY (stream, revision))');
  }
  reset(db: StateDb): void {
    db.exec('DROP TABLE IF EXISTS pipelined_applied');
  }

  partitionOf(event: RecordedEvent): string | undefined {
    return event.stream.startsWith('p-') ? event.stream : undefined;
  }

  async handle(event: RecordedEvent): Promise<PlannedAppend[]> {
    if (event.stream.startsWith('out-')) return [];
    this.log.push(`start ${event.stream}#${event.revision}`);
    if (event.stream === 'p-slow' && event.revision === 0 && this.gate) await this.gate.promise;
    const now = new Date().toISOString();
    await this.out.append(`out-${event.stream}`, [
      { id: uuidv5(`out|${event.id}`), type: 'Saw', data: { of: event.id }, metadata: { workspace: 'w', occurredAt: now, receivedAt: now, schemaVersion: 1 } },
    ]);
    this.log.push(`end ${event.stream}#${event.revision}`);
    return [];
  }

  apply(db: StateDb, event: RecordedEvent): void {
    if (event.stream.startsWith('out-')) return;
    db.prepare('INSERT INTO pipelined_applied (stream, revision, n) VALUES (?, ?, 1) ON CONFLICT DO UPDATE SET n = n + 1').run(event.stream, event.revision);
  }

  open(): void {
    this.gate!.open();
  }
  /** Fails the waiting handler; when the event is handled again, it does not wait. */
  fail(): void {
    this.gate!.fail(new Error('handler failed'));
    this.gate = undefined;
  }
}

/** Applied counts per `stream#revision`, from the reactor's table. */
function appliedCounts(): Record<string, number> {
  const rows = db.prepare('SELECT stream, revision, n FROM pipelined_applied ORDER BY stream, revision').all() as Array<{ stream: string; revision: number; n: number }>;
  return Object.fromEntries(rows.map((row) => [`${row.stream}#${row.revision}`, row.n]));
}

/** Waits until the runner has committed everything in the log, its own appends included. */
async function caughtUp(read: () => number): Promise<number> {
  for (;;) {
    const head = await store.headPosition();
    await until(() => read() >= head);
    if ((await store.headPosition()) === head) return head;
  }
}

/** Starts the slow event's batch, then appends a later one behind it while the slow one waits. */
async function slowBatchThenMore(reactor: PipelinedReactor): Promise<void> {
  await store.append('p-slow', [newEvent('A')]);
  await until(() => reactor.log.includes('start p-slow#0'));
  await store.append('p-fast', [newEvent('A')]);
  await store.append('p-slow', [newEvent('B')]);
  await store.append('workspace', [newEvent('Barrier')]);
  await store.append('p-other', [newEvent('A')]);
  await until(() => reactor.log.includes('end p-fast#0'));
}

it('a pipelined projection handles later batches while an earlier one waits, keeps partitions and barriers in order across batches, and commits in log order', async () => {
  const reactor = new PipelinedReactor(store);
  const runner = new ProjectionRunner(store, db);
  runner.start(reactor);
  try {
    await slowBatchThenMore(reactor);
    // p-fast's decision is durable although the batch before it is still being handled...
    expect((await store.readStream('out-p-fast')).length).toBe(1);
    // ...but neither batch is committed: the checkpoint does not pass the slow event.
    expect(readCheckpoint(db, 'pipelined')).toBe(0);
    expect(runner.checkpoint('pipelined')).toBe(0);
    // The slow partition's next event, the barrier and what follows it wait.
    expect(reactor.log).toEqual(['start p-slow#0', 'start p-fast#0', 'end p-fast#0']);

    reactor.open();
    const head = await caughtUp(() => runner.checkpoint('pipelined'));
    const at = (line: string) => reactor.log.indexOf(line);
    expect(at('end p-slow#0')).toBeLessThan(at('start p-slow#1'));
    expect(at('end p-slow#1')).toBeLessThan(at('start workspace#0'));
    expect(at('end workspace#0')).toBeLessThan(at('start p-other#0'));
    expect(reactor.log.filter((line) => line.startsWith('start'))).toHaveLength(5);
    expect(readCheckpoint(db, 'pipelined')).toBe(head);
    expect(appliedCounts()).toEqual({ 'p-fast#0': 1, 'p-other#0': 1, 'p-slow#0': 1, 'p-slow#1': 1, 'workspace#0': 1 });
  } finally {
    await runner.stop();
  }
});

it('a pipelined projection that crashes after a later batch appended, before an earlier batch committed, resumes at the earlier batch and appends nothing twice', async () => {
  const first = new PipelinedReactor(store);
  const crashed = new ProjectionRunner(store, db);
  crashed.start(first);
  await slowBatchThenMore(first);
  expect((await store.readStream('out-p-fast')).length).toBe(1);
  // The process dies here: nothing of the first runner commits after this point.
  for (const running of crashed['running'].values()) {
    running.stopped = true;
    await running.subscription?.stop();
    first.fail();
    await running.loop;
  }
  expect(readCheckpoint(db, 'pipelined')).toBe(0);
  expect(first.log).toEqual(['start p-slow#0', 'start p-fast#0', 'end p-fast#0']);

  const second = new PipelinedReactor(store, false);
  const runner = new ProjectionRunner(store, db);
  runner.start(second);
  try {
    await caughtUp(() => runner.checkpoint('pipelined'));
    // Every event handled again, each decision appended once, each event applied once.
    expect(second.log.filter((line) => line.startsWith('end'))).toHaveLength(5);
    for (const stream of ['p-slow', 'p-fast', 'workspace', 'p-other']) {
      expect((await store.readStream(`out-${stream}`)).length).toBe(stream === 'p-slow' ? 2 : 1);
    }
    expect(appliedCounts()).toEqual({ 'p-fast#0': 1, 'p-other#0': 1, 'p-slow#0': 1, 'p-slow#1': 1, 'workspace#0': 1 });
  } finally {
    await runner.stop();
  }
});

it('a pipelined projection whose earlier batch fails discards the later batches it handled, and handles them all again once', async () => {
  const reactor = new PipelinedReactor(store);
  const errors: unknown[] = [];
  const runner = new ProjectionRunner(store, db, { onError: (_name, error) => errors.push(error), retryDelayMs: 10 });
  runner.start(reactor);
  try {
    await slowBatchThenMore(reactor);
    reactor.fail();
    await caughtUp(() => readCheckpoint(db, 'pipelined'));
    expect(errors).toHaveLength(1);
    // p-fast was handled in the failed pipeline and again after it; its decision stands once.
    expect(reactor.log.filter((line) => line === 'end p-fast#0')).toHaveLength(2);
    expect((await store.readStream('out-p-fast')).length).toBe(1);
    expect((await store.readStream('out-p-slow')).length).toBe(2);
    expect(appliedCounts()).toEqual({ 'p-fast#0': 1, 'p-other#0': 1, 'p-slow#0': 1, 'p-slow#1': 1, 'workspace#0': 1 });
  } finally {
    await runner.stop();
  }
});

/** A pipelined reactor without partitions (as the segments projection) deciding one event onto the stream its data names. */
class RoutingReactor implements HostedProjection {
  readonly name = 'routing';
  readonly pipelined = true;
  /** Handling an event whose data says `hold` waits for this (the first time only). */
  hold?: Promise<void>;
  setup(): void {}
  reset(): void {}
  async handle(event: RecordedEvent): Promise<PlannedAppend[]> {
    const { to, hold } = event.data as { to?: string; hold?: boolean };
    if (hold && this.hold) {
      const gate = this.hold;
      this.hold = undefined;
      await gate;
    }
    if (!to) return [];
    const now = new Date().toISOString();
    return [{ stream: to, events: [{ id: uuidv5(`routed|${event.id}`), type: 'Routed', data: { of: event.id }, metadata: { workspace: 'w', occurredAt: now, receivedAt: now, schemaVersion: 1 } }] }];
  }
}

/** The log, with appends to `out-held` kept waiting until released (or failed); every call noted. */
function holdingStore() {
  const calls: string[] = [];
  const held: Array<{ run: () => void; fail: () => void }> = [];
  let holding = true;
  const proxy = new Proxy(store, {
    get(target, property, receiver) {
      if (property === 'append') {
        return (stream: string, events: NewEvent[]) => {
          for (const event of events) calls.push(`${stream} ${(event.data as { of: string }).of}`);
          if (stream !== 'out-held' || !holding) return target.append(stream, events);
          return new Promise((resolve, reject) => {
            held.push({ run: () => target.append(stream, events).then(resolve, reject), fail: () => reject(new Error('append failed')) });
          });
        };
      }
      const value = Reflect.get(target, property, receiver);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  }) as SqliteEventStore;
  return {
    proxy,
    calls,
    release: () => {
      holding = false;
      for (const append of held.splice(0)) append.run();
    },
    failHeld: () => {
      holding = false;
      for (const append of held.splice(0)) append.fail();
    },
  };
}

async function routed(to: string, hold = false): Promise<string> {
  const event = { ...newEvent('Route'), data: { to, hold } };
  await store.append(`in-${to}`, [event]);
  return event.id;
}

it.each(['released', 'failed'])(
  "a pipelined projection's later batch appends to another stream while an earlier batch's append waits, to the same stream only after it (held append %s)",
  async (outcome) => {
    const { proxy, calls, release, failHeld } = holdingStore();
    const runner = new ProjectionRunner(proxy, db, { retryDelayMs: 10 });
    runner.start(new RoutingReactor());
    try {
      const first = await routed('out-held');
      await until(() => calls.includes(`out-held ${first}`));
      const second = await routed('out-free');
      const third = await routed('out-held');
      // The second batch's decision is durable while the first batch's waits...
      await until(() => calls.includes(`out-free ${second}`));
      expect((await store.readStream('out-free')).length).toBe(1);
      // ...the third's, to the same stream as the first's, is not even asked for, and nothing is committed.
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(calls).not.toContain(`out-held ${third}`);
      expect(readCheckpoint(db, 'routing')).toBe(0);

      if (outcome === 'released') release();
      else failHeld();
      await caughtUp(() => runner.checkpoint('routing'));
      // In the stream's order, each decision once (after a failure, all handled again from the checkpoint).
      expect((await store.readStream('out-held')).map((event) => (event.data as { of: string }).of)).toEqual([first, third]);
      expect((await store.readStream('out-free')).map((event) => (event.data as { of: string }).of)).toEqual([second]);
      expect(calls.indexOf(`out-held ${third}`)).toBeGreaterThan(calls.indexOf(`out-held ${first}`));
    } finally {
      await runner.stop();
    }
  },
);

it("after an earlier batch's append to a stream failed, a later batch handled meanwhile appends nothing, and the stream keeps decision order", async () => {
  const { proxy, calls, failHeld } = holdingStore();
  const runner = new ProjectionRunner(proxy, db, { retryDelayMs: 10 });
  const reactor = new RoutingReactor();
  let release!: () => void;
  reactor.hold = new Promise<void>((resolve) => (release = resolve));
  runner.start(reactor);
  try {
    const first = await routed('out-held');
    await until(() => calls.includes(`out-held ${first}`));
    // The second batch, to the same stream, is still being handled when the first's append fails.
    const second = await routed('out-held', true);
    await until(() => reactor.hold === undefined);
    failHeld();
    // Long enough for the failed append to settle (and, before the fix, be forgotten as the stream's tail).
    await new Promise((resolve) => setTimeout(resolve, 20));
    release();
    await caughtUp(() => runner.checkpoint('routing'));
    expect((await store.readStream('out-held')).map((event) => (event.data as { of: string }).of)).toEqual([first, second]);
    // The second's decision was asked for once: after the restart from the checkpoint, not by the failed subscription.
    expect(calls.filter((call) => call === `out-held ${second}`)).toHaveLength(1);
    expect(calls.indexOf(`out-held ${second}`)).toBeGreaterThan(calls.lastIndexOf(`out-held ${first}`));
  } finally {
    await runner.stop();
  }
});
