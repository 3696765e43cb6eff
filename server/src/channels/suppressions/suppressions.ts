/**
 * The suppression list, pure: an address that bounced for good (an SMTP 5xx about the recipient, a
 * DSN with a 5.x.x status, a Twilio answer that the number is invalid or cannot take texts) is not
 * sent to again on that channel, marketing or transactional, until an admin lifts it. Nothing is
 * stored for it: it is folded from the person's stream (contact.ts), so a replay gives the same list.
 * It is per address, so a new `email` or `phone` trait is reachable at once.
 */
import { CHANNELS, type Channel } from '@herald/projections';
import type { RecordedEvent } from '../../event-store/event-store.port';

export const SUPPRESSION_EVENTS = { unsuppressed: 'AddressUnsuppressed' } as const;

/**
 * Twilio codes that say the number itself will not work (Twilio's error dictionary): 21211 invalid
 * 'To' number, 21614 not a mobile number, and in status callbacks 30005 unknown or inactive handset
 * and 30006 landline or unreachable carrier. 21610 (the person texted STOP) is an unsubscribe, not a
 * dead number; 30003 (handset switched off) and 30008 (unknown error) pass.
 */
export const SUPPRESSING_TWILIO_CODES = new Set(['twilio_21211', 'twilio_21614', 'twilio_30005', 'twilio_30006']);

/** One suppressed address, and the event that caused it. */
export interface Suppression {
  channel: Channel;
  address: string;
  /** When the bounce was recorded. */
  since: string;
  /** Id of the `MessageBounced` (or Twilio `MessageFailed`) that caused it. */
  eventId: string;
  eventType: string;
  messageId: string;
  code?: string;
}

/** `AddressUnsuppressed`: an admin lifted the suppression of `address` on `channel`. */
export interface AddressUnsuppressed {
  channel: Channel;
  address: string;
  /** The event the lifted suppression came from. */
  suppressedBy: string;
  source: 'admin';
}

/** The key of an address on a channel. Mailbox providers treat addresses case-insensitively, and so does the list. */
export function addressKey(channel: string, address: string): string {
  return `${channel}|${channel === 'email' ? address.trim().toLowerCase() : address.trim()}`;
}

/** Whether an outcome says its address will never work; `permanent: false` marks a DSN with a 4.x.x status. */
export function isPermanentAddressFailure(event: RecordedEvent): boolean {
  const data = (event.data ?? {}) as { channel?: string; permanent?: boolean; code?: string };
  if (event.type === 'MessageBounced') return data.permanent !== false;
  if (event.type === 'MessageFailed') return (data.channel === 'sms' || data.channel === 'whatsapp') && SUPPRESSING_TWILIO_CODES.has(data.code ?? '');
  return false;
}

/** Suppression folding state, kept inside the contact fold. */
export interface SuppressionFold {
  /** Where each message was dispatched to: the address a later bounce is about. */
  sentTo: Map<string, string>;
  suppressed: Map<string, Suppression>;
}

export function initialSuppressionFold(): SuppressionFold {
  return { sentTo: new Map(), suppressed: new Map() };
}

export function evolveSuppressions(state: SuppressionFold, event: RecordedEvent): void {
  const data = (event.data ?? {}) as Record<string, any>;
  switch (event.type) {
    case 'MessageDispatching':
    case 'MessageSent':
      if (typeof data.messageId === 'string' && typeof data.to === 'string') state.sentTo.set(data.messageId, data.to);
      break;
    case 'MessageBounced':
    case 'MessageFailed': {
      if (!isPermanentAddressFailure(event) || typeof data.messageId !== 'string' || typeof data.channel !== 'string') break;
      // The address Herald sent to; a DSN's recipient may be a forwarding target or an alias of it.
      const address = state.sentTo.get(data.messageId) ?? (typeof data.recipient === 'string' ? data.recipient : undefined);
      if (!address) break;
      state.suppressed.set(addressKey(data.channel, address), {
        channel: data.channel as Channel,
        address,
        since: event.metadata.occurredAt,
        eventId: event.id,
        eventType: event.type,
        messageId: data.messageId,
        ...(typeof data.code === 'string' ? { code: data.code } : {}),
      });
      break;
    }
    case SUPPRESSION_EVENTS.unsuppressed:
      if (typeof data.channel === 'string' && typeof data.address === 'string') state.suppressed.delete(addressKey(data.channel, data.address));
      break;
  }
}

export function suppressionOf(state: SuppressionFold, channel: Channel, address: string): Suppression | undefined {
  return state.suppressed.get(addressKey(channel, address));
}

/** The channel is not one Herald knows. */
export class UnknownChannelError extends Error {
  constructor(readonly channel: string) {
    super(`channel must be one of ${CHANNELS.join(', ')}, got "${channel}"`);
    this.name = 'UnknownChannelError';
  }
}

/** There is nothing to lift. */
export class NotSuppressedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'NotSuppressedError';
  }
}

/** Lifting every suppressed address of the person on `channel`: the events to append. */
export function decideLift(state: SuppressionFold, channel: string, who: string): AddressUnsuppressed[] {
  if (!(CHANNELS as readonly string[]).includes(channel)) throw new UnknownChannelError(channel);
  const lifted = [...state.suppressed.values()].filter((s) => s.channel === channel);
  if (lifted.length === 0) throw new NotSuppressedError(`No ${channel} address of ${who} is suppressed`);
  return lifted.map((s) => ({ channel: s.channel, address: s.address, suppressedBy: s.eventId, source: 'admin' }));
}
