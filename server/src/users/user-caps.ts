import { CHANNELS, type Channel, capUsage, checkSend, heldMessage, initialCapState } from '@herald/projections';
import { BadRequestError } from '../http/http-errors';
import { instantParam } from '../http/instant.param';
import type { Clock } from '../shared/clock';
import type { PersonRecord } from '../segments/segment-state';
import type { MessagingSettingsService } from '../settings/messaging-settings.service';

/** Frequency-cap usage of a person under the workspace's current rules. */
export class UserCaps {
  constructor(
    private readonly settings: MessagingSettingsService,
    private readonly clock: Clock,
  ) {}

  now(): number {
    return this.clock.now().getTime();
  }

  settingsOf(workspace: string) {
    return this.settings.current(workspace);
  }

  async usage(workspace: string, record: PersonRecord) {
    const { settings } = await this.settings.current(workspace);
    const now = this.now();
    return capUsage(record.caps ?? initialCapState(), settings, now).map((usage) => ({
      channel: usage.rule.channel,
      per: usage.rule.per,
      used: usage.used,
      max: usage.max,
      resetsAt: usage.resetsAt === undefined ? undefined : new Date(usage.resetsAt).toISOString(),
    }));
  }
}

export interface SendCheckQuery {
  channel?: string;
  at?: unknown;
  transactional?: string;
}

/** Whether a message could be queued for a person now (or at `at`), and if not, why and when. */
export async function sendCheck(caps: UserCaps, workspace: string, record: PersonRecord, query: SendCheckQuery) {
  if (!query.channel || !(CHANNELS as readonly string[]).includes(query.channel)) {
    throw new BadRequestError(`channel must be one of ${CHANNELS.join(', ')}`, 'channel');
  }
  if (query.transactional !== undefined && query.transactional !== 'true' && query.transactional !== 'false') {
    throw new BadRequestError(`transactional must be true or false, got ${JSON.stringify(query.transactional)}`, 'transactional');
  }
  const now = query.at === undefined ? caps.now() : instantParam('at', query.at);
  const { settings } = await caps.settingsOf(workspace);
  const timezone = typeof record.profile.traits.timezone === 'string' ? record.profile.traits.timezone : undefined;
  const request = { channel: query.channel as Channel, now, timezone, transactional: query.transactional === 'true' };
  const state = record.caps ?? initialCapState();
  const verdict = checkSend(state, settings, request);
  if (verdict.allowed) return { allowed: true, at: new Date(now).toISOString() };
  // What the scenario engine would do with a message now: wait for quiet hours to end, or drop it.
  const outcome = heldMessage(state, settings, request, verdict).outcome === 'defer' ? 'deferred' : 'suppressed';
  return { ...verdict, outcome, at: new Date(now).toISOString(), nextAllowedAt: new Date(verdict.nextAllowedAt).toISOString() };
}
