/** The whole app over HTTP with a real local Bot API server behind grammy. */
import { adminGet, adminSend, startTestApp, type TestApp } from '../../test-support/herald-test-app';
import { LocalBotApi, startUpdate, TEST_BOT } from './local-bot-api.fixture';
import { TELEGRAM_REPLIES } from './telegram-links.service';

const BOT_TOKEN = '7000001:AAH-e2e-token';
const SECRET = 'whsec_e2e-0123456789';

let botApi: LocalBotApi;
let herald: TestApp;

beforeEach(async () => {
  botApi = await LocalBotApi.start(BOT_TOKEN);
});
afterEach(async () => {
  await herald?.destroy();
  await botApi.close();
});

const start = (env: Record<string, string> = {}) =>
  startTestApp({ env: { TELEGRAM_BOT_TOKEN: BOT_TOKEN, TELEGRAM_API_URL: botApi.url, TELEGRAM_WEBHOOK_SECRET: SECRET, PUBLIC_URL: 'https://herald.test', ...env } });

async function deliverUpdate(update: unknown, secret: string | null = SECRET) {
  const response = await fetch(`${herald.url}/webhooks/telegram`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(secret === null ? {} : { 'x-telegram-bot-api-secret-token': secret }) },
    body: JSON.stringify(update),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

const eventsOf = async (userId: string): Promise<Array<{ type: string; data: Record<string, unknown> }>> =>
  (await adminGet(`${herald.url}/api/users/${userId}/events`)).body.events ?? [];

describe('Telegram over HTTP', () => {
  it('issues a deep link, binds the chat on /start from the webhook once, answers in the chat', async () => {
    herald = await start();
    expect((await fetch(`${herald.url}/api/telegram/link`, { method: 'POST', body: '{"userId":"ada"}', headers: { 'content-type': 'application/json' } })).status).toBe(401);
    expect((await adminSend('POST', `${herald.url}/api/telegram/link`, {})).status).toBe(400);
    const link = await adminSend('POST', `${herald.url}/api/telegram/link`, { userId: 'ada' });
    expect(link.status).toBe(201);
    expect(link.body).toMatchObject({ userId: 'ada', url: `https://t.me/${TEST_BOT.username}?start=${link.body.token}` });
    expect(link.body.token).toMatch(/^[A-Za-z0-9_-]{1,64}$/);

    expect(await deliverUpdate(startUpdate(1, 42, link.body.token), 'wrong')).toMatchObject({ status: 401 });
    expect(await deliverUpdate(startUpdate(1, 42, link.body.token), null)).toMatchObject({ status: 401 });
    expect(await deliverUpdate({ hello: 'world' })).toMatchObject({ status: 400 });
    expect(await eventsOf('ada')).toEqual([]);

    expect(await deliverUpdate(startUpdate(1, 42, link.body.token))).toEqual({ status: 200, body: { ok: true, outcome: 'bound' } });
    expect(await deliverUpdate(startUpdate(1, 42, link.body.token))).toEqual({ status: 200, body: { ok: true, outcome: 'bound' } });
    expect((await eventsOf('ada')).filter((e) => e.type === 'TelegramChatBound')).toEqual([
      expect.objectContaining({ data: { chatId: 42, username: 'ada_tg' } }),
    ]);
    expect(botApi.sent()).toEqual([{ chat_id: 42, text: TELEGRAM_REPLIES.bound }]);

    expect(await deliverUpdate(startUpdate(2, 77, link.body.token))).toEqual({ status: 200, body: { ok: true, outcome: 'rejected' } });
    expect(await deliverUpdate({ update_id: 3, message: { message_id: 3, chat: { id: 42, type: 'private' }, text: 'thanks' } })).toEqual({
      status: 200,
      body: { ok: true, outcome: 'ignored' },
    });
    expect((await eventsOf('ada')).filter((e) => e.type === 'TelegramChatBound')).toHaveLength(1);
  });

  it('sets the webhook at PUBLIC_URL with the secret', async () => {
    herald = await start();
    expect(await adminSend('POST', `${herald.url}/api/telegram/webhook`)).toEqual({ status: 200, body: { url: 'https://herald.test/webhooks/telegram' } });
    expect(botApi.calls.find((call) => call.method === 'setWebhook')?.payload).toEqual({
      url: 'https://herald.test/webhooks/telegram',
      secret_token: SECRET,
      allowed_updates: ['message'],
    });
  });

  it('refuses every update with 404 when no webhook secret is configured', async () => {
    herald = await start({ TELEGRAM_WEBHOOK_SECRET: '' });
    const link = await adminSend('POST', `${herald.url}/api/telegram/link`, { userId: 'ada' });
    expect((await deliverUpdate(startUpdate(1, 42, link.body.token))).status).toBe(404);
    expect((await deliverUpdate(startUpdate(1, 42, link.body.token), '')).status).toBe(404);
    expect(await eventsOf('ada')).toEqual([]);
  });

  it('has no Telegram routes without TELEGRAM_BOT_TOKEN', async () => {
    herald = await startTestApp();
    expect((await adminSend('POST', `${herald.url}/api/telegram/link`, { userId: 'ada' })).status).toBe(404);
    expect((await deliverUpdate(startUpdate(1, 42, 'x'))).status).toBe(404);
  });
});
