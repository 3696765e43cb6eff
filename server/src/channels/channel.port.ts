/**
 * The channel port: what the dispatcher needs from a provider integration (email over SMTP, Twilio
 * SMS and WhatsApp, Telegram, web push, in-app, and the sandbox). Adapters only talk to their
 * provider; recording intents and outcomes, retries and exactly-once are the dispatcher's job.
 */
import type { Channel } from '@herald/projections';

/** What a template produced for one recipient. */
export interface RenderedContent {
  /** Email subject, push/in-app title. */
  subject?: string;
  /** Email HTML (MJML compiled, Liquid rendered, links tracked). */
  html?: string;
  /** Plain text: the email text part, or the whole SMS/WhatsApp/Telegram/push body. */
  text: string;
  /** A link the message opens (push click, in-app action). */
  url?: string;
}

/** Everything needed to reach a person on the channels, from their stream. */
export interface Contact {
  traits: Record<string, unknown>;
  telegramChatId?: number;
  pushSubscriptions: PushSubscriptionRecord[];
}

export interface PushSubscriptionRecord {
  endpoint: string;
  keys: { p256dh: string; auth: string };
}

export interface Delivery {
  messageId: string;
  workspace: string;
  /** Identity key of the person (`user:<id>` / `anon:<id>`). */
  person: string;
  channel: Channel;
  /** The address chosen for this channel (email, E.164 phone, chat id, push endpoint, user id). */
  to: string;
  content: RenderedContent;
  /** Links this message carries (unsubscribe, preferences), already signed. */
  links: { unsubscribe?: string; unsubscribeMailto?: string; preferences?: string };
  /** For push: the subscription to use. */
  pushSubscription?: PushSubscriptionRecord;
}

export interface SendResult {
  providerMessageId: string;
}

/** The provider refused for good (bad address, hard bounce, blocked bot): do not retry. */
export class PermanentDeliveryError extends Error {
  constructor(
    message: string,
    readonly code: string,
    /** The address will not work again: a hard bounce, an expired push subscription, a blocked bot. */
    readonly unreachable = false,
  ) {
    super(message);
    this.name = 'PermanentDeliveryError';
  }
}

/** Worth retrying later (network, 5xx, throttling). */
export class TransientDeliveryError extends Error {
  constructor(
    message: string,
    /** How long the provider asked to wait (a 429's `Retry-After`, Telegram's `retry_after`): no retry comes sooner. */
    readonly retryAfterMs?: number,
  ) {
    super(message);
    this.name = 'TransientDeliveryError';
  }
}

/** A provider's wait given in whole seconds (`Retry-After: 120`, `retry_after: 5`), in ms; undefined otherwise (an HTTP date is not read). */
export function retryAfterSeconds(value: unknown): number | undefined {
  const seconds = typeof value === 'number' ? value : typeof value === 'string' && /^\d+$/.test(value.trim()) ? Number(value.trim()) : NaN;
  return Number.isFinite(seconds) && seconds > 0 ? seconds * 1000 : undefined;
}

/**
 * The call may or may not have reached the provider (a timeout, a dropped connection, a 5xx after the
 * request was sent): recorded as `MessageOutcomeUnknown`, never retried blindly.
 */
export class OutcomeUnknownDeliveryError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'OutcomeUnknownDeliveryError';
  }
}

export interface ChannelAdapter {
  readonly channel: Channel;
  /** A provider name for the audit trail (`smtp`, `twilio`, `telegram`, `web-push`, `in-app`, `sandbox`). */
  readonly provider: string;
  /**
   * Whether a call whose outcome is unknown (a crash after the intent was recorded) may be made
   * again without risking a duplicate. See docs/delivery.md for each channel.
   */
  readonly safeToRetry: boolean;
  /** The address to use for this contact, or undefined when the person cannot be reached here. */
  address(contact: Contact): string | undefined;
  send(delivery: Delivery): Promise<SendResult>;
  close?(): Promise<void>;
}
