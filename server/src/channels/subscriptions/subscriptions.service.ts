/**
 * Loads a person's stream, decides (subscriptions.ts) and appends with the expected revision, so a
 * decision is made on the state it saw: two concurrent unsubscribes append once. Event ids are
 * derived from the link and the revision they were decided at, so a retried request is a no-op too.
 */
import { type Channel, personStream } from '@herald/projections';
import type { EventStore } from '../../event-store/event-store.port';
import type { Clock } from '../../shared/clock';
import { derivedEventId } from '../../shared/ids';
import { contactFrom, type ContactState } from '../contact';
import { decideOnContact } from '../contact-decisions';
import { decidePreferences, decideUnsubscribe, type PreferenceItem, preferenceItems, type SubscriptionChange, type TopicsByChannel } from './subscriptions';

export class SubscriptionsService {
  constructor(
    private readonly store: EventStore,
    private readonly clock: Clock,
    /** The topics the preference page offers in a workspace (from its scenarios); none without it. */
    private readonly topics: (workspace: string) => Promise<TopicsByChannel> = async () => ({}),
  ) {}

  async contact(workspace: string, person: string): Promise<ContactState> {
    return contactFrom(await this.store.readStream(personStream(workspace, person)));
  }

  /** Unsubscribes from a channel through a message's link; the changes made (none when already unsubscribed). */
  unsubscribe(
    link: { workspace: string; person: string; channel: Channel; messageId?: string; token: string },
    source: 'one-click' | 'page',
  ): Promise<SubscriptionChange[]> {
    return this.decideAndAppend(link.workspace, link.person, link.token, (contact) => decideUnsubscribe(contact, link.channel, source, link.messageId));
  }

  /** What the preference page shows: each channel and topic with the person's status. */
  async preferences(workspace: string, person: string): Promise<PreferenceItem[]> {
    const [contact, topics] = await Promise.all([this.contact(workspace, person), this.topics(workspace)]);
    return preferenceItems(contact, topics);
  }

  /** Applies the preference form; the changes made. */
  async updatePreferences(workspace: string, person: string, token: string, shown: string[], subscribed: string[]): Promise<SubscriptionChange[]> {
    const topics = await this.topics(workspace);
    return this.decideAndAppend(workspace, person, token, (contact) => decidePreferences(contact, shown, subscribed, topics));
  }

  private decideAndAppend(workspace: string, person: string, token: string, decide: (contact: ContactState) => SubscriptionChange[]) {
    return decideOnContact(this.store, personStream(workspace, person), decide, (changes, firstRevision) => {
      const now = this.clock.now().toISOString();
      return changes.map((change, index) => ({
        id: derivedEventId(token, 'subscriptions', `${change.type}|${change.data.channel}|${change.data.topic ?? ''}`, firstRevision + index),
        type: change.type,
        data: change.data,
        metadata: { workspace, occurredAt: now, receivedAt: now, schemaVersion: 1 },
      }));
    });
  }
}
