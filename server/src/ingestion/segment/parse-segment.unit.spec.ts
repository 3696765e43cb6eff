import { definedOnly, fastTrackFields, parseDate, parseSegmentCall, parseWithSchema, type ParseSegmentContext } from './parse-segment';
import type { ParseResult, SegmentCallType, SegmentMessage } from './segment-message';

const RECEIVED_AT = '2024-05-01T12:00:00.000Z';

function context(overrides: Partial<ParseSegmentContext> = {}): ParseSegmentContext & { newMessageId: jest.Mock<string, []> } {
  let issued = 0;
  return {
    receivedAt: new Date(RECEIVED_AT),
    newMessageId: jest.fn(() => `generated-${++issued}`),
    ...overrides,
  } as ParseSegmentContext & { newMessageId: jest.Mock<string, []> };
}

function accepted(result: ParseResult): SegmentMessage[] {
  if (!result.ok) throw new Error(`expected the call to be accepted, got: ${result.message}`);
  return result.messages;
}

function rejected(result: ParseResult): Extract<ParseResult, { ok: false }> {
  if (result.ok) throw new Error('expected the call to be rejected');
  return result;
}

function only(result: ParseResult): SegmentMessage {
  const messages = accepted(result);
  expect(messages).toHaveLength(1);
  return messages[0]!;
}

const track = (fields: Record<string, unknown> = {}) => ({ userId: 'u1', event: 'Signed Up', ...fields });

/** A JSON body whose UTF-8 serialisation is exactly `bytes` long. */
function bodyOfSize(bytes: number, fields: Record<string, unknown> = {}): Record<string, unknown> {
  const empty = track({ ...fields, properties: { pad: '' } });
  const padding = bytes - Buffer.byteLength(JSON.stringify(empty));
  return track({ ...fields, properties: { pad: 'x'.repeat(padding) } });
}

describe('parseSegmentCall: single calls', () => {
  it('normalises a minimal track call', () => {
    const ctx = context();
    const result = parseSegmentCall('track', { userId: 'u1', event: 'Signed Up' }, ctx);

    expect(result).toStrictEqual({
      ok: true,
      messages: [
        {
          type: 'track',
          messageId: 'generated-1',
          userId: 'u1',
          event: 'Signed Up',
          context: {},
          integrations: {},
          timestamp: RECEIVED_AT,
          receivedAt: RECEIVED_AT,
        },
      ],
    });
  });

  it.each<[SegmentCallType, Record<string, unknown>, Partial<SegmentMessage>]>([
    [
      'track',
      { userId: 'u1', event: 'Order Completed', properties: { revenue: 14.99 } },
      { userId: 'u1', event: 'Order Completed', properties: { revenue: 14.99 } },
    ],
    [
      'identify',
      { userId: 'u1', traits: { email: 'peter@example.com', plan: 'pro' } },
      { userId: 'u1', traits: { email: 'peter@example.com', plan: 'pro' } },
    ],
    [
      'page',
      { anonymousId: 'a1', name: 'Pricing', category: 'Docs', properties: { path: '/pricing' } },
      { anonymousId: 'a1', name: 'Pricing', category: 'Docs', properties: { path: '/pricing' } },
    ],
    ['page', { anonymousId: 'a1' }, { anonymousId: 'a1' }],
    ['screen', { userId: 'u1', name: 'Home', properties: { tab: 2 } }, { userId: 'u1', name: 'Home', properties: { tab: 2 } }],
    [
      'group',
      { userId: 'u1', groupId: 'g1', traits: { name: 'Initech', employees: 420 } },
      { userId: 'u1', groupId: 'g1', traits: { name: 'Initech', employees: 420 } },
    ],
    ['alias', { previousId: 'anon-39239', userId: 'u1' }, { previousId: 'anon-39239', userId: 'u1' }],
  ])('accepts a %s call', (kind, body, expected) => {
    const message = only(parseSegmentCall(kind, body, context()));

    expect(message).toStrictEqual({
      type: kind,
      messageId: 'generated-1',
      ...expected,
      context: {},
      integrations: {},
      timestamp: RECEIVED_AT,
      receivedAt: RECEIVED_AT,
    });
  });

  it("keeps the client's messageId and does not make one up", () => {
    const ctx = context();
    const message = only(parseSegmentCall('track', track({ messageId: 'client-42' }), ctx));

    expect(message.messageId).toBe('client-42');
    expect(ctx.newMessageId).not.toHaveBeenCalled();
  });

  it('turns numeric ids into strings', () => {
    expect(only(parseSegmentCall('track', { userId: 42, anonymousId: 7.5, event: 'x' }, context()))).toMatchObject({
      userId: '42',
      anonymousId: '7.5',
    });
    expect(only(parseSegmentCall('group', { userId: 1, groupId: 0 }, context())).groupId).toBe('0');
    expect(only(parseSegmentCall('alias', { previousId: 99, userId: 100 }, context()))).toMatchObject({
      previousId: '99',
      userId: '100',
    });
  });

  it('accepts an anonymousId alone, and a null userId beside it as analytics.js sends', () => {
    expect(only(parseSegmentCall('page', { anonymousId: 'a1' }, context())).userId).toBeUndefined();
    const message = only(parseSegmentCall('track', { userId: null, anonymousId: 'a1', event: 'x' }, context()));
    expect(message).toMatchObject({ anonymousId: 'a1' });
    expect(message).not.toHaveProperty('userId');
  });

  it.each(['track', 'identify', 'page', 'screen', 'group'] as const)('requires userId or anonymousId on %s', (kind) => {
    const body = { event: 'x', groupId: 'g1', userId: null };
    const failure = rejected(parseSegmentCall(kind, body, context()));

    expect(failure).toMatchObject({ status: 400, code: 'invalid_payload', message: 'userId or anonymousId is required' });
    expect(failure.problems).toEqual([{ path: 'userId', message: 'userId or anonymousId is required' }]);
    expect(failure).not.toHaveProperty('index');
  });

  it('requires previousId and userId on alias, where an anonymousId does not do', () => {
    const failure = rejected(parseSegmentCall('alias', { anonymousId: 'a1' }, context()));

    expect(failure.problems).toEqual([
      { path: 'userId', message: 'userId is required' },
      { path: 'previousId', message: 'previousId is required' },
    ]);
  });

  it('requires groupId on group', () => {
    const failure = rejected(parseSegmentCall('group', { userId: 'u1', traits: {} }, context()));
    expect(failure.problems).toEqual([{ path: 'groupId', message: 'groupId is required' }]);
  });

  it.each([
    [{ userId: 'u1' }, 'event is required'],
    [{ userId: 'u1', event: null }, 'event is required'],
    [{ userId: 'u1', event: '' }, 'event must not be empty'],
    [{ userId: 'u1', event: 42 }, 'event must be a string'],
  ])('requires a non-empty event on track: %j', (body, message) => {
    expect(rejected(parseSegmentCall('track', body, context())).problems).toEqual([{ path: 'event', message }]);
  });

  it.each([
    ['track', 'properties'],
    ['page', 'properties'],
    ['screen', 'properties'],
    ['identify', 'traits'],
    ['group', 'traits'],
    ['track', 'context'],
    ['identify', 'integrations'],
  ] as const)('requires %s.%s to be an object, not an array or a string; null is left out', (kind, field) => {
    for (const value of [[1, 2], 'text', 3]) {
      const body = { userId: 'u1', event: 'x', groupId: 'g1', [field]: value };
      expect(rejected(parseSegmentCall(kind, body, context())).problems).toEqual([
        { path: field, message: `${field} must be an object` },
      ]);
    }
    // analytics-ruby sends `"integrations": null` (and null for any option not given) on every call.
    const message = only(parseSegmentCall(kind, { userId: 'u1', event: 'x', groupId: 'g1', [field]: null }, context()));
    expect(message[field]).toEqual(field === 'context' || field === 'integrations' ? {} : undefined);
  });

  it('requires page and screen names and the page category to be strings', () => {
    expect(rejected(parseSegmentCall('page', { userId: 'u1', name: 1, category: {} }, context())).problems).toEqual([
      { path: 'name', message: 'name must be a string' },
      { path: 'category', message: 'category must be a string' },
    ]);
    expect(rejected(parseSegmentCall('screen', { userId: 'u1', name: false }, context())).problems).toEqual([
      { path: 'name', message: 'name must be a string' },
    ]);
  });

  it('requires messageId to be a non-empty string of at most 200 characters', () => {
    const problems = (messageId: unknown) => rejected(parseSegmentCall('track', track({ messageId }), context())).problems;

    expect(problems('')).toEqual([{ path: 'messageId', message: 'messageId must not be empty' }]);
    expect(problems(12)).toEqual([{ path: 'messageId', message: 'messageId must be a string' }]);
    expect(problems('m'.repeat(201))).toEqual([{ path: 'messageId', message: 'messageId must be at most 200 characters' }]);
    expect(only(parseSegmentCall('track', track({ messageId: 'm'.repeat(200) }), context())).messageId).toHaveLength(200);
  });

  it('limits ids to 1000 characters and refuses empty ones and other kinds', () => {
    const problems = (fields: Record<string, unknown>) => rejected(parseSegmentCall('track', track(fields), context())).problems;

    expect(problems({ userId: 'u'.repeat(1001) })).toEqual([{ path: 'userId', message: 'userId must be at most 1000 characters' }]);
    expect(problems({ anonymousId: 'a'.repeat(1001) })).toEqual([
      { path: 'anonymousId', message: 'anonymousId must be at most 1000 characters' },
    ]);
    // An empty id is no id, as for Segment: beside an anonymous id it is left out, alone it is missing.
    expect(only(parseSegmentCall('track', track({ userId: '', anonymousId: 'a1' }), context()))).toMatchObject({ anonymousId: 'a1' });
    expect(only(parseSegmentCall('track', track({ userId: '', anonymousId: 'a1' }), context())).userId).toBeUndefined();
    expect(problems({ userId: '' })).toEqual([{ path: 'userId', message: 'userId or anonymousId is required' }]);
    expect(problems({ userId: true })).toEqual([{ path: 'userId', message: 'userId must be a string or a number' }]);
    expect(problems({ userId: { id: 1 } })).toEqual([{ path: 'userId', message: 'userId must be a string or a number' }]);
    expect(only(parseSegmentCall('track', track({ userId: 'u'.repeat(1000) }), context())).userId).toHaveLength(1000);
  });

  it('accepts a type that names the endpoint and refuses one that does not', () => {
    expect(only(parseSegmentCall('identify', { type: 'identify', userId: 'u1' }, context())).type).toBe('identify');
    expect(only(parseSegmentCall('identify', { type: null, userId: 'u1' }, context())).type).toBe('identify');

    const failure = rejected(parseSegmentCall('identify', { type: 'track', userId: 'u1' }, context()));
    expect(failure.problems).toEqual([{ path: 'type', message: 'type must be "identify" on this endpoint' }]);
  });

  it('ignores unknown fields and fields of other call types', () => {
    const body = {
      userId: 'u1',
      traits: { plan: 'pro' },
      event: 'not an identify field',
      properties: 'not checked on identify',
      _metadata: { bundled: ['Segment.io'] },
      library: { name: 'analytics-node' },
      version: 2,
    };
    expect(only(parseSegmentCall('identify', body, context()))).toStrictEqual({
      type: 'identify',
      messageId: 'generated-1',
      userId: 'u1',
      traits: { plan: 'pro' },
      context: {},
      integrations: {},
      timestamp: RECEIVED_AT,
      receivedAt: RECEIVED_AT,
    });
  });

  it('keeps context and integrations as sent', () => {
    const message = only(
      parseSegmentCall(
        'track',
        track({ context: { ip: '24.5.68.47', library: { name: 'curl' } }, integrations: { All: false, Mixpanel: true } }),
        context(),
      ),
    );
    expect(message.context).toEqual({ ip: '24.5.68.47', library: { name: 'curl' } });
    expect(message.integrations).toEqual({ All: false, Mixpanel: true });
  });

  it('does not lose a JSON "__proto__" key in properties', () => {
    const properties = JSON.parse('{"__proto__": {"polluted": true}, "plan": "pro"}') as Record<string, unknown>;
    const message = only(parseSegmentCall('track', track({ properties }), context()));

    expect(Object.keys(message.properties!)).toEqual(['__proto__', 'plan']);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('returns the writeKey beside the message and never inside it', () => {
    const result = parseSegmentCall('track', track({ writeKey: 'wk_123' }), context());

    expect(result).toMatchObject({ ok: true, writeKey: 'wk_123' });
    expect(only(result)).not.toHaveProperty('writeKey');
    expect(parseSegmentCall('track', track(), context())).not.toHaveProperty('writeKey');
  });

  it('refuses a writeKey that is not a string', () => {
    expect(rejected(parseSegmentCall('track', track({ writeKey: 123 }), context())).problems).toEqual([
      { path: 'writeKey', message: 'writeKey must be a string' },
    ]);
  });

  it.each([null, undefined, [], [track()], 'track', 42, true])('refuses a body that is not a JSON object: %j', (body) => {
    const failure = rejected(parseSegmentCall('track', body, context()));

    expect(failure).toMatchObject({ status: 400, code: 'invalid_payload' });
    expect(failure.problems).toEqual([{ path: '', message: 'the body must be a JSON object' }]);
  });

  it('reports every problem of a call at once, and lists them in the message', () => {
    const failure = rejected(
      parseSegmentCall('track', { type: 'page', properties: [], timestamp: 'soon', context: 'web' }, context()),
    );

    expect(failure.problems.map((problem) => problem.path)).toEqual(['type', 'context', 'timestamp', 'event', 'properties', 'userId']);
    expect(failure.message).toBe(
      'type must be "track" on this endpoint; context must be an object; timestamp must be an ISO 8601 date string; ' +
        'event is required; properties must be an object; and 1 more',
    );
  });

  it('does not spend message ids on a rejected call', () => {
    const ctx = context();
    rejected(parseSegmentCall('track', { userId: 'u1' }, ctx));
    expect(ctx.newMessageId).not.toHaveBeenCalled();
  });
});

describe('parseSegmentCall: timestamps', () => {
  const at = (fields: Record<string, unknown>, kind: SegmentCallType = 'track') =>
    only(parseSegmentCall(kind, track(fields), context()));

  it('uses receivedAt when the client sent no time', () => {
    const message = at({});
    expect(message.timestamp).toBe(RECEIVED_AT);
    expect(message.receivedAt).toBe(RECEIVED_AT);
    expect(message).not.toHaveProperty('originalTimestamp');
    expect(message).not.toHaveProperty('sentAt');
  });

  it("takes the client's timestamp as is when there is no sentAt to measure skew by (historical import)", () => {
    const message = at({ timestamp: '2012-12-02T00:30:08.276Z' });
    expect(message.timestamp).toBe('2012-12-02T00:30:08.276Z');
    expect(message.originalTimestamp).toBe('2012-12-02T00:30:08.276Z');
  });

  it('corrects the device clock: timestamp = receivedAt - (sentAt - originalTimestamp)', () => {
    // The device clock runs an hour fast; the event happened 5 minutes before the request was sent.
    const message = at({ timestamp: '2024-05-01T12:55:00.000Z', sentAt: '2024-05-01T13:00:00.000Z' });

    expect(message.timestamp).toBe('2024-05-01T11:55:00.000Z');
    expect(message.originalTimestamp).toBe('2024-05-01T12:55:00.000Z');
    expect(message.sentAt).toBe('2024-05-01T13:00:00.000Z');
    expect(message.receivedAt).toBe(RECEIVED_AT);
  });

  it('corrects a slow device clock the same way', () => {
    const message = at({ timestamp: '2024-04-30T23:59:59.000+00:00', sentAt: '2024-05-01T00:00:00.000Z' });
    expect(message.timestamp).toBe('2024-05-01T11:59:59.000Z');
  });

  it('reads originalTimestamp when there is no timestamp, and prefers timestamp when both are sent', () => {
    expect(at({ originalTimestamp: '2024-05-01T10:00:00Z' })).toMatchObject({
      timestamp: '2024-05-01T10:00:00.000Z',
      originalTimestamp: '2024-05-01T10:00:00.000Z',
    });
    expect(at({ timestamp: '2024-05-01T09:00:00Z', originalTimestamp: '2024-05-01T10:00:00Z' })).toMatchObject({
      timestamp: '2024-05-01T09:00:00.000Z',
      originalTimestamp: '2024-05-01T09:00:00.000Z',
    });
  });

  it('keeps sentAt but uses receivedAt when only sentAt was sent', () => {
    const message = at({ sentAt: '2024-05-01T13:00:00Z' });
    expect(message.timestamp).toBe(RECEIVED_AT);
    expect(message.sentAt).toBe('2024-05-01T13:00:00.000Z');
    expect(message).not.toHaveProperty('originalTimestamp');
  });

  it('treats null timestamps as absent', () => {
    const message = at({ timestamp: null, sentAt: null, originalTimestamp: null });
    expect(message.timestamp).toBe(RECEIVED_AT);
    expect(message).not.toHaveProperty('sentAt');
  });

  it.each([
    ['2012-12-02T00:30:08.276Z', '2012-12-02T00:30:08.276Z'],
    ['2012-12-02T02:30:08.276+02:00', '2012-12-02T00:30:08.276Z'],
    ['2012-12-01T19:30:08-0500', '2012-12-02T00:30:08.000Z'],
    ['2012-12-02T05:30:08+05', '2012-12-02T00:30:08.000Z'],
    ['2012-12-02T00:30:08.276123+00:00', '2012-12-02T00:30:08.276Z'], // Python's isoformat()
    ['2012-12-02T00:30:08.5Z', '2012-12-02T00:30:08.500Z'],
    ['2012-12-02T00:30:08,25Z', '2012-12-02T00:30:08.250Z'],
    ['2012-12-02 00:30:08Z', '2012-12-02T00:30:08.000Z'],
    ['2012-12-02T00:30Z', '2012-12-02T00:30:00.000Z'],
    ['2012-12-02T00:30:08', '2012-12-02T00:30:08.000Z'], // no offset: UTC, whatever the server's zone
    ['2012-12-02', '2012-12-02T00:00:00.000Z'],
    ['2015-2-02T00:30:08.276Z', '2015-02-02T00:30:08.276Z'], // from Segment's batch example
    ['2024-02-29T12:00:00Z', '2024-02-29T12:00:00.000Z'],
    ['0050-06-01T00:00:00Z', '0050-06-01T00:00:00.000Z'],
    ['  2012-12-02T00:30:08Z ', '2012-12-02T00:30:08.000Z'],
    ['2012-12-02t00:30:08z', '2012-12-02T00:30:08.000Z'],
    ['Sun, 02 Dec 2012 00:30:08 GMT', '2012-12-02T00:30:08.000Z'], // HTTP date
    ['Sun, 02 Dec 2012 01:30:08 +0100', '2012-12-02T00:30:08.000Z'], // RFC 2822
    ['Sun Dec 02 2012 01:30:08 GMT+0100 (Central European Standard Time)', '2012-12-02T00:30:08.000Z'], // Date#toString()
  ])('normalises the date %j to %j', (sent, expected) => {
    expect(at({ timestamp: sent }).timestamp).toBe(expected);
    expect(parseDate(sent)).toBe(Date.parse(expected));
  });

  it.each([
    1354408208276,
    '1354408208276',
    '12345',
    '1',
    '',
    'yesterday',
    'foo 2020',
    'Dec 2 2012', // Date.parse would read it in the server's time zone
    '2012-12-02T00:30:08 GMT+0100 garbage',
    '2020-02-30T00:00:00Z',
    '2023-02-29T00:00:00Z',
    '2020-13-01T00:00:00Z',
    '2020-00-10T00:00:00Z',
    '2020-01-00T00:00:00Z',
    '2020-01-01T24:00:00Z',
    '2020-01-01T12:60:00Z',
    '2020-01-01T12:00:60Z',
    '2020-01-01T12:00:00+25:00',
    '2020-01-01T12:00:00+01:60',
    '20201201T120000Z',
    { iso: '2020-01-01' },
  ])('refuses the timestamp %j', (value) => {
    expect(rejected(parseSegmentCall('track', track({ timestamp: value }), context())).problems).toEqual([
      { path: 'timestamp', message: 'timestamp must be an ISO 8601 date string' },
    ]);
  });

  it('checks originalTimestamp and sentAt too', () => {
    const failure = rejected(parseSegmentCall('track', track({ originalTimestamp: 'later', sentAt: 5 }), context()));
    expect(failure.problems).toEqual([
      { path: 'originalTimestamp', message: 'originalTimestamp must be an ISO 8601 date string' },
      { path: 'sentAt', message: 'sentAt must be an ISO 8601 date string' },
    ]);
  });

  it("does not depend on the server's time zone", () => {
    const zone = process.env.TZ;
    process.env.TZ = 'America/New_York';
    try {
      expect(at({ timestamp: '2012-12-02T00:30:08' }).timestamp).toBe('2012-12-02T00:30:08.000Z');
      expect(at({ timestamp: '2012-12-02' }).timestamp).toBe('2012-12-02T00:00:00.000Z');
    } finally {
      if (zone === undefined) delete process.env.TZ;
      else process.env.TZ = zone;
    }
  });
});

describe('parseSegmentCall: batch', () => {
  const batchOf = (...batch: unknown[]) => ({ batch });

  it('accepts a batch of every call type, in order', () => {
    const ctx = context();
    const messages = accepted(
      parseSegmentCall(
        'batch',
        batchOf(
          { type: 'identify', userId: 'u1', traits: { email: 'jake@example.com' } },
          { type: 'track', userId: 'u1', event: 'Song Played', messageId: 'm-2' },
          { type: 'page', anonymousId: 'a1', name: 'Home' },
          { type: 'screen', userId: 'u1', name: 'Player' },
          { type: 'group', userId: 'u1', groupId: 'g1' },
          { type: 'alias', previousId: 'a1', userId: 'u1' },
        ),
        ctx,
      ),
    );

    expect(messages.map((message) => [message.type, message.messageId])).toEqual([
      ['identify', 'generated-1'],
      ['track', 'm-2'],
      ['page', 'generated-2'],
      ['screen', 'generated-3'],
      ['group', 'generated-4'],
      ['alias', 'generated-5'],
    ]);
    expect(messages[0]).toStrictEqual({
      type: 'identify',
      messageId: 'generated-1',
      userId: 'u1',
      traits: { email: 'jake@example.com' },
      context: {},
      integrations: {},
      timestamp: RECEIVED_AT,
      receivedAt: RECEIVED_AT,
    });
  });

  it("merges the batch's context and integrations under each message's own, shallowly", () => {
    const messages = accepted(
      parseSegmentCall(
        'batch',
        {
          context: { device: { type: 'phone', name: 'iPhone 6' }, locale: 'en-US' },
          integrations: { All: true, Salesforce: false },
          batch: [
            { type: 'track', userId: 'u1', event: 'a', context: { device: { id: 'd1' }, ip: '8.8.8.8' }, integrations: { Salesforce: true } },
            { type: 'track', userId: 'u1', event: 'b' },
          ],
        },
        context(),
      ),
    );

    expect(messages[0]!.context).toEqual({ device: { id: 'd1' }, locale: 'en-US', ip: '8.8.8.8' });
    expect(messages[0]!.integrations).toEqual({ All: true, Salesforce: true });
    expect(messages[1]!.context).toEqual({ device: { type: 'phone', name: 'iPhone 6' }, locale: 'en-US' });
    expect(messages[1]!.integrations).toEqual({ All: true, Salesforce: false });
  });

  it("applies the batch's sentAt to each message unless the message has its own", () => {
    const messages = accepted(
      parseSegmentCall(
        'batch',
        {
          sentAt: '2024-05-01T13:00:00Z',
          batch: [
            { type: 'track', userId: 'u1', event: 'a', timestamp: '2024-05-01T12:50:00Z' },
            { type: 'track', userId: 'u1', event: 'b', timestamp: '2024-05-01T12:50:00Z', sentAt: '2024-05-01T12:51:00Z' },
          ],
        },
        context(),
      ),
    );

    expect(messages[0]).toMatchObject({ sentAt: '2024-05-01T13:00:00.000Z', timestamp: '2024-05-01T11:50:00.000Z' });
    expect(messages[1]).toMatchObject({ sentAt: '2024-05-01T12:51:00.000Z', timestamp: '2024-05-01T11:59:00.000Z' });
  });

  it('returns the batch writeKey and keeps writeKeys out of the messages', () => {
    const result = parseSegmentCall(
      'batch',
      { writeKey: 'wk_batch', batch: [{ type: 'track', userId: 'u1', event: 'a', writeKey: 'wk_inner' }] },
      context(),
    );

    expect(result).toMatchObject({ ok: true, writeKey: 'wk_batch' });
    expect(accepted(result)[0]).not.toHaveProperty('writeKey');
  });

  it('ignores unknown fields of the batch and its messages', () => {
    const messages = accepted(
      parseSegmentCall(
        'batch',
        { batch: [{ type: 'track', userId: 'u1', event: 'a', _metadata: { nodeVersion: '20' } }], sequence: 3 },
        context(),
      ),
    );
    expect(messages[0]).not.toHaveProperty('_metadata');
  });

  it.each([
    [{}, 'batch is required'],
    [{ batch: null }, 'batch is required'],
    [{ batch: [] }, 'batch must not be empty'],
    [{ batch: { type: 'track' } }, 'batch must be an array of messages'],
  ])('refuses a batch without messages: %j', (body, message) => {
    const failure = rejected(parseSegmentCall('batch', body, context()));

    expect(failure).toMatchObject({ status: 400, code: 'invalid_payload', message });
    expect(failure.problems).toEqual([{ path: 'batch', message }]);
    expect(failure).not.toHaveProperty('index');
  });

  it('requires each element to be an object with a known type', () => {
    const failure = rejected(
      parseSegmentCall('batch', batchOf({ type: 'track', userId: 'u1', event: 'a' }, 'track', { userId: 'u1' }, { type: 'Track', userId: 'u1' }), context()),
    );

    expect(failure.index).toBe(1);
    expect(failure.problems).toEqual([
      { path: 'batch[1]', message: 'batch[1] must be an object' },
      { path: 'batch[2].type', message: 'batch[2].type is required' },
      { path: 'batch[3].type', message: 'batch[3].type must be one of track, identify, page, screen, group, alias' },
    ]);
  });

  it('rejects the whole batch for one bad element, pointing at the first and listing all', () => {
    const ctx = context();
    const failure = rejected(
      parseSegmentCall(
        'batch',
        batchOf(
          { type: 'track', userId: 'u1', event: 'ok' },
          { type: 'track', userId: 'u1', event: 'ok' },
          { type: 'track', userId: 'u1', event: 'ok' },
          { type: 'track', userId: 'u1' },
          { type: 'identify', traits: [] },
        ),
        ctx,
      ),
    );

    expect(failure).toMatchObject({ status: 400, code: 'invalid_payload', index: 3 });
    expect(failure.problems).toEqual([
      { path: 'batch[3].event', message: 'batch[3].event is required' },
      { path: 'batch[4].traits', message: 'batch[4].traits must be an object' },
      { path: 'batch[4].userId', message: 'batch[4].userId or anonymousId is required' },
    ]);
    expect(failure.message).toBe(
      'batch[3].event is required; batch[4].traits must be an object; batch[4].userId or anonymousId is required',
    );
    expect(ctx.newMessageId).not.toHaveBeenCalled();
  });

  it('reports problems of the batch itself with those of its elements', () => {
    const failure = rejected(
      parseSegmentCall(
        'batch',
        { context: [], sentAt: 'now', writeKey: 5, batch: [{ type: 'track', event: 'a', userId: 'u1' }, { type: 'alias', userId: 'u1' }] },
        context(),
      ),
    );

    expect(failure.index).toBe(1);
    expect(failure.problems).toEqual([
      { path: 'sentAt', message: 'sentAt must be an ISO 8601 date string' },
      { path: 'context', message: 'context must be an object' },
      { path: 'writeKey', message: 'writeKey must be a string' },
      { path: 'batch[1].previousId', message: 'batch[1].previousId is required' },
    ]);
  });

  it('has no index when only the batch itself is at fault', () => {
    const failure = rejected(parseSegmentCall('batch', { integrations: 'all', batch: [{ type: 'track', event: 'a', userId: 'u1' }] }, context()));

    expect(failure.problems).toEqual([{ path: 'integrations', message: 'integrations must be an object' }]);
    expect(failure).not.toHaveProperty('index');
  });

  it('validates each element as its own type would be on its endpoint', () => {
    const failure = rejected(
      parseSegmentCall(
        'batch',
        batchOf(
          { type: 'group', userId: 'u1' },
          { type: 'page', userId: 'u1', properties: 'p' },
          { type: 'track', anonymousId: 'a1', event: 'e', timestamp: 'tomorrow' },
        ),
        context(),
      ),
    );

    expect(failure.index).toBe(0);
    expect(failure.problems).toEqual([
      { path: 'batch[0].groupId', message: 'batch[0].groupId is required' },
      { path: 'batch[1].properties', message: 'batch[1].properties must be an object' },
      { path: 'batch[2].timestamp', message: 'batch[2].timestamp must be an ISO 8601 date string' },
    ]);
  });
});

describe('parseSegmentCall: event size', () => {
  it('accepts an event of exactly the limit and refuses one byte more', () => {
    const limit = 1000;
    expect(accepted(parseSegmentCall('track', bodyOfSize(limit), context({ maxEventBytes: limit })))).toHaveLength(1);

    const failure = rejected(parseSegmentCall('track', bodyOfSize(limit + 1), context({ maxEventBytes: limit })));
    expect(failure).toStrictEqual({
      ok: false,
      status: 413,
      code: 'event_too_large',
      message: 'the event is 1001 bytes; the limit per event is 1000 bytes',
      problems: [{ path: '', message: 'the event is 1001 bytes; the limit per event is 1000 bytes' }],
    });
  });

  it('defaults to 32 KB per event', () => {
    expect(accepted(parseSegmentCall('track', bodyOfSize(32 * 1024), context()))).toHaveLength(1);
    expect(rejected(parseSegmentCall('track', bodyOfSize(32 * 1024 + 1), context())).message).toBe(
      'the event is 32769 bytes; the limit per event is 32768 bytes',
    );
  });

  it('counts UTF-8 bytes, not characters', () => {
    // With ~60 bytes around it, 340 'e' fit in 700 bytes; 340 'é' are 680 bytes, and 170 '😀' are
    // 340 UTF-16 units (what String#length counts) but 680 bytes.
    const ctx = () => context({ maxEventBytes: 700 });
    expect(accepted(parseSegmentCall('track', track({ properties: { text: 'e'.repeat(340) } }), ctx()))).toHaveLength(1);
    expect(rejected(parseSegmentCall('track', track({ properties: { text: 'é'.repeat(340) } }), ctx())).status).toBe(413);
    expect(rejected(parseSegmentCall('track', track({ properties: { text: '😀'.repeat(170) } }), ctx())).status).toBe(413);
  });

  it('refuses a batch with an oversized element, naming the first and listing all', () => {
    const limit = 500;
    const small = { type: 'track', userId: 'u1', event: 'a' };
    const big = { ...bodyOfSize(600), type: 'track' };
    const bytes = Buffer.byteLength(JSON.stringify(big));

    const failure = rejected(parseSegmentCall('batch', { batch: [small, small, small, big, small, big] }, context({ maxEventBytes: limit })));

    expect(failure).toMatchObject({
      status: 413,
      code: 'event_too_large',
      index: 3,
      message: `batch[3] is ${bytes} bytes; the limit per event is 500 bytes`,
    });
    expect(failure.problems.map((problem) => problem.path)).toEqual(['batch[3]', 'batch[5]']);
  });

  it('refuses an oversized element before judging its content', () => {
    const failure = rejected(
      parseSegmentCall('batch', { batch: [{ type: 'track' }, { type: 'nope', pad: 'x'.repeat(200) }] }, context({ maxEventBytes: 100 })),
    );
    expect(failure).toMatchObject({ status: 413, index: 1 });
  });

  it('leaves the size of the whole batch to the HTTP layer', () => {
    const element = { ...bodyOfSize(900), type: 'track' };
    const messages = accepted(parseSegmentCall('batch', { batch: [element, element, element] }, context({ maxEventBytes: 1000 })));
    expect(messages).toHaveLength(3);
  });
});

describe('parseSegmentCall: the fast path of track calls', () => {
  // Values each field may take: what the schema accepts (absent and null included), and what it refuses.
  const choices: Record<string, { fine: unknown[]; bad: unknown[] }> = {
    messageId: { fine: [undefined, null, 'm-1', 'x'.repeat(200)], bad: ['', 'x'.repeat(201), 42, {}] },
    userId: { fine: [undefined, null, 'user-1', 7, 0, -0, 1.5, 'u'.repeat(1000)], bad: ['', 'u'.repeat(1001), true, ['a'], {}] },
    anonymousId: { fine: [undefined, null, 'anon-1', 12345678901234567890], bad: ['', false] },
    context: { fine: [undefined, {}, { ip: '1.2.3.4', library: { name: 'x' } }], bad: [null, [], 'ctx', 3] },
    integrations: { fine: [undefined, { All: true }], bad: [null, [], 'no'] },
    timestamp: {
      fine: [undefined, null, '2024-05-01T11:59:00Z', '2015-2-02T00:30:08.276Z', 'Wed, 01 May 2024 11:00:00 GMT'],
      bad: ['yesterday', '12345', 1714560000000, ''],
    },
    originalTimestamp: { fine: [undefined, null, '2024-05-01T11:58:00.123456+02:00'], bad: ['nope'] },
    sentAt: { fine: [undefined, null, '2024-05-01T11:59:30Z'], bad: ['2024-02-30T00:00:00Z', {}] },
    writeKey: { fine: [undefined, null, 'key', ''], bad: [5] },
    event: { fine: ['Order Completed', 'e'], bad: [undefined, null, '', 9, ['e']] },
    properties: { fine: [undefined, {}, { plan: 'pro', amount: 42.5, nested: { a: [1, 2] } }], bad: [null, [], 'p'] },
    type: { fine: [undefined, 'track'], bad: [] },
    extra: { fine: [undefined, 'stripped', { deep: true }], bad: [] },
  };
  // A fixed pseudo-random walk through the combinations, the same on every run.
  let seed = 20261127;
  const next = (n: number) => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return Math.floor((seed / 2147483648) * n);
  };
  const bodies = Array.from({ length: 8000 }, () => {
    const body: Record<string, unknown> = {};
    for (const [key, { fine, bad }] of Object.entries(choices)) {
      const values = bad.length > 0 && next(12) === 0 ? bad : fine;
      const value = values[next(values.length)];
      // Present-but-undefined is not JSON; absent stands for it.
      if (value !== undefined) body[key] = value;
    }
    return body;
  });

  it('answers exactly as the schema whenever it answers, and leaves the rest to the schema', () => {
    let taken = 0;
    let refusedBySchema = 0;
    for (const body of bodies) {
      const fast = fastTrackFields(body);
      const schema = parseWithSchema('track', body, '');
      if (!schema.ok) refusedBySchema += 1;
      if (!fast) continue;
      taken += 1;
      expect(schema.ok).toBe(true);
      if (!schema.ok) continue;
      // Same fields, same values, same key order (the stored JSON).
      expect(JSON.stringify(definedOnly(fast))).toBe(JSON.stringify(definedOnly(schema.fields)));
      expect(Object.keys(definedOnly(fast))).toEqual(Object.keys(definedOnly(schema.fields)));
    }
    // Both kinds occur in the corpus, so the comparison above is not vacuous.
    expect(taken).toBeGreaterThan(1000);
    expect(refusedBySchema).toBeGreaterThan(1000);
  });

  it('takes the calls SDKs send', () => {
    expect(fastTrackFields({ userId: 'user-1', event: 'Order Completed', properties: { plan: 'pro' }, messageId: 'm-1' })).toBeDefined();
    expect(fastTrackFields({ anonymousId: 'a-1', event: 'Viewed', timestamp: '2024-05-01T11:59:00Z', sentAt: '2024-05-01T11:59:30Z', context: {} })).toBeDefined();
  });

  it('a call the schema refuses gets the same problems as before', () => {
    const result = rejected(parseSegmentCall('track', { userId: true, event: 'x', properties: 'none' }, context()));
    expect(result.problems).toEqual([
      { path: 'userId', message: 'userId must be a string or a number' },
      { path: 'properties', message: 'properties must be an object' },
    ]);
  });
});
