/**
 * The Twilio round trip without the whole app: the real dispatcher and `twilio` client sending to a
 * local Twilio, which posts signed status callbacks and inbound texts back to the real webhook
 * controller over HTTP (Nest on Fastify, Herald's body parser and error filter), on a real SQLite log.
 */
import { userStream } from '@herald/projections';
import { Module } from '@nestjs/common';
import { APP_FILTER, NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import twilio from 'twilio';
import type { HeraldConfig } from '../../config';
import { EVENT_STORE, type EventStore, type RecordedEvent } from '../../event-store/event-store.port';
import { SqliteEventStore } from '../../event-store/sqlite/sqlite-event-store';
import { registerJsonBodyParser } from '../../http/body-parsers';
import { ErrorFilter } from '../../http/error.filter';
import { ProjectionRunner } from '../../projection-runner/projection-runner';
import { CLOCK, TestClock } from '../../shared/clock';
import { uuidv7 } from '../../shared/ids';
import { openStateDb, type StateDb } from '../../state/state-db';
import { Dispatcher } from '../dispatcher.projection';
import { LinkSigner } from '../link-signer';
import { queueMessage } from '../queued-message.fixture';
import type { MessageRenderer } from '../renderer.port';
import { FakeTwilioServer } from './fake-twilio-server.fixture';
import { PHONE_INDEX, PhoneIndexProjection } from './phone-index.projection';
import type { TwilioAdapter } from './twilio.adapter';
import { TWILIO_ADAPTERS, twilioControllers, twilioProviders } from './twilio.providers';

const ACCOUNT_SID = 'AC0123456789abcdef0123456789abcdef';
const AUTH_TOKEN = 'test-auth-token-1234';
const FROM = '+15005550006';
const WHATSAPP_FROM = '+14155238886';
const ADA_PHONE = '+4915112345678';
const TEST_STATE_DB = Symbol('TestStateDb');

let fake: FakeTwilioServer;
let store: EventStore;
let db: StateDb;
let clock: TestClock;
let runner: ProjectionRunner;
let app: NestFastifyApplication;
let url: string;
let dispatcher: Dispatcher;

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

beforeEach(async () => {
  fake = await new FakeTwilioServer({ accountSid: ACCOUNT_SID, authToken: AUTH_TOKEN }).start();
  store = new SqliteEventStore({ path: ':memory:' });
  db = openStateDb(':memory:');
  clock = new TestClock(new Date('2026-03-02T10:00:00Z'));
  const port = await freePort();
  url = `http://127.0.0.1:${port}`;
  const config = {
    publicUrl: url,
    channels: {
      twilio: { accountSid: ACCOUNT_SID, authToken: AUTH_TOKEN, from: FROM, whatsappFrom: WHATSAPP_FROM, apiUrl: fake.url },
      webPush: { enabled: false, subject: '' },
      dispatch: { concurrency: 4, maxAttempts: 2, retryBaseMs: 1 },
    },
  } as HeraldConfig;

  @Module({
    controllers: twilioControllers(config),
    providers: [
      { provide: EVENT_STORE, useValue: store },
      { provide: TEST_STATE_DB, useValue: db },
      { provide: CLOCK, useValue: clock },
      ...twilioProviders(config, TEST_STATE_DB),
      { provide: APP_FILTER, useClass: ErrorFilter },
    ],
  })
  class TwilioTestModule {}

  app = await NestFactory.create<NestFastifyApplication>(TwilioTestModule, new FastifyAdapter(), { logger: false, bodyParser: false });
  registerJsonBodyParser(app.getHttpAdapter().getInstance());
  await app.listen(port, '127.0.0.1');

  runner = new ProjectionRunner(store, db, { retryDelayMs: 10 });
  runner.start(app.get(PhoneIndexProjection));
  const renderer: MessageRenderer = { render: async (request) => ({ text: `Hi ${String(request.variables.user.first_name)}, your cart is waiting` }) };
  const adapters = app.get<Partial<Record<'sms' | 'whatsapp', TwilioAdapter>>>(TWILIO_ADAPTERS);
  dispatcher = new Dispatcher(db, store, adapters, renderer, new LinkSigner(Buffer.from('k'), url), clock, { retryBaseMs: 1 });
});

afterEach(async () => {
  await dispatcher.drain();
  await fake.stop();
  await runner.stop();
  await app.close();
  await store.close();
  db.close();
});

const ada = userStream('default', 'ada');
const now = () => clock.now().toISOString();
const eventsOf = async (stream = ada) => (await store.readStream(stream)).map((e) => ({ type: e.type, data: e.data as Record<string, any> }));
const ofType = async (type: string, stream = ada) => (await eventsOf(stream)).filter((e) => e.type === type);

async function identify(stream: string, userId: string, traits: Record<string, unknown>, workspace = 'default'): Promise<void> {
  await store.append(stream, [{ id: uuidv7(), type: 'Identified', data: { type: 'identify', userId, traits }, metadata: { workspace, occurredAt: now(), receivedAt: now(), schemaVersion: 1 } }]);
}

async function indexed(): Promise<void> {
  const head = await store.headPosition();
  while (runner.checkpoint(PHONE_INDEX) < head) await new Promise((resolve) => setTimeout(resolve, 5));
}

function queue(messageId: string, channel: 'sms' | 'whatsapp' = 'sms', stream = ada): Promise<RecordedEvent> {
  return queueMessage(store, stream, messageId, channel, clock.now(), { enrollmentId: 'e-1', scenarioId: 'abandoned-cart', stepId: 'sms-nudge', template: 'cart-sms' });
}

async function dispatch(messageId: string, channel: 'sms' | 'whatsapp' = 'sms'): Promise<void> {
  await dispatcher.handle(await queue(messageId, channel));
  await dispatcher.drain();
}

const post = (path: string, params: Record<string, string>, signature?: string | null) => fake.postForm(`${url}${path}`, params, signature);

describe('Twilio webhooks', () => {
  it('sends through the dispatcher and records the signed delivered callback once, ignoring intermediate statuses', async () => {
    await identify(ada, 'ada', { first_name: 'Ada', phone: ADA_PHONE });
    fake.autoStatuses = ['queued', 'sent', 'delivered'];
    await dispatch('m-1');
    await fake.settled();

    expect(fake.messages).toHaveLength(1);
    const [sms] = fake.messages;
    expect(sms).toMatchObject({ to: ADA_PHONE, from: FROM, body: 'Hi Ada, your cart is waiting', username: ACCOUNT_SID, password: AUTH_TOKEN });
    expect(fake.callbackResponses.map((r) => r.httpStatus)).toEqual([200, 200, 200]);
    // Sorted: a callback may overtake the dispatcher's MessageSent append, which is harmless.
    const outcomes = (await eventsOf()).filter((e) => e.type.startsWith('Message')).map((e) => e.type);
    expect(outcomes.sort()).toEqual(['MessageDelivered', 'MessageDispatching', 'MessageQueued', 'MessageSent']);
    expect((await ofType('MessageSent'))[0].data).toMatchObject({ provider: 'twilio', providerMessageId: sms.sid, to: ADA_PHONE });
    expect((await ofType('MessageDelivered'))[0].data).toEqual({
      messageId: 'm-1',
      channel: 'sms',
      provider: 'twilio',
      providerMessageId: sms.sid,
      status: 'delivered',
    });

    // Twilio sends a callback again (it got no answer in time): nothing new.
    const before = (await store.readStream(ada)).length;
    const replay = await fake.sendStatus(sms.sid, 'delivered');
    expect(replay.status).toBe(200);
    expect(await replay.json()).toEqual({ recorded: 0 });
    expect(await store.readStream(ada)).toHaveLength(before);
  });

  it('records undelivered and failed callbacks as MessageFailed with the error code, and WhatsApp read as MessageOpened', async () => {
    await identify(ada, 'ada', { first_name: 'Ada', phone: ADA_PHONE });
    await dispatch('m-2');
    await dispatch('m-wa', 'whatsapp');
    const [sms, wa] = fake.messages;
    expect(wa).toMatchObject({ to: `whatsapp:${ADA_PHONE}`, from: `whatsapp:${WHATSAPP_FROM}` });

    expect((await fake.sendStatus(sms.sid, 'undelivered', { errorCode: '30003' })).status).toBe(200);
    expect((await fake.sendStatus(wa.sid, 'delivered')).status).toBe(200);
    expect((await fake.sendStatus(wa.sid, 'read')).status).toBe(200);
    expect((await ofType('MessageFailed')).map((e) => e.data)).toEqual([
      {
        messageId: 'm-2',
        channel: 'sms',
        provider: 'twilio',
        providerMessageId: sms.sid,
        status: 'undelivered',
        reason: 'provider_status',
        errorCode: '30003',
        code: 'twilio_30003',
      },
    ]);
    expect((await ofType('MessageDelivered')).map((e) => e.data)).toEqual([expect.objectContaining({ messageId: 'm-wa', channel: 'whatsapp' })]);
    expect((await ofType('MessageOpened')).map((e) => e.data)).toEqual([
      expect.objectContaining({ messageId: 'm-wa', channel: 'whatsapp', source: 'whatsapp_read', providerMessageId: wa.sid }),
    ]);
  });

  it('answers 401 and records nothing for a missing, wrong or misplaced signature, or a tampered reference', async () => {
    await identify(ada, 'ada', { phone: ADA_PHONE });
    await dispatch('m-3');
    const [sms] = fake.messages;
    const before = (await store.readStream(ada)).length;

    expect((await fake.sendStatus(sms.sid, 'delivered', { signature: null })).status).toBe(401);
    expect((await fake.sendStatus(sms.sid, 'delivered', { signature: 'bm90IGEgc2lnbmF0dXJl' })).status).toBe(401);
    const params = { MessageSid: sms.sid, MessageStatus: 'delivered', AccountSid: ACCOUNT_SID };
    const wrongToken = twilio.getExpectedTwilioSignature('another-token', sms.statusCallback!, params);
    expect((await fake.postForm(sms.statusCallback!, params, wrongToken)).status).toBe(401);
    // Signed for this message, sent with the reference changed to another person's message.
    const signed = twilio.getExpectedTwilioSignature(AUTH_TOKEN, sms.statusCallback!, params);
    const tampered = sms.statusCallback!.replace('m=m-3', 'm=m-other').replace('user%3Aada', 'user%3Abob');
    const response = await fake.postForm(tampered, params, signed);
    expect(response.status).toBe(401);
    expect(await response.json()).toMatchObject({ error: 'unauthorized' });
    // Signed, but a parameter changed on the way.
    expect((await fake.postForm(sms.statusCallback!, { ...params, MessageStatus: 'failed' }, signed)).status).toBe(401);
    const inbound = await post('/webhooks/twilio/inbound', { From: ADA_PHONE, To: FROM, Body: 'STOP', MessageSid: 'SMx' }, 'bogus');
    expect(inbound.status).toBe(401);

    expect(await store.readStream(ada)).toHaveLength(before);
  });

  it('unsubscribes on STOP (once), so the next SMS is suppressed by the dispatcher; START subscribes again', async () => {
    await identify(ada, 'ada', { first_name: 'Ada', phone: ADA_PHONE });
    await indexed();
    await dispatch('m-before');
    expect(fake.messages).toHaveLength(1);

    const stop = await fake.sendInbound(`${url}/webhooks/twilio/inbound`, { from: ADA_PHONE, to: FROM, body: ' stop ', sid: 'SMinbound1' });
    expect(stop.status).toBe(200);
    expect(stop.headers.get('content-type')).toMatch(/^text\/xml/);
    expect(await stop.text()).toBe('<?xml version="1.0" encoding="UTF-8"?><Response/>');
    expect((await ofType('Unsubscribed')).map((e) => e.data)).toEqual([
      { channel: 'sms', source: 'twilio-stop', keyword: 'STOP', providerMessageId: 'SMinbound1' },
    ]);
    // Twilio retries the webhook: still one Unsubscribed.
    await fake.sendInbound(`${url}/webhooks/twilio/inbound`, { from: ADA_PHONE, to: FROM, body: 'STOP', sid: 'SMinbound1' });
    expect(await ofType('Unsubscribed')).toHaveLength(1);

    await dispatch('m-after');
    expect(fake.messages).toHaveLength(1);
    expect((await eventsOf()).at(-1)).toEqual({
      type: 'MessageSuppressed',
      data: expect.objectContaining({ messageId: 'm-after', reason: 'unsubscribed', stage: 'dispatch' }),
    });
    // WhatsApp is another channel: still sent.
    await dispatch('m-wa', 'whatsapp');
    expect(fake.messages).toHaveLength(2);

    await fake.sendInbound(`${url}/webhooks/twilio/inbound`, { from: ADA_PHONE, to: FROM, body: 'START', sid: 'SMinbound2' });
    expect((await ofType('Subscribed')).map((e) => e.data)).toEqual([
      { channel: 'sms', source: 'twilio-start', keyword: 'START', providerMessageId: 'SMinbound2' },
    ]);
    await dispatch('m-back');
    expect(fake.messages).toHaveLength(3);
  });

  it('unsubscribes WhatsApp for whatsapp: senders, every person with the number in every workspace, and ignores other texts and unknown numbers', async () => {
    const bob = userStream('shop', 'bob');
    await identify(ada, 'ada', { phone: ADA_PHONE });
    await identify(bob, 'bob', { phone: ADA_PHONE }, 'shop');
    const carol = userStream('default', 'carol');
    await identify(carol, 'carol', { phone: '+4915199999999' });
    await identify(carol, 'carol', { phone: null });
    await indexed();

    const wa = await fake.sendInbound(`${url}/webhooks/twilio/inbound`, { from: `whatsapp:${ADA_PHONE}`, to: `whatsapp:${WHATSAPP_FROM}`, body: 'Unsubscribe' });
    expect(wa.status).toBe(200);
    expect((await ofType('Unsubscribed')).map((e) => e.data.channel)).toEqual(['whatsapp']);
    expect((await ofType('Unsubscribed', bob)).map((e) => e.data.channel)).toEqual(['whatsapp']);

    for (const body of ['Thanks!', 'stop it please']) {
      expect((await fake.sendInbound(`${url}/webhooks/twilio/inbound`, { from: ADA_PHONE, to: FROM, body })).status).toBe(200);
    }
    // Carol's phone trait was removed: her old number no longer finds her.
    expect((await fake.sendInbound(`${url}/webhooks/twilio/inbound`, { from: '+4915199999999', to: FROM, body: 'STOP' })).status).toBe(200);
    expect(await ofType('Unsubscribed')).toHaveLength(1);
    expect(await ofType('Unsubscribed', carol)).toHaveLength(0);
  });

  it('ignores a signed status callback without a Herald reference (configured by hand in Twilio)', async () => {
    const response = await post('/webhooks/twilio/status', { MessageSid: 'SMelsewhere', MessageStatus: 'delivered' });
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ recorded: 0 });
    expect(await store.headPosition()).toBe(0);
  });
});
