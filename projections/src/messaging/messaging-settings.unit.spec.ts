import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { messagingSettingsJsonSchema, NO_SETTINGS, parseMessagingSettings } from './messaging-settings';

/** The example, as a YAML parser returns it. */
const EXAMPLE = {
  caps: [
    { channel: 'any', max: 3, per: '7d' },
    { channel: 'sms', max: 1, per: '1d' },
  ],
  quietHours: { start: '21:00', end: '08:00' },
  timezone: 'Europe/Amsterdam',
};

const problemsOf = (input: unknown) => {
  const result = parseMessagingSettings(input);
  if (result.ok) throw new Error(`expected problems, got ${JSON.stringify(result.settings)}`);
  return result.problems;
};
const withCap = (cap: Record<string, unknown>) => ({ caps: [{ channel: 'email', max: 1, per: '1d' }, cap] });

describe('parseMessagingSettings', () => {
  it('accepts the example verbatim', () => {
    expect(parseMessagingSettings(EXAMPLE)).toEqual({ ok: true, settings: EXAMPLE });
  });

  it('reads an empty document as no caps and no quiet hours', () => {
    expect(parseMessagingSettings({})).toEqual({ ok: true, settings: NO_SETTINGS });
    expect(NO_SETTINGS).toEqual({ caps: [] });
  });

  it('accepts every channel, a non-wrapping window and UTC', () => {
    const input = {
      caps: ['email', 'sms', 'whatsapp', 'telegram', 'push', 'in_app', 'any'].map((channel) => ({ channel, max: 2, per: '12h' })),
      quietHours: { start: '13:00', end: '14:00' },
      timezone: 'UTC',
    };
    expect(parseMessagingSettings(input)).toEqual({ ok: true, settings: input });
  });

  it('names an unknown channel', () => {
    expect(problemsOf(withCap({ channel: 'fax', max: 1, per: '1d' }))).toEqual([
      { path: 'caps[1].channel', message: '"fax" is not a channel (one of email, sms, whatsapp, telegram, push, in_app, any)' },
    ]);
  });

  it.each([
    [0, '0'],
    [-1, '-1'],
    [1.5, '1.5'],
    [Infinity, 'Infinity'],
    ['3', '"3"'],
    [null, 'null'],
  ])('rejects max %j', (max, shown) => {
    expect(problemsOf(withCap({ channel: 'sms', max, per: '1d' }))).toEqual([
      { path: 'caps[1].max', message: `must be a positive integer, got ${shown}` },
    ]);
  });

  it('rejects a window that is not a duration, or is zero', () => {
    expect(problemsOf(withCap({ channel: 'sms', max: 1, per: '1x' }))).toEqual([
      { path: 'caps[1].per', message: '"1x" is not a duration: use a number and one of s, m, h, d, w, e.g. 7d' },
    ]);
    expect(problemsOf(withCap({ channel: 'sms', max: 1, per: '0d' }))).toEqual([
      { path: 'caps[1].per', message: '"0d" is not a duration: use a number and one of s, m, h, d, w, e.g. 7d' },
    ]);
  });

  it('reports missing fields as required', () => {
    expect(problemsOf({ caps: [{ channel: 'sms' }], quietHours: { start: '21:00' } })).toEqual([
      { path: 'caps[0].max', message: 'is required' },
      { path: 'caps[0].per', message: 'is required' },
      { path: 'quietHours.end', message: 'is required' },
    ]);
  });

  it.each(['24:00', '9:00', '21:60', '21:00:00', 'nine'])('rejects quietHours.start %j', (start) => {
    expect(problemsOf({ quietHours: { start, end: '08:00' } })).toEqual([
      { path: 'quietHours.start', message: `${JSON.stringify(start)} is not a time of day (HH:MM, 00:00-23:59)` },
    ]);
  });

  it('explains an unquoted YAML time that became a number', () => {
    expect(problemsOf({ quietHours: { start: 1260, end: '08:00' } })).toEqual([
      { path: 'quietHours.start', message: 'expected a quoted "HH:MM" string (YAML reads an unquoted 21:00 as a number), got 1260' },
    ]);
  });

  it('rejects empty quiet hours (start == end)', () => {
    expect(problemsOf({ quietHours: { start: '08:00', end: '08:00' } })).toEqual([
      { path: 'quietHours.end', message: 'must differ from start (both are "08:00"): quiet hours would be empty' },
    ]);
  });

  it('rejects an unknown time zone', () => {
    expect(problemsOf({ timezone: 'Europe/Amsterdan' })).toEqual([
      { path: 'timezone', message: '"Europe/Amsterdan" is not a known IANA time zone (e.g. Europe/Amsterdam)' },
    ]);
  });

  it('rejects unknown keys at every level, one problem per key', () => {
    expect(problemsOf({ ...EXAMPLE, caps: [{ channel: 'sms', max: 1, per: '1d', perUser: true }], quietHours: { start: '21:00', end: '08:00', days: [] }, quiet: 1 })).toEqual([
      { path: 'caps[0].perUser', message: 'unknown key (expected one of channel, max, per)' },
      { path: 'quietHours.days', message: 'unknown key (expected one of start, end)' },
      { path: 'quiet', message: 'unknown key (expected one of caps, quietHours, timezone)' },
    ]);
  });

  it('returns all problems at once', () => {
    const problems = problemsOf({
      caps: [
        { channel: 'pigeon', max: 0, per: '7d' },
        { channel: 'sms', max: 1, per: '1x' },
      ],
      quietHours: { start: '25:00', end: '08:00', extra: true },
      timezone: 'Nowhere/Town',
    });
    expect(problems.map((problem) => problem.path)).toEqual([
      'caps[0].channel',
      'caps[0].max',
      'caps[1].per',
      'quietHours.start',
      'quietHours.extra',
      'timezone',
    ]);
  });

  it('reports start == end together with other quietHours problems', () => {
    expect(problemsOf({ quietHours: { start: '08:00', end: '08:00', extra: 1 } }).map((problem) => problem.path)).toEqual([
      'quietHours.extra',
      'quietHours.end',
    ]);
  });

  it.each([
    [null, 'expected an object, got null'],
    [[], 'expected an object, got a list'],
    ['caps: []', 'expected an object, got "caps: []"'],
  ])('rejects a document that is not an object: %j', (input, message) => {
    expect(problemsOf(input)).toEqual([{ path: '', message }]);
  });

  it('rejects caps that are not a list', () => {
    expect(problemsOf({ caps: { channel: 'sms' } })).toEqual([{ path: 'caps', message: 'expected a list, got an object' }]);
  });

  it('does not keep references into the input', () => {
    const input = structuredClone(EXAMPLE);
    const result = parseMessagingSettings(input);
    input.caps[0]!.max = 99;
    input.quietHours.start = '00:00';
    expect(result).toEqual({ ok: true, settings: EXAMPLE });
  });
});

describe('messagingSettingsJsonSchema', () => {
  const file = join(__dirname, '../../../docs/messaging-settings.schema.json');

  it('is what docs/messaging-settings.schema.json publishes (UPDATE_SCHEMA=1 rewrites the file)', () => {
    const expected = `${JSON.stringify(messagingSettingsJsonSchema, null, 2)}\n`;
    if (process.env.UPDATE_SCHEMA === '1') writeFileSync(file, expected);
    expect(readFileSync(file, 'utf8')).toBe(expected);
  });

  it('describes a strict document with the channels and a duration pattern', () => {
    const schema = messagingSettingsJsonSchema as {
      additionalProperties: boolean;
      properties: { caps: { items: { properties: { channel: { enum: string[] }; per: { pattern: string } } } } };
    };
    expect(schema.additionalProperties).toBe(false);
    expect(schema.properties.caps.items.properties.channel.enum).toEqual(['email', 'sms', 'whatsapp', 'telegram', 'push', 'in_app', 'any']);
    expect(new RegExp(schema.properties.caps.items.properties.per.pattern).test('7d')).toBe(true);
  });
});
