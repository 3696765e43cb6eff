/**
 * The dispatcher: turns every `MessageQueued` into a provider call, exactly once where the channel
 * allows it. For each message it re-checks the subscription, picks the address (and suppresses the
 * message when that address bounced for good, suppressions/suppressions.ts), renders, records the
 * intent (`MessageDispatching`) durably, and only then calls the provider, recording `MessageSent`,
 * `MessageFailed` or `MessageBounced`. Messages of different people are handled concurrently (the
 * runner's partitions, so their intents share group commits) and up to `concurrency` provider calls
 * run at once, so one slow provider call does not hold up the log. (For a channel sent at most once,
 * the slot is taken before the intent; see `dispatch`.)
 *
 * A transient failure is not retried in memory: it is recorded as `MessageRetryScheduled` with the
 * next attempt and its due time, which this projection keeps in a timer index; when the clock passes
 * it, a `TimerFired` (id derived from the timer) brings the message back here for that attempt. So
 * a retry survives a restart and happens once. An intent whose outcome is unknown after a crash (it
 * is still in the in-flight table at start) is recorded as `MessageOutcomeUnknown`, and sent again
 * only if the channel is declared safe to retry (docs/delivery.md).
 */
import { type Channel, type MessageQueued, personKeyOfStream } from '@herald/projections';
import type { EventStore, NewEvent, RecordedEvent } from '../event-store/event-store.port';
import type { HostedProjection, PlannedAppend } from '../projection-runner/projection-runner';
import type { Clock } from '../shared/clock';
import { type DueTimer, DueTimers } from '../shared/due-timers';
import { CallSlots, PendingInflightRows } from '../shared/call-slots';
import { GenerationalMap } from '../shared/generational-map';
import { derivedEventId } from '../shared/ids';
import type { StateDb } from '../state/state-db';
import { type ChannelAdapter, type Delivery, OutcomeUnknownDeliveryError, PermanentDeliveryError, TransientDeliveryError } from './channel.port';
import { CONTACT_EVENTS, type ContactState, evolveContact, initialContact, isUnsubscribed } from './contact';
import { suppressionOf } from './suppressions/suppressions';
import type { LinkSigner } from './link-signer';
import { RenderError, type MessageRenderer } from './renderer.port';
import { SandboxAdapter } from './sandbox.adapter';

export const DISPATCH = 'dispatch';
export const RETRY_SCHEDULED = 'MessageRetryScheduled';
export const RETRY_TIMER_PURPOSE = 'dispatch-retry';

export const DISPATCH_RETRY_TABLE = `CREATE TABLE IF NOT EXISTS dispatch_retries (
  timer_id TEXT PRIMARY KEY, workspace TEXT NOT NULL, person TEXT NOT NULL, queued_id TEXT NOT NULL,
  message_id TEXT NOT NULL, attempt INTEGER NOT NULL, due_at INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS dispatch_retries_due ON dispatch_retries (due_at)`;

/** Provider codes that mean the person refused the channel (not merely a bad address). */
const OPTED_OUT_CODES = new Set(['telegram_403', 'twilio_21610']);

/**
 * People whose stream the dispatcher keeps folded: those of the last 10,000 to 20,000 dispatches
 * (two generations); anyone else's stream is read whole again.
 */
const PEOPLE_PER_GENERATION = 10_000;

/** Outcomes after which a message is settled. */
/** The longest wait a provider's `Retry-After` may set (a larger one is read as this). */
const MAX_RETRY_AFTER_MS = 86_400_000;
const FINAL = new Set(['MessageSent', 'MessageFailed', 'MessageBounced', 'MessageOutcomeUnknown', 'MessageSuppressed']);

export interface DispatcherOptions {
  concurrency?: number;
  /** Attempts for transient failures (network, 4xx/5xx that say "later", throttling). */
  maxAttempts?: number;
  /** Delay before the second attempt; it doubles for each further one. */
  retryBaseMs?: number;
}

/** `MessageRetryScheduled`: attempt `attempt` of the message is due at `dueAt`. */
export interface MessageRetryScheduled {
  messageId: string;
  channel: Channel;
  provider: string;
  attempt: number;
  dueAt: string;
  delayMs: number;
  detail: string;
}

/** The `TimerFired` that brings a message back for its next attempt. */
export interface DispatchRetryFired {
  purpose: typeof RETRY_TIMER_PURPOSE;
  timerId: string;
  queuedId: string;
  messageId: string;
  attempt: number;
  dueAt: string;
}

/** What the dispatcher keeps of an event about a message: enough to tell which attempt comes next. */
export interface MessageStep {
  type: string;
  position: number;
  /** The attempt it is about (`data.attempt`; 1 when absent). */
  attempt: number;
}

/**
 * A person's stream as far as the dispatcher has read it: their contact state, folded, and the steps
 * of each message. Streams only grow, so the next read starts after `revision`.
 */
interface PersonView {
  revision: number;
  contact: ContactState;
  /** The steps of each message, in stream order. */
  messages: Map<string, MessageStep[]>;
}

/** A `dispatch_inflight` row: message id, workspace, stream, queued event id, channel, attempt. */
type InflightRow = [string, string, string, string, Channel, number];

type Attempt = { kind: 'send'; attempt: number } | { kind: 'unknown'; attempt: number } | { kind: 'none' };

/**
 * Which attempt to make now, from what the log says about the message since it was queued; pure.
 * `timerAttempt` is set when a retry timer fired for that attempt.
 */
export function nextAttempt(about: MessageStep[], safeToRetry: boolean, timerAttempt?: number): Attempt {
  if (about.some((e) => FINAL.has(e.type))) return { kind: 'none' };
  const highest = (type: string) => Math.max(0, ...about.filter((e) => e.type === type).map((e) => e.attempt));
  const dispatched = highest('MessageDispatching');
  const scheduled = highest(RETRY_SCHEDULED);
  // A retry is waiting for its timer: only that timer starts it.
  if (scheduled > dispatched) return timerAttempt === scheduled ? { kind: 'send', attempt: scheduled } : { kind: 'none' };
  // An intent without an outcome: the process stopped during the call.
  if (dispatched > 0) return safeToRetry ? { kind: 'send', attempt: dispatched + 1 } : { kind: 'unknown', attempt: dispatched };
  return timerAttempt === undefined ? { kind: 'send', attempt: 1 } : { kind: 'none' };
}

export class Dispatcher implements HostedProjection {
  readonly name = DISPATCH;
  // No filter: besides the messages and retry timers it acts on, the dispatcher folds every event of
  // the people it follows (`preload`), so it need not read their streams back.
  private readonly running = new Set<Promise<void>>();
  /** Messages with a send in flight in this process. */
  private readonly active = new Set<string>();
  private readonly statements;
  /** Changes to the in-flight table, by message, written with the checkpoint of the batch that made them. */
  private readonly inflight: PendingInflightRows<InflightRow>;
  private readonly slots: CallSlots;
  /** Folded streams by name, of the people messaged or seen lately. */
  private readonly people = new GenerationalMap<string, PersonView>(PEOPLE_PER_GENERATION);

  constructor(
    db: StateDb,
    private readonly store: EventStore,
    private readonly adapters: Partial<Record<Channel, ChannelAdapter>>,
    private readonly renderer: MessageRenderer,
    private readonly links: LinkSigner,
    private readonly clock: Clock,
    private readonly options: DispatcherOptions = {},
  ) {
    this.setup(db);
    this.statements = {
      add: db.prepare<[string, string, string, string, string, number]>(
        'INSERT OR REPLACE INTO dispatch_inflight (message_id, workspace, stream, queued_id, channel, attempt) VALUES (?, ?, ?, ?, ?, ?)',
      ),
      remove: db.prepare<[string]>('DELETE FROM dispatch_inflight WHERE message_id = ?'),
      all: db.prepare<[], { message_id: string; workspace: string; stream: string; queued_id: string; channel: Channel; attempt: number }>(
        'SELECT * FROM dispatch_inflight',
      ),
      scheduleRetry: db.prepare<[string, string, string, string, string, number, number]>(
        'INSERT OR REPLACE INTO dispatch_retries (timer_id, workspace, person, queued_id, message_id, attempt, due_at) VALUES (?, ?, ?, ?, ?, ?, ?)',
      ),
      retryFired: db.prepare<[string]>('DELETE FROM dispatch_retries WHERE timer_id = ?'),
    };
    this.inflight = new PendingInflightRows<InflightRow>((row) => this.statements.add.run(...row), (messageId) => this.statements.remove.run(messageId));
    this.slots = new CallSlots(options.concurrency ?? 32);
  }

  setup(db: StateDb): void {
    db.exec(`CREATE TABLE IF NOT EXISTS dispatch_inflight (
      message_id TEXT PRIMARY KEY, workspace TEXT NOT NULL, stream TEXT NOT NULL, queued_id TEXT NOT NULL,
      channel TEXT NOT NULL, attempt INTEGER NOT NULL)`);
    db.exec(DISPATCH_RETRY_TABLE);
  }

  reset(db: StateDb): void {
    db.exec('DELETE FROM dispatch_inflight');
    db.exec('DELETE FROM dispatch_retries');
  }

  /**
   * Folds the batch into the people already kept, and starts a view of each person whose stream
   * begins in this batch, so a person the dispatcher has followed since their first event is never
   * read whole (most people are messaged soon after they appear). A view is the stream without gaps
   * up to its revision: an event that does not continue one is left out, and `personView` reads
   * what a view lacks. It runs before the batch is handled, so a view may be ahead of the message
   * being handled; that is what `personView` would read anyway (the stream as it is now).
   */
  preload(events: RecordedEvent[]): void {
    for (const event of events) {
      const view = this.people.get(event.stream);
      if (view) {
        if (event.revision === view.revision + 1) foldInto(view, event);
      } else if (event.revision === 0 && personKeyOfStream(event.stream) !== undefined) {
        const started: PersonView = { revision: -1, contact: initialContact(), messages: new Map() };
        foldInto(started, event);
        this.people.set(event.stream, started);
      }
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

  /** One person's messages in log order; different people concurrently. */
  partitionOf(event: RecordedEvent): string {
    return event.stream;
  }

  adapterFor(channel: Channel): ChannelAdapter {
    return this.adapters[channel] ?? new SandboxAdapter(channel);
  }

  /** Settles intents left by a crash: unknown outcome, or a new attempt where that is safe. */
  async recover(): Promise<void> {
    for (const row of this.statements.all.all()) {
      const queued = await this.findQueued(row.stream, row.queued_id);
      const started = queued ? await this.dispatch(queued) : false;
      if (!started) this.statements.remove.run(row.message_id);
    }
  }

  async handle(event: RecordedEvent): Promise<PlannedAppend[]> {
    if (event.type === 'MessageQueued') {
      await this.dispatch(event);
    } else if (event.type === 'TimerFired' && (event.data as { purpose?: string }).purpose === RETRY_TIMER_PURPOSE) {
      const fired = event.data as DispatchRetryFired;
      const queued = await this.findQueued(event.stream, fired.queuedId);
      if (queued) await this.dispatch(queued, fired.attempt);
    }
    return [];
  }

  /** Keeps the retry timer index (inside the checkpoint's transaction). */
  apply(_db: StateDb, event: RecordedEvent): void {
    if (event.type === RETRY_SCHEDULED) {
      const retry = event.data as MessageRetryScheduled;
      const queuedId = event.metadata.causationId;
      const person = personKeyOfStream(event.stream);
      if (!queuedId || !person) return;
      this.statements.scheduleRetry.run(retryTimerId(queuedId, retry.attempt), event.metadata.workspace, person, queuedId, retry.messageId, retry.attempt, Date.parse(retry.dueAt));
    } else if (event.type === 'TimerFired' && (event.data as { purpose?: string }).purpose === RETRY_TIMER_PURPOSE) {
      this.statements.retryFired.run((event.data as DispatchRetryFired).timerId);
    }
  }

  /** Makes the attempt the log calls for; whether a provider call was started. */
  private async dispatch(event: RecordedEvent, timerAttempt?: number): Promise<boolean> {
    const queued = event.data as MessageQueued;
    if (this.active.has(queued.messageId)) return false;
    const workspace = event.metadata.workspace;
    // The stream as it is now, not as it was when the message was queued: an unsubscribe recorded
    // since then still stops the message.
    const { contact, messages } = await this.personView(event.stream);
    // Only what came after the queue decision counts (a suppression before it was queued does not).
    const about = (messages.get(queued.messageId) ?? []).filter((e) => e.position > event.position);
    const adapter = this.adapterFor(queued.channel);
    const record = (key: string, type: string, data: Record<string, unknown>) =>
      this.append(event.stream, workspace, event.id, key, type, { messageId: queued.messageId, channel: queued.channel, ...data });

    const next = nextAttempt(about, adapter.safeToRetry, timerAttempt);
    if (next.kind === 'none') return false;
    if (next.kind === 'unknown') {
      await record(`unknown|${next.attempt}`, 'MessageOutcomeUnknown', { provider: adapter.provider, attempt: next.attempt });
      return false;
    }
    const attempt = next.attempt;
    if (!queued.transactional && isUnsubscribed(contact, queued.channel, queued.topic)) {
      await record('suppressed', 'MessageSuppressed', {
        enrollmentId: queued.enrollmentId,
        scenarioId: queued.scenarioId,
        stepId: queued.stepId,
        reason: 'unsubscribed',
        stage: 'dispatch',
      });
      return false;
    }
    const person = personKeyOfStream(event.stream) ?? event.stream;
    const to = adapter.address(contact);
    if (!to) {
      await record('failed', 'MessageFailed', { reason: 'no_address', provider: adapter.provider });
      return false;
    }
    // A dead address is dead for service messages too, so this check has no transactional exemption.
    const suppression = suppressionOf(contact.suppressions, queued.channel, to);
    if (suppression) {
      await record('suppressed', 'MessageSuppressed', {
        enrollmentId: queued.enrollmentId,
        scenarioId: queued.scenarioId,
        stepId: queued.stepId,
        reason: 'bounced_address',
        stage: 'dispatch',
        address: to,
        suppressedBy: suppression.eventId,
        bounce: { messageId: suppression.messageId, type: suppression.eventType, at: suppression.since, ...(suppression.code ? { code: suppression.code } : {}) },
      });
      return false;
    }
    const unsubscribe = this.links.url('/u', { k: 'u', w: workspace, p: person, m: queued.messageId, ch: queued.channel });
    const preferences = this.links.url('/preferences', { k: 'p', w: workspace, p: person });
    let content;
    try {
      content = await this.renderer.render({
        workspace,
        channel: queued.channel,
        template: queued.template,
        subject: queued.subject,
        variables: {
          // A MessageQueued without variables (written by hand or by an older version) renders with
          // what the contact has, rather than stopping the dispatcher on that event for ever.
          user: { ...queued.variables?.user, ...contact.traits },
          event: queued.variables?.event,
          trigger: queued.variables?.trigger ?? queued.variables?.event,
          message: { id: queued.messageId, unsubscribe_url: unsubscribe, preferences_url: preferences },
        },
      });
    } catch (error) {
      if (!(error instanceof RenderError)) throw error;
      await record('failed', 'MessageFailed', { reason: 'render_failed', detail: error.message, renderError: error.reason });
      return false;
    }
    const delivery: Delivery = {
      messageId: queued.messageId,
      workspace,
      person,
      channel: queued.channel,
      to,
      content,
      links: { unsubscribe, preferences },
      pushSubscription: queued.channel === 'push' ? contact.pushSubscriptions.find((s) => s.endpoint === to) : undefined,
    };
    if (this.active.has(queued.messageId)) return false;
    this.active.add(queued.messageId);
    // A channel sent at most once takes its call slot before the intent: a crash can then leave at
    // most `concurrency` intents without a call, each recorded as unknown and not sent. A channel
    // safe to retry loses nothing there (its intent is made again), so the wait for the log's commit
    // does not hold a slot: with slots held over that wait, a fast provider went no faster than
    // `concurrency` messages per commit, and the dispatcher fell behind under load (bench/README).
    const slotFirst = !adapter.safeToRetry;
    if (slotFirst) await this.slots.acquire();
    try {
      await record(`dispatching|${attempt}`, 'MessageDispatching', { provider: adapter.provider, to, attempt });
      this.inflight.set(queued.messageId, [queued.messageId, workspace, event.stream, event.id, queued.channel, attempt]);
    } catch (error) {
      if (slotFirst) this.slots.release();
      this.active.delete(queued.messageId);
      throw error;
    }
    if (!slotFirst) await this.slots.acquire();
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      this.slots.release();
    };
    const sending = this.send(adapter, delivery, event, attempt, release).finally(() => {
      this.running.delete(sending);
      this.active.delete(queued.messageId);
      release();
      this.inflight.settle(queued.messageId);
    });
    this.running.add(sending);
    return true;
  }

  /**
   * The person's stream folded up to its last event. A person kept from an earlier message costs a
   * read of the events appended since (usually the message's own few), not of the whole stream.
   */
  private async personView(stream: string): Promise<PersonView> {
    const kept = this.people.get(stream);
    const fresh = await this.store.readStream(stream, kept ? { fromRevision: kept.revision + 1 } : {});
    // Another read of the same stream may have folded some of these in the meantime (recover, a retry).
    const view = this.people.get(stream) ?? kept ?? { revision: -1, contact: initialContact(), messages: new Map() };
    for (const event of fresh) if (event.revision > view.revision) foldInto(view, event);
    this.people.set(stream, view);
    return view;
  }

  private async findQueued(stream: string, queuedId: string): Promise<RecordedEvent | undefined> {
    return (await this.store.readStream(stream)).find((e) => e.id === queuedId);
  }

  /** Waits for the sends in flight (tests, shutdown). */
  async drain(): Promise<void> {
    while (this.running.size > 0) await Promise.allSettled([...this.running]);
  }

  /** One provider call, and its outcome recorded: sent, bounced, failed, unknown, or a retry scheduled. */
  private async send(adapter: ChannelAdapter, delivery: Delivery, queued: RecordedEvent, attempt: number, callDone: () => void): Promise<void> {
    const maxAttempts = this.options.maxAttempts ?? 4;
    const record = (key: string, type: string, data: Record<string, unknown>) =>
      this.append(queued.stream, delivery.workspace, queued.id, key, type, { messageId: delivery.messageId, channel: delivery.channel, ...data });
    try {
      // The slot bounds provider calls in flight: it is free as soon as the call returns, so the next
      // message's call does not wait for this outcome's commit (the in-flight row stays until then).
      const result = await adapter.send(delivery).finally(callDone);
      await record('sent', 'MessageSent', { provider: adapter.provider, providerMessageId: result.providerMessageId, to: delivery.to, attempt });
    } catch (error) {
      if (error instanceof PermanentDeliveryError) {
        const bounced = delivery.channel === 'email' && error.unreachable;
        await record(bounced ? 'bounced' : 'failed', bounced ? 'MessageBounced' : 'MessageFailed', {
          reason: 'rejected',
          provider: adapter.provider,
          code: error.code,
          detail: error.message,
          attempt,
        });
        if (error.unreachable) await this.unreachable(delivery, queued, adapter.provider, error.code);
        return;
      }
      if (error instanceof OutcomeUnknownDeliveryError) {
        await record(`unknown|${attempt}`, 'MessageOutcomeUnknown', { provider: adapter.provider, attempt, detail: error.message });
        return;
      }
      const transient = error instanceof TransientDeliveryError;
      if (!transient || attempt >= maxAttempts) {
        await record('failed', 'MessageFailed', {
          reason: transient ? 'retries_exhausted' : 'error',
          provider: adapter.provider,
          detail: (error as Error).message,
          attempt,
        });
        return;
      }
      // A retry inside the wait the provider asked for is refused again and spends an attempt.
      const backoffMs = (this.options.retryBaseMs ?? 1000) * 2 ** (attempt - 1);
      const delayMs = Math.max(backoffMs, Math.min((error as TransientDeliveryError).retryAfterMs ?? 0, MAX_RETRY_AFTER_MS));
      const retry: Omit<MessageRetryScheduled, 'messageId' | 'channel'> = {
        provider: adapter.provider,
        attempt: attempt + 1,
        dueAt: new Date(this.clock.now().getTime() + delayMs).toISOString(),
        delayMs,
        detail: (error as Error).message,
      };
      await record(`retry|${attempt + 1}`, RETRY_SCHEDULED, { ...retry });
    }
  }

  /** The address will not work again: an expired push subscription is removed; a blocked bot or an opted-out number unsubscribes the channel. */
  private async unreachable(delivery: Delivery, queued: RecordedEvent, provider: string, code: string): Promise<void> {
    if (delivery.channel === 'push') {
      await this.append(queued.stream, delivery.workspace, queued.id, 'push-removed', CONTACT_EVENTS.pushRemoved, {
        endpoint: delivery.to,
        reason: code,
      });
    } else if (OPTED_OUT_CODES.has(code)) {
      // A blocked bot, or a number that opted out at the carrier: the person said no on this channel.
      await this.append(queued.stream, delivery.workspace, queued.id, 'unsubscribed', CONTACT_EVENTS.unsubscribed, {
        channel: delivery.channel,
        source: provider,
        reason: code,
      });
    }
  }

  private append(stream: string, workspace: string, causeId: string, key: string, type: string, data: Record<string, unknown>): Promise<unknown> {
    const now = this.clock.now().toISOString();
    const event: NewEvent = {
      id: derivedEventId(causeId, 'dispatch', key),
      type,
      data,
      metadata: { workspace, causationId: causeId, correlationId: causeId, occurredAt: now, receivedAt: now, schemaVersion: 1 },
    };
    return this.store.append(stream, [event]);
  }
}

/** Folds the next event of the person's stream into their view. */
function foldInto(view: PersonView, event: RecordedEvent): void {
  evolveContact(view.contact, event);
  const data = event.data as { messageId?: unknown; attempt?: unknown } | undefined;
  if (typeof data?.messageId === 'string') {
    // Only the step, not the event: a kept person must not keep their messages' content alive.
    const step: MessageStep = { type: event.type, position: event.position, attempt: Number(data.attempt ?? 1) };
    const steps = view.messages.get(data.messageId);
    if (steps) steps.push(step);
    else view.messages.set(data.messageId, [step]);
  }
  view.revision = event.revision;
}

function retryTimerId(queuedId: string, attempt: number): string {
  return `${queuedId}|retry|${attempt}`;
}

/**
 * Fires due retries: appends the `TimerFired` that brings a message back to the dispatcher for its
 * next attempt (id derived from the timer, so it fires once). The dispatcher keeps the index.
 */
export class DispatchRetryTimers extends DueTimers<DueTimer & { queuedId: string; messageId: string; attempt: number }> {
  constructor(db: StateDb, store: EventStore, clock: Clock) {
    db.exec(DISPATCH_RETRY_TABLE);
    const due = db.prepare<[number, number], { timer_id: string; workspace: string; person: string; queued_id: string; message_id: string; attempt: number; due_at: number }>(
      'SELECT * FROM dispatch_retries WHERE due_at <= ? ORDER BY due_at LIMIT ?',
    );
    const next = db.prepare<[], { due_at: number | null }>('SELECT MIN(due_at) AS due_at FROM dispatch_retries');
    super(
      store,
      clock,
      RETRY_TIMER_PURPOSE,
      (now, limit) =>
        due.all(now, limit).map((row) => ({
          key: row.timer_id,
          workspace: row.workspace,
          person: row.person,
          dueAt: row.due_at,
          queuedId: row.queued_id,
          messageId: row.message_id,
          attempt: row.attempt,
        })),
      () => next.get()?.due_at ?? undefined,
      (timer) => ({
        data: { timerId: timer.key, queuedId: timer.queuedId, messageId: timer.messageId, attempt: timer.attempt } satisfies Omit<DispatchRetryFired, 'purpose' | 'dueAt'>,
        causationId: timer.queuedId,
      }),
    );
  }

  /** While fired retries wait for the dispatcher, looked at again every 50 ms. */
  override start(inFlightRetryMs = 50): void {
    super.start(inFlightRetryMs);
  }
}
