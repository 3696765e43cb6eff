/**
 * The analytics sink: its own ordered subscription over the whole log, batching every event into
 * ClickHouse's `events` table (the materialized views derive the rest).
 *
 * On the embedded SQLite log (a file), reading the log, mapping the events to rows and serialising
 * them run on a worker thread (`SinkWorker`, analytics-sink-thread.ts), off the event loop that
 * serves ingestion and the API; this thread only inserts the finished payloads and tells the worker
 * when to commit. Other logs (KurrentDB, ':memory:') and ':memory:' state databases are followed
 * here, in-process, through `subscribeToAll`.
 *
 * A batch closes at `maxBatch` events or `maxWaitMs` after its first event (on the thread, after that
 * event's append; here, after it arrived), whichever comes first:
 * ClickHouse wants few, large inserts (each one is a part on disk to merge later), and embedded
 * chDB shares this process's cores. A failed insert is retried, the same rows, until it succeeds;
 * only then do the funnel links and the checkpoint move, in one SQLite transaction. A crash between
 * the insert and the checkpoint inserts the batch again on restart, which changes nothing: `events`
 * is a ReplacingMergeTree on the event id and every view aggregates duplicate-proof (uniqExact, min,
 * max). So replaying from position 0 leaves every count as it was.
 */
import { DEFAULT_ANALYTICS_BATCH } from '../config';
import type { EventStore, RecordedEvent, Subscription } from '../event-store/event-store.port';
import { readCheckpoint, type StateDb, writeCheckpoint } from '../state/state-db';
import type { AnalyticsStore } from './analytics-store.port';
import { EVENT_TSV_COLUMNS, eventRowTsv } from './event-rows';
import { FunnelContext } from './funnel-context';
import { SinkWorker } from './sink-worker';

export const ANALYTICS_SINK = 'analytics-sink';

export interface AnalyticsSinkOptions {
  maxBatch?: number;
  maxWaitMs?: number;
  /** First pause after a failed insert; doubles up to 30 s. */
  retryDelayMs?: number;
  onError?: (error: unknown, attempt: number) => void;
  /**
   * Run on a worker thread when the log is a local file and the state database too (the default);
   * false keeps the sink on this thread.
   */
  thread?: boolean;
  /** Worker thread: how often it looks for appends nobody announced (ms). */
  pollMs?: number;
  /**
   * On the thread, how often an open batch reads what was appended (ms): appends do not wake it then.
   * Often enough that each read is a short slice of CPU (every 250 ms, a read took up to 2,000 events
   * at once at 1,000 triggers/s, bursts that took a core from the event loop and the log's writer),
   * seldom enough to spare the wake-up per commit of the log (about a quarter of a core at 300
   * triggers/s in bench:scenarios).
   */
  openBatchReadMs?: number;
  /** Worker thread: how long it waits for the other writers of the state database before failing (ms). */
  busyTimeoutMs?: number;
}

const TIMED_OUT = Symbol('timed out');

export class AnalyticsSink {
  private readonly context: FunnelContext;
  private subscription?: Subscription;
  private loop?: Promise<void>;
  private stopped = true;
  private position: number;
  private wakeRetry?: () => void;
  private worker?: SinkWorker;
  /** Inserts that failed since the sink started (for /metrics). */
  failedInserts = 0;
  /** Pages of the log the sink's thread had read by its last batch (tests); undefined on this thread. */
  get threadReads(): number | undefined {
    return this.worker?.reads;
  }

  /** Appends announced to the sink's thread (tests); undefined on this thread. */
  get threadWakes(): number | undefined {
    return this.worker?.wakes;
  }

  /** Where the sink reads, maps and serialises: a worker thread, or this thread. */
  readonly runsOn: 'worker thread' | 'event loop';

  constructor(
    private readonly log: EventStore,
    private readonly db: StateDb,
    private readonly analytics: AnalyticsStore,
    private readonly options: AnalyticsSinkOptions = {},
  ) {
    this.context = new FunnelContext(db);
    this.position = readCheckpoint(db, ANALYTICS_SINK);
    this.runsOn = options.thread !== false && log.localLogFile?.() && !db.memory ? 'worker thread' : 'event loop';
  }

  /** Position of the last event in ClickHouse. */
  checkpoint(): number {
    return this.position;
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.loop = this.runsOn === 'worker thread' ? this.followOnThread() : this.follow();
  }

  /** Waits for the insert under way (and its commit), then ends the subscription or the worker thread. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.wakeRetry?.();
    await this.subscription?.stop();
    this.worker?.interrupt();
    await this.loop;
  }

  /** Whether a worker thread of this sink is alive (false on the event-loop path and once stopped). */
  threadRunning(): boolean {
    return this.worker?.running ?? false;
  }

  /** Forgets the checkpoint and the funnel links: the next start sends the whole log again. */
  replayFromStart(): void {
    if (!this.stopped) throw new Error('Stop the analytics sink before replaying it');
    this.db.transaction(() => {
      FunnelContext.reset(this.db);
      writeCheckpoint(this.db, ANALYTICS_SINK, 0);
    })();
    this.position = 0;
  }

  /** Resolves once every event up to `position` is in ClickHouse. */
  async caughtUpTo(position: number, timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.position < position) {
      if (Date.now() > deadline) throw new Error(`Analytics sink is at ${this.position}, not ${position}, after ${timeoutMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  private async follow(): Promise<void> {
    const maxBatch = this.options.maxBatch ?? DEFAULT_ANALYTICS_BATCH;
    const maxWaitMs = this.options.maxWaitMs ?? 1000;
    const commit = this.db.transaction((last: number) => {
      this.context.commit();
      writeCheckpoint(this.db, ANALYTICS_SINK, last);
    });
    while (!this.stopped) {
      this.subscription = this.log.subscribeToAll({ afterPosition: this.position });
      const events = this.subscription[Symbol.asyncIterator]();
      // The previous batch's insert and commit. The next batch is read and mapped while it runs (the
      // engine works on another thread), but inserts and commits stay one at a time, in order.
      let inFlight: Promise<boolean> = Promise.resolve(true);
      try {
        let pending = events.next();
        for (;;) {
          const first = await pending;
          if (first.done) break;
          const batch: RecordedEvent[] = [first.value];
          let timer: NodeJS.Timeout | undefined;
          const closed = new Promise<typeof TIMED_OUT>((resolve) => (timer = setTimeout(() => resolve(TIMED_OUT), maxWaitMs)));
          pending = events.next();
          try {
            while (batch.length < maxBatch) {
              const next = await Promise.race([pending, closed]);
              if (next === TIMED_OUT || next.done) break;
              batch.push(next.value);
              pending = events.next();
            }
          } finally {
            clearTimeout(timer);
          }
          const payload = Buffer.from(batch.map((event) => eventRowTsv(event, this.context)).join('\n'));
          const last = batch[batch.length - 1].position;
          if (!(await inFlight)) break;
          inFlight = this.insertUntilStored(payload).then((stored) => {
            // The funnel links written here may include some from the batch mapped meanwhile; they
            // are what the log says either way, so a re-read after a crash maps those events the same.
            if (stored) {
              commit(last);
              this.position = last;
            }
            return stored;
          });
        }
        if (!(await inFlight)) {
          this.context.discard();
          return;
        }
      } catch (error) {
        // The log failed, or SQLite did (ClickHouse errors are retried in place): resume from the checkpoint.
        await inFlight.catch(() => false);
        this.context.discard();
        if (this.stopped) return;
        this.options.onError?.(error, 0);
        await this.subscription.stop();
        await this.pause(this.options.retryDelayMs ?? 1000);
      }
    }
  }

  /**
   * The worker thread reads, maps and serialises; this thread inserts each payload and then has the
   * thread commit it, inserting the next one meanwhile. A failure of the thread (the log or SQLite)
   * ends it; a new one resumes from the checkpoint, like the in-process loop's resubscription.
   */
  private async followOnThread(): Promise<void> {
    const file = this.log.localLogFile!()!;
    while (!this.stopped) {
      const worker = new SinkWorker(
        {
          logPath: file.path,
          statePath: this.db.name,
          checkpointName: ANALYTICS_SINK,
          maxBatch: this.options.maxBatch ?? DEFAULT_ANALYTICS_BATCH,
          maxWaitMs: this.options.maxWaitMs ?? 1000,
          pollMs: this.options.pollMs ?? 250,
          openBatchReadMs: this.options.openBatchReadMs ?? 50,
          busyTimeoutMs: this.options.busyTimeoutMs ?? 30_000,
        },
        file,
      );
      this.worker = worker;
      // The thread commits a stored batch while this thread inserts the next one.
      let committed: Promise<void> = Promise.resolve();
      try {
        for (;;) {
          const batch = await worker.nextBatch();
          if (!batch) break;
          if (!(await this.insertUntilStored(batch.payload))) break;
          const previous = committed;
          committed = worker.commit(batch).then(async (position) => {
            await previous;
            this.position = position;
          });
          // A failed commit ends the thread, which fails the next `nextBatch` too; it is awaited below.
          committed.catch(() => undefined);
        }
        await committed;
      } catch (error) {
        if (this.stopped) break;
        this.options.onError?.(error, 0);
        await worker.stop();
        await this.pause(this.options.retryDelayMs ?? 1000);
        continue;
      }
      await worker.stop();
      break;
    }
    await this.worker?.stop();
  }

  /** Inserts, retrying with backoff; false only when the sink was stopped first. */
  private async insertUntilStored(payload: Uint8Array): Promise<boolean> {
    for (let attempt = 1; ; attempt++) {
      if (this.stopped) return false;
      try {
        await this.analytics.insertTabSeparated('events', EVENT_TSV_COLUMNS, payload);
        return true;
      } catch (error) {
        this.failedInserts++;
        this.options.onError?.(error, attempt);
        await this.pause(Math.min((this.options.retryDelayMs ?? 1000) * 2 ** (attempt - 1), 30_000));
      }
    }
  }

  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.wakeRetry = done;
    });
  }
}
