/**
 * Hosts projections on the ordered subscription over the whole log. For each event a projection
 * may first decide events to append (a reactor, such as segment membership); those are appended,
 * durably, before the projection's state and checkpoint are committed together in one transaction.
 * So after a crash a projection resumes exactly after the last event it committed, never applying
 * one twice or skipping one, and the decisions of a re-handled event carry the same derived ids, so
 * appending them again is a no-op.
 */
import { matches as matchesFilter } from '../event-store/event-filter';
import type { EventFilter, EventStore, NewEvent, RecordedEvent, Subscription } from '../event-store/event-store.port';
import type Database from 'better-sqlite3';
import { readCheckpoint, type StateDb, writeCheckpoint } from '../state/state-db';
import {
  attributed,
  EventHandlingError,
  forgetParked,
  isEventFault,
  listParked,
  park,
  PARK_AFTER_ATTEMPTS,
  PARKED_EVENTS_TABLE,
  type ParkedEventRow,
  noteFailedReplay,
  parkedInStreams,
  parkedOf,
  parkedPositions,
  type ProjectionEventParked,
  type ProjectionEventReplayed,
  replayRecord,
  unpark,
} from './parked-events';

export interface PlannedAppend {
  stream: string;
  events: NewEvent[];
}

export interface HostedProjection {
  readonly name: string;
  /** Events this projection cares about; others only move its checkpoint. */
  readonly filter?: EventFilter;
  /** Creates the projection's tables if missing. */
  setup(db: StateDb): void;
  /** Drops the projection's state, for a rebuild. */
  reset(db: StateDb): void;
  /**
   * Loads, before a live batch is handled, what handling it will read, so the reads share one read
   * transaction (an SQLite read outside a transaction takes and releases the WAL locks each time).
   * Only a read-through cache may be filled: handling must give the same result without it.
   */
  preload?(events: RecordedEvent[]): void;
  /** Decides on an event, changing in-memory state, and returns what to append before committing. */
  handle?(event: RecordedEvent): Promise<PlannedAppend[]>;
  /** Applies an event directly to the database (runs inside the checkpoint transaction). */
  apply?(db: StateDb, event: RecordedEvent): void;
  /** Writes in-memory state changed by `handle` (inside the checkpoint transaction). */
  flush?(db: StateDb): void;
  /** Forgets in-memory changes that were not committed (their appends failed). */
  discard?(): void;
  /**
   * True when the in-memory state waiting for `flush` has grown large: a rebuild, which otherwise
   * commits every REBUILD_COMMIT_EVENTS events, then commits at the end of the page.
   */
  holdsMuch?(): boolean;
  /**
   * Events with different keys may be handled concurrently (their appends then share a group
   * commit); events with the same key, and events without one, keep log order. Without this
   * method every event is handled in turn.
   */
  partitionOf?(event: RecordedEvent): string | undefined;
  /**
   * Whether the next batch may be handled while the previous ones' appends are still being made
   * durable (up to PIPELINE_DEPTH batches in flight): the batches are still committed in log order,
   * each after its own appends, and an event still waits for the previous event of its partition.
   * Only for a projection whose state for a batch is written by `apply` from the batch's events,
   * or whose `flush` writes only the batches `apply` has reached (each live batch is preloaded, in
   * log order, before it is handled): a plain `flush` would write what later batches' `handle`
   * calls changed. `preload` may run for a batch while earlier ones are being handled.
   */
  readonly pipelined?: boolean;
}

interface Running {
  projection: HostedProjection;
  subscription?: Subscription;
  loop: Promise<void>;
  /** Position of the last event handled and committed, or skipped as irrelevant. */
  checkpoint: number;
  /** Positions of the events this projection parked (parked-events.ts): skipped, not handled. */
  parked: Set<number>;
  /** The event the last failures were attributed to, and how many times in a row. */
  failing?: { position: number; attempts: number };
  /** The checkpoint as last written to the state database, and when (ms). */
  persisted: number;
  persistedAt: number;
  stopped: boolean;
}

export interface ProjectionRunnerHooks {
  onError?: (name: string, error: unknown) => void;
  /**
   * Called after each event a projection has committed (applied or skipped). The data and metadata of
   * an event outside the projection's filter may be decoded only when read: read them only if needed.
   */
  onCommitted?: (name: string, event: RecordedEvent) => void;
  /** Delay before a failed projection resumes from its checkpoint. */
  retryDelayMs?: number;
  /** Called once an event is parked (after PARK_AFTER_ATTEMPTS failures of the projection on it). */
  onParked?: (parked: ProjectionEventParked) => void;
  /** The time written on a parked event (default: the system clock). */
  now?: () => Date;
  /** How long a checkpoint may stay unwritten over events the projection ignores (default 1 s). */
  idleCheckpointMs?: number;
}

export class ProjectionRunner {
  private readonly running = new Map<string, Running>();
  /** Replays run one at a time; `stop` waits for them. */
  private replays: Promise<unknown> = Promise.resolve();
  private stopping = false;
  /** Per projection, what to call once a commit of its state applied events (see onStateCommitted). */
  private readonly stateListeners = new Map<string, Array<() => void>>();

  constructor(
    private readonly store: EventStore,
    private readonly db: StateDb,
    private readonly hooks: ProjectionRunnerHooks = {},
  ) {
    db.exec(PARKED_EVENTS_TABLE);
  }

  names(): string[] {
    return [...this.running.keys()];
  }

  start(projection: HostedProjection): void {
    projection.setup(this.db);
    const checkpoint = readCheckpoint(this.db, projection.name);
    const parked = parkedPositions(this.db, projection.name);
    const running: Running = { projection, checkpoint, parked, persisted: checkpoint, persistedAt: Date.now(), loop: Promise.resolve(), stopped: false };
    running.loop = this.follow(running);
    this.running.set(projection.name, running);
  }

  /**
   * Calls `listener` after each commit of the projection's state that applied events (a batch it
   * handled, a replayed event), not after checkpoint-only ones: what reads the projection's tables
   * (its due timers) looks again then.
   */
  onStateCommitted(name: string, listener: () => void): void {
    const listeners = this.stateListeners.get(name) ?? [];
    listeners.push(listener);
    this.stateListeners.set(name, listeners);
  }

  private stateCommitted(name: string): void {
    for (const listener of this.stateListeners.get(name) ?? []) listener();
  }

  /** The events of these streams that a projection parked (a person's history). */
  parkedInStreams(streams: readonly string[]): ParkedEventRow[] {
    return parkedInStreams(this.db, streams);
  }

  /** How many events a projection has parked (for /metrics). */
  parkedCount(name: string): number {
    return this.running.get(name)?.parked.size ?? 0;
  }

  /** Position of the last event a projection has committed. */
  checkpoint(name: string): number {
    return this.running.get(name)?.checkpoint ?? readCheckpoint(this.db, name);
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await this.replays.catch(() => undefined);
    for (const running of this.running.values()) await this.halt(running);
    this.running.clear();
    this.stopping = false;
  }

  /** Every event a projection parked, oldest first. */
  listParked(): ParkedEventRow[] {
    return listParked(this.db);
  }

  /**
   * Hands a running projection the events it parked again (all of them, or those at `positions`),
   * one by one in log order, after a fix: the projection is halted meanwhile and then resumes where
   * it was. An event handled now is no longer skipped; one that fails again stays parked, with one
   * more attempt. Each replay is recorded as `ProjectionEventReplayed` in the operations stream.
   * The event is handled as a live one would be now, with the projection's state as it is now.
   */
  replayParked(name: string, positions?: readonly number[]): Promise<ProjectionEventReplayed[]> {
    const replay = this.replays.catch(() => undefined).then(() => this.replayNow(name, positions));
    this.replays = replay;
    return replay;
  }

  private async replayNow(name: string, positions?: readonly number[]): Promise<ProjectionEventReplayed[]> {
    const running = this.running.get(name);
    if (!running || this.stopping) throw new UnknownProjectionError(name);
    const rows = parkedOf(this.db, name).filter((row) => !positions || positions.includes(row.position));
    if (rows.length === 0) return [];
    await this.halt(running);
    const replayed: ProjectionEventReplayed[] = [];
    try {
      for (const row of rows) replayed.push(await this.replayOne(running, row));
    } finally {
      running.stopped = false;
      running.loop = this.follow(running);
    }
    return replayed;
  }

  /** Stops a projection's subscription and loop, and writes its checkpoint. */
  private async halt(running: Running): Promise<void> {
    running.stopped = true;
    await running.subscription?.stop();
    await running.loop;
    // Events skipped since the last write were irrelevant to the projection: record having passed them.
    if (running.checkpoint > running.persisted && this.db.open) {
      writeCheckpoint(this.db, running.projection.name, running.checkpoint);
      running.persisted = running.checkpoint;
    }
  }

  /**
   * One parked event handled again, as a batch of one: its decisions and the replay's record are
   * appended first (derived ids: a replay repeated after a crash appends nothing new), then its state
   * is committed with the row removed. A failure of the log or the state database is thrown.
   */
  private async replayOne(running: Running, row: ParkedEventRow): Promise<ProjectionEventReplayed> {
    const { projection } = running;
    const [event] = await this.store.readAll({ fromPosition: row.position, maxCount: 1 });
    if (!event || event.position !== row.position) throw new Error(`The log has no event at position ${row.position}, parked by ${projection.name}`);
    const now = this.hooks.now?.() ?? new Date();
    try {
      projection.preload?.([event]);
      const planned = projection.handle ? await projection.handle(event) : [];
      const record = replayRecord(row, event, 'handled', now);
      await new DecisionAppends(this.store).append([...planned, { stream: record.stream, events: [record.event] }]);
      this.db.transaction(() => {
        applyAttributed(projection, this.db, event);
        projection.flush?.(this.db);
        unpark(this.db, projection.name, row.position);
      }).immediate();
      running.parked.delete(row.position);
      this.stateCommitted(projection.name);
      return record.event.data;
    } catch (error) {
      projection.discard?.();
      if (!isEventFault(attributed(error, event, projection.name))) throw error;
      const cause = error instanceof EventHandlingError ? error.cause : error;
      const record = replayRecord(row, event, 'failed', now, cause);
      await this.store.append(record.stream, [record.event]);
      noteFailedReplay(this.db, projection.name, row.position, cause);
      return record.event.data;
    }
  }

  /** Drops a projection's state and checkpoint, then rebuilds it from the start of the log (nothing is appended). */
  async rebuild(projection: HostedProjection, onProgress?: (position: number, head: number) => void): Promise<void> {
    await this.rebuildAll([projection], onProgress);
  }

  /**
   * Rebuilds several projections in one pass over the log: each page is read and decoded once and
   * handed to every projection, and all of them commit together with their checkpoints. When every
   * projection filters, only the events one of them wants are decoded.
   */
  async rebuildAll(
    projections: HostedProjection[],
    onProgress?: (position: number, head: number) => void,
    sizes: { pageSize?: number; commitEvery?: number } = {},
  ): Promise<void> {
    const busy = projections.filter((projection) => this.running.has(projection.name));
    if (busy.length > 0) throw new Error(`Projection ${busy.map((p) => p.name).join(', ')} is running; stop it before rebuilding`);
    const head = await this.store.headPosition();
    this.db.transaction(() => {
      for (const projection of projections) {
        projection.reset(this.db);
        projection.setup(this.db);
        writeCheckpoint(this.db, projection.name, 0);
        // A rebuild (after a fix) handles the events it had parked again.
        forgetParked(this.db, projection.name);
      }
    })();
    const filter = unionOf(projections.map((projection) => projection.filter));
    const pageSize = sizes.pageSize ?? 5000;
    // Alone on the state database (the CLI, before the server starts its projections), state is
    // committed every REBUILD_COMMIT_EVENTS events, or sooner when a projection holds much in memory,
    // rather than every page: a person touched in every page is then serialised and written once per
    // commit instead of once per page. Beside running projections, every page is committed on its
    // own, and no transaction stays open across a read.
    const commitEvery = this.running.size === 0 ? (sizes.commitEvery ?? REBUILD_COMMIT_EVENTS) : pageSize;
    let from = 1;
    let uncommitted = 0;
    try {
      while (from <= head) {
        const page = await this.store.readAll({ fromPosition: from, maxCount: pageSize, filter });
        const upTo = page.length === 0 ? head : Math.min(page[page.length - 1].position, head);
        // IMMEDIATE: the transaction reads (projections' caches) before it writes, and a deferred one
        // that has read cannot wait for the write lock; it fails with SQLITE_BUSY at once when the
        // state database's checkpointer holds that lock for a TRUNCATE (1M-user rebuilds, bench:segments).
        if (!this.db.inTransaction) this.db.exec('BEGIN IMMEDIATE');
        for (const event of page) {
          if (event.position > head) break;
          for (const projection of projections) {
            if (projection.filter && !matchesFilter(event, projection.filter)) continue;
            if (projection.handle) await projection.handle(event);
            projection.apply?.(this.db, event);
          }
        }
        uncommitted += page.length;
        // A filtered read that found nothing has scanned to the end of the log.
        const last = page.length === 0 || upTo >= head;
        if (last || uncommitted >= commitEvery || projections.some((projection) => projection.holdsMuch?.())) {
          for (const projection of projections) {
            projection.flush?.(this.db);
            writeCheckpoint(this.db, projection.name, upTo);
          }
          this.db.exec('COMMIT');
          uncommitted = 0;
        }
        onProgress?.(upTo, head);
        if (last) return;
        from = upTo + 1;
      }
    } catch (error) {
      if (this.db.inTransaction) this.db.exec('ROLLBACK');
      for (const projection of projections) projection.discard?.();
      throw error;
    }
  }

  private async follow(running: Running): Promise<void> {
    const { projection } = running;
    // The state of a whole batch and the checkpoint after it are committed together: one transaction
    // per batch instead of one per event.
    const commit = this.db.transaction((relevant: RecordedEvent[], last: number) => {
      for (const event of relevant) applyAttributed(projection, this.db, event);
      if (relevant.length > 0) projection.flush?.(this.db);
      writeCheckpoint(this.db, projection.name, last);
    });
    const depth = projection.pipelined ? PIPELINE_DEPTH : 1;
    while (!running.stopped) {
      // Unfiltered, so the checkpoint also moves past events this projection ignores (honest lag figures);
      // the log need not decode those for it.
      const subscription = this.store.subscribeToAll({ afterPosition: running.checkpoint, reads: projection.filter });
      running.subscription = subscription;
      const events = subscription[Symbol.asyncIterator]();
      // Batches handled and not committed yet, oldest first. Each settles only once its handling has.
      const inFlight: Array<Promise<void>> = [];
      const partitions = new Partitions(projection);
      const { parked } = running;
      // The decisions this subscription appends, each stream's in batch order.
      const decisions = new DecisionAppends(this.store);
      // Resolves once a batch has queued its appends (in batch order), not once they are durable.
      let queued: Promise<void> = Promise.resolve();
      let committed: Promise<void> = Promise.resolve();
      // A batch that fails ends the subscription, so a loop waiting for events wakes (as done) and
      // meets the failure when it drains the batches in flight. (Not a race against a "failed"
      // promise: every race would leave a reaction on it, a leak as long as nothing fails.)
      const fail = () => void subscription.stop();
      try {
        let pending = events.next();
        for (;;) {
          const first = await pending;
          if (first.done) break;
          const batch = [first.value];
          // Take the events that are already there (they arrive together under load), without waiting.
          if (subscription.takeReady) {
            batch.push(...subscription.takeReady(MAX_BATCH - 1));
            pending = events.next();
          } else {
            while (batch.length < MAX_BATCH) {
              pending = events.next();
              const ready = await Promise.race([pending, nextTurn()]);
              if (ready === NOT_READY || ready.done) break;
              batch.push(ready.value);
            }
            if (batch.length === MAX_BATCH) pending = events.next();
          }
          const wanted = projection.filter ? batch.filter((event) => matchesFilter(event, projection.filter)) : batch;
          const relevant = parked.size > 0 ? wanted.filter((event) => !parked.has(event.position)) : wanted;
          if (relevant.length > 0) projection.preload?.(relevant);
          const handled = projection.handle ? partitions.handleBatch(relevant) : Promise.resolve([]);
          // The batch's decisions are appended together (one group commit, not one per deciding event),
          // each stream's after the earlier batches' appends to it, before the state that decided them
          // is committed; a failure discards the state and the batch is handled again, and derived
          // ids make the repeated appends no-ops. A failed append fails the later ones to its stream.
          const previousQueued = queued;
          const thisQueued = handled.then(async (planned) => {
            await previousQueued;
            return { durable: decisions.append(planned) };
          });
          queued = thisQueued.then(() => undefined);
          // Its failure reaches the next batch (which awaits it) and this batch's commit; none may be left.
          queued.catch(() => undefined);
          const thisAppended = thisQueued.then((appends) => appends.durable);
          // Committed in log order, each after its own appends: a checkpoint never passes an event
          // whose decisions are not durable, nor one of an earlier batch still in flight.
          const previousCommitted = committed;
          committed = (async () => {
            await thisAppended;
            await previousCommitted;
            this.commitBatch(running, commit, batch, relevant);
          })();
          committed.catch(fail);
          inFlight.push(committed);
          // A pipelined projection reads and decides the next batch while this one's appends are made
          // durable; the others (and a pipeline that is full) wait for it here.
          while (inFlight.length >= depth) await inFlight.shift();
        }
        while (inFlight.length > 0) await inFlight.shift();
      } catch (error) {
        // Nothing may still run once the state is discarded: let every batch in flight settle first,
        // and every append it asked for (a batch fails at its first failed append, not its last).
        await Promise.allSettled(inFlight);
        await decisions.settled();
        projection.discard?.();
        if (running.stopped) return;
        this.hooks.onError?.(projection.name, error);
        await running.subscription.stop();
        // Resume from the last committed position after a pause.
        running.checkpoint = running.persisted = readCheckpoint(this.db, projection.name);
        await this.parkIfStuck(running, error);
        await new Promise((resolve) => setTimeout(resolve, this.hooks.retryDelayMs ?? 1000));
      }
    }
  }

  /**
   * Counts the failures the projection's code had on one event in a row, and parks that event at
   * PARK_AFTER_ATTEMPTS. A failure of the log or the state database changes nothing (it is retried).
   */
  private async parkIfStuck(running: Running, error: unknown): Promise<void> {
    if (!(error instanceof EventHandlingError) || !isEventFault(error)) return;
    const position = error.event.position;
    const attempts = running.failing?.position === position ? running.failing.attempts + 1 : 1;
    running.failing = { position, attempts };
    if (attempts < PARK_AFTER_ATTEMPTS) return;
    try {
      const parked = await park(this.store, this.db, error, attempts, this.hooks.now?.() ?? new Date());
      running.parked.add(position);
      running.failing = undefined;
      this.hooks.onParked?.(parked);
    } catch (failure) {
      // The log or the state database failed meanwhile: the event is handled again, and parked later.
      this.hooks.onError?.(running.projection.name, failure);
    }
  }

  private commitBatch(
    running: Running,
    commit: Database.Transaction<(relevant: RecordedEvent[], last: number) => void>,
    batch: RecordedEvent[],
    relevant: RecordedEvent[],
  ): void {
    const { projection } = running;
    const last = batch[batch.length - 1].position;
    // IMMEDIATE, as in a rebuild: a deferred transaction whose first statement reads cannot wait
    // for the write lock another connection holds (the checkpointer truncating the WAL, the
    // analytics sink thread committing); it would fail with SQLITE_BUSY and replay the batch.
    // A batch with nothing this projection cares about changes no state: its checkpoint is written
    // with a later batch, or a second later (idleCheckpointMs), instead of costing a transaction per batch.
    // After a crash the projection reads those events again and skips them again. The first
    // write is never put off: a checkpoint still at 0 beside a log means "new state folder" at start.
    const now = Date.now();
    if (relevant.length > 0 || running.persisted === 0 || now - running.persistedAt >= (this.hooks.idleCheckpointMs ?? IDLE_CHECKPOINT_MS)) {
      commit.immediate(relevant, last);
      running.persisted = last;
      running.persistedAt = now;
      if (relevant.length > 0) this.stateCommitted(projection.name);
    }
    running.checkpoint = last;
    if (running.failing && running.failing.position <= last) running.failing = undefined;
    for (const event of batch) this.hooks.onCommitted?.(projection.name, event);
  }
}

/**
 * The decisions one subscription of a pipelined projection appends. A batch's appends go out
 * together, one per stream; each after the earlier batches' append to that stream only, not after
 * all of theirs (a new user's decision joins the group commit the earlier batch's decisions wait
 * for, instead of the one after it).
 *
 * Once an append has failed, nothing more is appended: the later batches were decided on state that
 * assumed it durable, and they are handled again from the checkpoint. Appending them anyway put a
 * person's later decision in the log before an earlier one (a later batch's append to a stream whose
 * failed append had already been forgotten went out unchained, and the earlier decision was only
 * appended after the restart).
 */
class DecisionAppends {
  /** Per stream, the last append asked for, until it has succeeded with none queued behind it. */
  private readonly tails = new Map<string, Promise<unknown>>();
  private readonly pending = new Set<Promise<unknown>>();
  private failure: { error: unknown } | undefined;

  constructor(private readonly store: EventStore) {}

  /** Appends a batch's planned decisions; rejects at the first that fails. */
  async append(planned: PlannedAppend[]): Promise<void> {
    const byStream = new Map<string, Map<string, NewEvent>>();
    for (const { stream, events } of planned) {
      let queued = byStream.get(stream);
      if (!queued) byStream.set(stream, (queued = new Map()));
      // The same derived id planned twice in a batch is one event (an append refuses duplicates).
      for (const event of events) if (!queued.has(event.id)) queued.set(event.id, event);
    }
    await Promise.all([...byStream].map(([stream, events]) => this.appendToStream(stream, [...events.values()])));
  }

  /** Resolves once every append asked for has succeeded or failed. */
  async settled(): Promise<void> {
    await Promise.allSettled([...this.pending]);
  }

  private appendToStream(stream: string, events: NewEvent[]): Promise<unknown> {
    const start = () => {
      if (this.failure) throw this.failure.error;
      return this.store.append(stream, events);
    };
    // Chained on a failed append, this one fails too (and is not asked for).
    const previous = this.tails.get(stream);
    const append = previous ? previous.then(start) : this.failure ? Promise.reject(this.failure.error) : this.store.append(stream, events);
    this.tails.set(stream, append);
    this.pending.add(append);
    append.then(
      () => {
        this.pending.delete(append);
        // Forget a succeeded append unless a later one to the stream has queued behind it.
        if (this.tails.get(stream) === append) this.tails.delete(stream);
      },
      (error: unknown) => {
        this.pending.delete(append);
        this.failure ??= { error };
      },
    );
    return append;
  }
}

/** Asked of a projection this runner does not run. */
export class UnknownProjectionError extends Error {
  constructor(readonly projection: string) {
    super(`No projection named ${projection} is running`);
    this.name = 'UnknownProjectionError';
  }
}

const MAX_BATCH = 500;
/** Batches a pipelined projection may have handled and not yet committed. */
const PIPELINE_DEPTH = 4;
/** How long a projection's checkpoint may stay behind over events it does not care about. */
const IDLE_CHECKPOINT_MS = 1000;
const REBUILD_COMMIT_EVENTS = 1_000_000;

/**
 * Hands batches to `handle`, in log order within each partition and concurrently across them, also
 * across the batches of a pipeline: an event waits for the previous event of its partition, in its
 * batch or an earlier one. An event without a partition waits for everything before it and holds
 * back everything after it. An event whose predecessor failed fails with it, unhandled.
 */
class Partitions {
  private chains = new Map<string, Promise<unknown>>();
  private barrier: Promise<unknown> = Promise.resolve();

  constructor(private readonly projection: HostedProjection) {}

  /** The batch's planned appends in log order, once every event of it is handled. */
  async handleBatch(events: RecordedEvent[]): Promise<PlannedAppend[]> {
    const handle = this.projection.handle!.bind(this.projection);
    const name = this.projection.name;
    const results: PlannedAppend[][] = new Array(events.length);
    if (!this.projection.partitionOf) {
      // Every event in turn, after the batches before.
      await this.after(undefined, async () => {
        let i = 0;
        try {
          for (; i < events.length; i++) results[i] = await handle(events[i]);
        } catch (error) {
          throw attributed(error, events[i], name);
        }
      });
      return results.flat();
    }
    const handled = events.map((event, i) => this.after(this.projection.partitionOf!(event), async () => {
      results[i] = await handle(event);
    }));
    // Every event of the batch settles before this returns or throws, so nothing of it runs on after a failed batch is discarded.
    const outcomes = await Promise.allSettled(handled);
    // The first event in log order that failed (a later one of its partition fails with it, unhandled).
    const failed = outcomes.findIndex((outcome) => outcome.status === 'rejected');
    if (failed >= 0) throw attributed((outcomes[failed] as PromiseRejectedResult).reason, events[failed], name);
    return results.flat();
  }

  private after(key: string | undefined, task: () => Promise<void>): Promise<void> {
    if (key === undefined) {
      const before = [this.barrier, ...this.chains.values()];
      this.chains = new Map();
      const run = Promise.allSettled(before).then((outcomes) => {
        const failed = outcomes.find((outcome): outcome is PromiseRejectedResult => outcome.status === 'rejected');
        if (failed) throw failed.reason;
        return task();
      });
      this.barrier = run;
      return run;
    }
    const run = (this.chains.get(key) ?? this.barrier).then(task);
    this.chains.set(key, run);
    // Forget a settled chain, unless a later event of the partition has joined it.
    const forget = () => {
      if (this.chains.get(key) === run) this.chains.delete(key);
    };
    run.then(forget, forget);
    return run;
  }
}

/** `apply`, with a failure attributed to the event (parked-events.ts). */
function applyAttributed(projection: HostedProjection, db: StateDb, event: RecordedEvent): void {
  if (!projection.apply) return;
  try {
    projection.apply(db, event);
  } catch (error) {
    throw attributed(error, event, projection.name);
  }
}

/** A filter passing every event any of the given filters passes (undefined: all events). */
function unionOf(filters: Array<EventFilter | undefined>): EventFilter | undefined {
  if (filters.length === 0 || filters.some((filter) => !filter || filter.streamPrefixes || !filter.eventTypes)) return undefined;
  return { eventTypes: [...new Set(filters.flatMap((filter) => filter!.eventTypes!))] };
}
const NOT_READY = Symbol('not ready');

/** Resolves after the I/O callbacks already queued: whatever the subscription has ready wins the race. */
function nextTurn(): Promise<typeof NOT_READY> {
  return new Promise((resolve) => setImmediate(() => resolve(NOT_READY)));
}
