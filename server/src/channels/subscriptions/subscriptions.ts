/**
 * Subscription decisions, pure: given a person's contact state (folded from their stream with
 * `contactFrom`), which `Unsubscribed`/`Subscribed` events an unsubscribe link or the preference
 * form produce. Nothing is emitted for what already holds, so a repeated request changes nothing.
 */
import { CHANNELS, type Channel, type ScenarioDefinition } from '@herald/projections';
import { CONTACT_EVENTS, type ContactState, subscriptionKey } from '../contact';

/** Where an unsubscribe came from. */
export type SubscriptionSource = 'one-click' | 'page' | 'preferences';

export interface SubscriptionChange {
  type: typeof CONTACT_EVENTS.unsubscribed | typeof CONTACT_EVENTS.subscribed;
  data: { channel: Channel; topic?: string; source: SubscriptionSource; messageId?: string };
}

export function isChannel(value: unknown): value is Channel {
  return (CHANNELS as readonly unknown[]).includes(value);
}

/** An unsubscribe link: one event, or none when the whole channel is already off. */
export function decideUnsubscribe(contact: ContactState, channel: Channel, source: 'one-click' | 'page', messageId?: string): SubscriptionChange[] {
  if (contact.unsubscribed.has(channel)) return [];
  return [{ type: CONTACT_EVENTS.unsubscribed, data: { channel, source, ...(messageId ? { messageId } : {}) } }];
}

export interface PreferenceItem {
  /** `email`, or `email:newsletter` for a topic. */
  key: string;
  channel: Channel;
  topic?: string;
  subscribed: boolean;
}

/** The subscription topics messages are sent under, per channel (`{ email: ['newsletter'] }`). */
export type TopicsByChannel = Partial<Record<Channel, readonly string[]>>;

/**
 * The topics of the workspace's scenarios that can send: every non-transactional send step with a
 * `topic` (transactional messages ignore subscriptions, so leaving their topic would mean nothing).
 */
export function topicsOfScenarios(definitions: Iterable<ScenarioDefinition>): TopicsByChannel {
  const topics: Partial<Record<Channel, Set<string>>> = {};
  for (const definition of definitions) {
    for (const step of definition.steps) {
      if (!('send' in step) || !step.send.topic || step.send.transactional) continue;
      (topics[step.send.channel] ??= new Set()).add(step.send.topic);
    }
  }
  return Object.fromEntries(Object.entries(topics).map(([channel, set]) => [channel, [...set].sort()]));
}

/**
 * What the preference page shows: every channel, then under it each topic messages are sent under
 * (`topics`, from the scenarios) and each topic the person left, so a person can leave a topic and
 * turn it back on.
 */
export function preferenceItems(contact: ContactState, topics: TopicsByChannel = {}): PreferenceItem[] {
  const items: PreferenceItem[] = [];
  for (const channel of CHANNELS) {
    items.push({ key: channel, channel, subscribed: !contact.unsubscribed.has(channel) });
    const left = [...contact.unsubscribed].filter((key) => key.startsWith(`${channel}:`)).map((key) => key.slice(channel.length + 1));
    for (const topic of [...new Set([...(topics[channel] ?? []), ...left])].sort()) {
      const key = subscriptionKey(channel, topic);
      items.push({ key, channel, topic, subscribed: !contact.unsubscribed.has(key) });
    }
  }
  return items;
}

/**
 * The preference form: `shown` lists the keys that were on the form and `subscribed` the ones left
 * ticked. Only keys the page offers are acted on; a key missing from `shown` is left as it is, so a
 * bare or partial POST cannot unsubscribe someone from everything.
 */
export function decidePreferences(contact: ContactState, shown: string[], subscribed: string[], topics: TopicsByChannel = {}): SubscriptionChange[] {
  const offered = new Map(preferenceItems(contact, topics).map((item) => [item.key, item]));
  const wanted = new Set(subscribed);
  const changes: SubscriptionChange[] = [];
  for (const key of new Set(shown)) {
    const item = offered.get(key);
    if (!item) continue;
    const want = wanted.has(key);
    if (want === item.subscribed) continue;
    changes.push({
      type: want ? CONTACT_EVENTS.subscribed : CONTACT_EVENTS.unsubscribed,
      data: { channel: item.channel, ...(item.topic ? { topic: item.topic } : {}), source: 'preferences' },
    });
  }
  return changes;
}

/** Values of a form field from a parsed body (`a=1&a=2` gives an array), whatever the body was. */
export function formValues(body: unknown, field: string): string[] {
  if (!body || typeof body !== 'object') return [];
  const value = (body as Record<string, unknown>)[field];
  if (typeof value === 'string') return [value];
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];
}
