/**
 * The in-app channel: "sending" is recording `InAppMessageDelivered` on the person's stream, which is
 * both their inbox and what the live stream (SSE) of every node follows. Everyone is reachable: the
 * inbox exists whether or not the person has ever opened it.
 *
 * Safe to retry: the event id is derived from the message, so a second call after a crash (or a
 * transient store error) appends nothing and the message is in the inbox once.
 */
import type { EventStore, NewEvent } from '../../event-store/event-store.port';
import type { Clock } from '../../shared/clock';
import { derivedEventId } from '../../shared/ids';
import { personStream } from '@herald/projections';
import { type ChannelAdapter, type Contact, type Delivery, type SendResult, TransientDeliveryError } from '../channel.port';
import { IN_APP_EVENTS, type InAppMessageDelivered } from './inbox';
import { IN_APP_PROVIDER, providerMessageIdOf } from './inbox.commands';
import { EventStoreUnavailableError } from '../../event-store/errors';

/** The address recorded in `MessageDispatching`: the inbox of the person the message is for. */
export const INBOX_ADDRESS = 'inbox';

/** Ids of inbox events: one per message and action, scoped to the person, so every retry or replay is a no-op. */
export function inboxEventId(workspace: string, person: string, messageId: string, action: 'delivered' | 'read' | 'archived' | 'opened'): string {
  return derivedEventId(`${workspace}|${person}|${messageId}`, 'in-app', action);
}

export class InAppAdapter implements ChannelAdapter {
  readonly channel = 'in_app' as const;
  readonly provider = IN_APP_PROVIDER;
  readonly safeToRetry = true;

  constructor(
    private readonly store: EventStore,
    private readonly clock: Clock,
  ) {}

  address(_contact: Contact): string {
    return INBOX_ADDRESS;
  }

  async send(delivery: Delivery): Promise<SendResult> {
    const data: InAppMessageDelivered = {
      messageId: delivery.messageId,
      title: delivery.content.subject ?? '',
      body: delivery.content.text,
      ...(delivery.content.url ? { url: delivery.content.url } : {}),
    };
    const now = this.clock.now().toISOString();
    const event: NewEvent = {
      id: inboxEventId(delivery.workspace, delivery.person, delivery.messageId, 'delivered'),
      type: IN_APP_EVENTS.delivered,
      data,
      metadata: { workspace: delivery.workspace, occurredAt: now, receivedAt: now, schemaVersion: 1 },
    };
    try {
      await this.store.append(personStream(delivery.workspace, delivery.person), [event]);
    } catch (error) {
      // The dispatcher retries transient errors; a retry is harmless here (same id).
      if (error instanceof EventStoreUnavailableError) throw new TransientDeliveryError(error.message);
      throw error;
    }
    return { providerMessageId: providerMessageIdOf(delivery.messageId) };
  }
}
