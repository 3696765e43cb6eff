/**
 * The webhook worker: makes the HTTP call of every `WebhookRequested` in the log and records
 * `WebhookSucceeded` or `WebhookFailed` on the person's stream. Calls run in the background, like the
 * dispatcher's sends: `handle` only starts them, different people's requests are handled concurrently
 * (the runner's partitions) and up to `concurrency` calls are in flight at once, so one slow or
 * failing endpoint does not hold up the calls behind it.
 *
 * A failed attempt (network error, timeout, 5xx, 408, 429) is not retried in memory: it is recorded
 * as `WebhookRetryScheduled` with the next attempt and its due time, which this projection keeps in a
 * timer index; when the clock passes it, a `TimerFired` (id derived from the timer) brings the request
 * back here for that attempt. Every event's id is derived from the request, so an outcome is recorded
 * once. The call itself is at-least-once: a call started and not yet recorded is in the in-flight
 * table (written with the checkpoint), and is made again at start; so every call carries
 * `Idempotency-Key: <requestId>`.
 */
import { personKeyOfStream, type WebhookRequested } from '@herald/projections';
import type { EventStore, NewEvent, RecordedEvent } from '../event-store/event-store.port';
import type { HostedProjection, PlannedAppend } from '../projection-runner/projection-runner';
import type { Clock } from '../shared/clock';
import { CallSlots, PendingInflightRows } from '../shared/call-slots';
import { type DueTimer, DueTimers } from '../shared/due-timers';
import { derivedEventId } from '../shared/ids';
import type { StateDb } from '../state/state-db';

export const WEBHOOKS = 'webhooks';
export const WEBHOOK_RETRY_SCHEDULED = 'WebhookRetryScheduled';
export const WEBHOOK_RETRY_PURPOSE = 'webhook-retry';

const WEBHOOK_RETRY_TABLE = `CREATE TABLE IF NOT EXISTS webhook_retries (
  timer_id TEXT PRIMARY KEY, workspace TEXT NOT NULL, person TEXT NOT NULL, requested_id TEXT NOT NULL,
  attempt INTEGER NOT NULL, due_at INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS webhook_retries_due ON webhook_retries (due_at)`;

export interface WebhookOptions {
  /** Delay before the first retry; doubled each time (capped at 30 s). */
  retryBaseMs?: number;
  /** How long one attempt may take, answer included. */
  timeoutMs?: number;
  /** Calls in flight at most. */
  concurrency?: number;
  fetch?: typeof fetch;
}

/** `WebhookRetryScheduled`: attempt `attempt` of the request is due at `dueAt`. */
export interface WebhookRetryScheduled {
  requestId: string;
  enrollmentId: string;
  stepId: string;
  attempt: number;
  dueAt: string;
  delayMs: number;
  status?: number;
  error?: string;
}

/** The `TimerFired` that brings a request back for its next attempt. */
export interface WebhookRetryFired {
  purpose: typeof WEBHOOK_RETRY_PURPOSE;
  timerId: string;
  requestedId: string;
  attempt: number;
  dueAt: string;
}

/** A `webhook_inflight` row: the `WebhookRequested` event id, its stream, the attempt under way. */
type InflightRow = [string, string, number];

const OUTCOMES = new Set(['WebhookSucceeded', 'WebhookFailed']);

/**
 * Which attempt to make now, from the events the log has about the request; pure. `timerAttempt` is
 * set when a retry timer fired for that attempt (or a call of that attempt was cut short).
 */
export function nextWebhookAttempt(about: Array<{ type: string; data: unknown }>, timerAttempt?: number): number | undefined {
  if (about.some((event) => OUTCOMES.has(event.type))) return undefined;
  const scheduled = Math.max(0, ...about.filter((event) => event.type === WEBHOOK_RETRY_SCHEDULED).map((event) => (event.data as WebhookRetryScheduled).attempt));
  // A retry is waiting for its timer: only that timer starts it.
  if (timerAttempt === undefined || timerAttempt === 1) return scheduled === 0 ? 1 : undefined;
  return timerAttempt === scheduled ? scheduled : undefined;
}

export class WebhooksProjection implements HostedProjection {
  readonly name = WEBHOOKS;
  // TimerFired of every purpose comes by; only this one's own are acted on.
  readonly filter = { eventTypes: ['WebhookRequested', WEBHOOK_RETRY_SCHEDULED, 'TimerFired'] };

  private readonly running = new Set<Promise<void>>();
  /** Requests with a call in flight in this process (by `WebhookRequested` id). */
  private readonly active = new Set<string>();
  /** Changes to the in-flight table, by request, written with the checkpoint of the batch that made them. */
  private readonly inflight: PendingInflightRows<InflightRow>;
  private readonly slots: CallSlots;
  /** Aborts the calls in flight on shutdown: they are made again at the next start. */
  private readonly stopping = new AbortController();
  private readonly statements;

  constructor(
    db: StateDb,
    private readonly store: EventStore,
    private readonly clock: Clock,
    private readonly options: WebhookOptions = {},
  ) {
    this.setup(db);
    this.statements = {
      add: db.prepare<InflightRow>('INSERT OR REPLACE INTO webhook_inflight (requested_id, stream, attempt) VALUES (?, ?, ?)'),
      remove: db.prepare<[string]>('DELETE FROM webhook_inflight WHERE requested_id = ?'),
      all: db.prepare<[], { requested_id: string; stream: string; attempt: number }>('SELECT * FROM webhook_inflight'),
      scheduleRetry: db.prepare<[string, string, string, string, number, number]>(
        'INSERT OR REPLACE INTO webhook_retries (timer_id, workspace, person, requested_id, attempt, due_at) VALUES (?, ?, ?, ?, ?, ?)',
      ),
      retryFired: db.prepare<[string]>('DELETE FROM webhook_retries WHERE timer_id = ?'),
    };
    this.inflight = new PendingInflightRows<InflightRow>((row) => this.statements.add.run(...row), (requestedId) => this.statements.remove.run(requestedId));
    this.slots = new CallSlots(options.concurrency ?? 32);
  }

  setup(db: StateDb): void {
    db.exec('CREATE TABLE IF NOT EXISTS webhook_inflight (requested_id TEXT PRIMARY KEY, stream TEXT NOT NULL, attempt INTEGER NOT NULL)');
    db.exec(WEBHOOK_RETRY_TABLE);
  }

  reset(db: StateDb): void {
    db.exec('DELETE FROM webhook_inflight');
    db.exec('DELETE FROM webhook_retries');
  }

  /** One person's requests in log order; different people concurrently. */
  partitionOf(event: RecordedEvent): string {
    return event.stream;
  }

  /** Makes again the calls a stop or a crash left without a record (at least once). */
  async recover(): Promise<void> {
    for (const row of this.statements.all.all()) {
      const requested = (await this.store.readStream(row.stream)).find((event) => event.id === row.requested_id);
      const started = requested ? await this.start(requested, row.attempt) : false;
      if (!started) this.statements.remove.run(row.requested_id);
    }
  }

  async handle(event: RecordedEvent): Promise<PlannedAppend[]> {
    if (event.type === 'WebhookRequested') {
      await this.start(event);
    } else if (event.type === 'TimerFired' && (event.data as { purpose?: string }).purpose === WEBHOOK_RETRY_PURPOSE) {
      const fired = event.data as WebhookRetryFired;
      const requested = (await this.store.readStream(event.stream)).find((e) => e.id === fired.requestedId);
      if (requested) await this.start(requested, fired.attempt);
    }
    return [];
  }

  /** Keeps the retry timer index (inside the checkpoint's transaction). */
  apply(_db: StateDb, event: RecordedEvent): void {
    if (event.type === WEBHOOK_RETRY_SCHEDULED) {
      const retry = event.data as WebhookRetryScheduled;
      const requestedId = event.metadata.causationId;
      const person = personKeyOfStream(event.stream);
      if (!requestedId || !person) return;
      this.statements.scheduleRetry.run(retryTimerId(requestedId, retry.attempt), event.metadata.workspace, person, requestedId, retry.attempt, Date.parse(retry.dueAt));
    } else if (event.type === 'TimerFired' && (event.data as { purpose?: string }).purpose === WEBHOOK_RETRY_PURPOSE) {
      this.statements.retryFired.run((event.data as WebhookRetryFired).timerId);
    }
  }

  /** Writes the in-flight changes since the last batch (inside the checkpoint's transaction). */
  flush(): void {
    this.inflight.flush();
  }

  /** The batch failed: the changes its transaction would have written are written with the next one. */
  discard(): void {
    this.inflight.discard();
  }

  /** Aborts the calls in flight and waits for them; they stay in the in-flight table, to be made at the next start. */
  async stop(): Promise<void> {
    this.stopping.abort();
    while (this.running.size > 0) await Promise.allSettled([...this.running]);
  }

  /** Calls waiting for a slot (tests). */
  get waitingForSlot(): number {
    return this.slots.waiting;
  }

  /** Waits for the calls in flight (tests). */
  async drain(): Promise<void> {
    while (this.running.size > 0) await Promise.allSettled([...this.running]);
  }

  /** Starts the attempt the log calls for, in the background; whether one was started. */
  private async start(requested: RecordedEvent, timerAttempt?: number): Promise<boolean> {
    if (this.active.has(requested.id) || this.stopping.signal.aborted) return false;
    // Only what came after the request, and about it.
    const after = await this.store.readStream(requested.stream, { fromRevision: requested.revision + 1 });
    const attempt = nextWebhookAttempt(after.filter((event) => event.metadata.causationId === requested.id), timerAttempt);
    if (attempt === undefined || this.active.has(requested.id)) return false;
    this.active.add(requested.id);
    this.inflight.set(requested.id, [requested.id, requested.stream, attempt]);
    const call = this.attempt(requested, attempt).then(
      (recorded) => {
        // A call cut short by a stop keeps its row: it is made again at the next start.
        if (recorded) this.inflight.settle(requested.id);
      },
      () => undefined, // The log refused the record: the row stays, and the call is made again at start.
    );
    const running = call.finally(() => {
      this.running.delete(running);
      this.active.delete(requested.id);
    });
    this.running.add(running);
    return true;
  }

  /** One attempt and its record: the outcome, or the next attempt scheduled. False when cut short by a stop. */
  private async attempt(requested: RecordedEvent, attempt: number): Promise<boolean> {
    const request = requested.data as WebhookRequested;
    const result = await this.withSlot(() => this.call(request));
    if (!result) return false;
    const about = { requestId: request.requestId, enrollmentId: request.enrollmentId, stepId: request.stepId };
    if (result.ok) {
      await this.record(requested, 'webhook-outcome', 'WebhookSucceeded', { ...about, status: result.status, attempts: attempt });
    } else if (result.retryable && attempt <= request.retries) {
      const delayMs = Math.min((this.options.retryBaseMs ?? 500) * 2 ** (attempt - 1), 30_000);
      const retry: WebhookRetryScheduled = {
        ...about,
        attempt: attempt + 1,
        dueAt: new Date(this.clock.now().getTime() + delayMs).toISOString(),
        delayMs,
        ...result.details,
      };
      await this.record(requested, `webhook-retry|${attempt + 1}`, WEBHOOK_RETRY_SCHEDULED, { ...retry });
    } else {
      await this.record(requested, 'webhook-outcome', 'WebhookFailed', { ...about, ...result.details, attempts: attempt });
    }
    return true;
  }

  /** The HTTP call; undefined when a stop cut it short. */
  private async call(
    request: WebhookRequested,
  ): Promise<{ ok: true; status: number } | { ok: false; retryable: boolean; details: { status?: number; error?: string } } | undefined> {
    const doFetch = this.options.fetch ?? fetch;
    try {
      const response = await doFetch(request.url, {
        method: request.method,
        headers: {
          ...(request.body === undefined ? {} : { 'content-type': 'application/json' }),
          ...request.headers,
          'idempotency-key': request.requestId,
          'user-agent': 'Herald-Webhook/1',
        },
        body: request.body === undefined ? undefined : JSON.stringify(request.body),
        signal: AbortSignal.any([AbortSignal.timeout(this.options.timeoutMs ?? 10_000), this.stopping.signal]),
      });
      await response.arrayBuffer().catch(() => undefined);
      if (this.stopping.signal.aborted) return undefined;
      if (response.ok) return { ok: true, status: response.status };
      // Client errors other than 408/429 will not get better by retrying.
      const retryable = response.status >= 500 || response.status === 408 || response.status === 429;
      return { ok: false, retryable, details: { status: response.status } };
    } catch (error) {
      if (this.stopping.signal.aborted) return undefined;
      return { ok: false, retryable: true, details: { error: (error as Error).message } };
    }
  }

  private async withSlot<T>(task: () => Promise<T>): Promise<T> {
    await this.slots.acquire();
    try {
      return await task();
    } finally {
      this.slots.release();
    }
  }

  private record(requested: RecordedEvent, key: string, type: string, data: Record<string, unknown>): Promise<unknown> {
    const event: NewEvent = {
      id: derivedEventId(requested.id, key),
      type,
      data,
      metadata: {
        workspace: requested.metadata.workspace,
        causationId: requested.id,
        correlationId: requested.metadata.correlationId ?? requested.id,
        occurredAt: this.clock.now().toISOString(),
        receivedAt: requested.metadata.receivedAt,
        schemaVersion: 1,
      },
    };
    return this.store.append(requested.stream, [event]);
  }
}

function retryTimerId(requestedId: string, attempt: number): string {
  return `${requestedId}|webhook-retry|${attempt}`;
}

/**
 * Fires due webhook retries: appends the `TimerFired` that brings a request back to the webhook
 * worker for its next attempt (id derived from the timer, so it fires once). The worker keeps the index.
 */
export class WebhookRetryTimers extends DueTimers<DueTimer & { requestedId: string; attempt: number }> {
  constructor(db: StateDb, store: EventStore, clock: Clock) {
    db.exec(WEBHOOK_RETRY_TABLE);
    const due = db.prepare<[number, number], { timer_id: string; workspace: string; person: string; requested_id: string; attempt: number; due_at: number }>(
      'SELECT * FROM webhook_retries WHERE due_at <= ? ORDER BY due_at LIMIT ?',
    );
    const next = db.prepare<[], { due_at: number | null }>('SELECT MIN(due_at) AS due_at FROM webhook_retries');
    super(
      store,
      clock,
      WEBHOOK_RETRY_PURPOSE,
      (now, limit) =>
        due.all(now, limit).map((row) => ({
          key: row.timer_id,
          workspace: row.workspace,
          person: row.person,
          dueAt: row.due_at,
          requestedId: row.requested_id,
          attempt: row.attempt,
        })),
      () => next.get()?.due_at ?? undefined,
      (timer) => ({
        data: { timerId: timer.key, requestedId: timer.requestedId, attempt: timer.attempt } satisfies Omit<WebhookRetryFired, 'purpose' | 'dueAt'>,
        causationId: timer.requestedId,
      }),
    );
  }

  /** While fired retries wait for the worker, looked at again every 50 ms. */
  override start(inFlightRetryMs = 50): void {
    super.start(inFlightRetryMs);
  }
}
