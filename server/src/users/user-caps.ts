import { capUsage, initialCapState } from '@herald/projections';
import type { Clock } from '../shared/clock';
import type { PersonRecord } from '../segments/segment-state';
import type { MessagingSettingsService } from '../settings/messaging-settings.service';

/** Frequency-cap usage of a person under the workspace's current rules. */
export class UserCaps {
  constructor(
    private readonly settings: MessagingSettingsService,
    private readonly clock: Clock,
  ) {}

  async usage(workspace: string, record: PersonRecord) {
    const { settings } = await this.settings.current(workspace);
    const now = this.clock.now().getTime();
    return capUsage(record.caps ?? initialCapState(), settings, now).map((usage) => ({
      channel: usage.rule.channel,
      per: usage.rule.per,
      used: usage.used,
      max: usage.max,
      resetsAt: usage.resetsAt === undefined ? undefined : new Date(usage.resetsAt).toISOString(),
    }));
  }
}
