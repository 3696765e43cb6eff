/**
 * Opens the analytics store, creates the schema and runs the sink, in the background: a ClickHouse
 * server that is down at start delays analytics (retried with backoff), never the rest of Herald.
 * Until it is ready the analytics API answers 503.
 */
import { type BeforeApplicationShutdown, Logger, type OnApplicationBootstrap } from '@nestjs/common';
import { Gauge } from 'prom-client';
import type { AnalyticsConfig } from '../config';
import type { EventStore } from '../event-store/event-store.port';
import type { Metrics } from '../operations/metrics';
import { readCheckpoint, type StateDb } from '../state/state-db';
import { AnalyticsQueries } from './analytics-queries';
import { ensureAnalyticsSchema } from './analytics-schema';
import { ANALYTICS_SINK, AnalyticsSink } from './analytics-sink';
import type { AnalyticsStore } from './analytics-store.port';
import { createAnalyticsStore } from './create-analytics-store';
import { openSinkState } from './sink-state';

export class AnalyticsUnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AnalyticsUnavailableError';
  }
}

export class AnalyticsService implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger('analytics');
  private store?: AnalyticsStore;
  private sink?: AnalyticsSink;
  /** The sink's checkpoint and funnel links: a file of its own (sink-state.ts), opened on first use. */
  private sinkStateDb?: StateDb;
  private starting?: Promise<void>;
  private stopped = false;
  private lastError?: string;
  private wake?: () => void;

  constructor(
    private readonly config: AnalyticsConfig & { dataDir: string },
    private readonly log: EventStore,
    private readonly db: StateDb,
    metrics: Metrics,
    private readonly openStore: (config: { dataDir: string; clickhouseUrl?: string }) => Promise<AnalyticsStore> = createAnalyticsStore,
  ) {
    const service = this;
    new Gauge({
      name: 'herald_analytics_lag_events',
      help: 'Events in the log not yet in ClickHouse',
      registers: [metrics.registry],
      async collect() {
        this.set((await service.lag()).events);
      },
    });
    new Gauge({
      name: 'herald_analytics_lag_seconds',
      help: 'Age of the oldest event not yet in ClickHouse (0 when caught up)',
      registers: [metrics.registry],
      async collect() {
        this.set((await service.lag()).seconds);
      },
    });
    new Gauge({
      name: 'herald_analytics_failed_inserts',
      help: 'Inserts into ClickHouse that failed and were retried, since start',
      registers: [metrics.registry],
      collect() {
        this.set(service.sink?.failedInserts ?? 0);
      },
    });
  }

  get enabled(): boolean {
    return this.config.enabled;
  }

  onApplicationBootstrap(): void {
    if (!this.config.enabled) return;
    this.starting = this.open();
  }

  async beforeApplicationShutdown(): Promise<void> {
    this.stopped = true;
    this.wake?.();
    await this.starting;
    await this.sink?.stop();
    await this.store?.close();
    this.sinkStateDb?.close();
  }

  private sinkState(): StateDb {
    this.sinkStateDb ??= openSinkState(this.db);
    return this.sinkStateDb;
  }

  /** The queries, once ClickHouse is open; AnalyticsUnavailableError before that or when turned off. */
  queries(): AnalyticsQueries {
    if (!this.config.enabled) throw new AnalyticsUnavailableError('Analytics is turned off (ANALYTICS=off)');
    if (!this.store) throw new AnalyticsUnavailableError(`Analytics is not ready yet${this.lastError ? `: ${this.lastError}` : ''}`);
    return new AnalyticsQueries(this.store);
  }

  /** The running sink (tests wait on it). */
  get analyticsSink(): AnalyticsSink | undefined {
    return this.sink;
  }

  async lag(): Promise<{ events: number; seconds: number }> {
    if (!this.config.enabled) return { events: 0, seconds: 0 };
    try {
      const checkpoint = this.sink?.checkpoint() ?? readCheckpoint(this.sinkState(), ANALYTICS_SINK);
      const head = await this.log.headPosition();
      if (head <= checkpoint) return { events: 0, seconds: 0 };
      const [oldest] = await this.log.readAll({ fromPosition: checkpoint + 1, maxCount: 1 });
      const seconds = oldest ? Math.max(0, (Date.now() - Date.parse(oldest.recordedAt)) / 1000) : 0;
      return { events: head - checkpoint, seconds };
    } catch {
      // The log being down is reported by /health.
      return { events: 0, seconds: 0 };
    }
  }

  private async open(): Promise<void> {
    for (let attempt = 1; !this.stopped; attempt++) {
      try {
        const store = await this.openStore({ dataDir: this.config.dataDir, clickhouseUrl: this.config.clickhouseUrl });
        try {
          await ensureAnalyticsSchema(store);
        } catch (error) {
          await store.close();
          throw error;
        }
        if (this.stopped) {
          await store.close();
          return;
        }
        this.store = store;
        this.sink = new AnalyticsSink(this.log, this.sinkState(), store, {
          maxBatch: this.config.maxBatch,
          maxWaitMs: this.config.maxWaitMs,
          onError: (error, insertAttempt) =>
            insertAttempt === 0
              ? this.logger.warn(`Analytics sink: reading the log failed, resuming from the checkpoint: ${(error as Error).message}`)
              : this.logger.warn(`ClickHouse insert failed (attempt ${insertAttempt}), retrying the same batch: ${(error as Error).message}`),
        });
        this.sink.start();
        this.logger.log(
          `Analytics: ${store.kind === 'chdb' ? 'embedded chDB' : 'ClickHouse server'}; sink from position ${this.sink.checkpoint()}, on ${this.sink.runsOn === 'worker thread' ? 'a worker thread' : 'the event loop'}`,
        );
        return;
      } catch (error) {
        this.lastError = (error as Error).message;
        this.logger.error(`Cannot open analytics (attempt ${attempt}), retrying: ${this.lastError}`);
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, Math.min(1000 * 2 ** (attempt - 1), 30_000));
          this.wake = () => (clearTimeout(timer), resolve());
        });
      }
    }
  }
}
