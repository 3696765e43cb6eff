/**
 * The sandbox channel: until real channels are configured, every queued message is "sent" by
 * recording `MessageSent` with provider `sandbox` on the person's stream. Nothing leaves Herald.
 */
import type { RecordedEvent } from '../event-store/event-store.port';
import type { HostedProjection, PlannedAppend } from '../projection-runner/projection-runner';
import { derivedEventId } from '../shared/ids';

export const SANDBOX_DISPATCH = 'sandbox-dispatch';

export const sandboxDispatchProjection: HostedProjection = {
  name: SANDBOX_DISPATCH,
  filter: { eventTypes: ['MessageQueued'] },
  setup() {},
  reset() {},
  async handle(event: RecordedEvent): Promise<PlannedAppend[]> {
    const queued = event.data as { messageId: string; channel: string; template: string };
    return [
      {
        stream: event.stream,
        events: [
          {
            id: derivedEventId(event.id, 'sandbox-dispatch'),
            type: 'MessageSent',
            data: { messageId: queued.messageId, channel: queued.channel, provider: 'sandbox', providerMessageId: `sandbox:${queued.messageId}` },
            metadata: {
              workspace: event.metadata.workspace,
              causationId: event.id,
              correlationId: event.metadata.correlationId ?? event.id,
              occurredAt: event.metadata.occurredAt,
              receivedAt: event.metadata.receivedAt,
              schemaVersion: 1,
            },
          },
        ],
      },
    ];
  },
};
