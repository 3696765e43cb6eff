/** For the dispatcher's tests: a `MessageQueued` appended to a person's stream, as the engine would. */
import type { Channel, MessageQueued } from '@herald/projections';
import type { EventStore, RecordedEvent } from '../event-store/event-store.port';
import { uuidv7 } from '../shared/ids';

/**
 * Appends a marketing message on `channel` to `stream` at `now` (with `fields` in place of the
 * defaults); the event as the log recorded it.
 */
export async function queueMessage(
  store: EventStore,
  stream: string,
  messageId: string,
  channel: Channel,
  now: Date,
  fields: Partial<MessageQueued> = {},
): Promise<RecordedEvent> {
  const data: MessageQueued = {
    messageId,
    enrollmentId: 'e',
    scenarioId: 's',
    stepId: 'st',
    channel,
    template: 't',
    transactional: false,
    variables: { user: {}, event: {}, trigger: {} },
    checks: { subscribed: true, caps: [], quietHours: 'none', timezone: 'UTC' },
    ...fields,
  };
  const at = now.toISOString();
  await store.append(stream, [{ id: uuidv7(), type: 'MessageQueued', data, metadata: { workspace: 'default', occurredAt: at, receivedAt: at, schemaVersion: 1 } }]);
  return (await store.readStream(stream)).at(-1)!;
}
