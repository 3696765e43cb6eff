/**
 * Browser push subscriptions on the person's stream: `PushSubscribed { subscription }` and
 * `PushSubscriptionRemoved { endpoint, reason }`. Decisions are pure: given the stream's history
 * they return the events to append, with keys from which the ids are derived (endpoint plus how
 * often it was subscribed or removed before), so a repeated request records nothing new while a
 * later re-subscription of the same endpoint is recorded again.
 */
import type { RecordedEvent } from '../../event-store/event-store.port';
import type { PushSubscriptionRecord } from '../channel.port';
import { CONTACT_EVENTS, contactFrom } from '../contact';

export class InvalidPushSubscriptionError extends Error {
  constructor(
    message: string,
    readonly path: string,
  ) {
    super(message);
    this.name = 'InvalidPushSubscriptionError';
  }
}

export interface PlannedContactEvent {
  /** Unique per stream; the event id is derived from it. */
  key: string;
  type: string;
  data: Record<string, unknown>;
}

const BASE64URL = /^[A-Za-z0-9_-]+={0,2}$/;
const MAX_ENDPOINT_LENGTH = 2048;

/** A browser's `PushSubscription.toJSON()`: an https endpoint, a P-256 public key and a 16-byte auth secret. */
export function parsePushSubscription(body: unknown): PushSubscriptionRecord {
  if (typeof body !== 'object' || body === null) throw new InvalidPushSubscriptionError('Send the browser PushSubscription as JSON: { endpoint, keys: { p256dh, auth } }', '');
  const { endpoint, keys } = body as { endpoint?: unknown; keys?: { p256dh?: unknown; auth?: unknown } };
  const url = parseEndpoint(endpoint);
  if (typeof keys !== 'object' || keys === null) throw new InvalidPushSubscriptionError('keys { p256dh, auth } is required', 'keys');
  const p256dh = base64urlBytes(keys.p256dh, 'keys.p256dh');
  if (p256dh.length !== 65 || p256dh[0] !== 0x04) throw new InvalidPushSubscriptionError('keys.p256dh must be an uncompressed P-256 public key (65 bytes)', 'keys.p256dh');
  const auth = base64urlBytes(keys.auth, 'keys.auth');
  if (auth.length !== 16) throw new InvalidPushSubscriptionError('keys.auth must be a 16-byte secret', 'keys.auth');
  return { endpoint: url, keys: { p256dh: p256dh.toString('base64url'), auth: auth.toString('base64url') } };
}

export function parseEndpoint(endpoint: unknown): string {
  if (typeof endpoint !== 'string' || endpoint.length === 0 || endpoint.length > MAX_ENDPOINT_LENGTH) {
    throw new InvalidPushSubscriptionError(`endpoint must be a URL of at most ${MAX_ENDPOINT_LENGTH} characters`, 'endpoint');
  }
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    throw new InvalidPushSubscriptionError('endpoint is not a URL', 'endpoint');
  }
  if (url.protocol !== 'https:') throw new InvalidPushSubscriptionError('endpoint must be an https URL (push services only speak https)', 'endpoint');
  if (url.username || url.password) throw new InvalidPushSubscriptionError('endpoint must not carry credentials', 'endpoint');
  return endpoint;
}

function base64urlBytes(value: unknown, path: string): Buffer {
  if (typeof value !== 'string' || !BASE64URL.test(value)) throw new InvalidPushSubscriptionError(`${path} must be base64url`, path);
  return Buffer.from(value.replace(/=+$/, ''), 'base64url');
}

/** Subscribe: nothing when exactly this subscription is current; else a `PushSubscribed` (a new browser, or new keys). */
export function decideSubscribe(history: RecordedEvent[], subscription: PushSubscriptionRecord): PlannedContactEvent[] {
  const current = contactFrom(history).pushSubscriptions.find((s) => s.endpoint === subscription.endpoint);
  if (current && current.keys.p256dh === subscription.keys.p256dh && current.keys.auth === subscription.keys.auth) return [];
  const before = occurrences(history, CONTACT_EVENTS.pushSubscribed, (data) => (data.subscription as PushSubscriptionRecord | undefined)?.endpoint === subscription.endpoint);
  return [{ key: `subscribed|${subscription.endpoint}|${before}`, type: CONTACT_EVENTS.pushSubscribed, data: { subscription } }];
}

/** Unsubscribe (the browser said so): nothing when the endpoint is not subscribed. */
export function decideUnsubscribe(history: RecordedEvent[], endpoint: string): PlannedContactEvent[] {
  if (!contactFrom(history).pushSubscriptions.some((s) => s.endpoint === endpoint)) return [];
  const before = occurrences(history, CONTACT_EVENTS.pushRemoved, (data) => data.endpoint === endpoint);
  return [{ key: `removed|${endpoint}|${before}`, type: CONTACT_EVENTS.pushRemoved, data: { endpoint, reason: 'unsubscribed' } }];
}

function occurrences(history: RecordedEvent[], type: string, about: (data: Record<string, unknown>) => boolean): number {
  return history.filter((event) => event.type === type && about((event.data ?? {}) as Record<string, unknown>)).length;
}
