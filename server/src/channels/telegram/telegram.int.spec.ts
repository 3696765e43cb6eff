/** The real grammy client against a real local Bot API server; a real SQLite log; the real dispatcher. */
import { userStream } from '@herald/projections';
import { createServer as createHttpServer } from 'node:http';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import type { EventStore } from '../../event-store/event-store.port';
import { SqliteEventStore } from '../../event-store/sqlite/sqlite-event-store';
import { IdentityService } from '../../identity/identity.service';
import { TestClock } from '../../shared/clock';
import { openStateDb, type StateDb } from '../../state/state-db';
import { type Delivery, OutcomeUnknownDeliveryError, PermanentDeliveryError, TransientDeliveryError } from '../channel.port';
import { Dispatcher } from '../dispatcher.projection';
import { LinkSigner } from '../link-signer';
import { queueMessage } from '../queued-message.fixture';
import type { MessageRenderer } from '../renderer.port';
import { LocalBotApi, startUpdate, TEST_BOT } from './local-bot-api.fixture';
import { createTelegramApi, TelegramAdapter, TelegramOutcomeUnknownError } from './telegram.adapter';
import { TELEGRAM_REPLIES, TelegramLinks } from './telegram-links.service';
import { telegramLinkStream } from './telegram-link';

const TOKEN = '7000001:AAH-test-token';
let botApi: LocalBotApi;
let adapter: TelegramAdapter;

beforeEach(async () => {
  botApi = await LocalBotApi.start(TOKEN);
  adapter = new TelegramAdapter(createTelegramApi({ botToken: TOKEN, apiUrl: botApi.url }, 5));
});
afterEach(() => botApi.close());

const delivery = (to: string, text = 'Your cart misses you', url?: string): Delivery => ({
  messageId: 'm-1',
  workspace: 'default',
  person: 'user:ada',
  channel: 'telegram',
  to,
  content: { text, url },
  links: {},
});

async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe('TelegramAdapter against a local Bot API', () => {
  it('sends the text to the bound chat and returns chat:message as the provider id', async () => {
    expect(adapter.address({ traits: {}, pushSubscriptions: [] })).toBeUndefined();
    expect(adapter.address({ traits: {}, pushSubscriptions: [], telegramChatId: 42 })).toBe('42');
    expect(adapter.safeToRetry).toBe(false);
    const result = await adapter.send(delivery('42', 'Hello Ada', 'https://shop.example/cart'));
    expect(result).toEqual({ providerMessageId: '42:1' });
    expect(botApi.sent()).toEqual([{ chat_id: 42, text: 'Hello Ada\n\nhttps://shop.example/cart' }]);
  });

  it('maps a blocked bot (403) to a permanent, unreachable error', async () => {
    botApi.blocked.add(43);
    const error = await adapter.send(delivery('43')).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PermanentDeliveryError);
    expect(error).toMatchObject({ code: 'telegram_403', unreachable: true, message: 'Forbidden: bot was blocked by the user' });
  });

  it('maps 400 to permanent (the chat stays bound), 429 and unreachable servers to transient, 5xx to an unknown outcome', async () => {
    botApi.missing.add(44);
    botApi.throttled.add(45);
    botApi.failing.add(46);
    const unknown = await adapter.send(delivery('46')).catch((e: unknown) => e);
    expect(unknown).toBeInstanceOf(TelegramOutcomeUnknownError);
    // Recorded as MessageOutcomeUnknown by the dispatcher, as for email and Twilio.
    expect(unknown).toBeInstanceOf(OutcomeUnknownDeliveryError);
    botApi.hanging.add(47);
    const impatient = new TelegramAdapter(createTelegramApi({ botToken: TOKEN, apiUrl: botApi.url }, 1));
    await expect(impatient.send(delivery('47'))).rejects.toBeInstanceOf(TelegramOutcomeUnknownError);
    await expect(adapter.send(delivery('44'))).rejects.toMatchObject({ name: 'PermanentDeliveryError', code: 'telegram_400', unreachable: false });
    // Telegram's flood control says how long to wait (retry_after: 1 s); the retry comes no sooner.
    await expect(adapter.send(delivery('45'))).rejects.toMatchObject({ name: 'TransientDeliveryError', retryAfterMs: 1000 });
    const down = new TelegramAdapter(createTelegramApi({ botToken: TOKEN, apiUrl: `http://127.0.0.1:${await closedPort()}` }, 5));
    await expect(down.send(delivery('42'))).rejects.toBeInstanceOf(TransientDeliveryError);
    await expect(adapter.send(delivery('not-a-chat'))).rejects.toMatchObject({ code: 'telegram_bad_chat_id' });
  });

  it('maps an ok answer without the sent message to an unknown outcome, not a crash', async () => {
    for (const body of ['{"ok":true}', '{"ok":true,"result":null}', '{"ok":true,"result":{"chat":{}}}']) {
      const odd = createHttpServer((request, response) =>
        request.on('data', () => undefined).on('end', () => response.writeHead(200, { 'content-type': 'application/json' }).end(body)),
      );
      await new Promise<void>((resolve) => odd.listen(0, '127.0.0.1', resolve));
      try {
        const api = createTelegramApi({ botToken: TOKEN, apiUrl: `http://127.0.0.1:${(odd.address() as AddressInfo).port}` }, 5);
        await expect(new TelegramAdapter(api).send(delivery('48'))).rejects.toBeInstanceOf(TelegramOutcomeUnknownError);
      } finally {
        odd.closeAllConnections();
        await new Promise((resolve) => odd.close(resolve));
      }
    }
  });
});

describe('deep links and the dispatcher', () => {
  let store: EventStore;
  let db: StateDb;
  let clock: TestClock;
  let links: TelegramLinks;

  beforeEach(() => {
    store = new SqliteEventStore({ path: ':memory:' });
    db = openStateDb(':memory:');
    clock = new TestClock(new Date('2026-01-01T00:00:00Z'));
    links = new TelegramLinks(store, createTelegramApi({ botToken: TOKEN, apiUrl: botApi.url }), new IdentityService(db), clock, { botToken: TOKEN });
  });
  afterEach(async () => {
    await store.close();
    db.close();
  });

  const eventsOf = async (stream: string) => (await store.readStream(stream)).map((e) => ({ type: e.type, data: e.data }));

  it('issues a t.me link with a short token, binds the chat on /start once, and refuses reuse', async () => {
    const link = await links.issue('default', 'ada');
    expect(link.url).toBe(`https://t.me/${TEST_BOT.username}?start=${link.token}`);
    expect(link.token).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(link.expiresAt).toBe('2026-01-08T00:00:00.000Z');
    expect(JSON.stringify(await store.readAll())).not.toContain(link.token);

    expect(await links.handleUpdate(startUpdate(100, 42, link.token))).toMatchObject({ outcome: 'bound', person: 'user:ada', chatId: 42, recorded: true });
    // Telegram redelivers an update it got no 200 for: recorded once, answered once.
    expect(await links.handleUpdate(startUpdate(100, 42, link.token))).toMatchObject({ outcome: 'bound', recorded: false });
    expect(await eventsOf(userStream('default', 'ada'))).toEqual([{ type: 'TelegramChatBound', data: { chatId: 42, username: 'ada_tg' } }]);
    expect(botApi.sent()).toEqual([{ chat_id: 42, text: TELEGRAM_REPLIES.bound }]);

    expect(await links.handleUpdate(startUpdate(101, 99, link.token))).toEqual({ outcome: 'rejected', reason: 'used' });
    expect(botApi.sent().at(-1)).toEqual({ chat_id: 99, text: TELEGRAM_REPLIES.used });
    expect((await eventsOf(telegramLinkStream(link.token))).map((e) => e.type)).toEqual(['TelegramLinkIssued', 'TelegramLinkUsed']);
  });

  it('refuses expired and unknown tokens, answers a bare /start, ignores other updates', async () => {
    const link = await links.issue('default', 'ada');
    clock.advance(8 * 24 * 3600_000);
    expect(await links.handleUpdate(startUpdate(200, 42, link.token))).toEqual({ outcome: 'rejected', reason: 'expired' });
    expect(await links.handleUpdate(startUpdate(201, 42, 'no-such-token'))).toEqual({ outcome: 'rejected', reason: 'unknown' });
    expect(await links.handleUpdate(startUpdate(202, 42, 'bad token!'))).toEqual({ outcome: 'rejected', reason: 'unknown' });
    expect(await links.handleUpdate(startUpdate(203, 42, ''))).toEqual({ outcome: 'rejected', reason: 'no_token' });
    expect(await links.handleUpdate({ update_id: 204, message: { message_id: 1, chat: { id: 42 }, text: 'hi' } })).toEqual({ outcome: 'ignored' });
    expect(botApi.sent().map((m) => m.text)).toEqual([TELEGRAM_REPLIES.expired, TELEGRAM_REPLIES.unknown, TELEGRAM_REPLIES.unknown, TELEGRAM_REPLIES.hello]);
    expect(await store.readStream(userStream('default', 'ada'))).toEqual([]);
  });

  it('lets only one of two chats racing for the same link bind', async () => {
    const link = await links.issue('default', 'ada');
    const results = await Promise.all([links.handleUpdate(startUpdate(300, 42, link.token)), links.handleUpdate(startUpdate(301, 43, link.token))]);
    expect(results.map((r) => r.outcome).sort()).toEqual(['bound', 'rejected']);
    expect((await eventsOf(userStream('default', 'ada'))).filter((e) => e.type === 'TelegramChatBound')).toHaveLength(1);
  });

  it('sends through the dispatcher; a blocked bot fails the message and unsubscribes the channel; a new /start subscribes again', async () => {
    const renderer: MessageRenderer = { render: async () => ({ text: 'Your cart misses you' }) };
    const dispatcher = new Dispatcher(db, store, { telegram: adapter }, renderer, new LinkSigner(Buffer.from('k'), 'https://herald.test'), clock, { retryBaseMs: 1 });
    const stream = userStream('default', 'ada');
    const queue = (messageId: string) => queueMessage(store, stream, messageId, 'telegram', clock.now());
    const link = await links.issue('default', 'ada');
    await links.handleUpdate(startUpdate(400, 42, link.token));

    await dispatcher.handle(await queue('m-ok'));
    await dispatcher.drain();
    expect((await eventsOf(stream)).filter((e) => e.type === 'MessageSent')).toEqual([
      { type: 'MessageSent', data: expect.objectContaining({ messageId: 'm-ok', provider: 'telegram', providerMessageId: '42:2', to: '42' }) },
    ]);

    botApi.blocked.add(42);
    await dispatcher.handle(await queue('m-blocked'));
    await dispatcher.drain();
    const after = await eventsOf(stream);
    expect(after.find((e) => e.type === 'MessageFailed')?.data).toMatchObject({ messageId: 'm-blocked', code: 'telegram_403' });
    expect(after.find((e) => e.type === 'Unsubscribed')?.data).toMatchObject({ channel: 'telegram', reason: 'telegram_403' });

    await dispatcher.handle(await queue('m-suppressed'));
    expect((await eventsOf(stream)).at(-1)).toMatchObject({ type: 'MessageSuppressed', data: { messageId: 'm-suppressed', reason: 'unsubscribed' } });

    botApi.blocked.delete(42);
    const again = await links.issue('default', 'ada');
    await links.handleUpdate(startUpdate(401, 42, again.token));
    expect((await eventsOf(stream)).slice(-2).map((e) => e.type)).toEqual(['TelegramChatBound', 'Subscribed']);
    await dispatcher.handle(await queue('m-back'));
    await dispatcher.drain();
    expect((await eventsOf(stream)).at(-1)).toMatchObject({ type: 'MessageSent', data: { messageId: 'm-back' } });
  });
});
