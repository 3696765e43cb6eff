/**
 * Workspace messaging rules (frequency caps, quiet hours, timezone), kept as
 * `MessagingSettingsUpdated` events on `settings-{workspace}`; the latest one is in force.
 */
import { type MessagingSettings, NO_SETTINGS, parseMessagingSettings, settingsStream } from '@herald/projections';
import type { EventStore, NewEvent } from '../event-store/event-store.port';
import { InvalidDefinitionError } from '../http/http-errors';
import type { Clock } from '../shared/clock';
import { uuidv7 } from '../shared/ids';

export const MESSAGING_SETTINGS_UPDATED = 'MessagingSettingsUpdated';

export interface MessagingSettingsUpdatedData {
  settings: MessagingSettings;
  version: number;
}

export class MessagingSettingsService {
  constructor(
    private readonly store: EventStore,
    private readonly clock: Clock,
  ) {}

  async current(workspace: string): Promise<{ settings: MessagingSettings; version: number; revision: number }> {
    // The stream holds only settings updates, so its last event is the one in force.
    const [last] = await this.store.readStream(settingsStream(workspace), { direction: 'backwards', maxCount: 1 });
    const revision = last?.revision ?? -1;
    if (!last || last.type !== MESSAGING_SETTINGS_UPDATED) return { settings: NO_SETTINGS, version: 0, revision };
    const data = last.data as MessagingSettingsUpdatedData;
    return { settings: data.settings, version: data.version, revision };
  }

  async update(workspace: string, input: unknown): Promise<{ settings: MessagingSettings; version: number }> {
    const parsed = parseMessagingSettings(input);
    if (!parsed.ok) throw new InvalidDefinitionError('messaging settings', parsed.problems);
    const current = await this.current(workspace);
    const version = current.version + 1;
    const now = this.clock.now().toISOString();
    const event: NewEvent = {
      id: uuidv7(),
      type: MESSAGING_SETTINGS_UPDATED,
      data: { settings: parsed.settings, version } satisfies MessagingSettingsUpdatedData,
      metadata: { workspace, occurredAt: now, receivedAt: now, schemaVersion: 1 },
    };
    await this.store.append(settingsStream(workspace), [event], {
      expectedRevision: current.revision < 0 ? 'no_stream' : current.revision,
    });
    return { settings: parsed.settings, version };
  }
}
