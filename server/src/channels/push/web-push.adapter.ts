/** Web push (RFC 8030 with VAPID, aes128gcm payloads) through the `web-push` library. */
import { createHash } from 'node:crypto';
import type { Agent } from 'node:https';
import { sendNotification, WebPushError } from 'web-push';
import { type ChannelAdapter, type Contact, type Delivery, PermanentDeliveryError, retryAfterSeconds, type SendResult, TransientDeliveryError } from '../channel.port';
import type { VapidKeys } from './vapid-keys';

export interface WebPushAdapterOptions {
  vapid: VapidKeys;
  /** VAPID_SUBJECT: a mailto: or https: contact for the push services. */
  subject: string;
  /** How long a push service keeps a message for an offline device (seconds). */
  ttlSeconds?: number;
  timeoutMs?: number;
  /** For push services with a private CA (tests use a self-signed one). */
  agent?: Agent;
}

/** What the service worker receives (`event.data.json()`). */
export interface PushPayload {
  title?: string;
  body: string;
  url?: string;
  messageId: string;
}

/** A record is 4096 bytes; the aes128gcm header, tag and padding delimiter take 103 of them. */
const MAX_PAYLOAD_BYTES = 3993;

export class WebPushAdapter implements ChannelAdapter {
  readonly channel = 'push' as const;
  readonly provider = 'web-push';
  /**
   * Safe: the request carries a Topic derived from the message id, so a repeat replaces a copy the
   * push service still holds, and the payload carries the message id for the service worker to use as
   * the notification `tag`, so a repeat that reaches the device replaces the shown notification
   * instead of adding a second one (docs/delivery.md).
   */
  readonly safeToRetry = true;

  constructor(private readonly options: WebPushAdapterOptions) {}

  /** The most recent subscription: the browser the person granted last is the likeliest to be alive. */
  address(contact: Contact): string | undefined {
    return contact.pushSubscriptions.at(-1)?.endpoint;
  }

  async send(delivery: Delivery): Promise<SendResult> {
    const subscription = delivery.pushSubscription;
    if (!subscription || subscription.endpoint !== delivery.to) {
      throw new PermanentDeliveryError(`No push subscription for ${delivery.to}`, 'push_no_subscription');
    }
    try {
      const result = await sendNotification(subscription, pushPayload(delivery), {
        vapidDetails: { subject: this.options.subject, publicKey: this.options.vapid.publicKey, privateKey: this.options.vapid.privateKey },
        TTL: this.options.ttlSeconds ?? 86_400,
        topic: pushTopic(delivery.messageId),
        timeout: this.options.timeoutMs ?? 30_000,
        ...(this.options.agent ? { agent: this.options.agent } : {}),
      });
      const location = result.headers.location;
      return { providerMessageId: typeof location === 'string' && location ? location : `web-push:${delivery.messageId}` };
    } catch (error) {
      throw pushDeliveryError(error);
    }
  }
}

/** The JSON the service worker gets, with the body shortened to fit one record. */
export function pushPayload(delivery: Pick<Delivery, 'messageId' | 'content'>): string {
  const { subject, text, url } = delivery.content;
  const payload: PushPayload = { ...(subject ? { title: subject } : {}), body: text, ...(url ? { url } : {}), messageId: delivery.messageId };
  const json = JSON.stringify(payload);
  if (Buffer.byteLength(json, 'utf8') <= MAX_PAYLOAD_BYTES) return json;
  let budget = MAX_PAYLOAD_BYTES - Buffer.byteLength(JSON.stringify({ ...payload, body: '…' }), 'utf8');
  let kept = '';
  for (const char of text) {
    // Counted as JSON writes it (quotes and control characters are escaped).
    budget -= Buffer.byteLength(JSON.stringify(char), 'utf8') - 2;
    if (budget < 0) break;
    kept += char;
  }
  return JSON.stringify({ ...payload, body: `${kept}…` });
}

/** Topic header (max 32 base64url characters): a push service keeps only the latest message per topic. */
export function pushTopic(messageId: string): string {
  return createHash('sha256').update(messageId, 'utf8').digest('base64url').slice(0, 32);
}

/**
 * 404/410: the subscription is gone (unsubscribed, expired, browser data cleared): remove it.
 * 429 and 5xx, network errors: retry. Other statuses (400, 401/403 VAPID mismatch, 413): permanent.
 */
export function pushDeliveryError(error: unknown): Error {
  if (error instanceof WebPushError) {
    const status = error.statusCode;
    if (status === 404 || status === 410) return new PermanentDeliveryError(`The push subscription is gone (${status})`, `push_${status}`, true);
    if (status === 429 || status >= 500) {
      const headers = (error.headers ?? {}) as Record<string, string | undefined>;
      return new TransientDeliveryError(`Push service answered ${status}`, retryAfterSeconds(headers['retry-after']));
    }
    return new PermanentDeliveryError(`Push service answered ${status}: ${error.body}`.slice(0, 500), `push_${status}`);
  }
  const err = error as NodeJS.ErrnoException;
  if (typeof err?.code === 'string' || err?.message === 'Socket timeout') return new TransientDeliveryError(`Push service unreachable: ${err.message}`);
  // web-push validates the subscription and options before sending: a bad stored subscription.
  return new PermanentDeliveryError(`Push not sent: ${(error as Error)?.message ?? String(error)}`, 'push_invalid');
}
