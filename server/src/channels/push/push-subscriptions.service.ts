/** Loads the person's stream, decides (push-subscription.ts), appends with derived ids. */
import { personStream } from '@herald/projections';
import type { EventStore } from '../../event-store/event-store.port';
import type { Clock } from '../../shared/clock';
import { derivedEventId } from '../../shared/ids';
import type { PushSubscriptionRecord } from '../channel.port';
import { decideSubscribe, decideUnsubscribe, type PlannedContactEvent } from './push-subscription';

export class PushSubscriptions {
  constructor(
    private readonly store: EventStore,
    private readonly clock: Clock,
  ) {}

  /** Records the subscription; `recorded` is false when it was already current. */
  async subscribe(workspace: string, person: string, subscription: PushSubscriptionRecord): Promise<{ recorded: boolean }> {
    const stream = personStream(workspace, person);
    return this.record(workspace, stream, decideSubscribe(await this.store.readStream(stream), subscription));
  }

  /** Removes the subscription; `recorded` is false when it was not subscribed. */
  async unsubscribe(workspace: string, person: string, endpoint: string): Promise<{ recorded: boolean }> {
    const stream = personStream(workspace, person);
    return this.record(workspace, stream, decideUnsubscribe(await this.store.readStream(stream), endpoint));
  }

  private async record(workspace: string, stream: string, planned: PlannedContactEvent[]): Promise<{ recorded: boolean }> {
    if (planned.length === 0) return { recorded: false };
    const now = this.clock.now().toISOString();
    const result = await this.store.append(
      stream,
      planned.map((event) => ({
        id: derivedEventId(stream, 'push-subscriptions', event.key),
        type: event.type,
        data: event.data,
        metadata: { workspace, occurredAt: now, receivedAt: now, schemaVersion: 1 },
      })),
    );
    return { recorded: result.appended > 0 };
  }
}
