/** Prometheus metrics, one registry per app instance so tests can run several apps side by side. */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export class Metrics {
  readonly registry = new Registry();
  readonly ingestedEvents = new Counter({
    name: 'herald_ingested_events_total',
    help: 'Events accepted on the tracking API, by workspace and call type',
    labelNames: ['workspace', 'type'] as const,
    registers: [this.registry],
  });
  readonly rejectedRequests = new Counter({
    name: 'herald_rejected_requests_total',
    help: 'Tracking API requests rejected, by reason',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });
  readonly appendLatency = new Histogram({
    name: 'herald_append_duration_seconds',
    help: 'Time from an append request to its durable acknowledgement',
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
    registers: [this.registry],
  });
  readonly subscriptionLag = new Gauge({
    name: 'herald_subscription_lag_events',
    help: 'Events in the log after the subscriber checkpoint',
    labelNames: ['subscriber'] as const,
    registers: [this.registry],
  });
  readonly parkedEvents = new Gauge({
    name: 'herald_projection_parked_events',
    help: 'Events a projection set aside after its code failed on each of them repeatedly (docs/deployment.md)',
    labelNames: ['projection'] as const,
    registers: [this.registry],
  });
  readonly logHead = new Gauge({
    name: 'herald_log_head_position',
    help: 'Global position of the last event in the log',
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'herald_' });
  }
}
