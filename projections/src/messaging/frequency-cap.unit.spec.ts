import type { DomainEvent } from '../events';
import {
  type CapState,
  capUsage,
  checkSend,
  evolveCapState,
  initialCapState,
  maxCapWindowMs,
  type QueuedMessage,
  resolveTimeZone,
  type SendVerdict,
} from './frequency-cap';
import { type Channel, type MessagingSettings, NO_SETTINGS } from './messaging-settings';

const at = Date.parse;
const iso = (ms: number) => new Date(ms).toISOString();
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/** The example. */
const SETTINGS: MessagingSettings = {
  caps: [
    { channel: 'any', max: 3, per: '7d' },
    { channel: 'sms', max: 1, per: '1d' },
  ],
  quietHours: { start: '21:00', end: '08:00' },
  timezone: 'Europe/Amsterdam',
};
const CAPS_ONLY: MessagingSettings = { caps: SETTINGS.caps };
const [ANY_RULE, SMS_RULE] = SETTINGS.caps as [MessagingSettings['caps'][number], MessagingSettings['caps'][number]];

let sequence = 0;
function queued(channel: string, time: number, transactional?: boolean): DomainEvent {
  sequence++;
  return {
    id: `event-${sequence}`,
    type: 'MessageQueued',
    data: { channel, ...(transactional !== undefined && { transactional }) },
    metadata: { workspace: 'w1', occurredAt: iso(time), receivedAt: iso(time), schemaVersion: 1 },
  };
}

function given(settings: MessagingSettings, ...events: DomainEvent[]): CapState {
  const window = maxCapWindowMs(settings);
  return events.reduce((state, event) => evolveCapState(state, event, window), initialCapState());
}

describe('evolveCapState', () => {
  it('records queued messages with their time, channel and exemption', () => {
    const state = given(CAPS_ONLY, queued('email', at('2026-06-01T10:00:00Z')), queued('sms', at('2026-06-01T11:00:00Z'), true));
    expect(state.sent).toEqual<QueuedMessage[]>([
      { channel: 'email', at: at('2026-06-01T10:00:00Z'), transactional: false },
      { channel: 'sms', at: at('2026-06-01T11:00:00Z'), transactional: true },
    ]);
  });

  it('ignores other event types, unknown channels and unreadable times', () => {
    const before = given(CAPS_ONLY, queued('email', at('2026-06-01T10:00:00Z')));
    const other: DomainEvent = { ...queued('email', at('2026-06-02T10:00:00Z')), type: 'MessageDelivered' };
    const fax = queued('fax', at('2026-06-02T10:00:00Z'));
    const badTime = { ...queued('email', 0), metadata: { ...fax.metadata, occurredAt: 'yesterday' } };
    for (const event of [other, fax, badTime]) expect(evolveCapState(before, event, 7 * DAY)).toBe(before);
  });

  it('does not mutate its input', () => {
    const before = given(CAPS_ONLY, queued('email', at('2026-06-01T10:00:00Z')));
    const snapshot = structuredClone(before);
    const after = evolveCapState(before, queued('push', at('2026-06-02T10:00:00Z')), 7 * DAY);
    expect(before).toEqual(snapshot);
    expect(after.sent).toHaveLength(2);
  });

  it('trims what has left the longest window, and keeps the state sorted', () => {
    const state = given(
      CAPS_ONLY,
      queued('email', at('2026-06-01T10:00:00Z')),
      queued('email', at('2026-06-03T10:00:00Z')),
      queued('sms', at('2026-06-02T10:00:00Z')), // late arrival
      queued('push', at('2026-06-08T10:00:00Z')), // exactly 7d after the first: it has left
    );
    expect(state.sent.map((message) => iso(message.at))).toEqual([
      '2026-06-02T10:00:00.000Z',
      '2026-06-03T10:00:00.000Z',
      '2026-06-08T10:00:00.000Z',
    ]);
    // An arrival older than the window is dropped at once.
    expect(evolveCapState(state, queued('sms', at('2026-05-20T10:00:00Z')), 7 * DAY)).toEqual(state);
  });

  it('keeps nothing without caps', () => {
    expect(given(NO_SETTINGS, queued('email', at('2026-06-01T10:00:00Z'))).sent).toEqual([]);
  });
});

describe('checkSend: caps', () => {
  it('allows anything without settings', () => {
    const state = given(CAPS_ONLY, ...[0, 1, 2, 3, 4].map((i) => queued('sms', at('2026-06-01T10:00:00Z') + i * MINUTE)));
    expect(checkSend(state, NO_SETTINGS, { channel: 'sms', now: at('2026-06-01T23:30:00Z') })).toEqual({ allowed: true });
  });

  it('blocks a second SMS within a day until the first leaves the window', () => {
    const state = given(CAPS_ONLY, queued('sms', at('2026-06-01T10:00:00Z')));
    expect(checkSend(state, CAPS_ONLY, { channel: 'sms', now: at('2026-06-01T18:00:00Z') })).toEqual<SendVerdict>({
      allowed: false,
      reason: 'frequency_cap',
      rule: SMS_RULE,
      used: 1,
      nextAllowedAt: at('2026-06-02T10:00:00Z'),
    });
    expect(checkSend(state, CAPS_ONLY, { channel: 'sms', now: at('2026-06-02T09:59:59.999Z') }).allowed).toBe(false);
    expect(checkSend(state, CAPS_ONLY, { channel: 'sms', now: at('2026-06-02T10:00:00Z') })).toEqual({ allowed: true });
    // Email is not capped by the SMS rule.
    expect(checkSend(state, CAPS_ONLY, { channel: 'email', now: at('2026-06-01T18:00:00Z') })).toEqual({ allowed: true });
  });

  it('blocks a fourth message on any channel within 7 days, sliding', () => {
    const state = given(
      CAPS_ONLY,
      queued('email', at('2026-06-01T10:00:00Z')),
      queued('push', at('2026-06-03T10:00:00Z')),
      queued('sms', at('2026-06-05T10:00:00Z')),
    );
    expect(checkSend(state, CAPS_ONLY, { channel: 'in_app', now: at('2026-06-06T10:00:00Z') })).toEqual<SendVerdict>({
      allowed: false,
      reason: 'frequency_cap',
      rule: ANY_RULE,
      used: 3,
      nextAllowedAt: at('2026-06-08T10:00:00Z'),
    });
    expect(checkSend(state, CAPS_ONLY, { channel: 'in_app', now: at('2026-06-08T10:00:00Z') })).toEqual({ allowed: true });
  });

  it('names the rule that holds out longest when several block', () => {
    const settings: MessagingSettings = { caps: [{ channel: 'sms', max: 1, per: '1d' }, { channel: 'sms', max: 2, per: '2d' }] };
    const state = given(settings, queued('sms', at('2026-06-01T10:00:00Z')), queued('sms', at('2026-06-02T12:00:00Z')));
    expect(checkSend(state, settings, { channel: 'sms', now: at('2026-06-02T13:00:00Z') })).toEqual<SendVerdict>({
      allowed: false,
      reason: 'frequency_cap',
      rule: { channel: 'sms', max: 1, per: '1d' },
      used: 1,
      nextAllowedAt: at('2026-06-03T12:00:00Z'),
    });
  });

  it('waits for enough messages to leave when more than max are counted (settings tightened)', () => {
    const state = given(CAPS_ONLY, ...[1, 2, 3, 4].map((day) => queued('email', at('2026-06-01T10:00:00Z') + day * DAY)));
    const tighter: MessagingSettings = { caps: [{ channel: 'any', max: 2, per: '7d' }] };
    const verdict = checkSend(state, tighter, { channel: 'email', now: at('2026-06-06T10:00:00Z') });
    // Four counted, max 2: three must leave, so the third oldest (4 June) decides.
    expect(verdict).toMatchObject({ reason: 'frequency_cap', used: 4, nextAllowedAt: at('2026-06-11T10:00:00Z') });
  });

  it('counts messages queued after the moment decided on (a timer that fired late): the cap holds in every window', () => {
    // A reminder due at 10:00 fires at 10:30, after a restart; an email was queued at 10:20.
    const daily: MessagingSettings = { caps: [{ channel: 'any', max: 1, per: '1d' }] };
    const state = given(daily, queued('email', at('2026-06-01T10:20:00Z')));
    expect(checkSend(state, daily, { channel: 'email', now: at('2026-06-01T10:00:00Z') })).toEqual<SendVerdict>({
      allowed: false,
      reason: 'frequency_cap',
      rule: { channel: 'any', max: 1, per: '1d' },
      used: 1,
      nextAllowedAt: at('2026-06-02T10:20:00Z'),
    });
    // A message more than a window later shares no window with the moment decided on.
    expect(checkSend(state, daily, { channel: 'email', now: at('2026-05-31T10:20:00Z') })).toEqual({ allowed: true });
    // With room for two, the later one and the earlier one fill a window together only when close enough.
    const twice: MessagingSettings = { caps: [{ channel: 'any', max: 2, per: '1d' }] };
    const two = given(twice, queued('email', at('2026-05-31T12:00:00Z')), queued('email', at('2026-06-01T10:20:00Z')));
    expect(checkSend(two, twice, { channel: 'email', now: at('2026-06-01T10:00:00Z') })).toMatchObject({ allowed: false, used: 2, nextAllowedAt: at('2026-06-01T12:00:00Z') });
    expect(checkSend(two, twice, { channel: 'email', now: at('2026-06-01T12:00:00Z') })).toEqual({ allowed: true });
  });

  it('does not count transactional messages, and does not cap them', () => {
    const state = given(CAPS_ONLY, ...[0, 1, 2, 3].map((i) => queued('sms', at('2026-06-01T10:00:00Z') + i * HOUR, true)));
    expect(checkSend(state, CAPS_ONLY, { channel: 'sms', now: at('2026-06-01T14:00:00Z') })).toEqual({ allowed: true });
    const full = given(CAPS_ONLY, queued('sms', at('2026-06-01T10:00:00Z')));
    expect(checkSend(full, CAPS_ONLY, { channel: 'sms', now: at('2026-06-01T14:00:00Z'), transactional: true })).toEqual({ allowed: true });
  });
});

describe('checkSend: quiet hours and time zones', () => {
  const empty = initialCapState();

  it("uses the workspace time zone when the user has none, and reports it", () => {
    // 22:00 in Amsterdam (CEST).
    expect(checkSend(empty, SETTINGS, { channel: 'email', now: at('2026-06-10T20:00:00Z') })).toEqual<SendVerdict>({
      allowed: false,
      reason: 'quiet_hours',
      nextAllowedAt: at('2026-06-11T06:00:00Z'),
      timezone: 'Europe/Amsterdam',
    });
  });

  it("uses the user's timezone trait: 16:00 in New York is not quiet, 23:00 is", () => {
    const nyUser = { channel: 'email' as const, timezone: 'America/New_York' };
    expect(checkSend(empty, SETTINGS, { ...nyUser, now: at('2026-06-10T20:00:00Z') })).toEqual({ allowed: true });
    expect(checkSend(empty, SETTINGS, { ...nyUser, now: at('2026-06-11T03:00:00Z') })).toEqual<SendVerdict>({
      allowed: false,
      reason: 'quiet_hours',
      nextAllowedAt: at('2026-06-11T12:00:00Z'),
      timezone: 'America/New_York',
    });
    // 10:00 in Amsterdam is 04:00 in New York.
    expect(checkSend(empty, SETTINGS, { ...nyUser, now: at('2026-06-11T08:00:00Z') })).toMatchObject({ reason: 'quiet_hours' });
    expect(checkSend(empty, SETTINGS, { channel: 'email', now: at('2026-06-11T08:00:00Z') })).toEqual({ allowed: true });
  });

  it('ignores an invalid trait, and falls back to UTC without a workspace zone', () => {
    expect(resolveTimeZone(SETTINGS, 'Mars/Olympus')).toBe('Europe/Amsterdam');
    expect(resolveTimeZone(SETTINGS, '')).toBe('Europe/Amsterdam');
    expect(resolveTimeZone({ caps: [] }, undefined)).toBe('UTC');
    const utc: MessagingSettings = { caps: [], quietHours: SETTINGS.quietHours };
    expect(checkSend(empty, utc, { channel: 'push', now: at('2026-06-10T21:30:00Z'), timezone: 'Mars/Olympus' })).toEqual<SendVerdict>({
      allowed: false,
      reason: 'quiet_hours',
      nextAllowedAt: at('2026-06-11T08:00:00Z'),
      timezone: 'UTC',
    });
  });

  it('holds quiet hours across the 2026 DST nights in Amsterdam', () => {
    expect(checkSend(empty, SETTINGS, { channel: 'email', now: at('2026-03-28T22:00:00Z') })).toMatchObject({
      nextAllowedAt: at('2026-03-29T06:00:00Z'), // 08:00 CEST
    });
    expect(checkSend(empty, SETTINGS, { channel: 'email', now: at('2026-10-24T22:00:00Z') })).toMatchObject({
      nextAllowedAt: at('2026-10-25T07:00:00Z'), // 08:00 CET
    });
  });

  it('lets transactional messages through quiet hours only when exempted', () => {
    const now = at('2026-06-10T20:00:00Z');
    expect(checkSend(empty, SETTINGS, { channel: 'sms', now, transactional: true })).toMatchObject({ reason: 'quiet_hours' });
    expect(checkSend(empty, SETTINGS, { channel: 'sms', now, transactional: true, exemptQuietHours: true })).toEqual({ allowed: true });
  });
});

describe('checkSend: caps and quiet hours together', () => {
  // June: Amsterdam is UTC+2, quiet 19:00Z-06:00Z.
  it('reports the cap when it outlasts quiet hours', () => {
    const state = given(SETTINGS, queued('sms', at('2026-06-10T08:00:00Z'))); // 10:00 local
    expect(checkSend(state, SETTINGS, { channel: 'sms', now: at('2026-06-10T21:00:00Z') })).toEqual<SendVerdict>({
      allowed: false,
      reason: 'frequency_cap',
      rule: SMS_RULE,
      used: 1,
      nextAllowedAt: at('2026-06-11T08:00:00Z'),
    });
  });

  it('reports quiet hours when the cap lifts during them', () => {
    const state = given(SETTINGS, queued('sms', at('2026-06-10T02:00:00Z'))); // 04:00 local, before quiet hours ended
    expect(checkSend(state, SETTINGS, { channel: 'sms', now: at('2026-06-10T21:00:00Z') })).toEqual<SendVerdict>({
      allowed: false,
      reason: 'quiet_hours',
      nextAllowedAt: at('2026-06-11T06:00:00Z'),
      timezone: 'Europe/Amsterdam',
    });
  });

  it('waits for the next morning when the cap lifts in the evening', () => {
    const state = given(
      SETTINGS,
      queued('email', at('2026-06-01T20:30:00Z')), // 22:30 local (transactional would not count; this one does)
      queued('email', at('2026-06-03T10:00:00Z')),
      queued('email', at('2026-06-05T10:00:00Z')),
    );
    // Not quiet now (14:00 local), but the cap lifts at 22:30 local on 8 June, inside quiet hours.
    expect(checkSend(state, SETTINGS, { channel: 'email', now: at('2026-06-06T12:00:00Z') })).toEqual<SendVerdict>({
      allowed: false,
      reason: 'quiet_hours',
      nextAllowedAt: at('2026-06-09T06:00:00Z'),
      timezone: 'Europe/Amsterdam',
    });
  });

  it('iterates when quiet hours end but a cap still blocks', () => {
    const state = given(
      SETTINGS,
      queued('email', at('2026-06-01T07:00:00Z')), // 09:00 local
      queued('email', at('2026-06-02T10:00:00Z')),
      queued('email', at('2026-06-03T10:00:00Z')),
    );
    expect(checkSend(state, SETTINGS, { channel: 'push', now: at('2026-06-07T22:00:00Z') })).toEqual<SendVerdict>({
      allowed: false,
      reason: 'frequency_cap',
      rule: ANY_RULE,
      used: 3,
      nextAllowedAt: at('2026-06-08T07:00:00Z'),
    });
  });

  it('exempts transactional messages from caps but not from quiet hours', () => {
    const state = given(SETTINGS, queued('sms', at('2026-06-10T08:00:00Z')));
    const request = { channel: 'sms' as const, transactional: true };
    expect(checkSend(state, SETTINGS, { ...request, now: at('2026-06-10T12:00:00Z') })).toEqual({ allowed: true });
    expect(checkSend(state, SETTINGS, { ...request, now: at('2026-06-10T21:00:00Z') })).toMatchObject({
      reason: 'quiet_hours',
      nextAllowedAt: at('2026-06-11T06:00:00Z'),
    });
  });
});

describe('capUsage', () => {
  it('gives used/max per rule and when the oldest counted message leaves', () => {
    const state = given(
      SETTINGS,
      queued('sms', at('2026-06-01T10:00:00Z')),
      queued('email', at('2026-06-02T10:00:00Z')),
      queued('sms', at('2026-06-02T11:00:00Z'), true),
    );
    expect(capUsage(state, SETTINGS, at('2026-06-02T12:00:00Z'))).toEqual([
      { rule: ANY_RULE, used: 2, max: 3, resetsAt: at('2026-06-08T10:00:00Z') },
      { rule: SMS_RULE, used: 0, max: 1 },
    ]);
    expect(capUsage(state, NO_SETTINGS, at('2026-06-02T12:00:00Z'))).toEqual([]);
  });
});

describe('maxCapWindowMs', () => {
  it('is the longest window, or 0 without caps', () => {
    expect(maxCapWindowMs(SETTINGS)).toBe(7 * DAY);
    expect(maxCapWindowMs({ caps: [{ channel: 'push', max: 5, per: '2w' }, { channel: 'any', max: 1, per: '30s' }] })).toBe(14 * DAY);
    expect(maxCapWindowMs(NO_SETTINGS)).toBe(0);
  });
});

/**
 * Thirty simulated days: a scenario that wants to send whenever it may, re-trying at exactly the
 * `nextAllowedAt` it is given, with every decision made from the folded events.
 */
describe('thirty simulated days', () => {
  function simulate(settings: MessagingSettings, start: number, wants: (attempt: number) => Channel, timezone?: string) {
    const window = maxCapWindowMs(settings);
    let state = initialCapState();
    const sent: Array<{ channel: Channel; at: number }> = [];
    const end = start + 30 * DAY;
    let now = start;
    for (let attempt = 0; now < end; attempt++) {
      const channel = wants(attempt);
      const verdict = checkSend(state, settings, { channel, now, timezone });
      if (verdict.allowed) {
        state = evolveCapState(state, queued(channel, now), window);
        sent.push({ channel, at: now });
        now += HOUR;
        continue;
      }
      // nextAllowedAt is exact: allowed then, and not a millisecond earlier.
      expect(verdict.nextAllowedAt).toBeGreaterThan(now);
      expect(checkSend(state, settings, { channel, now: verdict.nextAllowedAt, timezone })).toEqual({ allowed: true });
      expect(checkSend(state, settings, { channel, now: verdict.nextAllowedAt - 1, timezone }).allowed).toBe(false);
      now = verdict.nextAllowedAt;
    }
    return sent;
  }

  function expectWithinCaps(sent: Array<{ channel: Channel; at: number }>) {
    for (const message of sent) {
      expect(sent.filter((other) => other.at > message.at - 7 * DAY && other.at <= message.at).length).toBeLessThanOrEqual(3);
      const sms = sent.filter((other) => other.channel === 'sms' && other.at > message.at - DAY && other.at <= message.at);
      expect(sms.length).toBeLessThanOrEqual(1);
    }
  }

  it('sends SMS on days 0, 1, 2 of every week: 1 per day, 3 per 7 days', () => {
    const start = at('2026-06-01T10:00:00Z');
    const sent = simulate(CAPS_ONLY, start, () => 'sms');
    expectWithinCaps(sent);
    expect(sent.map((message) => (message.at - start) / DAY)).toEqual([0, 1, 2, 7, 8, 9, 14, 15, 16, 21, 22, 23, 28, 29]);
  });

  it('sends email three times in a row, then waits out the week', () => {
    const start = at('2026-06-01T10:00:00Z');
    const sent = simulate(CAPS_ONLY, start, () => 'email');
    expectWithinCaps(sent);
    expect(sent.map((message) => (message.at - start) / HOUR)).toEqual([
      0, 1, 2, 168, 169, 170, 336, 337, 338, 504, 505, 506, 672, 673, 674,
    ]);
  });

  it('mixes channels across the spring DST change, never in Amsterdam quiet hours', () => {
    const channels: Channel[] = ['sms', 'email', 'sms', 'push', 'whatsapp', 'sms', 'in_app', 'telegram'];
    const start = at('2026-03-14T19:30:00Z');
    const sent = simulate(SETTINGS, start, (attempt) => channels[attempt % channels.length]!);
    expectWithinCaps(sent);
    for (const message of sent) {
      const local = new Date(message.at).toLocaleTimeString('en-GB', { timeZone: 'Europe/Amsterdam', hourCycle: 'h23' });
      expect(local >= '08:00:00' && local < '21:00:00').toBe(true);
    }
    expect(sent.map((message) => `${iso(message.at)} ${message.channel}`)).toEqual([
      '2026-03-14T19:30:00.000Z sms', // 20:30 CET
      '2026-03-15T19:30:00.000Z push', // the 08:00 retry was an SMS, capped until 20:30
      '2026-03-16T07:00:00.000Z sms', // 08:00 CET after a quiet night
      '2026-03-21T19:30:00.000Z telegram', // 7 days after the first
      '2026-03-22T19:30:00.000Z email',
      '2026-03-23T07:00:00.000Z push',
      '2026-03-28T19:30:00.000Z sms',
      // The cap lifts at 21:30 CEST on 29 March, inside quiet hours: 08:00 CEST the day after.
      '2026-03-30T06:00:00.000Z telegram',
      '2026-03-30T07:00:00.000Z sms',
      '2026-04-05T06:00:00.000Z sms',
      '2026-04-06T06:00:00.000Z whatsapp',
      '2026-04-06T07:00:00.000Z sms',
      '2026-04-12T06:00:00.000Z telegram',
      '2026-04-13T06:00:00.000Z email',
      '2026-04-13T07:00:00.000Z sms',
    ]);
  });

  it('follows a New York user through the US spring change', () => {
    const start = at('2026-03-01T12:00:00Z');
    const sent = simulate(SETTINGS, start, () => 'email', 'America/New_York');
    expectWithinCaps(sent);
    for (const message of sent) {
      const local = new Date(message.at).toLocaleTimeString('en-GB', { timeZone: 'America/New_York', hourCycle: 'h23' });
      expect(local >= '08:00:00' && local < '21:00:00').toBe(true);
    }
  });
});
