/**
 * The dispatcher: turns every `MessageQueued` into a provider call, exactly once where the channel
 * allows it. For each message it re-checks the subscription, picks the address, renders, records the
 * intent (`MessageDispatching`) durably, and only then calls the provider, recording `MessageSent`,
 * `MessageFailed` or `MessageBounced`. Sends run concurrently (up to `concurrency`), so one slow
 * provider call does not hold up the log. An intent whose outcome is unknown after a crash (it is
 * still in the in-flight table at start) is recorded as `MessageOutcomeUnknown`, and sent again
 * only if the channel is declared safe to retry (docs/delivery.md).
 */
import { type Channel, type MessageQueued, personKeyOfStream } from '@herald/projections';
import type { EventStore, NewEvent, RecordedEvent } from '../event-store/event-store.port';
import type { HostedProjection, PlannedAppend } from '../projection-runner/projection-runner';
import type { Clock } from '../shared/clock';
import { derivedEventId } from '../shared/ids';
import type { StateDb } from '../state/state-db';
import { type ChannelAdapter, type Delivery, OutcomeUnknownDeliveryError, PermanentDeliveryError, TransientDeliveryError } from './channel.port';
import { CONTACT_EVENTS, contactFrom, isUnsubscribed } from './contact';
import type { LinkSigner } from './link-signer';
import { RenderError, type MessageRenderer } from './renderer.port';
import { SandboxAdapter } from './sandbox.adapter';

export const DISPATCH = 'dispatch';

/** Provider codes that mean the person refused the channel (not merely a bad address). */
const OPTED_OUT_CODES = new Set(['telegram_403', 'twilio_21610']);

/** Outcomes after which a message is settled. */
const FINAL = new Set(['MessageSent', 'MessageFailed', 'MessageBounced', 'MessageOutcomeUnknown', 'MessageSuppressed']);

export interface DispatcherOptions {
  concurrency?: number;
  /** Attempts for transient failures (network, 5xx, throttling). */
  maxAttempts?: number;
  retryBaseMs?: number;
}

interface Inflight {
  workspace: string;
  stream: string;
  queuedId: string;
  messageId: string;
  channel: Channel;
  attempt: number;
}

export class Dispatcher implements HostedProjection {
  readonly name = DISPATCH;
  readonly filter = { eventTypes: ['MessageQueued'] };
  private readonly running = new Set<Promise<void>>();
  private readonly statements;

  constructor(
    private readonly db: StateDb,
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
    };
  }

  setup(db: StateDb): void {
    db.exec(`CREATE TABLE IF NOT EXISTS dispatch_inflight (
      message_id TEXT PRIMARY KEY, workspace TEXT NOT NULL, stream TEXT NOT NULL, queued_id TEXT NOT NULL,
      channel TEXT NOT NULL, attempt INTEGER NOT NULL)`);
  }

  reset(db: StateDb): void {
    db.exec('DELETE FROM dispatch_inflight');
  }

  adapterFor(channel: Channel): ChannelAdapter {
    return this.adapters[channel] ?? new SandboxAdapter(channel);
  }

  /** Settles intents left by a crash: unknown outcome, or a new attempt where that is safe. */
  async recover(): Promise<void> {
    for (const row of this.statements.all.all()) {
      const history = await this.store.readStream(row.stream);
      const about = history.filter((e) => (e.data as { messageId?: string })?.messageId === row.message_id);
      if (about.some((e) => FINAL.has(e.type))) {
        this.statements.remove.run(row.message_id);
        continue;
      }
      const queued = history.find((e) => e.id === row.queued_id);
      const adapter = this.adapterFor(row.channel);
      if (queued && adapter.safeToRetry) {
        await this.handle(queued);
        continue;
      }
      await this.append(row.stream, row.workspace, row.queued_id, `unknown|${row.attempt}`, 'MessageOutcomeUnknown', {
        messageId: row.message_id,
        channel: row.channel,
        provider: adapter.provider,
        attempt: row.attempt,
      });
      this.statements.remove.run(row.message_id);
    }
  }

  async handle(event: RecordedEvent): Promise<PlannedAppend[]> {
    const queued = event.data as MessageQueued;
    const workspace = event.metadata.workspace;
    const history = await this.store.readStream(event.stream);
    const about = history.filter((e) => (e.data as { messageId?: string })?.messageId === queued.messageId);
    // Anything after the queue decision that settles the message (a suppression before it was queued does not count).
    if (about.some((e) => FINAL.has(e.type) && e.position > event.position)) return [];
    const attempts = about.filter((e) => e.type === 'MessageDispatching').length;
    const adapter = this.adapterFor(queued.channel);
    const record = (key: string, type: string, data: Record<string, unknown>) =>
      this.append(event.stream, workspace, event.id, key, type, { messageId: queued.messageId, channel: queued.channel, ...data });

    if (attempts > 0 && !adapter.safeToRetry) {
      await record(`unknown|${attempts}`, 'MessageOutcomeUnknown', { provider: adapter.provider, attempt: attempts });
      return [];
    }
    const contact = contactFrom(history);
    if (!queued.transactional && isUnsubscribed(contact, queued.channel, queued.topic)) {
      await record('suppressed', 'MessageSuppressed', {
        enrollmentId: queued.enrollmentId,
        scenarioId: queued.scenarioId,
        stepId: queued.stepId,
        reason: 'unsubscribed',
        stage: 'dispatch',
      });
      return [];
    }
    const person = personKeyOfStream(event.stream) ?? event.stream;
    const to = adapter.address(contact);
    if (!to) {
      await record('failed', 'MessageFailed', { reason: 'no_address', provider: adapter.provider });
      return [];
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
          user: { ...queued.variables.user, ...contact.traits },
          event: queued.variables.event,
          trigger: queued.variables.trigger ?? queued.variables.event,
          message: { id: queued.messageId, unsubscribe_url: unsubscribe, preferences_url: preferences },
        },
      });
    } catch (error) {
      if (!(error instanceof RenderError)) throw error;
      await record('failed', 'MessageFailed', { reason: 'render_failed', detail: error.message, renderError: error.reason });
      return [];
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
    await this.waitForSlot();
    const attempt = attempts + 1;
    await record(`dispatching|${attempt}`, 'MessageDispatching', { provider: adapter.provider, to, attempt });
    this.statements.add.run(queued.messageId, workspace, event.stream, event.id, queued.channel, attempt);
    const sending = this.send(adapter, delivery, event, attempt).finally(() => {
      this.running.delete(sending);
      this.statements.remove.run(queued.messageId);
    });
    this.running.add(sending);
    return [];
  }

  /** Waits for the sends in flight (tests, shutdown). */
  async drain(): Promise<void> {
    while (this.running.size > 0) await Promise.allSettled([...this.running]);
  }

  private async send(adapter: ChannelAdapter, delivery: Delivery, queued: RecordedEvent, firstAttempt: number): Promise<void> {
    const maxAttempts = this.options.maxAttempts ?? 4;
    const record = (key: string, type: string, data: Record<string, unknown>) =>
      this.append(queued.stream, delivery.workspace, queued.id, key, type, { messageId: delivery.messageId, channel: delivery.channel, ...data });
    for (let attempt = firstAttempt; ; attempt++) {
      try {
        const result = await adapter.send(delivery);
        await record('sent', 'MessageSent', { provider: adapter.provider, providerMessageId: result.providerMessageId, to: delivery.to, attempt });
        return;
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
        await new Promise((resolve) => setTimeout(resolve, (this.options.retryBaseMs ?? 1000) * 2 ** (attempt - firstAttempt)));
        await record(`dispatching|${attempt + 1}`, 'MessageDispatching', { provider: adapter.provider, to: delivery.to, attempt: attempt + 1 });
        this.statements.add.run(delivery.messageId, delivery.workspace, queued.stream, queued.id, delivery.channel, attempt + 1);
      }
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

  private async waitForSlot(): Promise<void> {
    const limit = this.options.concurrency ?? 32;
    while (this.running.size >= limit) await Promise.race(this.running);
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
