/** The real `twilio` client against a local server speaking Twilio's Messages API. */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type Delivery, PermanentDeliveryError, TransientDeliveryError } from '../channel.port';
import { FakeTwilioServer } from './fake-twilio-server.fixture';
import { referenceFromQuery } from './twilio-callbacks';
import { createTwilioAdapters, TwilioOutcomeUnknownError, type TwilioAdapter } from './twilio.adapter';

const ACCOUNT_SID = 'AC0123456789abcdef0123456789abcdef';
const AUTH_TOKEN = 'test-auth-token-1234';
const FROM = '+15005550006';
const WHATSAPP_FROM = '+14155238886';
const PUBLIC_URL = 'https://herald.example.com';

let fake: FakeTwilioServer;
let sms: TwilioAdapter;
let whatsapp: TwilioAdapter;

function adaptersFor(apiUrl: string, authToken = AUTH_TOKEN) {
  return createTwilioAdapters({
    publicUrl: PUBLIC_URL,
    channels: {
      twilio: { accountSid: ACCOUNT_SID, authToken, from: FROM, whatsappFrom: `whatsapp:${WHATSAPP_FROM}`, apiUrl },
      webPush: { enabled: false, subject: 'mailto:x@example.com' },
      dispatch: { concurrency: 1, maxAttempts: 1, retryBaseMs: 1 },
    },
  });
}

function delivery(overrides: Partial<Delivery> = {}): Delivery {
  return {
    messageId: 'msg-1',
    workspace: 'default',
    person: 'user:ada',
    channel: 'sms',
    to: '+4915112345678',
    content: { text: 'Your cart misses you, Ada. Ünïcödé ✓ & more' },
    links: {},
    ...overrides,
  };
}

beforeEach(async () => {
  fake = await new FakeTwilioServer({ accountSid: ACCOUNT_SID, authToken: AUTH_TOKEN }).start();
  ({ sms, whatsapp } = adaptersFor(fake.url) as Required<ReturnType<typeof adaptersFor>>);
});
afterEach(() => fake.stop());

describe('TwilioAdapter', () => {
  it('sends an SMS form-encoded with Basic auth, the right to/from/body and a status callback naming the message', async () => {
    const result = await sms.send(delivery());
    expect(fake.messages).toHaveLength(1);
    const [sent] = fake.messages;
    expect(result).toEqual({ providerMessageId: sent.sid });
    expect(sent.sid).toMatch(/^SM[0-9a-f]{32}$/);
    expect(sent).toMatchObject({
      accountSid: ACCOUNT_SID,
      username: ACCOUNT_SID,
      password: AUTH_TOKEN,
      contentType: 'application/x-www-form-urlencoded',
      to: '+4915112345678',
      from: FROM,
      body: 'Your cart misses you, Ada. Ünïcödé ✓ & more',
    });
    const callback = new URL(sent.statusCallback!);
    expect(`${callback.origin}${callback.pathname}`).toBe(`${PUBLIC_URL}/webhooks/twilio/status`);
    expect(referenceFromQuery(callback.searchParams)).toEqual({ workspace: 'default', person: 'user:ada', messageId: 'msg-1', channel: 'sms' });
    expect(sms).toMatchObject({ channel: 'sms', provider: 'twilio', safeToRetry: false });
  });

  it('sends WhatsApp with whatsapp: on both addresses', async () => {
    await whatsapp.send(delivery({ channel: 'whatsapp', messageId: 'msg-wa' }));
    expect(fake.messages[0]).toMatchObject({ to: 'whatsapp:+4915112345678', from: `whatsapp:${WHATSAPP_FROM}` });
    expect(referenceFromQuery(new URL(fake.messages[0].statusCallback!).searchParams)?.channel).toBe('whatsapp');
  });

  it('addresses only E.164 phone traits', () => {
    expect(sms.address({ traits: { phone: '+4915112345678' }, pushSubscriptions: [] })).toBe('+4915112345678');
    expect(whatsapp.address({ traits: { phone: '+4915112345678' }, pushSubscriptions: [] })).toBe('+4915112345678');
    for (const phone of ['015112345678', '+49 151 12345678', 4915112345678, undefined, '+0151']) {
      expect(sms.address({ traits: { phone }, pushSubscriptions: [] })).toBeUndefined();
    }
  });

  it('maps an invalid number (21211) and an unsubscribed recipient (21610) to permanent, unreachable failures', async () => {
    const invalid = await sms.send(delivery({ to: '+12' })).catch((error) => error);
    expect(invalid).toBeInstanceOf(PermanentDeliveryError);
    expect(invalid).toMatchObject({ code: 'twilio_21211', unreachable: true });
    expect(invalid.message).toContain("Invalid 'To' Phone Number");

    fake.failNext(400, 21610, 'Attempt to send to unsubscribed recipient');
    expect(await sms.send(delivery()).catch((e) => e)).toMatchObject({ name: 'PermanentDeliveryError', code: 'twilio_21610', unreachable: true });

    fake.failNext(400, 21606, "The 'From' phone number provided is not a valid message-capable Twilio phone number");
    expect(await sms.send(delivery()).catch((e) => e)).toMatchObject({ name: 'PermanentDeliveryError', code: 'twilio_21606', unreachable: false });
    expect(fake.messages).toHaveLength(0);
  });

  it('maps wrong credentials to a permanent failure (20003)', async () => {
    const { sms: wrong } = adaptersFor(fake.url, 'not-the-token');
    expect(await wrong!.send(delivery()).catch((e) => e)).toMatchObject({ name: 'PermanentDeliveryError', code: 'twilio_20003', unreachable: false });
  });

  it('maps 429 and 503 (nothing created) to transient failures, other 5xx to an unknown outcome that is not retried', async () => {
    fake.failNext(429, 20429, 'Too Many Requests');
    expect(await sms.send(delivery()).catch((e) => e)).toBeInstanceOf(TransientDeliveryError);
    fake.failNext(503, undefined, 'Service Unavailable');
    expect(await sms.send(delivery()).catch((e) => e)).toBeInstanceOf(TransientDeliveryError);
    fake.failNext(500, 20500, 'Internal Server Error');
    const unknown = await sms.send(delivery()).catch((e) => e);
    expect(unknown).toBeInstanceOf(TwilioOutcomeUnknownError);
    expect(unknown).not.toBeInstanceOf(TransientDeliveryError);
    expect(unknown).not.toBeInstanceOf(PermanentDeliveryError);
  });

  it('maps a refused connection to a transient failure and a dropped one to an unknown outcome', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const { sms: refused } = adaptersFor(`http://127.0.0.1:${port}`);
    expect(await refused!.send(delivery()).catch((e) => e)).toBeInstanceOf(TransientDeliveryError);

    // Reads the request, then drops the connection without answering: Twilio may have created the message.
    const dropping = createServer((request) => request.on('data', () => undefined).on('end', () => request.socket.destroy()));
    await new Promise<void>((resolve) => dropping.listen(0, '127.0.0.1', resolve));
    try {
      const { sms: dropped } = adaptersFor(`http://127.0.0.1:${(dropping.address() as AddressInfo).port}`);
      expect(await dropped!.send(delivery()).catch((e) => e)).toBeInstanceOf(TwilioOutcomeUnknownError);
    } finally {
      dropping.closeAllConnections();
      await new Promise<void>((resolve) => dropping.close(() => resolve()));
    }
  });

  it('maps a 201 whose body cannot be read (a proxy page, a truncated answer) to an unknown outcome, not a failure', async () => {
    for (const body of ['<html>Accepted</html>', '{"sid":"SM12']) {
      const garbled = createServer((request, response) =>
        request.on('data', () => undefined).on('end', () => response.writeHead(201, { 'content-type': 'application/json' }).end(body)),
      );
      await new Promise<void>((resolve) => garbled.listen(0, '127.0.0.1', resolve));
      try {
        const { sms: reader } = adaptersFor(`http://127.0.0.1:${(garbled.address() as AddressInfo).port}`);
        expect(await reader!.send(delivery()).catch((e) => e)).toBeInstanceOf(TwilioOutcomeUnknownError);
      } finally {
        garbled.closeAllConnections();
        await new Promise<void>((resolve) => garbled.close(() => resolve()));
      }
    }
  });

  it('creates only the adapters whose sender is configured', () => {
    const none = createTwilioAdapters({ publicUrl: PUBLIC_URL, channels: { webPush: { enabled: false, subject: '' }, dispatch: { concurrency: 1, maxAttempts: 1, retryBaseMs: 1 } } });
    expect(none).toEqual({});
    const smsOnly = createTwilioAdapters({
      publicUrl: PUBLIC_URL,
      channels: { twilio: { accountSid: ACCOUNT_SID, authToken: AUTH_TOKEN, from: FROM }, webPush: { enabled: false, subject: '' }, dispatch: { concurrency: 1, maxAttempts: 1, retryBaseMs: 1 } },
    });
    expect(Object.keys(smsOnly)).toEqual(['sms']);
  });
});
