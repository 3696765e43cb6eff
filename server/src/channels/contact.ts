/** A person's reachability, folded from their stream: traits, channel subscriptions and bindings. */
import type { Channel } from '@herald/projections';
import type { RecordedEvent } from '../event-store/event-store.port';
import type { Contact, PushSubscriptionRecord } from './channel.port';
import { evolveSuppressions, initialSuppressionFold, type SuppressionFold } from './suppressions/suppressions';

export const CONTACT_EVENTS = {
  telegramBound: 'TelegramChatBound',
  pushSubscribed: 'PushSubscribed',
  pushRemoved: 'PushSubscriptionRemoved',
  unsubscribed: 'Unsubscribed',
  subscribed: 'Subscribed',
} as const;

export interface ContactState extends Contact {
  unsubscribed: Set<string>;
  /** Addresses that bounced for good, per channel (suppressions/suppressions.ts). */
  suppressions: SuppressionFold;
}

export function initialContact(): ContactState {
  return { traits: {}, pushSubscriptions: [], unsubscribed: new Set(), suppressions: initialSuppressionFold() };
}

/** Folds one more event of the person's stream into `contact` (in place, like `evolveSuppressions`). */
export function evolveContact(contact: ContactState, event: RecordedEvent): void {
  evolveSuppressions(contact.suppressions, event);
  const data = (event.data ?? {}) as Record<string, any>;
  switch (event.type) {
    case 'Identified':
      for (const [key, value] of Object.entries((data.traits ?? {}) as Record<string, unknown>)) {
        if (value === null) delete contact.traits[key];
        else contact.traits[key] = value;
      }
      break;
    case CONTACT_EVENTS.telegramBound:
      contact.telegramChatId = data.chatId;
      break;
    case CONTACT_EVENTS.pushSubscribed:
      contact.pushSubscriptions = [...contact.pushSubscriptions.filter((s) => s.endpoint !== data.subscription.endpoint), data.subscription as PushSubscriptionRecord];
      break;
    case CONTACT_EVENTS.pushRemoved:
      contact.pushSubscriptions = contact.pushSubscriptions.filter((s) => s.endpoint !== data.endpoint);
      break;
    case CONTACT_EVENTS.unsubscribed:
      contact.unsubscribed.add(subscriptionKey(data.channel, data.topic));
      break;
    case CONTACT_EVENTS.subscribed:
      contact.unsubscribed.delete(subscriptionKey(data.channel, data.topic));
      break;
  }
}

export function contactFrom(events: RecordedEvent[]): ContactState {
  const contact = initialContact();
  for (const event of events) evolveContact(contact, event);
  return contact;
}

/** `email` for the whole channel, `email:newsletter` for one topic. */
export function subscriptionKey(channel: string, topic?: string): string {
  return topic ? `${channel}:${topic}` : channel;
}

export function isUnsubscribed(contact: ContactState, channel: Channel, topic?: string): boolean {
  return contact.unsubscribed.has(channel) || (topic !== undefined && contact.unsubscribed.has(subscriptionKey(channel, topic)));
}
